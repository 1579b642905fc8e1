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
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np

from ..errors import InputError
from ..observables import Observables
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
    method_option,
    save_times,
    theory_time,
    with_default,
)

TASKS = ("modadd",)
FLOW_METHODS = ("LSODA", "BDF", "Radau", "RK45", "DOP853", "rkc")
#: Implicit methods: refused (see :meth:`MLPModel.check`), listed so that the refusal can say why.
IMPLICIT_METHODS = ("LSODA", "BDF", "Radau")
GD = "gd"
#: CPU-sized defaults, chosen so that the default run groks within minutes; lr 0.2 takes half the steps of lr 0.1
#: at the same transition (the measurements: benchmarks/MLP_DEFAULT.md).
DEFAULTS = {"p": 31, "width": 256, "frac": 0.8, "alpha": 4.0, "lam": 2e-3, "lr": 0.2}
#: Default horizon in units of ln(α)/λ (of 1/λ when α ≤ e).
T_END_FACTOR = 6.0
#: Horizon without weight decay: the margin (and ‖θ‖²) grows like ln t, so the direction moves on the scale of ln t.
T_END_NO_DECAY = 1e30
#: ``--method auto`` without weight decay: GD with the normalized step η/L̂ (App. B.1) at this η, small enough to
#: stay stable up to t = 1e30 and far cheaper there than the flow in log time (docs/models/mlp.md).
NO_DECAY_LR = 0.03

