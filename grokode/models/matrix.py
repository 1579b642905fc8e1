"""Matrix completion with W = UUᵀ − VVᵀ from U(0) = V(0) = αI (paper §3.3.3, eq. 5; docs/math.md#matrix).

The flow runs on the lifted state (W, Ŝ) (:class:`~grokode.numeric.matrix.MatrixFlow`), which is exact and
keeps W's digits at large α. The kernel predictor copies the observed entries and fills the rest with 0
(Cor. 3.11); the rich one is the minimum nuclear-norm completion (an SDP), and with weight decay the flow ends at
the nuclear-norm-penalized completion (``rich_decay``, docs/math.md#matrix-decay). The transition is located on
log10 of the test MSE; the trajectory holds W (T×d×d), the losses, ‖θ‖, ‖W‖_*, the relative Frobenius
distances of W(t) to both predictors, the problem itself (M, masks) and both predictors, so an analysis never
has to re-solve the SDP.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np

from ..errors import InputError
from ..observables import Observables
from ..options import Option
from .base import (
    ALPHA,
    ATOL,
    DATA,
    LAM,
    RTOL,
    SEED,
    T_END,
    T_EVAL,
    Model,
    Plan,
    References,
    check_horizon,
    default_t_end,
    method_option,
    save_times,
    theory_time,
    with_default,
)

TASKS = ("multiplication", "lowrank")
METHODS = ("auto", "LSODA", "BDF", "Radau", "RK45", "DOP853", "rkc", "ros2", "rkc-ros2")
#: ``--method auto``: RKC where RKC's stage count is moderate, the ROS2 W-method over the kernel plateau where the
#: stiffness ~α²e^{−2λt} would cost RKC ~α stages per step (:class:`grokode.numeric.rkc_ros2.RkcRos2`); its cost
#: does not grow with α (benchmarks/ALPHA_COST.md).
AUTO_METHOD = "rkc-ros2"
ANALYSIS_KEYS = ("offset_c0", "t_bias_switch", "T_minus", "T_plus", "dist_kernel_at_Tminus", "dist_rich_at_Tminus",
                 "dist_kernel_at_Tplus", "dist_rich_at_Tplus")

OPTIONS = (
    Option("task", "str", "multiplication (M_ij = (i/d)(j/d), the paper's) | lowrank (random PSD of rank --rank)",
           default="multiplication", choices=TASKS),
    with_default(DATA, None, "your own problem (.npz with M (d×d symmetric), train_mask, optional test_mask)"),
    Option("d", "int", "matrix size d", default=30, low=2),
    Option("frac", "float", "fraction of the d² entries observed", default=0.25, low=0.0, high=1.0, low_open=True,
           high_open=True),
    Option("rank", "int", "lowrank task: rank of the target", default=1, low=1),
    SEED,
    with_default(ALPHA, 100.0, "initialization scale α > 0 (default 100; U(0) = V(0) = αI)"),
    Option("lam", LAM.kind, "weight decay λ > 0 (default 1e-3)", default=1e-3, low=0.0, low_open=True),
    T_END,
    T_EVAL,
    RTOL,
    ATOL,
    method_option(METHODS, help="auto (rkc-ros2) | LSODA | BDF | Radau | RK45 | DOP853 | rkc | ros2 | rkc-ros2"),
)


#: The per-time arrays of a matrix run and their number of dimensions.
PER_TIME = {"W": 3, "param_norm": 1, "train_loss": 1, "test_loss": 1, "nuclear_norm": 1, "dist_kernel": 1,
            "dist_rich": 1}


def relative_distance(W: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """‖W(t) − ref‖_F / ‖ref‖_F for W (d, d) or (T, d, d)."""
    diff = np.asarray(W) - ref
    return np.sqrt(np.sum(diff * diff, axis=(-2, -1))) / max(float(np.linalg.norm(ref)), 1e-300)


def nuclear_norms(W: np.ndarray) -> np.ndarray:
    """‖W‖_* = Σ|eigenvalues| of each symmetric W (T, d, d)."""
    return np.abs(np.linalg.eigvalsh(0.5 * (W + np.swapaxes(W, -1, -2)))).sum(axis=-1)


class MatrixModel(Model):
    """Matrix completion W = UUᵀ − VVᵀ, squared loss on the observed entries (docs/math.md#matrix)."""

    name: ClassVar[str] = "matrix"
    title: ClassVar[str] = "matrix completion W = UUᵀ − VVᵀ (the multiplication table groks)"
    options: ClassVar[tuple[Option, ...]] = OPTIONS

    @classmethod
    def declare(cls, options: Mapping[str, Any]) -> Observables:
        return Observables(
            predictor="W", curves="mse", transition=("test_loss",), log_metric=True, higher_is_better=False,
            min_change=0.5, alignment="dist", per_time=PER_TIME, analysis_keys=ANALYSIS_KEYS,
            shaped_like_row=("M", "train_mask", "test_mask", "W_kernel", "W_rich", "W_rich_decay"))

    def check(self) -> None:
        cfg = self.config
        if "data" in self.given:
            self.refuse_unless(False, ("task", "d", "frac", "rank", "seed"),
                               "with --data (the data file fixes the problem)")
            cfg["task"] = None
            from ..files import npz_array_headers

            headers = npz_array_headers(cfg["data"], "data file")
            if "M" not in headers:
                raise InputError(f"data file {cfg['data']!r} has no array 'M' (found: {', '.join(sorted(headers))})")
            shape = headers["M"][0]
            if len(shape) != 2 or shape[0] != shape[1] or shape[0] < 2:
                raise InputError(f"array M in {cfg['data']!r} must be a square d×d matrix (d ≥ 2), got shape {shape}")
            cfg["d"] = int(shape[0])
        else:
            self.refuse_unless(cfg["task"] == "lowrank", ("rank",),
                               f"with --task {cfg['task']} (its target has rank 1)")
            if cfg["task"] == "lowrank" and cfg["rank"] > cfg["d"]:
                raise InputError(f"rank must be at most d = {cfg['d']}, got {cfg['rank']}")
            n_obs = int(round(cfg["frac"] * cfg["d"] ** 2))
            if n_obs < 1 or n_obs >= cfg["d"] ** 2:
                raise InputError(f"frac={cfg['frac']:g} observes {n_obs} of the {cfg['d'] ** 2} entries of a "
                                 f"{cfg['d']}×{cfg['d']} matrix (need at least one observed and one unobserved entry)")
        self.refuse_unless("t_eval" not in self.given, ("t_end",), "together with --t-eval (its last time is the "
                           "horizon)")
        check_horizon(*self._horizon())  # λ > 0 here: there is always a horizon
        if math.log(2.0) + 2.0 * math.log(cfg["alpha"]) > 700.0:
            raise InputError(f"alpha={cfg['alpha']:g} is too large: S(0) = 2α²I overflows float64 (need α < 1e151)")
        self.require_memory(*self.memory_estimate())
        if "data" in self.given:
            # read and check the problem now (symmetry, masks, NaN), before anything is computed; prepare() reuses it
            self.problem()

    def solver_method(self) -> str:
        """The method that integrates the flow (auto: :data:`AUTO_METHOD`)."""
        cfg = self.config
        return AUTO_METHOD if cfg["method"] == "auto" else cfg["method"]

    def problem(self):
        """The completion problem: the --data file or the generated task (built once: a pure function of the config)."""
        if "_problem" not in self.__dict__:
            from ..tasks.matrix import load_matrix_npz, make_matrix_task

            cfg = self.config
            self.__dict__["_problem"] = load_matrix_npz(cfg["data"]) if cfg["data"] is not None else make_matrix_task(
                cfg["task"], d=cfg["d"], frac=cfg["frac"], rank=cfg["rank"], seed=cfg["seed"])
        return self.__dict__["_problem"]

    def memory_estimate(self) -> tuple[float, str]:
        cfg = self.config
        d = cfg["d"]
        saves = len(cfg["t_eval"]) if cfg["t_eval"] is not None else 310
        state = 2 * d * d
        from ..numeric.integrate import needs_jacobian

        method = self.solver_method()
        jac = 3 * 8.0 * state**2 if needs_jacobian(method) else 0.0
        # the trajectory (W and two work copies) and the nuclear-norm SDP (a 2d×2d PSD variable, generously)
        where = f" on {cfg['data']!r}" if cfg.get("data") is not None else ""
        return 8.0 * saves * d * d * 3 + 8.0 * 1000 * d * d + jac, (
            f"a matrix run{where} with d={d}" + (f" and --method {method} (a dense {state}×{state} "
                                         "finite-difference Jacobian)" if jac else ""))

    @classmethod
    def derive(cls, **given: Any):
        from ..analytic import derive_model

        cls.parse_derive_options(given)
        return derive_model("matrix", loss="squared")

    def prepare(self) -> Plan:
        from ..numeric.matrix import MatrixFlow

        cfg = self.config
        problem = self.problem()
        flow = MatrixFlow(problem.M, problem.train_mask, alpha=cfg["alpha"], lam=cfg["lam"])
        t_theory = theory_time(cfg["alpha"], cfg["lam"])
        params = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in problem.params.items()}
        parts = {"data": problem, "dynamics": flow, "evaluate": self.evaluator(problem),
                 "recorded": {"depth": 2, "n": problem.n_obs, "d": problem.d, "frac": params.get("frac", cfg["frac"]),
                              "rank": params.get("rank", cfg["rank"]), "loss": "squared", "formulation": "lifted"},
                 "meta": {"solver_method": self.solver_method()}}
        if cfg["t_eval"] is not None:
            return Plan(t_eval=cfg["t_eval"], t_end=float(cfg["t_eval"][-1]), t_theory=t_theory, rate=cfg["lam"],
                        **parts)
        t_end = cfg["t_end"] if cfg["t_end"] is not None else default_t_end(cfg["alpha"], cfg["lam"],
                                                                           self.activation_estimate(problem))
        return Plan(t_eval=save_times(t_end, t_theory, theorem_window=True), t_end=t_end, t_theory=t_theory,
                    rate=cfg["lam"], **parts)

    @staticmethod
    def evaluator(problem):
        """evaluate("test_loss", W): the test MSE at weight rows W (k, d·d), for the transition on the dense output."""
        def evaluate(name: str, W: np.ndarray) -> np.ndarray:
            return np.atleast_1d(problem.mse(W.reshape(-1, problem.d, problem.d), problem.test_mask))

        return evaluate

    def activation_estimate(self, problem) -> float:
        """Small α (< 1): t₁ = ln(1/α²)/(2(σ − λ)), when the top eigen-direction of W reaches O(1) under the initial
        residual, σ = max|eig R(0)|, R(0) = −(2/N)(P_Ω M + (P_Ω M)ᵀ) (docs/math.md#small-alpha-horizon); NaN at
        α ≥ 1, inf when the decay wins (σ ≤ λ)."""
        cfg = self.config
        if cfg["alpha"] >= 1.0:
            return math.nan
        E0 = np.where(problem.train_mask, -problem.M, 0.0)
        sigma = float(np.max(np.abs(np.linalg.eigvalsh(2.0 / problem.n_obs * (E0 + E0.T)))))
        if sigma <= cfg["lam"]:
            return math.inf
        return -2.0 * math.log(cfg["alpha"]) / (2.0 * (sigma - cfg["lam"]))

    def solve(self, plan: Plan, progress: Callable[[float], None] | None):
        from ..numeric.integrate import integrate_flow

        cfg = self.config
        return integrate_flow(plan.dynamics, plan.t_eval, method=self.solver_method(), rtol=cfg["rtol"],
                              atol=cfg["atol"], progress=progress)

    def observe(self, plan: Plan, solution) -> dict[str, np.ndarray]:
        problem = plan.data
        dim = problem.d
        W = solution.weights.reshape(-1, dim, dim)
        return {"t": solution.t, "W": W, "train_loss": problem.mse(W, problem.train_mask),
                "test_loss": problem.mse(W, problem.test_mask), "param_norm": solution.param_norm,
                "nuclear_norm": nuclear_norms(W)}

    def references(self, plan: Plan, solution, arrays) -> References | None:
        from ..analysis.nuclear import kernel_completion, nuclear_norm_completion
        from ..analysis.nuclear_penalized import penalized_completion

        problem = plan.data
        W = arrays["W"]
        if not W.size:
            return None
        sdp0 = time.perf_counter()
        W_kernel = kernel_completion(problem.M, problem.train_mask)
        rich = nuclear_norm_completion(problem.M, problem.train_mask)
        seconds = time.perf_counter() - sdp0
        # the end point of the flow with weight decay λ: argmin L(X) + (λ/2)‖X‖_* (docs/math.md#matrix-decay); the
        # run's final W only starts the solver, whose answer is certified by its duality gap
        decay = penalized_completion(problem.M, problem.train_mask, 0.5 * self.config["lam"], start=W[-1])
        added = {"dist_kernel": relative_distance(W, W_kernel), "dist_rich": relative_distance(W, rich.X),
                 "M": problem.M, "train_mask": problem.train_mask, "test_mask": problem.test_mask,
                 "W_kernel": W_kernel, "W_rich": rich.X, "W_rich_decay": decay.X}
        predictors = {}
        for name, ref in (("kernel", W_kernel), ("rich", rich.X)):
            predictors[name] = {"kind": "zero-filled" if name == "kernel" else "nuclear-norm", "feasible": True,
                                "test_metric": "test_loss", "test_value": float(problem.mse(ref, problem.test_mask))}
        predictors["rich"].update(solver=rich.solver, status=rich.status, max_violation=rich.max_violation,
                                  nuclear_norm=rich.nuclear_norm)
        predictors["rich_decay"] = {"kind": "nuclear-penalized", "feasible": True, "test_metric": "test_loss",
                                    "test_value": float(problem.mse(decay.X, problem.test_mask)),
                                    "solver": decay.solver, "status": decay.status, "gap": decay.relative_gap,
                                    "objective": decay.objective, "rank": decay.rank}
        certificate = {"solver": rich.solver, "status": rich.status, "seconds": rich.seconds,
                       "max_violation": rich.max_violation, "dual_value": rich.dual_value,
                       "relative_gap": rich.relative_gap, "iterations": rich.iterations}
        penalized = {"solver": decay.solver, "status": decay.status, "seconds": decay.seconds,
                     "objective": decay.objective, "dual_value": decay.dual_value,
                     "relative_gap": decay.relative_gap, "iterations": decay.iterations}
        return References(predictors, added, {"nuclear": certificate, "nuclear_penalized": penalized},
                          {"nuclear_seconds": seconds, "nuclear_norm_rich": rich.nuclear_norm,
                           "rich_decay_test": predictors["rich_decay"]["test_value"],
                           "dist_rich_decay_final": float(relative_distance(W[-1], decay.X))})

    def summarize(self, plan: Plan, solution, arrays, transition, references) -> dict[str, Any]:
        W = arrays["W"]
        out = {
            "integrate_seconds": solution.stats.wall_seconds,
            "nuclear_seconds": None,
            "nuclear_norm_rich": None,
            "dist_kernel_final": float(arrays["dist_kernel"][-1]) if W.size and "dist_kernel" in arrays else None,
            "dist_rich_final": float(arrays["dist_rich"][-1]) if W.size and "dist_rich" in arrays else None,
        }
        out["regime"] = None
        if references is not None and W.size:
            from ..analysis.regime import classify_regression_regime

            out["regime"] = classify_regression_regime(arrays["t"], arrays["train_loss"], arrays["test_loss"],
                                                       references.predictors["kernel"]["test_value"],
                                                       references.predictors["rich"]["test_value"],
                                                       references.predictors.get("rich_decay", {}).get("test_value"))
        if self.config["alpha"] <= 1.0:
            out["t_theory"] = None  # ln(α)/λ ≤ 0: there is no kernel phase to time
            t_one = self.activation_estimate(plan.data)
            out["t_activation"] = t_one if math.isfinite(t_one) else None
        return out

    def file_stem(self) -> str:
        cfg = self.config
        name = cfg["task"] or "data"
        return (f"matrix-{name}-d{cfg['d']}-f{cfg['frac']:g}-a{cfg['alpha']:.0e}-lam{cfg['lam']:.0e}"
                f"-s{cfg['seed']}").replace("+", "")
