"""Where a sweep keeps its results: the sweep file (CSV or Parquet) with its lock, the rows a resumed sweep keeps,
and the ``--keep-runs`` directory of each point's trajectory file.

One sweep file, one writer: the file is locked (filelock) for the whole sweep, and a second sweep on the same
file is refused at once with a message naming the lock, before it computes anything. A resumed sweep keeps every
row of its options except those with status ``error``, which are computed again.

A sweep that varies model options (``--n 16,24``) adds one column per varied option after :data:`COLUMNS`,
named after it (``n``): the option's value in the row's ``options``, so that a table reader sees the axis. The
columns are kept once a file has them (rows whose options lack the option leave the cell empty).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import math
import os
import re
import warnings
from pathlib import Path
from typing import Any

from ..errors import GrokodeWarning, InputError

COLUMNS = ("alpha", "lam", "seed", "t_theory", "t_transition", "transition_width", "offset_c0", "test_plateau",
           "test_final", "train_final", "wall_seconds", "status", "error", "options", "regime")
FLOAT_COLUMNS = ("alpha", "lam", "t_theory", "t_transition", "transition_width", "offset_c0", "test_plateau",
                 "test_final", "train_final", "wall_seconds")
#: The columns of files written before ``train_final`` was recorded: still read (and rewritten in the new layout).
OLD_COLUMNS = tuple(c for c in COLUMNS if c not in ("train_final", "regime"))
#: Every earlier layout that is still read: before ``train_final``, and before ``regime``.
OLD_LAYOUTS = (OLD_COLUMNS, tuple(c for c in COLUMNS if c != "regime"))
#: Suffixes of the sweep file.
SWEEP_SUFFIXES = (".csv", ".parquet")
#: What the name of a grid column (a model option's Python name) looks like.
_OPTION_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def empty_row(alpha: float, lam: float, seed: int | None, key: str) -> dict:
    """The row of a point before it has a result: its identity, every other cell empty."""
    row = dict.fromkeys(COLUMNS)
    row.update(alpha=float(alpha), lam=float(lam), seed=seed, options=key, error="")
    return row


def one_line(text: object) -> str:
    """``text`` on one line (an error message in a cell of the file, or in a one-line error)."""
    return " ".join(str(text).split())


class SweepFile:
    """Rows of a sweep on disk, written so that a killed process never leaves a broken file.

    CSV: each row is one ``write`` of a complete line to a file opened in append mode, then ``fsync``. When the
    file is read, every line that is not a complete row (a line torn by a crash, with or without its newline; a
    line that is not UTF-8; a cell that is not a number where one belongs) is dropped with a warning, and its
    point is computed again. An empty file, or one whose rows have lost their header line, gets the header.
    Parquet (needs pyarrow): the whole table is rewritten to a temporary file and renamed over the old one.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in (".csv", ".parquet"):
            raise InputError(f"sweep file {str(self.path)!r} must end in .csv or .parquet")
        if self.path.is_dir():
            raise InputError(f"sweep file {str(self.path)!r} is a directory")
        self.parquet = suffix == ".parquet"
        if self.parquet:
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                raise InputError(f"writing {str(self.path)!r} needs pyarrow (pip install pyarrow), "
                                 "or use a .csv path") from None
        self.rows: list[dict] = []
        #: the grid columns after :data:`COLUMNS` (varied model options), in file order
        self.grid_columns: list[str] = []

    @property
    def columns(self) -> tuple[str, ...]:
        """The file's header: :data:`COLUMNS`, then its grid columns."""
        return COLUMNS + tuple(self.grid_columns)

    def load(self) -> list[dict]:
        """Read the rows already on disk (none if the file does not exist)."""
        from ..files import require_regular_file

        if not self.path.exists():
            self.rows = []
            return self.rows
        require_regular_file(self.path, "sweep file")  # a named pipe would block the read forever
        if self.parquet:
            import pyarrow.parquet as pq

            try:
                read = pq.read_table(self.path)
                table = read.to_pylist()
            except Exception as exc:  # pyarrow raises its own error types for every kind of bad file
                raise InputError(f"cannot read sweep file {str(self.path)!r}: {one_line(exc)}") from None
            self.grid_columns = _grid_columns(tuple(read.column_names)) or []
            self.rows = [r for r in (_typed(r, self.path, None, self.grid_columns) for r in table) if r is not None]
        else:
            self.rows = self._read_csv()
        return self.rows

    def _read_csv(self) -> list[dict]:
        try:
            raw = self.path.read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read sweep file {str(self.path)!r}: {one_line(exc)}") from None
        lines = raw.split(b"\n")
        torn = lines[-1] != b""  # the last line has no newline: the write was cut short
        lines = lines[:-1] if not torn else lines
        if not any(line.strip() for line in lines):
            self.rewrite([])  # an empty file gets its header
            return []
        header = _csv_cells(lines[0])
        header_t = tuple(header) if header is not None else None
        grid = _grid_columns(header_t) if header_t is not None else None
        self.grid_columns = grid or []
        rows, dropped = [], 0
        names: tuple[str, ...]
        if header_t is not None and (grid is not None or header_t in OLD_LAYOUTS):
            names, body, first = header_t, lines[1:], 2
        else:
            first_row = _typed(dict(zip(COLUMNS, header, strict=True)), self.path, None) if (
                header is not None and len(header) == len(COLUMNS)) else None
            if first_row is None:
                shown = lines[0][:80].decode("utf-8", "replace")
                raise InputError(f"{str(self.path)!r} is not a grokode sweep file (first line {shown!r}); "
                                 "use --fresh to overwrite it or choose another --out")
            names, body, first = COLUMNS, lines, 1  # rows without their header line: keep them, restore it
            warnings.warn(f"sweep file {str(self.path)!r} had no header line; it was restored", GrokodeWarning,
                          stacklevel=2)
        for number, line in enumerate(body, start=first):
            is_last_torn = torn and number == first + len(body) - 1
            cells = _csv_cells(line)
            row = None
            if cells is not None and len(cells) == len(names) and not is_last_torn:
                row = _typed({**dict.fromkeys(COLUMNS), **dict(zip(names, cells, strict=True))}, self.path, number,
                             self.grid_columns)
            if row is None:
                if line.strip():
                    dropped += 1
                    why = "was cut short" if is_last_torn else "is not a complete row"
                    warnings.warn(f"sweep file {str(self.path)!r}: line {number} {why}; dropped (its point will "
                                  "be computed again)", GrokodeWarning, stacklevel=2)
                continue
            rows.append(row)
        if names != self.columns or dropped or torn or header_t != self.columns:
            self.rewrite(rows)  # drop bad lines, or move an old file to the new layout, before appending
        return rows

    def rewrite(self, rows: list[dict]) -> None:
        """Replace the file by ``rows`` atomically (temporary file + rename)."""
        from ..files import atomic_write

        self.rows = list(rows)
        target = os.path.realpath(self.path)  # through a symbolic link: replace the file, not the link
        if self.parquet:
            import pyarrow as pa
            import pyarrow.parquet as pq

            schema = pa.schema([(c, pa.float64() if c in FLOAT_COLUMNS else pa.int64() if c == "seed"
                                 else pa.string()) for c in COLUMNS]
                               + [(c, _arrow_type([r.get(c) for r in self.rows])) for c in self.grid_columns])
            table = pa.Table.from_pylist(self.rows, schema=schema)
            atomic_write(target, lambda fh: pq.write_table(table, fh))
        else:
            text = _csv_line(self.columns) + "".join(_csv_line(_cells(r, self.columns)) for r in self.rows)
            atomic_write(target, lambda fh: fh.write(text.encode("utf-8")))

    def append(self, row: dict) -> None:
        """Add one row durably (its grid columns are filled from its options)."""
        row.update({c: option_value(row, c) for c in self.grid_columns})
        if self.parquet or not self.path.exists():
            self.rewrite([*self.rows, row])
            return
        self.rows.append(row)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, _csv_line(_cells(row, self.columns)).encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)

    def start(self, keys: str | set[str], resume: bool = True, grid_columns: list[str] | tuple = ()
              ) -> dict[tuple, dict]:
        """Start a sweep whose points have the options keys ``keys`` (:func:`grokode.sweep.grid.options_key`; one
        key, or one per combination of varied model options) on this file: the rows of its points already
        recorded, by :func:`row_key`.

        ``resume`` keeps the rows on disk except the ones of this sweep with status ``error`` (their points run
        again); ``False`` starts the file afresh. ``grid_columns`` are the model options the sweep varies: the
        file gets a column for each it does not have yet. The file is rewritten (atomically) when rows are
        dropped or columns added, and created with its header when it does not exist. Call it while holding
        :func:`sweep_lock`.
        """
        keys = {keys} if isinstance(keys, str) else set(keys)
        old = self.load() if resume else []
        if not resume:
            self.grid_columns = []
        added = [c for c in grid_columns if c not in self.grid_columns]
        self.grid_columns = sorted([*self.grid_columns, *added])
        kept = [r for r in old if r["status"] != "error" or r["options"] not in keys]
        for r in kept:
            r.update({c: option_value(r, c) for c in self.grid_columns})
        if not resume or added or len(kept) != len(old) or not self.path.exists():
            self.rewrite(kept)
        return {row_key(r): r for r in kept if r["options"] in keys}


