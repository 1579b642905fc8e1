"""A matrix-completion run (MATH.md §4): ``grokode integrate --model matrix``.

Same pipeline as the diagonal model (:func:`grokode.run.integrate` calls :func:`integrate_matrix`):
integrate the flow with :func:`~grokode.numeric.integrate.integrate_flow`, compute the metrics, locate the
transition on log10 of the test MSE, return a :class:`~grokode.run.Run`. The trajectory holds ``W``
(T×d×d), the losses, ‖θ‖, ‖W‖_*, and the relative Frobenius distances of W(t) to the kernel predictor and
to the minimum nuclear norm completion (``dist_kernel``, ``dist_rich``); the problem itself (``M``,
``train_mask``, ``test_mask``) and both predictors (``W_kernel``, ``W_rich``) are saved with it, so
an analysis never has to re-solve the SDP.
"""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Callable

import numpy as np

from ._version import __version__
from .analysis.analyze import analyze, theorem_times
from .analysis.nuclear import kernel_completion, nuclear_norm_completion
from .analysis.transition import find_transition
from .errors import InputError, require_positive
from .numeric.integrate import METHODS, default_t_eval, integrate_flow
from .numeric.matrix import MatrixFlow
from .tasks.matrix import MATRIX_TASKS, MatrixTask, load_matrix_npz, make_matrix_task

#: ``--method auto`` for the matrix model: RKC (see :class:`grokode.numeric.rkc.RKC` for why).
MATRIX_AUTO_METHOD = "rkc"
#: Keys of :class:`~grokode.analysis.analyze.Analysis` copied into a matrix run's summary.
MATRIX_ANALYSIS_KEYS = ("offset_c0", "t_bias_switch", "T_minus", "T_plus", "dist_kernel_at_Tminus",
                        "dist_rich_at_Tminus", "dist_kernel_at_Tplus", "dist_rich_at_Tplus")
DEFAULTS = {"task": "multiplication", "d": 30, "frac": 0.25, "rank": 1, "alpha": 100.0, "lam": 1e-3}


