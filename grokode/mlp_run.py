"""A modular-addition run (paper §2, MATH.md §5): ``grokode integrate --model mlp --task modadd``.

Same pipeline as the other models (:func:`grokode.run.integrate` calls :func:`integrate_mlp`): the
gradient flow of :class:`~grokode.numeric.mlp.MLPFlow` through
:func:`~grokode.numeric.integrate.integrate_flow` (or gradient descent, ``method="gd"``), the train and
test cross-entropy and accuracy at every saved time, ‖θ‖, and the transition located on the test
accuracy by :func:`~grokode.analysis.transition.find_transition`. The final parameters are saved with the
trajectory (``theta_final``: [W₁ᵀ | b₁ | W₂] flattened), with the training pairs (``train_pairs``).

With λ = 0 (no weight decay, paper App. B.1) the flow is integrated in log time τ = ln(1 + t) and the
save times are log-spaced; the default horizon is then 10⁵.
"""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Callable

import numpy as np

from ._version import __version__
from .analysis.transition import find_transition, time_to_reach
from .errors import InputError, require_int, require_positive
from .numeric.discrete import check_t_eval
from .numeric.integrate import METHODS, default_t_eval, integrate_flow
from .numeric.mlp import AUTO_LR, AUTO_METHOD, GD_METHOD, METRICS, MLPGD, MLPFlow, ModAddMLP
from .tasks.modadd import make_modadd

MLP_TASKS = ("modadd",)
#: CPU-sized defaults (see README "Modular addition" for the sweep they were picked from)
DEFAULTS = {"task": "modadd", "p": 31, "width": 256, "frac": 0.7, "alpha": 4.0, "lam": 2e-3, "lr": 0.1}
#: default horizon in units of ln(α)/λ, and of 1/λ when α ≤ e
T_END_FACTOR = 6.0
#: horizon without weight decay: the margin (and ‖θ‖²) grows like ln t, so the direction moves on the scale of ln t
T_END_NO_DECAY = 1e30
#: ``--method auto`` without weight decay: GD with the normalized step η/L̂ (paper App. B.1) at this η. Measured
#: (README "No weight decay"): to t = 1e30 in 26k steps (51 s) at the default size; η = 0.1 lost stability near
#: t = 1e10 on p = 23; the RK45 flow in log time had not reached t = 1e5 after 4 min on p = 23.
NO_DECAY_LR = 0.03


def default_t_end(alpha: float, lam: float) -> float:
    """T_END_FACTOR·max(ln α, 1)/λ (10³⁰ when λ = 0)."""
    return T_END_NO_DECAY if lam == 0 else T_END_FACTOR * max(math.log(alpha), 1.0) / lam


