"""Errors raised on bad input.

Every public entry point validates its arguments and raises :class:`InputError` with a message that
names the offending value; the CLI turns it into a one-line message on stderr and exit code 2.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


class InputError(ValueError):
    """Invalid user input (an argument, a file, a data set). The message names the bad value."""


def require_positive(name: str, value: float) -> float:
    """Return ``float(value)`` or raise :class:`InputError` unless it is finite and > 0."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a positive number, got {value!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise InputError(f"{name} must be a positive finite number, got {value!r}")
    return v


def require_int(name: str, value: int, minimum: int) -> int:
    """Return ``int(value)`` or raise :class:`InputError` unless it is an integer >= ``minimum``."""
    try:
        bad = isinstance(value, bool) or int(value) != value or value < minimum
    except (TypeError, ValueError, OverflowError):
        bad = True
    if bad:
        raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def require_nonnegative(name: str, value: float) -> float:
    """Return ``float(value)`` or raise :class:`InputError` unless it is finite and ≥ 0."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a non-negative number, got {value!r}") from None
    if not math.isfinite(v) or v < 0:
        raise InputError(f"{name} must be a non-negative finite number, got {value!r}")
    return v


class OutputError(OSError):
    """A file could not be written (disk full, quota, file-size limit, an immutable target, an I/O error) after
    the computation; the message names the file and the reason in one line. The CLI exits 1 with it.

    ``run`` is the finished :class:`~grokode.result.Run` when the failure was its own file, so that the Python API
    can save it elsewhere (``exc.run.save(other_path)``); None otherwise.
    """

    def __init__(self, message: str, errno: int | None = None, run: object = None):
        super().__init__(message)
        self.message, self.errno_code, self.run = message, errno, run

    def __str__(self) -> str:
        return self.message


class GrokodeWarning(UserWarning):
    """Something the user should know that did not stop the command (the CLI prints it as one line)."""


def require_bool(name: str, value: object) -> bool:
    """``value`` if it is a real boolean (``bool`` or ``numpy.bool_``); InputError otherwise.

    The strings "no" and "false" are truthy in Python: accepting them would turn ``force="no"`` into an overwrite.
    """
    import numpy as np

    if isinstance(value, bool | np.bool_):
        return bool(value)
    raise InputError(f"{name} must be True or False, got {_shown(value)}")


def require_callable(name: str, value: object) -> object:
    """``value`` if it is None or callable; InputError otherwise (it would fail deep inside a computation)."""
    if value is not None and not callable(value):
        raise InputError(f"{name} must be a function (or None), got {_shown(value)}")
    return value


def closest(name: str, valid: Iterable[str]) -> str | None:
    """The valid name closest to a mistyped ``name`` (difflib), or None when none is close."""
    import difflib

    valid = list(valid)
    same = [v for v in valid if v.lower() == name.lower()]
    found = same or difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
    return found[0] if found else None


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "…"


def checked_arguments(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` with its arguments checked before its body runs, for the public Python API.

    A keyword ``fn`` does not take (a typo) is an InputError naming it and the closest valid name; a missing or
    surplus argument an InputError naming the function; a parameter annotated ``bool`` takes only a real boolean
    and one annotated as a ``Callable`` only a callable or None. Every message is one line.
    """
    import functools
    import inspect

    signature = inspect.signature(fn)
    bools = [n for n, p in signature.parameters.items() if _annotation(p.annotation) == "bool"]
    typed = {n: kind for n, p in signature.parameters.items()
             if (kind := _checked_kind(_annotation(p.annotation))) is not None}
    callables = [n for n, p in signature.parameters.items() if _annotation(p.annotation).startswith("Callable")]
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())
    names = [n for n, p in signature.parameters.items() if n not in ("self", "cls") and p.kind not in (
        inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)]
    where = fn.__qualname__

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if not takes_any:
            unknown = [k for k in kwargs if k not in signature.parameters]
            if unknown:
                near = closest(unknown[0], names)
                hint = f" (did you mean {near!r}?)" if near else ""
                raise InputError(f"{where}() takes no argument {unknown[0]!r}{hint}; it takes {', '.join(names)}")
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise InputError(f"{where}(): {' '.join(str(exc).split())}") from None
        for name in bools:
            if name in bound.arguments:
                require_bool(name, bound.arguments[name])
        for name in callables:
            if name in bound.arguments:
                require_callable(name, bound.arguments[name])
        for name, (kind, optional) in typed.items():
            if name in bound.arguments and not (optional and bound.arguments[name] is None):
                _require_kind(name, kind, bound.arguments[name])
        return fn(*args, **kwargs)

    return wrapper


#: annotation (without "| None") → what an argument must be; other annotations are the function's own to check
_KINDS = {"float": "number", "int": "integer", "str": "text", "np.ndarray": "array"}


def _checked_kind(text: str) -> tuple[str, bool] | None:
    """(kind, None allowed) of an annotation :func:`checked_arguments` checks, else None."""
    parts = [p.strip() for p in text.split("|")]
    optional = "None" in parts
    parts = [p for p in parts if p != "None"]
    if len(parts) != 1:
        return None
    base = parts[0]
    if base in _KINDS:
        return _KINDS[base], optional
    head = base.split("[", 1)[0]
    if head in ("dict", "Mapping"):
        return "mapping", optional
    if head in ("list", "Sequence"):
        inner = base[len(head) + 1:-1] if "[" in base else ""
        return ("numbers" if inner == "float" else "sequence"), optional
    return None


def _require_kind(name: str, kind: str, value: object) -> None:
    import numbers
    from collections.abc import Mapping

    import numpy as np

    def is_number(v: object) -> bool:
        return isinstance(v, numbers.Real) and not isinstance(v, bool | np.bool_)

    if kind == "number":
        ok = is_number(value)
    elif kind == "integer":
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)
    elif kind == "text":
        ok = isinstance(value, str)
    elif kind == "mapping":
        ok = isinstance(value, Mapping)
    elif kind == "sequence":
        ok = isinstance(value, list | tuple | np.ndarray)
    elif kind == "numbers":
        ok = isinstance(value, list | tuple | np.ndarray) and all(is_number(v) for v in np.asarray(value).ravel())
    else:  # an array of numbers
        try:
            ok = np.asarray(value).dtype.kind in "biuf" and np.asarray(value).ndim >= 1
        except (TypeError, ValueError):
            ok = False
    if not ok:
        what = {"number": "a number", "integer": "an integer", "text": "text (a str)", "mapping": "a dict",
                "sequence": "a list", "numbers": "a list of numbers", "array": "an array of numbers"}[kind]
        raise InputError(f"{name} must be {what}, got {_shown(value)}")


def _annotation(annotation: object) -> str:
    """An annotation as text (``from __future__ import annotations`` keeps them as strings already)."""
    if isinstance(annotation, str):
        return annotation.strip()
    return getattr(annotation, "__name__", "") if isinstance(annotation, type) else str(annotation).replace(
        "typing.", "").replace("collections.abc.", "")
