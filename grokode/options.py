"""Option schemas: what a model, a task or a method takes, written once and read by the CLI, sweeps and the API.

An :class:`Option` states a name, a kind, a range or a set of choices, and a help line. Models declare the
options they take (:attr:`grokode.models.base.Model.options`); the command line, ``grokode sweep`` and
:func:`grokode.integrate` are built from those declarations, so an option is validated in one place and an
option that a model does not take is an input error that names both, never a value silently ignored.

Values arrive as Python objects (the API) or as text (the command line); :meth:`Option.parse` accepts both
and returns the canonical Python value, or raises :class:`~grokode.errors.InputError` with one line naming
the option and the value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InputError

KINDS = ("int", "float", "str", "bool", "times", "text", "path", "assignments")


@dataclass(frozen=True)
class Option:
    """One option: its Python name (``n_test``; the command line spells it ``--n-test``), kind and limits.

    Parameters
    ----------
    name : keyword name in :func:`grokode.integrate`.
    kind : "int", "float", "str" (a word, from ``choices`` if given), "bool" (a flag), "times" (increasing
        non-negative finite numbers, ``t1,t2,…`` on the command line), "text" (free text, e.g. a formula),
        "path" (a file name) or "assignments" (``name=value, …`` pairs; a mapping in Python).
    help : one line for ``--help``.
    default : the value when the option is not given (None: the model decides, see its documentation).
    low, high : inclusive bounds (``low_open``/``high_open`` make them strict).
    choices : allowed words of a "str" option.
    """

    name: str
    kind: str
    help: str
    default: object = None
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown option kind {self.kind!r}")

    @property
    def flag(self) -> str:
        """The command-line spelling, ``--n-test``."""
        return "--" + self.name.replace("_", "-")

    @property
    def metavar(self) -> str:
        return {"int": "INT", "float": "FLOAT", "str": "|".join(self.choices) if self.choices else "TEXT",
                "times": "T1,T2,…", "text": "TEXT", "path": "PATH", "assignments": "NAME=VALUE,…",
                "bool": ""}[self.kind]

    def describe_range(self) -> str:
        parts = []
        if self.low is not None:
            parts.append(f"{'>' if self.low_open else '≥'} {self.low:g}")
        if self.high is not None:
            parts.append(f"{'<' if self.high_open else '≤'} {self.high:g}")
        return " and ".join(parts)

    def parse(self, value: object) -> object:
        """The canonical value of ``value`` (Python object or command-line text); InputError if it is invalid."""
        if value is None:
            return None
        parser = getattr(self, f"_parse_{self.kind}")
        return parser(value)

    # -- kinds ---------------------------------------------------------------------------------------
    def _bad(self, value: object, what: str) -> InputError:
        shown = value if isinstance(value, str) else repr(value)
        if isinstance(shown, str) and len(shown) > 80:
            shown = shown[:77] + "…"
        return InputError(f"{self.name} must be {what}, got {shown!r}" if isinstance(value, str)
                          else f"{self.name} must be {what}, got {shown}")

    def _number(self, value: object, integer: bool) -> float:
        what = "an integer" if integer else "a finite number"
        rng = self.describe_range()
        what = f"{what} {rng}" if rng else what
        if isinstance(value, bool | np.bool_) or (isinstance(value, str) and not value.strip()):
            raise self._bad(value, what)
        try:
            x = float(value.strip()) if isinstance(value, str) else float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            raise self._bad(value, what) from None
        if not math.isfinite(x) or (integer and x != math.floor(x)):
            raise self._bad(value, what)
        if self.low is not None and (x < self.low or (self.low_open and x == self.low)):
            raise self._bad(value, what)
        if self.high is not None and (x > self.high or (self.high_open and x == self.high)):
            raise self._bad(value, what)
        return x

    def _parse_int(self, value: object) -> int:
        x = self._number(value, integer=True)
        if abs(x) > 2**62:
            raise self._bad(value, f"an integer {self.describe_range()} and of magnitude ≤ 2^62".replace("  ", " "))
        return int(x)

    def _parse_float(self, value: object) -> float:
        return self._number(value, integer=False)

    def _parse_str(self, value: object) -> str:
        if not isinstance(value, str):
            raise self._bad(value, "a word" + (f" (one of {', '.join(self.choices)})" if self.choices else ""))
        if self.choices is not None and value not in self.choices:
            raise InputError(f"unknown {self.name} {value!r} (choose {', '.join(self.choices)})")
        return value

    def _parse_bool(self, value: object) -> bool:
        if isinstance(value, bool | np.bool_):
            return bool(value)
        raise self._bad(value, "True or False")

    def _parse_text(self, value: object) -> str:
        if not isinstance(value, str):
            raise self._bad(value, "text")
        return value

    def _parse_path(self, value: object) -> str:
        try:
            import os

            text = os.fspath(value)  # type: ignore[arg-type]
        except TypeError:
            raise self._bad(value, "a file path") from None
        if not isinstance(text, str) or not text or "\0" in text:
            raise self._bad(value, "a file path")
        return text

    def _parse_times(self, value: object) -> np.ndarray:
        what = "a strictly increasing list of finite times ≥ 0"
        if isinstance(value, str):
            items = [s.strip() for s in value.split(",")]
            if not value.strip() or any(not s for s in items):
                raise self._bad(value, what + " (t1,t2,…)")
            try:
                times = np.array([float(s) for s in items], dtype=np.float64)
            except ValueError:
                raise self._bad(value, what + " (t1,t2,…)") from None
        else:
            try:
                times = np.array(value, dtype=np.float64)
            except (TypeError, ValueError):
                raise self._bad(value, what) from None
        if times.ndim != 1 or times.size == 0 or not np.all(np.isfinite(times)) or np.any(times < 0) or np.any(
                np.diff(times) <= 0):
            shown = value if isinstance(value, str) else f"{times.ravel().tolist()[:5]}…"
            raise self._bad(shown, what)
        return times

    def _parse_assignments(self, value: object) -> dict[str, float]:
        what = "name=number pairs such as 'a=1, b=0'"
        if isinstance(value, Mapping):
            pairs = list(value.items())
        elif isinstance(value, str):
            pairs = []
            for item in value.split(","):
                if item.count("=") != 1:
                    raise self._bad(value, what)
                key, _, num = item.partition("=")
                pairs.append((key.strip(), num.strip()))
        else:
            raise self._bad(value, what)
        out: dict[str, float] = {}
        for key, num in pairs:
            if not isinstance(key, str) or not key.isidentifier():
                raise self._bad(value, what)
            if key in out:
                raise InputError(f"{self.name} gives {key!r} twice")
            try:
                x = float(num)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                raise self._bad(value, what) from None
            if not math.isfinite(x):
                raise self._bad(value, what + " (finite numbers)")
            out[key] = x
        if not out:
            raise self._bad(value, what)
        return out


def option_table(options: Iterable[Option]) -> dict[str, Option]:
    """Name → option; a name declared twice is a programming error."""
    table: dict[str, Option] = {}
    for opt in options:
        if opt.name in table:
            raise ValueError(f"option {opt.name!r} declared twice")
        table[opt.name] = opt
    return table


def parse_given(options: Mapping[str, Option], given: Mapping[str, object], owner: str) -> dict[str, Any]:
    """Parse every option in ``given`` that is not None; an unknown name is an InputError naming ``owner``.

    Options whose value is None or, for flags, False count as not given and are left out.
    """
    unknown = [name for name, value in given.items()
               if name not in options and value is not None and value is not False]
    if unknown:
        flags = ", ".join("--" + name.replace("_", "-") for name in sorted(unknown))
        takes = ", ".join(sorted(o.flag for o in options.values()))
        raise InputError(f"{owner} does not take {flags} ({f'it takes {takes}' if takes else 'it takes no options'})")
    parsed: dict[str, object] = {}
    for name, value in given.items():
        if value is None or value is False:
            continue
        parsed[name] = options[name].parse(value)
    return parsed


def refuse(parsed: Mapping[str, object], names: Sequence[str], reason: str) -> None:
    """InputError if any option of ``names`` was given: ``reason`` says why it does not apply here."""
    given = [n for n in names if n in parsed]
    if given:
        flags = ", ".join("--" + n.replace("_", "-") for n in given)
        raise InputError(f"{flags} {'does' if len(given) == 1 else 'do'} not apply {reason}")