def _csv_cells(line: bytes) -> list[str] | None:
    """The cells of one CSV line, or None when it is not UTF-8 or not one well-formed record."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return None
    try:
        records = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error:
        return None
    return records[0] if len(records) == 1 else None


def _csv_line(cells) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue()


def _cells(row: dict, columns: tuple[str, ...] = COLUMNS) -> list[str]:
    # repr round-trips floats exactly, so resume keys read back equal to the grid values
    return ["" if row.get(c) is None else repr(float(row[c])) if c in FLOAT_COLUMNS
            else repr(row[c]) if isinstance(row[c], float) else str(row[c]) for c in columns]


def _grid_columns(header: tuple) -> list[str] | None:
    """The grid columns of a header that starts with :data:`COLUMNS` (``[]`` for exactly COLUMNS), else None."""
    extra = header[len(COLUMNS):]
    if header[:len(COLUMNS)] != COLUMNS or len(set(extra)) != len(extra):
        return None
    if any(not isinstance(c, str) or not _OPTION_NAME.match(c) or c in COLUMNS for c in extra):
        return None
    return list(extra)


def option_value(row: dict, name: str):
    """The value of the model option ``name`` in the row's ``options`` (None when it has none): the cell of a grid
    column."""
    try:
        options = json.loads(row.get("options") or "{}")
    except (TypeError, ValueError):
        return None
    value = options.get(name) if isinstance(options, dict) else None
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _arrow_type(values: list):
    import pyarrow as pa

    return pa.int64() if all(isinstance(v, int) for v in values if v is not None) else pa.float64()


_STATUSES = ("ok", "failed", "diverged", "interrupted", "error")


def _typed(row: dict, path: Path, number: int | None, grid_columns: list[str] | tuple = ()) -> dict | None:
    """A row with typed cells, or None when a cell cannot be what its column holds; the grid columns are read from
    its options."""
    out: dict[str, Any] = {}
    try:
        for c in COLUMNS:
            v = row.get(c)
            if c in FLOAT_COLUMNS:
                out[c] = None if v in ("", None) else float(v)
                if out[c] is not None and math.isnan(out[c]):
                    out[c] = None
            elif c == "seed":
                out[c] = None if v in ("", None) else int(v)
            elif c == "regime":
                out[c] = None if v in ("", None) else str(v)
            else:
                out[c] = "" if v is None else str(v)
    except (TypeError, ValueError):
        return None
    if out["alpha"] is None or out["lam"] is None or out["status"] not in _STATUSES:
        return None
    try:
        json.loads(out["options"])
    except json.JSONDecodeError:
        return None
    out.update({c: option_value(out, c) for c in grid_columns})
    return out


def row_key(row: dict) -> tuple:
    """The identity of a row for resuming: (alpha, lam, seed, options)."""
    return (float(row["alpha"]), float(row["lam"]), None if row["seed"] is None else int(row["seed"]),
            row["options"])


def keep_runs_directory(path: Path) -> str:
    """The --keep-runs directory, created and resolved before anything is computed (a symbolic-link loop, or a link
    to something that is not a directory, is an InputError here)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        resolved = path.resolve(strict=True)
        if not resolved.is_dir():
            raise NotADirectoryError(f"{str(path)!r} is not a directory")
    except (OSError, RuntimeError) as exc:  # Path.resolve raises RuntimeError on a loop in older Pythons
        why = "a loop of symbolic links" if "loop" in str(exc).lower() or getattr(exc, "errno", None) == 40 else (
            getattr(exc, "strerror", None) or one_line(exc))
        raise InputError(f"--keep-runs {str(path)!r}: {why}") from None
    return str(resolved)


