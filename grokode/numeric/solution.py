"""What every method hands back: a status from a fixed set, a message, and the solver's counters.

Like scipy's ``OdeResult`` and diffrax's ``RESULTS``: a run that fails or is stopped is not an exception,
it is a solution with a status other than :attr:`Status.OK`, a one-line message saying why, and every
saved time it reached.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np


class Status(StrEnum):
    """How a run ended. Compares equal to its value (``Status.OK == "ok"``)."""

    OK = "ok"
    """Reached the horizon."""
    FAILED = "failed"
    """The method gave up (step size too small, a non-finite state); the message says where."""
    DIVERGED = "diverged"
    """A discrete method's objective became non-finite or rose far above its minimum."""
    INTERRUPTED = "interrupted"
    """Stopped by the user (Ctrl-C) or by SIGTERM (``kill``, ``timeout``, a scheduler's walltime)."""


@dataclass
class SolverStats:
    """Counters of one run: right-hand side (or gradient) and Jacobian evaluations, LU factorizations,
    accepted steps, restarts (rescalings), the method that was given up on, and the wall time, with the seconds
    of it spent in right-hand sides, Jacobians and saving the requested times (flow methods)."""

    method: str
    nfev: int = 0
    njev: int = 0
    nlu: int = 0
    steps: int = 0
    restarts: int = 0
    fallback_from: str | None = None
    wall_seconds: float = 0.0
    rhs_seconds: float = 0.0
    jac_seconds: float = 0.0
    save_seconds: float = 0.0


class InTime:
    """For flows integrated in the time t itself: the driver's variable is t (``to_var``/``to_time`` are the
    identity). Flows in another variable (log t, log(1 + t)) define their own pair."""

    variable = "t"

    @staticmethod
    def to_var(t):
        return np.asarray(t, dtype=np.float64)

    @staticmethod
    def to_time(t):
        return t
