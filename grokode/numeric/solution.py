"""What every method hands back: a status from a fixed set, a message, and the solver's counters.

Like scipy's ``OdeResult`` and diffrax's ``RESULTS``: a run that fails or is stopped is not an exception,
it is a solution with a status other than :attr:`Status.OK`, a one-line message saying why, and every
saved time it reached.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from ..errors import InputError


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

    def add_seconds(self, other: SolverStats) -> None:
        """Add the seconds of ``other`` (a run redone with another method counts both)."""
        self.wall_seconds += other.wall_seconds
        self.rhs_seconds += other.rhs_seconds
        self.jac_seconds += other.jac_seconds
        self.save_seconds += other.save_seconds


@dataclass(kw_only=True)
class Solution:
    """What every method returns: the saved times and what was recorded there, how the run ended, its counters.

    The ODE driver's :class:`~grokode.numeric.integrate.FlowSolution` and the discrete methods'
    :class:`~grokode.numeric.discrete.GDSolution` extend it.

    Attributes
    ----------
    t : the saved times that were reached (T,).
    states : the method's state at each saved time (T × state size; 0 rows when it keeps none).
    weights : the effective weight w (or the observables a model records) at each saved time (T × size).
    param_norm : ‖θ‖ at each saved time (T,).
    status, message : how the run ended (:class:`Status`) and a one-line message (a warning when "ok").
    stats : the method's counters (:class:`SolverStats`).
    t_fail : where a failed or diverged run began to fail, else None.
    resume_point : the method's state at the last saved time, to continue from (:mod:`grokode.lifecycle`), or None.
    extras : summary entries the method adds (e.g. gradient descent's ``lr_stability_ratio``), merged into a run's
        summary as they are.
    """

    t: np.ndarray
    states: np.ndarray
    weights: np.ndarray
    param_norm: np.ndarray
    status: Status
    message: str
    stats: SolverStats
    t_fail: float | None = None
    resume_point: dict | None = field(default=None, repr=False)
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def has_dense_output(self) -> bool:
        """Whether :meth:`weight_at` reads a continuous solution (else it interpolates the saved rows)."""
        return False

    @property
    def t_reached(self) -> float:
        """The last time the method reached (at or after the last saved time)."""
        return float(self.t[-1]) if self.t.size else 0.0

    def weight_at(self, t: float) -> np.ndarray:
        """The weight at a reached time t, linearly interpolated between the saved rows."""
        if self.t.size == 0 or not self.t[0] <= t <= self.t[-1]:
            raise InputError(f"t={t:g} is outside the saved range")
        k = int(np.searchsorted(self.t, t, side="right")) - 1
        if k >= self.t.size - 1:
            return self.weights[-1].copy()
        a = (t - self.t[k]) / (self.t[k + 1] - self.t[k])
        return (1.0 - a) * self.weights[k] + a * self.weights[k + 1]
