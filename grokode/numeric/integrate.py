"""One driver for every flow: scipy's stiff and explicit solvers stepped under our control.

We step scipy's ``OdeSolver`` objects ourselves (as ``solve_ivp`` does internally) so that a long run
can report progress, save requested times from each step's dense output, rescale the state exactly
when a flow asks for it, and, when interrupted or when the solver fails, keep everything it finished.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import integrate as si

from .. import interrupts, lifecycle
from ..errors import InputError, checked_arguments
from .flow import Flow, Reframe, as_flow
from .lazy_weights import LazyWeights, keeps_states_only
from .rkc import RKC
from .rkc_ros2 import RkcRos2
from .ros2 import ROS2
from .solution import Solution, SolverStats, Status

METHODS = ("auto", "LSODA", "BDF", "Radau", "RK45", "DOP853", "rkc", "ros2", "rkc-ros2")
#: ``auto`` picks LSODA: it switches between Adams (non-stiff, cheap steps) and BDF with the flow's analytic
#: Jacobian (stiff kernel phase), the fastest on the diagonal flows (benchmarks/RESULTS.md).
AUTO_METHOD = "LSODA"
#: When ``auto``'s LSODA fails, the run is redone with BDF from the start: LSODA can stop with "repeated error
#: test failures" where a residual is rounding noise times a large stiffness (the squared loss at large α), and
#: neither solver can continue from the last accepted state.
AUTO_FALLBACK = "BDF"
#: A step that ends in a non-finite state is redone from its start with steps at most RETRY_SHRINK times its
#: length, up to MAX_RETRIES times in a row; then the run fails (a genuine blow-up stays a failure).
MAX_RETRIES = 4
RETRY_SHRINK = 0.25


@dataclass
class _Piece:
    lo: float
    hi: float
    dense: object
    frame: object  # the flow's frame of this piece's states (``flow.frame()``), handed back to ``flow.weight``


@dataclass(kw_only=True)
class FlowSolution(Solution):
    """What :func:`integrate_flow` produced (a :class:`~grokode.numeric.solution.Solution`), with the solver's
    dense output.

    ``status`` is :attr:`Status.OK`, ``FAILED`` (``message`` says why, ``t_fail`` where and ``failure`` how:
    "solver", the method gave up, or "non-finite", the state overflowed) or ``INTERRUPTED``;
    ``t``/``weights``/``states`` hold every saved time that was reached, ``frames`` the flow's frame of each
    saved state (None before the start or without frames), ``pieces`` the dense output of every step.
    """

    failure: str | None = None
    pieces: list[_Piece] = field(default_factory=list, repr=False)
    flow: Any = field(default=None, repr=False)
    frames: list = field(default_factory=list, repr=False)

    @property
    def has_dense_output(self) -> bool:
        return bool(self.pieces) and bool(self.flow.keep_states)

    def weight_at(self, t: float) -> np.ndarray:
        """Effective weight at any reached time t > 0, from the solver's dense output (times saved by an earlier
        run that this one resumed: interpolated)."""
        var = float(self.flow.to_var(t))
        for p in self.pieces:
            if p.lo <= var <= p.hi:
                return self.flow.weight(var, p.dense(var), p.frame)
        if self.t.size > 1 and self.t[0] <= t <= self.t[-1]:
            return super().weight_at(t)
        raise InputError(f"t={t:g} is outside the integrated range")

    @property
    def t_reached(self) -> float:
        if self.pieces:
            return float(self.flow.to_time(self.pieces[-1].hi))
        return super().t_reached


#: Methods by name (``solve_ivp``'s and ours). :func:`integrate_flow` also takes any ``OdeSolver`` subclass.
SOLVERS: dict[str, type[si.OdeSolver]] = {"LSODA": si.LSODA, "BDF": si.BDF, "Radau": si.Radau, "RK45": si.RK45,
                                          "DOP853": si.DOP853, "rkc": RKC, "ros2": ROS2,
                                          "rkc-ros2": RkcRos2}
#: Solvers that take the flow's diagonal Jacobian approximation ``jac_diagonal`` (W-methods).
_DIAGONAL_JACOBIAN_CLASSES = (ROS2, RkcRos2)
#: Solvers that use a Jacobian (the flow's ``jac`` if it has one, else finite differences).
_STIFF_CLASSES = (si.LSODA, si.BDF, si.Radau)


def solver_class(method: str | type) -> type[si.OdeSolver]:
    """The ``OdeSolver`` subclass of a method name, or the class itself; InputError for anything else."""
    if isinstance(method, type) and issubclass(method, si.OdeSolver):
        return method
    if isinstance(method, str) and method in SOLVERS:
        return SOLVERS[method]
    raise InputError(f"unknown method {method!r} (choose {', '.join(METHODS)}, or pass an OdeSolver subclass)")


def needs_jacobian(method: str | type) -> bool:
    """Whether a method builds and factors a Jacobian (LSODA, BDF, Radau and their subclasses)."""
    return method != "auto" and issubclass(solver_class(AUTO_METHOD if method == "auto" else method),
                                           _STIFF_CLASSES)


def _make_solver(method, fun, v0, y0, v_end, rtol, atol, jac, max_step=np.inf):
    cls = solver_class(method)
    kwargs = {"rtol": rtol, "atol": atol, "max_step": max_step}
    if issubclass(cls, _DIAGONAL_JACOBIAN_CLASSES):  # a W-method: needs the flow's diagonal Jacobian approximation
        kwargs["jac_diagonal"] = jac
    if issubclass(cls, _STIFF_CLASSES) and jac is not None:
        kwargs["jac"] = jac
    return cls(fun, v0, y0, v_end, **kwargs)


@checked_arguments
def integrate_flow(flow: Flow, t_eval: np.ndarray, *, method: str | type = "auto", rtol: float = 1e-6,
                   atol: float = 1e-9, progress: Callable[[float], None] | None = None) -> FlowSolution:
    """Integrate ``flow`` from its start to ``t_eval[-1]``, saving the weights at each time of ``t_eval``.

    Parameters
    ----------
    flow : a :class:`~grokode.numeric.flow.Flow` (the contract is written in :mod:`grokode.numeric.flow`; derive
        from :class:`~grokode.numeric.flow.FlowBase`). An object with only the core members is driven with the
        base's defaults (:func:`~grokode.numeric.flow.as_flow`).
    t_eval : increasing times > 0 (or ≥ 0 for flows in t); the last one is the horizon.
    method : one of :data:`METHODS` ("auto" is the flow's ``auto_method``, by default :data:`AUTO_METHOD`, redone
        with :data:`AUTO_FALLBACK` when it fails), or an ``OdeSolver`` subclass.
    rtol, atol : solver tolerances on the flow's state.
    progress : called with the fraction of the horizon done (in the solver's variable).
    """
    if method != "auto":
        solver_class(method)  # an unknown method is an input error before anything runs
    flow = as_flow(flow)
    t_eval = np.asarray(t_eval, dtype=np.float64)
    if t_eval.ndim != 1 or t_eval.size == 0 or np.any(np.diff(t_eval) <= 0) or not np.all(np.isfinite(t_eval)):
        raise InputError("t_eval must be a non-empty, strictly increasing list of finite times")
    if method == "auto":
        primary = flow.auto_method or AUTO_METHOD
        first = integrate_flow(flow, t_eval, method=primary, rtol=rtol, atol=atol, progress=progress)
        if primary == AUTO_FALLBACK:
            return first
        # a blow-up is the model's, not LSODA's, unless the flow says its exact solution cannot blow up (a reduced
        # flow at depth ≥ 3, whose step crossed a singular end: LSODA accepts a step to a NaN point, BDF rejects it)
        numerical = first.failure == "non-finite" and bool(flow.failure_hint)
        if first.status != "failed" or (first.failure != "solver" and not numerical):
            return first
        second = integrate_flow(flow, t_eval, method=AUTO_FALLBACK, rtol=rtol, atol=atol, progress=progress)
        second.stats.fallback_from = first.message
        second.stats.add_seconds(first.stats)
        return second
    cls = solver_class(method)
    stats = SolverStats(method=method if isinstance(method, str) else cls.__name__)
    resume = lifecycle.start_of("flow")
    lc = lifecycle.current()
    v0, y0 = flow.start()
    if not np.all(np.isfinite(y0)):
        raise InputError(f"the initial state of {type(flow).__name__} is not finite: α (or the data) is too large for "
                         "float64 arithmetic")
    var_eval = np.asarray(flow.to_var(t_eval), dtype=np.float64)
    v_end = float(var_eval[-1])
    if resume is not None:  # continue an earlier run from its last saved time, in the frame it was saved in
        v0, y0 = float(resume["var"]), np.array(resume["y"], dtype=np.float64)
        flow.restore_frame(resume.get("frame"))
    if not v_end > v0:
        raise InputError(f"the horizon t={t_eval[-1]:g} is before the start of the integration")
    jac = flow.jac if issubclass(cls, _STIFF_CLASSES) else None
    if issubclass(cls, _DIAGONAL_JACOBIAN_CLASSES):
        jac = flow.jac_diagonal
        if jac is None:
            raise InputError(f"method {stats.method!r} needs a diagonal Jacobian, which {type(flow).__name__} does not "
                             "provide")

    def add_rhs(seconds: float) -> None:
        stats.rhs_seconds += seconds

    def add_jac(seconds: float) -> None:
        stats.jac_seconds += seconds

    fun, jac = _timed(flow.rhs, add_rhs), _timed(jac, add_jac)
    states: list = []
    saved_var: list = []
    norms: list = []
    saved_t: list = []
    pieces: list = []
    # a flow with many parameters (the MLP) keeps neither its states nor its past dense pieces: only the
    # weights it observes at the saved times and the last piece (for t_reached)
    keep = flow.keep_states
    # a reduced flow's large run keeps its states and frames only: w is computed from them when it is read
    lazy = keep and resume is None and keeps_states_only(flow, float(var_eval.size) * flow.d)
    status, message, t_fail, failure = Status.OK, "", None, None
    width = flow.weight_size
    # one T×width array filled row by row: a list of T rows stacked at the end would cost a second T×width copy;
    # rows never reached are never touched
    weights = np.empty((0 if lazy else var_eval.size + 1, width))
    if resume is not None:  # the times up to the resume point are in the earlier run's file
        k = int(np.searchsorted(t_eval, float(resume["t"]), side="right"))
        before = 0
    else:
        k = before = int(np.searchsorted(var_eval, v0, side="right"))
    frames: list = []
    for idx in range(before):  # times before the start (t = 0 in log-time flows): the weight is zero there
        if keep:
            states.append(np.full_like(y0, np.nan))
            frames.append(None)
        if not lazy:
            weights[idx] = 0.0
        saved_var.append(math.nan)
        norms.append(flow.alpha)
        saved_t.append(t_eval[idx])
    last_saved: dict | None = None

    def save_row(var: float, t: float, s: np.ndarray, frame) -> None:
        """Keep the weights (and, with ``keep``, the state) at the solver variable ``var`` as the saved time ``t``."""
        clock = time.perf_counter()
        if keep:  # a flow may hand out its saved states in other variables (FullDiagonalFlow: (u, v))
            states.append(flow.export_state(var, s))
            frames.append(frame)
        if lazy:
            saved_var.append(var)
            norms.append(math.nan)
        else:
            w, norm = flow.observe(var, s, frame)
            weights[len(saved_t)] = w  # rows are filled in order: a resumed run's first row is its first new time
            norms.append(norm)
        saved_t.append(t)
        stats.save_seconds += time.perf_counter() - clock

    def save_point(var: float, t: float, y: np.ndarray, frame) -> dict:
        """Where a later run continues: the state ``y`` at ``var`` (a step's end, after the last saved time ``t``)."""
        point = {"kind": "flow", "method": stats.method, "t": float(t), "var": float(var), "y": np.array(y)}
        saved_frame = flow.export_frame(frame)
        if saved_frame is not None:
            point["frame"] = saved_frame
        return point

    def solution(status, message, t_fail=None, failure=None, partial=False) -> FlowSolution:
        t_saved, rows, norm_list = list(saved_t), len(saved_t), list(norms)
        W: Any = weights[:rows]  # an array, or LazyWeights when the run keeps its states only
        state_list, frame_list = list(states), list(frames)
        if not rows and resume is None:  # stopped before its first saved time: the file still holds t = 0
            t_saved, norm_list = [0.0], [flow.alpha]
            if float(flow.to_time(v0)) > 0.0:  # a flow in log t starts after t = 0, where w = 0
                W = np.zeros((1, width))
                if keep:
                    state_list, frame_list = [np.full_like(y0, np.nan)], [None]
            else:
                frame0 = flow.frame()
                w0, n0 = flow.observe(v0, y0, frame0)
                W, norm_list = np.asarray(w0, dtype=np.float64).reshape(1, width), [n0]
                if keep:
                    state_list = [np.array(flow.export_state(v0, y0))]
                    frame_list = [frame0]
        elif partial and not lazy:
            W = W.copy()
        n_state = y0.shape[0]
        t_array, state_array = np.asarray(t_saved, dtype=np.float64), np.asarray(state_list).reshape(-1, n_state)
        norm_array = np.asarray(norm_list, dtype=np.float64)
        if lazy and rows:
            W = LazyWeights(flow, np.asarray(saved_var[:rows], dtype=np.float64), state_array, frame_list, norm_array)
        return FlowSolution(
            t=t_array, states=state_array, weights=W, param_norm=norm_array,
            status=status, message=message, stats=stats, t_fail=t_fail, failure=failure,
            pieces=list(pieces) if partial else pieces, flow=flow, frames=frame_list,
            resume_point=last_saved if last_saved is not None else resume)

    start = time.perf_counter()
    max_step = flow.max_step
    solver = _make_solver(method, fun, v0, y0, v_end, rtol, atol, jac, max_step)
    if lc is not None and lc.initial and resume is None:
        lc.checkpoint(solution(Status.INTERRUPTED, "stopped before its first step", partial=True))
    retries = 0
    try:
        while solver.status == "running":
            if interrupts.requested():
                raise KeyboardInterrupt
            if lc is not None and lc.due():
                stats.nfev, stats.njev = flow.nfev, flow.njev
                lc.checkpoint(solution(Status.INTERRUPTED, "checkpoint of a run in progress", partial=True))
            v_prev, y_prev = solver.t, solver.y.copy()
            why = solver.step()  # OdeSolver.step returns the failure message of _step_impl (None on success)
            if solver.status == "failed":
                status, t_fail, failure = Status.FAILED, float(flow.to_time(solver.t)), "solver"
                message = f"{stats.method} failed at t={t_fail:.6g}: {why or 'the solver gave up'}"
                break
            if not np.all(np.isfinite(solver.y)):
                if retries < MAX_RETRIES and solver.t > v_prev:
                    # the error tests compare NaN as passing, so a step too long for a nonlinear flow can be
                    # accepted with a non-finite state: redo it from the last accepted state with shorter steps
                    retries += 1
                    _accumulate(stats, solver)
                    stats.restarts += 1
                    solver = _make_solver(method, fun, v_prev, y_prev, v_end, rtol, atol, jac,
                                          RETRY_SHRINK * (solver.t - v_prev))
                    continue
                status, t_fail, failure = Status.FAILED, float(flow.to_time(solver.t_old)), "non-finite"
                message = (f"non-finite state after t={t_fail:.6g} (step to t={float(flow.to_time(solver.t)):.6g})"
                           + flow.failure_hint)
                break
            retries = 0
            stats.steps += 1
            dense = solver.dense_output()
            lo, hi = dense.t_min, dense.t_max
            frame = flow.frame()
            pieces.append(_Piece(lo, hi, dense, frame))
            if not keep:
                del pieces[:-1]
            while k < len(var_eval) and var_eval[k] <= hi:
                save_row(var_eval[k], t_eval[k], dense(var_eval[k]) if var_eval[k] < hi else solver.y.copy(), frame)
                k += 1
            if progress is not None:
                progress(min(1.0, (hi - v0) / (v_end - v0)))
            rescaled = None
            if solver.status == "running":
                change = flow.rescale(solver.y, solver.t)
                rescaled = change.state if isinstance(change, Reframe) else change
            if saved_t:  # a later run continues from this step's end (in the frame it is in after any rescaling)
                last_saved = save_point(solver.t, saved_t[-1], solver.y if rescaled is None else rescaled,
                                        flow.frame())
            if rescaled is not None:
                stats.restarts += 1
                if not (isinstance(change, Reframe) and _carry_history(solver, change)):
                    _accumulate(stats, solver)
                    solver = _make_solver(method, fun, solver.t, rescaled, v_end, rtol, atol, jac, max_step)
            # a flow may end the run at a rule of its own (the squared loss at λ = 0 stops at interpolation): the
            # point where it stopped is saved as the last time
            why_stop = flow.stop_reason() if solver.status == "running" else None
            if why_stop:
                if k < len(var_eval):
                    save_row(solver.t, float(flow.to_time(solver.t)), solver.y.copy(), flow.frame())
                message = why_stop
                break
    except KeyboardInterrupt:
        status, message = Status.INTERRUPTED, "interrupted by the user"
    _accumulate(stats, solver)
    stats.nfev, stats.njev = flow.nfev, flow.njev
    stats.wall_seconds = time.perf_counter() - start
    return solution(status, message, t_fail, failure)


def _timed(fn: Callable | None, add: Callable[[float], None]) -> Callable | None:
    """``fn`` handing the seconds of each call to ``add`` (None stays None)."""
    if fn is None:
        return None
    clock = time.perf_counter

    def timed(*args):
        start = clock()
        try:
            return fn(*args)
        finally:
            add(clock() - start)

    return timed


def _carry_history(solver, change: Reframe) -> bool:
    """Carry a BDF solver's history across the change of variables of ``change`` (a :class:`Reframe`) instead of
    restarting it at first order; False (restart) for the other solvers.

    BDF keeps the backward differences D[k] of its state on its grid of equal steps; the map scales them by ``scale``
    and adds the differences of g(v)·vector (D[0] is the state itself); its Jacobian and LU factors are those of the
    same flow (∂F/∂y does not change under the map).
    """
    if not isinstance(solver, si.BDF):
        return False
    solver.D[1:] *= change.scale
    if change.vector is not None and change.curve is not None:  # + g(v)·vector: its backward differences on the grid
        past = np.array([change.curve(solver.t - k * solver.h_abs * solver.direction)
                         for k in range(solver.order + 1)])
        for j in range(1, solver.order + 1):
            past = past[:-1] - past[1:]
            solver.D[j] += past[0] * change.vector
    solver.D[0] = change.state
    solver.y = change.state.copy()
    return True


def _accumulate(stats: SolverStats, solver) -> None:
    stats.nlu += int(solver.nlu or 0)


def default_t_eval(t_end: float, t_theory: float, points: int = 300) -> np.ndarray:
    """~``points`` save times: log-spaced over the early (kernel) phase, linear through the transition."""
    split = min(0.25 * t_end, 0.25 * t_theory) if t_theory > 0 else 0.25 * t_end
    early = np.geomspace(max(split * 1e-6, 1e-12), split, points // 3, endpoint=False)
    late = np.linspace(split, t_end, points - points // 3)
    return np.unique(np.concatenate([early, late]))

