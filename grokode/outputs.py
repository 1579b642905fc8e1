"""Output files of a run: new names taken atomically, outputs that are never inputs, checkpoint intervals, and the
solver state a trajectory file keeps so that a run can be continued.

:func:`save_new` writes a complete file under a temporary name and *links* it to its final name, which fails if
the name exists: the name is reserved and the file readable in one step, so two runs started together never share
a file (a default name then moves on to ``stem-2``, ``stem-3``, …), and a ``kill -9`` never leaves an empty file.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError

#: Prefix of the arrays that hold a resume point's arrays in a trajectory file.
RESUME_PREFIX = "resume__"


def candidates(path: Path, numbered: bool) -> Iterator[Path]:
    """``path``, then (``numbered``) ``stem-2.suffix``, ``stem-3.suffix``, …"""
    yield path
    if not numbered:
        return
    k = 2
    while True:
        yield path.with_name(f"{path.stem}-{k}{path.suffix}")
        k += 1


def save_new(run: Any, path: str | os.PathLike, *, numbered: bool, companions: tuple[str, ...] = (".png",)) -> Path:
    """Write ``run`` (anything with ``save(path, force)``) to ``path``, which must not exist, atomically.

    With ``numbered`` the first free name of :func:`candidates` is taken (a name whose ``companions``, e.g. the
    figure next to it, exist counts as taken); without, an existing ``path`` is an InputError.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        run.save(tmp, force=True)
        for candidate in candidates(path, numbered):
            if numbered and any(candidate.with_suffix(c).exists() for c in companions):
                continue
            if _link_new(tmp, candidate):
                run.path = candidate
                return candidate
            if not numbered:
                raise InputError(f"output file {str(path)!r} exists (another process created it; use --force to "
                                 "overwrite)")
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    raise AssertionError("unreachable")  # pragma: no cover


def _link_new(source: str, target: Path) -> bool:
    """Give the complete file ``source`` the name ``target`` unless that exists (False then)."""
    try:
        os.link(source, target)
        return True
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
    # a file system without hard links: reserve the name, then move the complete file over it
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        return False
    os.close(fd)
    os.replace(source, target)
    return True


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether ``a`` and ``b`` name one file: the same inode if both exist, else the same resolved path."""
    try:
        if os.path.exists(a) and os.path.exists(b):
            return os.path.samefile(a, b)
    except OSError:
        pass
    try:
        return os.path.realpath(a) == os.path.realpath(b)
    except (OSError, ValueError):
        return False


def require_not_input(path: str | os.PathLike, inputs: dict[str, str], what: str) -> None:
    """InputError when the output ``path`` is one of ``inputs`` (flag → path): an output never replaces an input."""
    for flag, source in inputs.items():
        if same_file(path, source):
            raise InputError(f"{what} {str(path)!r} is the run's input {flag} {source!r}: an output never replaces "
                             "one of the run's inputs (choose another path)")


_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([smhd]?)", re.IGNORECASE)
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: Any, name: str) -> float | None:
    """Seconds of a duration: a number of seconds, or text such as ``90``, ``30s``, ``10m``, ``1h``, ``1h30m``."""
    if value is None:
        return None
    what = f"{name} must be a duration > 0 such as 30s, 10m, 1h or 1h30m (a number: seconds), got {value!r}"
    if isinstance(value, bool | np.bool_):
        raise InputError(what)
    if isinstance(value, int | float | np.integer | np.floating):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        pos, seconds = 0, 0.0
        for m in _DURATION.finditer(text):
            if text[pos:m.start()].strip():
                raise InputError(what)
            seconds += float(m.group(1)) * _UNITS[m.group(2).lower()]
            pos = m.end()
        if pos == 0 or text[pos:].strip():
            raise InputError(what)
    else:
        raise InputError(what)
    if not math.isfinite(seconds) or seconds <= 0:
        raise InputError(what)
    return seconds


def flatten_state(point: dict[str, Any]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(JSON-able values, arrays) of a resume point: each array is replaced by ``{"array": KEY}``."""
    arrays: dict[str, np.ndarray] = {}

    def walk(value: Any, where: str) -> Any:
        if isinstance(value, dict):
            return {str(k): walk(v, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
        if isinstance(value, np.ndarray):
            key = RESUME_PREFIX + where
            arrays[key] = np.asarray(value)
            return {"array": key}
        if isinstance(value, np.generic):
            return value.item()
        return value

    return walk(point, ""), arrays


def unflatten_state(scalars: dict[str, Any], arrays: Any) -> dict[str, Any]:
    """The inverse of :func:`flatten_state` (``arrays``: the file's arrays)."""

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {"array"} and isinstance(value["array"], str):
                if value["array"] not in arrays:
                    raise InputError(f"the saved solver state lacks its array {value['array']!r}")
                return np.array(arrays[value["array"]])
            return {k: walk(v) for k, v in value.items()}
        return value

    return walk(scalars)
