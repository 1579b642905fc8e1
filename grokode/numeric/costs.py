"""Where a run's time goes: the summary's ``time_split`` (seconds by phase).

The driver times every right-hand side, Jacobian and saved time (:class:`~grokode.numeric.solution.SolverStats`);
the pipeline times its phases (preparing the data and the flow, observing the saved times, locating the
transition, the reference predictors with the theorem check, the model's summary). ``integrator`` is the rest of
the solver's wall time: its own linear algebra (LU factorizations, error control) and the driver's bookkeeping.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .lazy_weights import LazyWeights
from .solution import SolverStats

#: The keys of ``time_split``, in the order of the run.
PHASES = ("prepare", "integrate", "integrator", "rhs", "jacobian", "saved_points", "observe", "weights_from_states",
          "transition", "references", "summarize")


class PhaseClock:
    """Seconds per named phase: ``with clock("observe"): ...`` adds the block's wall time to that phase."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


def time_split(stats: SolverStats, phases: dict[str, float | None], weights: Any = None) -> dict[str, float | None]:
    """The summary's ``time_split``: the solver's counters (``stats``) and the pipeline's ``phases``.

    ``saved_points`` is the driver's saving of the requested times plus the pipeline's ``observe`` (the metrics at
    those times, which for a run that keeps its states includes computing w from them: ``weights_from_states``,
    the seconds ``weights`` spent on it in every pass over its rows). Such a run solves its reference predictors
    before that pass, which projects onto them, so their solve counts in ``observe``, not in ``references``.
    """
    wall, rhs, jac, save = stats.wall_seconds, stats.rhs_seconds, stats.jac_seconds, stats.save_seconds
    out: dict[str, float | None] = {
        "prepare": phases.get("prepare"),
        "integrate": wall,
        "integrator": max(0.0, wall - rhs - jac - save),
        "rhs": rhs,
        "jacobian": jac,
        "saved_points": save + (phases.get("observe") or 0.0),
        "observe": phases.get("observe"),
        "weights_from_states": weights.seconds if isinstance(weights, LazyWeights) else None,
        "transition": phases.get("transition"),
        "references": phases.get("references"),
        "summarize": phases.get("summarize"),
    }
    rounded: dict[str, float | None] = {}
    for key in PHASES:
        value = out[key]
        rounded[key] = None if value is None else round(float(value), 6)
    return rounded
