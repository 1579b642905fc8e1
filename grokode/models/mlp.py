"""Modular addition with a two-layer ReLU net, the paper's motivating experiment (§2; docs/math.md#modular-addition).

f(x) = W₂ ReLU(W₁x + b₁) on x = onehot(a) ⊕ onehot(b), cross-entropy over the p classes of (a + b) mod p,
He initialization scaled by α with W₂ = 0 (so f(θ(0)) = 0), weight decay λ; 2-homogeneous in (W₁, b₁, W₂).
``--method auto`` is gradient descent (lr 0.2), the paper's pipeline, because it measured faster than every
adaptive integrator of the flow at the same deviation from it (the right-hand side jumps at every ReLU kink;
:class:`~grokode.numeric.mlp.MLPFlow`); without weight decay it is GD with the normalized step η/L̂ (App. B.1)
to t = 1e30. The model has no convex reference predictors (its max-margin problem is non-convex), so a run
reports its transition but no theorem check.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from ..errors import InputError
from ..options import Option
from .base import (
    ALPHA,
    ATOL,
    LAM,
    LR,
    NORMALIZED_LR,
    RTOL,
    SEED,
    T_END,
    T_EVAL,
    Model,
    Plan,
    check_horizon,
    check_step_count,
    fit_time,
    method_option,
    save_times,
    theory_time,
    with_default,
)

TASKS = ("modadd",)
FLOW_METHODS = ("LSODA", "BDF", "Radau", "RK45", "DOP853", "rkc")
#: Implicit methods: refused (see :meth:`MLPModel.resolve`), listed so that the refusal can say why.
IMPLICIT_METHODS = ("LSODA", "BDF", "Radau")
GD = "gd"
#: CPU-sized defaults, chosen by measurement so that the default run groks (benchmarks/MLP_DEFAULT.md): at 80 % of
#: the pairs test accuracy reaches 0.979–1.0 on seeds 0–2 by t = 4159 (at 70 % it ended at 0.868); lr 0.2 halves
#: the steps of lr 0.1 with the same t*, t_test_10 and final accuracy (its deviation from the flow is first order:
#: 4.1e-4 in training loss against lr 0.02's 1.8e-4).
DEFAULTS = {"p": 31, "width": 256, "frac": 0.8, "alpha": 4.0, "lam": 2e-3, "lr": 0.2}
#: Default horizon in units of ln(α)/λ (of 1/λ when α ≤ e).
T_END_FACTOR = 6.0
#: Horizon without weight decay: the margin (and ‖θ‖²) grows like ln t, so the direction moves on the scale of ln t.
T_END_NO_DECAY = 1e30
#: ``--method auto`` without weight decay: GD with the normalized step η/L̂ (App. B.1) at this η. Measured
#: (docs/models/mlp.md): to t = 1e30 in 26k steps at the default size; η = 0.1 lost stability near t = 1e10 on
#: p = 23; the RK45 flow in log time had not reached t = 1e5 after 4 min on p = 23.
NO_DECAY_LR = 0.03

OPTIONS = (
    Option("task", "str", "modadd (the only task of this model)", default="modadd", choices=TASKS),
    Option("p", "int", f"modulus p (default {DEFAULTS['p']}; the paper's is 97)", default=DEFAULTS["p"], low=2),
    Option("width", "int", f"hidden width m (default {DEFAULTS['width']}; the paper's is 1024)",
           default=DEFAULTS["width"], low=1),
    Option("frac", "float", f"training fraction of the p² pairs (default {DEFAULTS['frac']})", default=DEFAULTS["frac"],
           low=0.0, high=1.0, low_open=True, high_open=True),
    SEED,
    with_default(ALPHA, DEFAULTS["alpha"], f"initialization scale α > 0 (default {DEFAULTS['alpha']:g})"),
    with_default(LAM, DEFAULTS["lam"], f"weight decay λ ≥ 0 (default {DEFAULTS['lam']:g}; 0: normalized GD to "
                 "t = 1e30)"),
    T_END,
    T_EVAL,
    RTOL,
    ATOL,
    method_option(("auto",) + FLOW_METHODS + (GD,),
                  help="auto (gd at lr 0.1; λ = 0: normalized gd) | gd | RK45 | DOP853 | rkc (LSODA, BDF, Radau: "
                       "refused, the ReLU kinks break them)"),
    with_default(LR, None, f"learning rate η of gd (default {DEFAULTS['lr']:g}; normalized: {NO_DECAY_LR:g})"),
    NORMALIZED_LR,
)


class MLPModel(Model):
    """Two-layer ReLU net on modular addition, cross-entropy, He init × α, W₂(0) = 0 (docs/math.md#modular-addition)."""

    name: ClassVar[str] = "mlp"
    title: ClassVar[str] = "two-layer ReLU net on modular addition (the paper's §2 experiment)"
    options: ClassVar[tuple[Option, ...]] = OPTIONS

    def resolve(self) -> None:
        c = self.config
        method = c["method"]
        if method == "auto":
            method = GD
            c["normalized_lr"] = c["normalized_lr"] or c["lam"] == 0
            why = "(auto is gd for this model)"
        else:
            why = f"with --method {method}"
        self.method = method
        if method in IMPLICIT_METHODS:
            raise InputError(f"method {method!r} is refused for model 'mlp': the flow's right-hand side jumps at every "
                             "ReLU kink, which breaks the Newton iterations of implicit methods (measured: LSODA took "
                             "4.8 million evaluations on a 64-parameter net, Radau did not finish); use gd (auto), "
                             "RK45, DOP853 or rkc")
        self.refuse_unless(method == GD, ("lr", "normalized_lr"), f"{why}: they are options of gd")
        self.refuse_unless(method != GD, ("rtol", "atol"), f"{why}: tolerances are for the adaptive flow methods")
        self.refuse_unless("t_eval" not in self.given, ("t_end",), "together with --t-eval (its last time is the "
                           "horizon)")
        if method == GD and c["lr"] is None:
            c["lr"] = NO_DECAY_LR if c["normalized_lr"] and c["lam"] == 0 else DEFAULTS["lr"]
        if c["lam"] == 0 and method == GD and not c["normalized_lr"] and c["t_end"] is None and c["t_eval"] is None:
            raise InputError(f"lam={c['lam']!r}: plain GD cannot reach the log-time horizon of a run without weight "
                             "decay (pass --normalized-lr, or a horizon --t-end)")
        horizon = (c["t_eval"][-1] if c["t_eval"] is not None else c["t_end"] if c["t_end"] is not None
                   else T_END_FACTOR * max(math.log(c["alpha"]), 1.0) / c["lam"] if c["lam"] > 0 else None)
        if horizon is not None:
            check_horizon(float(horizon), f"the horizon t_end (lam={c['lam']:g})")
            if method == GD and not c["normalized_lr"]:
                check_step_count(c["lr"], horizon, "the horizon t_end", GD)
        log_norm0 = 2.0 * math.log(c["alpha"]) + math.log(2.0 * c["width"])  # ‖θ(0)‖² ≈ 2·width·α² (He init)
        if log_norm0 > 700.0:
            limit = math.exp(0.5 * (700.0 - math.log(2.0 * c["width"])))
            raise InputError(f"alpha={c['alpha']:g} is too large: ‖θ(0)‖² ≈ 2·width·α² = e^{log_norm0:.0f} overflows "
                             f"float64 (need α < {limit:.3g} at width {c['width']})")
        total = c["p"] ** 2
        n_train = int(round(c["frac"] * total))
        if not 0 < n_train < total:
            raise InputError(f"frac={c['frac']!r} of the {total} pairs of p={c['p']} leaves {n_train} training and "
                             f"{total - n_train} test pairs: both must be non-empty")

    def memory_estimate(self) -> tuple[float, str]:
        c = self.config
        p, m = c["p"], c["width"]
        size = m * (3 * p + 1)
        work = 8.0 * p * p * (2 * m + 2 * p)  # hidden activations and logits of every pair
        return 8.0 * size * 8 + work, f"an mlp run with p={p}, width={m}"

    @classmethod
    def derive(cls, **given: Any):
        from ..analytic import derive_model

        cls.parse_derive_options(given)
        return derive_model("mlp", loss="logistic")

    def prepare(self) -> Plan:
        from ..numeric.mlp import ModAddMLP
        from ..tasks.modadd import make_modadd

        c = self.config
        self.problem = problem = make_modadd(c["p"], c["frac"], c["seed"])
        self.net = ModAddMLP(problem.p, c["width"], problem.tokens("train"), problem.labels("train"),
                             problem.tokens("test"), problem.labels("test"), alpha=c["alpha"], seed=c["seed"])
        self.log_time = c["lam"] == 0
        # no ln(α)/λ without weight decay: the transition is then located on ln t (App. B.1)
        t_theory = theory_time(c["alpha"], c["lam"])
        if c["t_eval"] is not None:
            return Plan(t_eval=c["t_eval"], t_end=float(c["t_eval"][-1]), t_theory=t_theory, rate=c["lam"])
        if c["t_end"] is not None:
            t_end = c["t_end"]
        else:
            t_end = T_END_NO_DECAY if c["lam"] == 0 else T_END_FACTOR * max(math.log(c["alpha"]), 1.0) / c["lam"]
        t_eval = save_times(t_end, t_theory, theorem_window=False, log_points=300, log_start=min(1e-2, t_end / 10))
        return Plan(t_eval=t_eval, t_end=t_end, t_theory=t_theory, rate=c["lam"])

    def solve(self, plan: Plan, progress: Callable[[float], None] | None):
        from ..numeric.mlp import MLPGD, MLPFlow

        c = self.config
        if self.method == GD:
            stepper = MLPGD(self.net, lam=c["lam"], lr=c["lr"], normalized=c["normalized_lr"])
            try:
                return stepper.run(plan.t_eval, progress=progress)
            finally:
                self.theta_final = stepper.last_state
        from ..numeric.integrate import integrate_flow

        flow = MLPFlow(self.net, lam=c["lam"], time="log" if self.log_time else "linear")
        try:
            return integrate_flow(flow, plan.t_eval, method=self.method, rtol=c["rtol"], atol=c["atol"],
                                  progress=progress)
        finally:
            self.theta_final = flow.last_state if flow.last_state is not None else self.net.theta0

    def observe(self, plan: Plan, sol) -> dict[str, np.ndarray]:
        from ..numeric.mlp import METRICS

        arrays: dict[str, np.ndarray] = {"t": sol.t}
        for k, name in enumerate(METRICS):
            arrays[name] = sol.weights[:, k]
        arrays["param_norm"] = sol.param_norm
        arrays["theta_final"] = np.asarray(self._last_theta(sol), dtype=np.float64)
        arrays["train_pairs"] = self.problem.train
        return arrays

    def _last_theta(self, sol) -> np.ndarray:
        """θ where the run stopped; during the run (a checkpoint), θ at its last saved time."""
        theta = getattr(self, "theta_final", None)
        if theta is not None:
            return theta
        point = getattr(sol, "resume_point", None) or {}
        return point.get("y", point.get("state", {}).get("theta", self.net.theta0))

    def stored_weights(self, arrays) -> np.ndarray:
        from ..numeric.mlp import METRICS

        return np.column_stack([arrays[name] for name in METRICS])

    def locate_transition(self, plan: Plan, sol, arrays):
        from ..analysis.transition import find_transition

        if not sol.t.size:
            return None, "test_acc"
        # λ = 0: the plateau is read once the training set is fitted, the crossings in ln t (as for the diagonal net)
        t_start = None if plan.t_theory is not None else fit_time(sol.t, arrays, "classification")
        return find_transition(sol.t, arrays["test_acc"], plan.t_theory, min_change=0.05, t_start=t_start), "test_acc"

    def summarize(self, plan: Plan, sol, arrays, transition, references) -> dict[str, Any]:
        from ..analysis.transition import time_to_reach

        fit = np.flatnonzero(arrays["train_acc"] >= 1.0)
        return {
            "test_plateau": None if transition is None else float(transition.plateau),
            "test_final": float(arrays["test_acc"][-1]) if sol.t.size else None,
            "train_final": float(arrays["train_acc"][-1]) if sol.t.size else None,
            "t_train_fit": float(sol.t[fit[0]]) if fit.size else None,
            # the onset of the jump, comparable between runs of different horizons (t* is read against the end)
            "t_test_10": time_to_reach(sol.t, arrays["test_acc"], 0.1) if sol.t.size else None,
            "transition_metric": "test_acc",
            "integrate_seconds": sol.stats.wall_seconds,
        }

    def record(self, plan: Plan) -> tuple[dict[str, Any], dict[str, Any]]:
        c, problem = self.config, self.problem
        options = {"model": self.name, "depth": 2, "task": c["task"], "data": None, "p": problem.p,
                   "width": c["width"], "frac": problem.frac, "n": problem.n_train, "d": 2 * problem.p,
                   "seed": c["seed"], "loss": "cross_entropy", "alpha": c["alpha"], "lam": c["lam"],
                   "t_end": plan.t_end, "rtol": c["rtol"], "atol": c["atol"], "method": self.method, "lr": c["lr"],
                   "normalized_lr": c["normalized_lr"],
                   "formulation": "log-time" if self.log_time and self.method != GD else "t"}
        return options, {"name": "modadd", "kind": "classification", **problem.params}

    def file_stem(self) -> str:
        c = self.config
        return (f"mlp-modadd-p{c['p']}-m{c['width']}-f{c['frac']:g}-a{c['alpha']:.0e}-lam{c['lam']:.0e}-s{c['seed']}"
                + (f"-gd{c['lr']:g}" if self.method == GD else f"-{self.method}")
                + ("n" if c["normalized_lr"] else "")).replace("+", "")