def relative_distance(W: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """‖W(t) − ref‖_F / ‖ref‖_F for W (d, d) or (T, d, d)."""
    diff = np.asarray(W) - ref
    return np.sqrt(np.sum(diff * diff, axis=(-2, -1))) / max(float(np.linalg.norm(ref)), 1e-300)


def nuclear_norms(W: np.ndarray) -> np.ndarray:
    """‖W‖_* = Σ|eigenvalues| of each symmetric W (T, d, d)."""
    return np.abs(np.linalg.eigvalsh(0.5 * (W + np.swapaxes(W, -1, -2)))).sum(axis=-1)


def integrate_matrix(*, task: str = "multiplication", data: str | None = None, d: int = 30, frac: float = 0.25,
                     rank: int = 1, seed: int = 0, alpha: float = 100.0, lam: float = 1e-3,
                     t_end: float | None = None, t_eval: np.ndarray | None = None, rtol: float = 1e-6,
                     atol: float = 1e-9, method: str = "auto", progress: Callable[[float], None] | None = None):
    """Integrate the matrix-completion flow through the kernel→rich transition.

    Parameters
    ----------
    task : "multiplication" (M_ij = (i/d)(j/d)) or "lowrank"; ignored when ``data`` is given.
    data : ``.npz`` with ``M`` (d×d symmetric), ``train_mask`` (d×d bool), optional ``test_mask``.
    d, frac, rank, seed : size, observed fraction, rank (low-rank task) and seed of a generated task.
    alpha, lam : initialization scale (U(0) = V(0) = αI) and weight decay.
    t_end, t_eval : horizon (default (2 ln α + 5)/λ) or the exact save times.
    rtol, atol : tolerances on the state (W, Ŝ); "auto" method is RKC.

    Returns
    -------
    grokode.run.Run with arrays ``t``, ``W``, ``train_loss``, ``test_loss`` (MSE), ``param_norm``,
    ``nuclear_norm``, ``dist_kernel``, ``dist_rich``, ``M``, ``train_mask``, ``test_mask``, ``W_kernel``,
    ``W_rich``, and the same summary keys as the diagonal model.
    """
    from .run import Run, _versions, default_t_end, solution_summary

    wall0 = time.perf_counter()
    if method not in METHODS:
        raise InputError(f"unknown method {method!r} (choose {', '.join(METHODS)})")
    alpha = require_positive("alpha", alpha)
    lam = require_positive("lam", lam)
    rtol = require_positive("rtol", rtol)
    atol = require_positive("atol", atol)
    if data is None and task not in MATRIX_TASKS:
        raise InputError(f"unknown task {task!r} for the matrix model (choose {', '.join(MATRIX_TASKS)})")
    problem: MatrixTask = load_matrix_npz(data) if data is not None else make_matrix_task(
        task, d=d, frac=frac, rank=rank, seed=seed)
    t_theory = math.log(alpha) / lam if alpha > 1 else 0.0
    if t_eval is None:
        t_end = default_t_end(max(alpha, math.e), lam) if t_end is None else require_positive("t_end", t_end)
        # the theorem check reads W at T∓ = (1 ∓ c)·t_theory: save those times exactly
        t_eval = np.union1d(default_t_eval(t_end, t_theory), [s for s in theorem_times(t_theory) if 0 < s < t_end])
    else:
        t_eval = np.asarray(t_eval, dtype=np.float64)
        if t_eval.ndim != 1 or t_eval.size == 0 or not np.all(np.isfinite(t_eval)) or np.any(t_eval <= 0) or np.any(
                np.diff(t_eval) <= 0):
            raise InputError(f"t_eval must be increasing positive finite times, got {t_eval.tolist()[:5]}…")
        t_end = float(t_eval[-1])
    solver_method = MATRIX_AUTO_METHOD if method == "auto" else method
    flow = MatrixFlow(problem.M, problem.train_mask, alpha=alpha, lam=lam)
    sol = integrate_flow(flow, t_eval, method=solver_method, rtol=rtol, atol=atol, progress=progress)
    dim = problem.d
    W = sol.weights.reshape(-1, dim, dim)

    sdp0 = time.perf_counter()
    W_kernel = kernel_completion(problem.M, problem.train_mask)
    rich = nuclear_norm_completion(problem.M, problem.train_mask)
    sdp_seconds = time.perf_counter() - sdp0

    arrays: dict[str, np.ndarray] = {
        "t": sol.t, "W": W, "train_loss": problem.mse(W, problem.train_mask),
        "test_loss": problem.mse(W, problem.test_mask), "param_norm": sol.param_norm,
        "nuclear_norm": nuclear_norms(W), "dist_kernel": relative_distance(W, W_kernel),
        "dist_rich": relative_distance(W, rich.X), "M": problem.M, "train_mask": problem.train_mask,
        "test_mask": problem.test_mask, "W_kernel": W_kernel, "W_rich": rich.X,
    }

    def dense_metric(s: float) -> float:
        return float(np.log10(problem.mse(sol.weight_at(s).reshape(dim, dim), problem.test_mask)))

    transition = None
    if sol.t.size:
        with np.errstate(divide="ignore"):
            log_test = np.log10(arrays["test_loss"])
        transition = find_transition(sol.t, log_test, t_theory, min_change=0.5,
                                     metric=dense_metric if sol.pieces else None)
    wall = time.perf_counter() - wall0

    def undo(v):
        return float(10.0**v) if v is not None and math.isfinite(v) else None

    summary = {
        **solution_summary(sol, transition, t_theory, t_end, undo=undo),
        "test_final": undo(transition.final) if transition else None,
        "train_final": float(arrays["train_loss"][-1]) if W.size else None,
        "transition_metric": "log10_test_loss",
        "wall_seconds": wall,
        "integrate_seconds": sol.stats.wall_seconds,
        "nuclear_seconds": sdp_seconds,
        "nuclear_norm_rich": rich.nuclear_norm,
        "dist_kernel_final": float(arrays["dist_kernel"][-1]) if W.size else None,
        "dist_rich_final": float(arrays["dist_rich"][-1]) if W.size else None,
    }
    params = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in problem.params.items()}
    meta = {
        "grokode_version": __version__,
        "options": {"model": "matrix", "depth": 2, "task": None if data else task, "data": data,
                    "n": problem.n_obs, "d": dim, "frac": params.get("frac", frac), "rank": params.get("rank", rank),
                    "seed": seed, "loss": "squared", "alpha": alpha, "lam": lam, "t_end": t_end, "rtol": rtol,
                    "atol": atol, "method": method, "formulation": "lifted"},
        "dataset": {"name": problem.name, "kind": "regression", **params},
        "solver": {**sol.stats.__dict__, "method": solver_method},
        "nuclear": {"solver": rich.solver, "status": rich.status, "seconds": rich.seconds,
                    "max_violation": rich.max_violation},
        "summary": summary,
        "versions": _versions(),
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()},
    }
    analysis = None
    if W.size:
        analysis = analyze(arrays, meta)
        summary.update({key: getattr(analysis, key) for key in MATRIX_ANALYSIS_KEYS})
    return Run(arrays=arrays, meta=meta, summary=summary, transition=transition, analysis=analysis, solution=sol,
               dataset=None)