def integrate_mlp(*, task: str = "modadd", p: int = DEFAULTS["p"], width: int = DEFAULTS["width"],
                  frac: float = DEFAULTS["frac"], seed: int = 0, alpha: float = DEFAULTS["alpha"],
                  lam: float = DEFAULTS["lam"], t_end: float | None = None, t_eval: np.ndarray | None = None,
                  rtol: float = 1e-6, atol: float = 1e-9, method: str = "auto", lr: float | None = None,
                  normalized_lr: bool = False, progress: Callable[[float], None] | None = None):
    """Train the two-layer ReLU net on modular addition by gradient flow (or GD) and locate the grokking jump.

    Parameters
    ----------
    task : "modadd" (the only task of this model).
    p, width, frac, seed : modulus (≥ 2), hidden width m (≥ 1), training fraction of the p² pairs in (0, 1),
        seed of the split and of the He initialization.
    alpha, lam : initialization scale (θ(0) = α·θ̄, W₂ = 0) and weight decay (≥ 0; at 0 the horizon is 1e30 and
        the transition is located on ln t).
    t_end, t_eval : horizon (default :func:`default_t_end`) or the exact save times.
    rtol, atol : flow tolerances on θ (methods of :data:`grokode.numeric.integrate.METHODS`); ``method`` "auto"
        is GD at lr 0.1 (:data:`grokode.numeric.mlp.AUTO_METHOD`: measured faster than any adaptive method), and
        at λ = 0 GD with the normalized step at η = :data:`NO_DECAY_LR`.
    lr : learning rate of ``method="gd"`` (default 0.1).
    normalized_lr : ``method="gd"`` takes steps η/L̂(θ) (t += η/L̂, paper App. B.1): log-time horizons at λ = 0.

    Returns
    -------
    grokode.run.Run with arrays ``t``, ``train_loss``, ``train_acc``, ``test_loss``, ``test_acc``,
    ``param_norm``, ``theta_final``, ``train_pairs``; summary keys as for the other models plus
    ``t_train_fit`` (first saved time with training accuracy 1) and ``t_test_10`` (when test accuracy first
    reaches 10 %, interpolated).
    """
    from .run import Run, _fit_time, _versions, solution_summary

    wall0 = time.perf_counter()
    if task not in MLP_TASKS:
        raise InputError(f"unknown task {task!r} for the mlp model (choose {', '.join(MLP_TASKS)})")
    if method not in METHODS and method != GD_METHOD:
        raise InputError(f"unknown method {method!r} (choose {', '.join(METHODS)}, {GD_METHOD})")
    try:
        lam = float(lam)
    except (TypeError, ValueError):
        raise InputError(f"lam must be a number >= 0, got {lam!r}") from None
    if not (math.isfinite(lam) and lam >= 0):
        raise InputError(f"lam must be a finite number >= 0, got {lam!r}")
    if method == "auto":
        if lam == 0:
            method, lr, normalized_lr = GD_METHOD, NO_DECAY_LR if lr is None else lr, True
        else:
            method, lr = AUTO_METHOD, AUTO_LR if lr is None else lr
    if lr is not None and method != GD_METHOD:
        raise InputError(f"lr={lr!r} is only used with method {GD_METHOD!r} (method is {method!r})")
    if normalized_lr and method != GD_METHOD:
        raise InputError(f"the normalized learning rate is a variant of method {GD_METHOD!r} (method is {method!r})")
    if method == GD_METHOD:
        lr = require_positive("lr", DEFAULTS["lr"] if lr is None else lr)
    width = require_int("width", width, 1)
    alpha = require_positive("alpha", alpha)
    rtol = require_positive("rtol", rtol)
    atol = require_positive("atol", atol)
    problem = make_modadd(p, frac, seed)
    log_time = lam == 0
    # no ln(α)/λ without weight decay: the transition is then located on ln t (App. B.1)
    t_theory = None if log_time else (math.log(alpha) / lam if alpha > 1 else 0.0)
    if t_eval is None:
        if t_end is None and log_time and method == GD_METHOD and not normalized_lr:
            raise InputError(f"lam={lam!r}: plain GD cannot reach the log-time horizon of a run without weight decay "
                             "(pass --normalized-lr, or a horizon --t-end)")
        t_end = default_t_end(alpha, lam) if t_end is None else require_positive("t_end", t_end)
        t_eval = np.geomspace(min(1e-2, t_end / 10), t_end, 300) if log_time else default_t_eval(t_end, t_theory)
    else:
        t_eval = check_t_eval(t_eval)
        t_end = float(t_eval[-1])
    net = ModAddMLP(problem.p, width, problem.tokens("train"), problem.labels("train"), problem.tokens("test"),
                    problem.labels("test"), alpha=alpha, seed=seed)
    if method == GD_METHOD:
        stepper = MLPGD(net, lam=lam, lr=lr, normalized=normalized_lr)
        sol = stepper.run(t_eval, progress=progress)
        theta_final, solver_method = stepper.last_state, sol.stats.method
    else:
        solver_method = method
        flow = MLPFlow(net, lam=lam, time="log" if log_time else "linear")
        sol = integrate_flow(flow, t_eval, method=solver_method, rtol=rtol, atol=atol, progress=progress)
        theta_final = flow.last_state if flow.last_state is not None else net.theta0

    arrays: dict[str, np.ndarray] = {"t": sol.t}
    for k, name in enumerate(METRICS):
        arrays[name] = sol.weights[:, k]
    arrays["param_norm"] = sol.param_norm
    arrays["theta_final"] = np.asarray(theta_final, dtype=np.float64)
    arrays["train_pairs"] = problem.train
    transition = None
    fit = np.flatnonzero(arrays["train_acc"] >= 1.0)
    if sol.t.size:
        # λ = 0: the plateau is read once the training set is fitted, the crossings in ln t (as for the diagonal net)
        t_start = None if t_theory is not None else _fit_time(sol.t, arrays, "classification")
        transition = find_transition(sol.t, arrays["test_acc"], t_theory, min_change=0.05, t_start=t_start)
    summary = {
        **solution_summary(sol, transition, t_theory, t_end),
        "test_final": float(arrays["test_acc"][-1]) if sol.t.size else None,
        "train_final": float(arrays["train_acc"][-1]) if sol.t.size else None,
        "t_train_fit": float(sol.t[fit[0]]) if fit.size else None,
        # the onset of the jump, comparable between runs of different horizons (t* is read against the final value)
        "t_test_10": time_to_reach(sol.t, arrays["test_acc"], 0.1) if sol.t.size else None,
        "transition_metric": "test_acc",
        "wall_seconds": 0.0,
        "integrate_seconds": sol.stats.wall_seconds,
    }
    meta = {
        "grokode_version": __version__,
        "options": {"model": "mlp", "depth": 2, "task": task, "data": None, "p": problem.p, "width": width,
                    "frac": problem.frac, "n": problem.n_train, "d": 2 * problem.p, "seed": seed,
                    "loss": "cross_entropy", "alpha": alpha, "lam": lam, "t_end": t_end, "rtol": rtol, "atol": atol,
                    "method": method, "lr": lr, "normalized_lr": normalized_lr,
                    "formulation": "log-time" if log_time and method != GD_METHOD else "t"},
        "dataset": {"name": "modadd", "kind": "classification", **problem.params},
        "solver": {**sol.stats.__dict__, "method": solver_method},
        "summary": summary,
        "versions": _versions(),
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()},
    }
    summary["wall_seconds"] = time.perf_counter() - wall0
    return Run(arrays=arrays, meta=meta, summary=summary, transition=transition, solution=sol, dataset=None)
