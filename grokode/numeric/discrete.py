"""One driver for the discrete methods (GD, normalized GD, label-noise SGD, MLP GD): chunks, saves, stops.

A discrete method is a :class:`Stepper`: a numba loop that advances its own state by up to N steps toward
a target on its own clock (the step number for a constant learning rate, the time Σ η/L̂ for the normalized
one). :func:`run_discrete` owns everything around that loop, once for all four methods: it records a
snapshot at the first step at or past each target, sizes the chunks so that each takes ~``chunk_seconds``
(Ctrl-C and the progress bar act between chunks), turns a failure code into a status and message, keeps
what was recorded when the user interrupts, and assembles the :class:`GDSolution`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from .. import interrupts, lifecycle
from ..errors import InputError
from .solution import Solution, SolverStats, Status

#: Largest chunk (steps per numba call).
MAX_CHUNK = 1 << 24


class Stepper(Protocol):
    """What :func:`run_discrete` needs of a discrete method."""

    k: int
    """Steps taken so far."""

    def clock(self) -> float:
        """The current value of the clock the targets are given on."""

    def advance(self, max_steps: int, target: float) -> tuple[int, int]:
        """At most ``max_steps`` steps, stopping at clock ≥ ``target``; (steps done, failure code or 0)."""

    def snapshot(self) -> tuple[np.ndarray | None, np.ndarray, float, float, float]:
        """(state or None, weight, ‖θ‖, objective, t) now."""

    def fraction_done(self, final_target: float) -> float:
        """Progress in [0, 1] toward ``final_target``."""

    def failure(self, code: int, steps: int) -> tuple[str, str, float | None, int | None]:
        """(status, message, t_fail, step where the failure began) for a non-zero code."""

    def warning(self, steps: int) -> str:
        """A message for a run that finished but stepped uphill ("" if it did not)."""

    def export(self) -> dict:
        """The state a later run continues from (plain values and arrays)."""

    def restore(self, state: dict) -> None:
        """Continue from a state :meth:`export` returned."""


@dataclass(kw_only=True)
class GDSolution(Solution):
    """What a discrete method produced (a :class:`~grokode.numeric.solution.Solution`).

    ``t`` are the saved times steps·η (the steps nearest the requested times, without repeats);
    ``status`` is :attr:`Status.OK`, ``DIVERGED`` (``message`` says where the rise began; ``t_fail`` is that time),
    ``FAILED`` or ``INTERRUPTED``. ``stats.nfev`` counts gradient evaluations (= steps); ``objective`` is
    L̂ + (λ/2)‖θ‖² at the saved times. ``weight_at`` interpolates the saved steps linearly.
    """

    objective: np.ndarray
    lr: float
    steps_done: int
    diverged_step: int | None = None
    #: no dense output: always empty (the flow solutions' dense pieces)
    pieces: list = field(default_factory=list, repr=False)

    @property
    def t_reached(self) -> float:
        return self.steps_done * self.lr

    @property
    def lr_stability_ratio(self) -> float | None:
        """step·ρ(0)/2 of the first step (> 1: beyond the linear stability limit of the flow, :mod:`.stability`)."""
        return self.extras.get("lr_stability_ratio")


@dataclass(kw_only=True)
class NormalizedGDSolution(GDSolution):
    """A :class:`GDSolution` whose times are Σ η/L̂ (``lr`` is the constant η)."""

    time_reached: float = 0.0

    @property
    def t_reached(self) -> float:
        return self.time_reached


def check_t_eval(t_eval) -> np.ndarray:
    """``t_eval`` as float64, or an error unless it is a non-empty, strictly increasing list of finite times ≥ 0."""
    t_eval = np.asarray(t_eval, dtype=np.float64)
    if t_eval.ndim != 1 or t_eval.size == 0 or not np.all(np.isfinite(t_eval)) or np.any(t_eval < 0) or np.any(
            np.diff(t_eval) <= 0):
        raise InputError("t_eval must be a non-empty, strictly increasing list of finite times ≥ 0")
    return t_eval


def save_steps(t_eval: np.ndarray, lr: float) -> np.ndarray:
    """Step numbers nearest to the times ``t_eval`` at a constant step ``lr`` (t = steps·lr), without repeats."""
    return np.unique(np.rint(np.asarray(t_eval, dtype=np.float64) / lr).astype(np.int64))


def run_discrete(stepper: Stepper, targets: np.ndarray, *, method: str, lr: float, state_size: int,
                 weight_size: int, progress: Callable[[float], None] | None = None, chunk_seconds: float = 0.2,
                 first_chunk: int = 8, make: Callable[..., object] | None = None):
    """Advance ``stepper`` through increasing ``targets`` on its clock, recording a snapshot at each.

    Parameters
    ----------
    stepper : the method (see :class:`Stepper`).
    targets : increasing clock values; a snapshot is taken at the first step with clock ≥ each (once per step).
    method, lr : recorded in the solution's stats and ``lr``.
    state_size, weight_size : row lengths of ``states`` and ``weights`` (the arrays stay 2-D when empty).
    progress : called with the fraction done after every chunk.
    chunk_seconds : the wall time each numba call aims at.
    make : builds the solution from the keyword fields of :class:`~grokode.numeric.gd.GDSolution`
        (default: :class:`GDSolution`).

    Returns
    -------
    The solution; ``status`` "ok", "interrupted" (Ctrl-C: everything recorded so far is kept) or the
    stepper's failure status.
    """
    if not chunk_seconds > 0:
        raise InputError(f"chunk_seconds must be > 0, got {chunk_seconds!r}")
    targets = np.asarray(targets)
    states: list = []
    weights: list = []
    norms: list = []
    objectives: list = []
    times: list = []
    status, message, t_fail, fail_step = Status.OK, "", None, None
    chunk, idx = int(first_chunk), 0
    resume = lifecycle.start_of("discrete")
    lc = lifecycle.current()
    if resume is not None:
        stepper.restore(resume["state"])
        idx = int(np.searchsorted(targets, stepper.clock(), side="right"))  # the earlier run saved up to here
    last_saved = resume
    # what a run keeps if it ends before its first saved step (stopped, failed or diverged): its initial state
    initial = stepper.snapshot() if resume is None else None
    steps = int(stepper.k)
    start = time.perf_counter()

    def solution(status, message, t_fail=None, fail_step=None, partial=False):
        rows = (list(times), list(weights), list(norms), list(objectives), list(states))
        if not times and initial is not None:  # ended before its first saved step: the file holds the initial state
            state, weight, norm, objective, t = initial
            rows = ([t], [weight], [norm], [objective], [] if state is None else [state])
        stats = SolverStats(method=method)
        stats.nfev = stats.steps = steps
        stats.wall_seconds = time.perf_counter() - start
        return (make or GDSolution)(
            t=np.asarray(rows[0], dtype=np.float64), states=np.asarray(rows[4]).reshape(-1, state_size),
            weights=np.asarray(rows[1]).reshape(-1, weight_size), param_norm=np.asarray(rows[2], dtype=np.float64),
            objective=np.asarray(rows[3], dtype=np.float64), status=status, message=message, stats=stats, lr=lr,
            steps_done=steps, t_fail=t_fail, diverged_step=fail_step, resume_point=last_saved)

    if lc is not None and lc.initial and resume is None:
        lc.checkpoint(solution(Status.INTERRUPTED, "stopped before its first step", partial=True))
    try:
        while True:
            if idx < targets.size and stepper.clock() >= targets[idx]:
                state, weight, norm, objective, t = stepper.snapshot()
                if state is not None:
                    states.append(state)
                weights.append(weight)
                norms.append(norm)
                objectives.append(objective)
                times.append(t)
                last_saved = {"kind": "discrete", "method": method, "t": float(t), "state": stepper.export()}
                while idx < targets.size and stepper.clock() >= targets[idx]:
                    idx += 1
            if idx == targets.size:
                break
            if interrupts.requested():
                raise KeyboardInterrupt
            if lc is not None and lc.due():
                lc.checkpoint(solution(Status.INTERRUPTED, "checkpoint of a run in progress", partial=True))
            c0 = time.perf_counter()
            done, code = stepper.advance(chunk, targets[idx])
            steps += done
            elapsed = time.perf_counter() - c0
            if done == chunk and elapsed > 0:
                chunk = int(min(max(1, chunk * min(4.0, chunk_seconds / elapsed)), MAX_CHUNK))
            if progress is not None:
                progress(stepper.fraction_done(targets[-1]))
            if code:
                status, message, t_fail, fail_step = stepper.failure(code, steps)
                status = Status(status)
                break
    except KeyboardInterrupt:
        status, message = Status.INTERRUPTED, "interrupted by the user"
    if status == "ok":
        message = stepper.warning(steps)
    return solution(status, message, t_fail, fail_step)


def rise_failure(name: str, code: int, steps: int, t_now: float, rise_factor: float, best: float, best_step: float,
                 t_fail: float, hint: str = "") -> tuple[str, str, float, int]:
    """The "diverged" verdict of a method that watches J = L̂ + (λ/2)‖θ‖² (code 1: non-finite, 2: risen).

    ``name`` names the method and its step ("GD diverged at lr=0.1"); the divergence is dated to the step after J's
    running minimum ``best`` (at ``best_step``), whose time is ``t_fail``.
    """
    began = int(best_step) + 1
    what = "became non-finite" if code == 1 else f"exceeded {rise_factor:g}× its minimum"
    return ("diverged", f"{name}: the objective L̂+(λ/2)‖θ‖² {what} at step {steps} (t={t_now:.6g}); "
            f"it rose from its minimum {best:.6g} at step {began - 1}, so the divergence began at step {began}{hint}",
            float(t_fail), began)


def uphill_warning(name: str, rising: float, first: float, steps: int) -> str:
    """The warning of a finished run whose objective rose at ``rising`` steps ("" if none)."""
    if rising <= 0:
        return ""
    return (f"warning: the objective increased at {int(rising)} of {steps} steps (first at step {int(first)}): "
            f"{name} is too large for GD to follow the gradient flow there")


class LogTimeProgress:
    """Progress in ln t, for the normalized-step methods (their clock t = Σ η/L̂ grows geometrically)."""

    def __init__(self, first_step: float, t_end: float):
        self.log_lo = math.log(max(first_step, 1e-300))
        self.log_hi = math.log(max(t_end, 1e-300))

    def __call__(self, t: float) -> float:
        if not t > 0:
            return 0.0
        return min(1.0, max(0.0, (math.log(t) - self.log_lo) / max(self.log_hi - self.log_lo, 1e-12)))


#: Why a normalized-step run diverges late and what to do: for a 2-homogeneous net the Hessian is O(L̂·‖θ‖²), and
#: ‖θ‖² grows like ln t without weight decay, so any fixed η/L̂ step loses stability at some t.
NORMALIZED_HINT = "; the curvature/L̂ ratio grows like ‖θ‖² ~ ln t, so a smaller η (--lr) stays stable further"


def underflow_failure(steps: int, t_now: float) -> tuple[str, str, float, None]:
    """The verdict when L̂ reached 0 in float64 and the normalized step η/L̂ is undefined (code 3)."""
    return ("failed", f"the training loss underflowed to 0 at step {steps} (t={t_now:.6g}): the normalized step η/L̂ "
            "is undefined beyond it", t_now, None)
