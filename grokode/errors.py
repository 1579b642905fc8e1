"""Errors raised on bad input.

Every public entry point validates its arguments and raises :class:`InputError` with a message that
names the offending value; the CLI turns it into a one-line message on stderr and exit code 2.
"""

from __future__ import annotations

import math


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
    if isinstance(value, bool) or int(value) != value or value < minimum:
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


class GrokodeWarning(UserWarning):
    """Something the user should know that did not stop the command (the CLI prints it as one line)."""