def kept_run_path(directory: str, alpha: float, lam: float, seed: int | None, key: str) -> Path:
    """The trajectory file of one point in the ``--keep-runs`` directory: its grid values and a digest of the
    sweep's options key, so that sweeps with other options can share the directory."""
    digest = hashlib.sha1(key.encode()).hexdigest()[:8]
    return Path(directory) / f"a{alpha:.6g}-lam{lam:.6g}-s{seed}-{digest}.npz"

def refuse_inputs(given: dict, outputs: dict) -> None:
    """InputError when an output of the sweep (flag → path) is one of its inputs (``--data``)."""
    from ..outputs import require_not_input

    inputs = {"--data": str(given["data"])} if given.get("data") else {}
    for flag, path in outputs.items():
        if path is not None:
            require_not_input(path, inputs, flag)


class _SweepLock:
    """The sweep file's lock (``<file>.lock`` next to it), refused at once when another sweep holds it."""

    def __init__(self, path: Path):
        from filelock import FileLock

        self.path = path.with_name(path.name + ".lock")
        self.lock = FileLock(str(self.path), timeout=0)

    def __enter__(self):
        from filelock import Timeout

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.lock.acquire()
        except Timeout:
            raise InputError(f"another sweep is writing {str(self.path.with_suffix(''))!r} (it holds "
                             f"{str(self.path)!r}); wait for it to finish, or choose another --out") from None
        except OSError as exc:
            raise InputError(f"cannot lock {str(self.path)!r}: {one_line(exc)}") from None
        return self

    def __exit__(self, *exc):
        self.lock.release()
        with contextlib.suppress(OSError):
            self.path.unlink()  # a lock file left behind is harmless, but litter next to the user's table


def sweep_lock(path: Path) -> _SweepLock:
    """The lock of the sweep file ``path``, taken on the file it resolves to: a symbolic link to a sweep file that
    another sweep is writing finds that sweep's lock."""
    try:
        resolved = Path(os.path.realpath(path))
    except (OSError, ValueError):
        resolved = Path(path)
    return _SweepLock(resolved)