#: The per-time arrays of an mlp run (its solver's rows are the metrics) and their number of dimensions.
PER_TIME = {"param_norm": 1, "train_loss": 1, "train_acc": 1, "test_loss": 1, "test_acc": 1}

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

    @classmethod
    def declare(cls, options: Mapping[str, Any]) -> Observables:
        from ..numeric.mlp import METRICS

        return Observables(solver_rows=METRICS, curves="accuracy", transition=("test_acc",), min_change=0.05,
                           per_time=PER_TIME, title_sizes=(), title_depth=False)

    def check(self) -> None:
        cfg = self.config
        method = cfg["method"]
        if method == "auto":
            method = GD
            cfg["normalized_lr"] = cfg["normalized_lr"] or cfg["lam"] == 0
            why = "(auto is gd for this model)"
        else:
            why = f"with --method {method}"
        cfg["method"] = method  # the method that runs (auto resolved), as the run records it
        if method in IMPLICIT_METHODS:
            raise InputError(f"method {method!r} is refused for model 'mlp': the flow's right-hand side jumps at every "
                             "ReLU kink, which breaks the Newton iterations of implicit methods; use gd (auto), RK45, "
                             "DOP853 or rkc")
        self.refuse_unless(method == GD, ("lr", "normalized_lr"), f"{why}: they are options of gd")
        self.refuse_unless(method != GD, ("rtol", "atol"), f"{why}: tolerances are for the adaptive flow methods")
        self.refuse_unless("t_eval" not in self.given, ("t_end",), "together with --t-eval (its last time is the "
                           "horizon)")
        if method == GD and cfg["lr"] is None:
            cfg["lr"] = NO_DECAY_LR if cfg["normalized_lr"] and cfg["lam"] == 0 else DEFAULTS["lr"]
        own_horizon = cfg["t_end"] is not None or cfg["t_eval"] is not None
        if cfg["lam"] == 0 and method == GD and not cfg["normalized_lr"] and not own_horizon:
            raise InputError(f"lam={cfg['lam']!r}: plain GD cannot reach the log-time horizon of a run without weight "
                             "decay (pass --normalized-lr, or a horizon --t-end)")
        horizon = (cfg["t_eval"][-1] if cfg["t_eval"] is not None else cfg["t_end"] if cfg["t_end"] is not None
                   else T_END_FACTOR * max(math.log(cfg["alpha"]), 1.0) / cfg["lam"] if cfg["lam"] > 0 else None)
        if horizon is not None:
            check_horizon(float(horizon), f"the horizon t_end (lam={cfg['lam']:g})")
            if method == GD and not cfg["normalized_lr"]:
                check_step_count(cfg["lr"], horizon, "the horizon t_end", GD)
        log_norm0 = 2.0 * math.log(cfg["alpha"]) + math.log(2.0 * cfg["width"])  # ‖θ(0)‖² ≈ 2·width·α² (He init)
        if log_norm0 > 700.0:
            limit = math.exp(0.5 * (700.0 - math.log(2.0 * cfg["width"])))
            raise InputError(f"alpha={cfg['alpha']:g} is too large: ‖θ(0)‖² ≈ 2·width·α² = e^{log_norm0:.0f} overflows "
                             f"float64 (need α < {limit:.3g} at width {cfg['width']})")
        self.require_memory(*self.memory_estimate())
        total = cfg["p"] ** 2
        n_train = int(round(cfg["frac"] * total))
        if not 0 < n_train < total:
            raise InputError(f"frac={cfg['frac']!r} of the {total} pairs of p={cfg['p']} leaves {n_train} training and "
                             f"{total - n_train} test pairs: both must be non-empty")

    def memory_estimate(self) -> tuple[float, str]:
        cfg = self.config
        p, m = cfg["p"], cfg["width"]
        size = m * (3 * p + 1)
        work = 8.0 * p * p * (2 * m + 2 * p)  # hidden activations and logits of every pair
        return 8.0 * size * 8 + work, f"an mlp run with p={p}, width={m}"

    @classmethod
    def derive(cls, **given: Any):
        from ..analytic import derive_model

        cls.parse_derive_options(given)
        return derive_model("mlp", loss="logistic")

    def prepare(self) -> Plan:
        from ..numeric.mlp import MLPGD, MLPFlow, ModAddMLP
        from ..tasks.modadd import make_modadd

        cfg = self.config
        problem = make_modadd(cfg["p"], cfg["frac"], cfg["seed"])
        net = ModAddMLP(problem.p, cfg["width"], problem.tokens("train"), problem.labels("train"),
                        problem.tokens("test"), problem.labels("test"), alpha=cfg["alpha"], seed=cfg["seed"])
        log_time = cfg["lam"] == 0
        if cfg["method"] == GD:
            dynamics: Any = MLPGD(net, lam=cfg["lam"], lr=cfg["lr"], normalized=cfg["normalized_lr"])
        else:
            dynamics = MLPFlow(net, lam=cfg["lam"], time="log" if log_time else "linear")
        parts = {"data": problem, "dynamics": dynamics,
                 "recorded": {"depth": 2, "data": None, "n": problem.n_train, "d": 2 * problem.p, "frac": problem.frac,
                              "loss": "cross_entropy",
                              "formulation": "log-time" if log_time and cfg["method"] != GD else "t"}}
        # no ln(α)/λ without weight decay: the transition is then located on ln t (App. B.1)
        t_theory = theory_time(cfg["alpha"], cfg["lam"])
        if cfg["t_eval"] is not None:
            return Plan(t_eval=cfg["t_eval"], t_end=float(cfg["t_eval"][-1]), t_theory=t_theory, rate=cfg["lam"],
                        **parts)
        if cfg["t_end"] is not None:
            t_end = cfg["t_end"]
        else:
            t_end = T_END_NO_DECAY if cfg["lam"] == 0 else T_END_FACTOR * max(math.log(cfg["alpha"]), 1.0) / cfg["lam"]
        t_eval = save_times(t_end, t_theory, theorem_window=False, log_points=300, log_start=min(1e-2, t_end / 10))
        return Plan(t_eval=t_eval, t_end=t_end, t_theory=t_theory, rate=cfg["lam"], **parts)

    def solve(self, plan: Plan, progress: Callable[[float], None] | None):
        cfg = self.config
        if cfg["method"] == GD:
            return plan.dynamics.run(plan.t_eval, progress=progress)
        from ..numeric.integrate import integrate_flow

        return integrate_flow(plan.dynamics, plan.t_eval, method=cfg["method"], rtol=cfg["rtol"], atol=cfg["atol"],
                              progress=progress)

    def observe(self, plan: Plan, solution) -> dict[str, np.ndarray]:
        from ..numeric.mlp import METRICS

        arrays: dict[str, np.ndarray] = {"t": solution.t}
        for k, name in enumerate(METRICS):
            arrays[name] = solution.weights[:, k]
        arrays["param_norm"] = solution.param_norm
        arrays["theta_final"] = np.asarray(self._last_theta(plan, solution), dtype=np.float64)
        arrays["train_pairs"] = plan.data.train
        return arrays

    @staticmethod
    def _last_theta(plan: Plan, solution) -> np.ndarray:
        """θ at the run's last saved time (its resume point), θ(0) before it has one."""
        point = solution.resume_point or {}
        return point.get("y", point.get("state", {}).get("theta", plan.dynamics.net.theta0))

    def summarize(self, plan: Plan, solution, arrays, transition, references) -> dict[str, Any]:
        from ..analysis.transition import time_to_reach

        fit = np.flatnonzero(arrays["train_acc"] >= 1.0)
        return {
            "test_final": float(arrays["test_acc"][-1]) if solution.t.size else None,
            "t_train_fit": float(solution.t[fit[0]]) if fit.size else None,
            # the onset of the jump, comparable between runs of different horizons (t* is read against the end)
            "t_test_10": time_to_reach(solution.t, arrays["test_acc"], 0.1) if solution.t.size else None,
            "integrate_seconds": solution.stats.wall_seconds,
        }

    def file_stem(self) -> str:
        cfg = self.config
        return (f"mlp-modadd-p{cfg['p']}-m{cfg['width']}-f{cfg['frac']:g}-a{cfg['alpha']:.0e}-lam{cfg['lam']:.0e}"
                f"-s{cfg['seed']}"
                + (f"-gd{cfg['lr']:g}" if cfg["method"] == GD else f"-{cfg['method']}")
                + ("n" if cfg["normalized_lr"] else "")).replace("+", "")
