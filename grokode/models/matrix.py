"""Matrix completion with W = UUᵀ − VVᵀ from U(0) = V(0) = αI (paper §3.3.3, eq. 5; docs/math.md#matrix).

The flow runs on the lifted state (W, Ŝ) (:class:`~grokode.numeric.matrix.MatrixFlow`), which is exact and
keeps W's digits at large α. The kernel predictor copies the observed entries and fills the rest with 0
(Cor. 3.11); the rich one is the minimum nuclear-norm completion (an SDP). The transition is located on
log10 of the test MSE; the trajectory holds W (T×d×d), the losses, ‖θ‖, ‖W‖_*, the relative Frobenius
distances of W(t) to both predictors, the problem itself (M, masks) and both predictors, so an analysis never
has to re-solve the SDP.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from ..errors import InputError
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
    check_horizon,
    default_t_end,
    method_option,
    save_times,
    theory_time,
    undo_log10,
    with_default,
)

TASKS = ("multiplication", "lowrank")
METHODS = ("auto", "LSODA", "BDF", "Radau", "RK45", "DOP853", "rkc", "ros2")
#: ``--method auto``: RKC (see :class:`grokode.numeric.rkc.RKC` for why) below AUTO_ROS2_FROM, ROS2 from there:
#: RKC's stages grow like α (the kernel phase's stiffness is ~α²), ROS2's cost does not grow with α
#: (d = 30: 28.4k RHS at α = 1e3, 28.5k at 1e6, 29.5k at 1e30, 32.3k at 1e100; RKC 15k at 1e3 but 122k at 1e4, d = 97).
AUTO_METHOD = "rkc"
AUTO_ROS2_FROM = 1e4
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
    method_option(METHODS, help="auto (rkc; ros2 from α = 1e4) | LSODA | BDF | Radau | RK45 | DOP853 | rkc | ros2"),
)


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
    analysis_keys: ClassVar[tuple[str, ...]] = ANALYSIS_KEYS

    def resolve(self) -> None:
        c = self.config
        if "data" in self.given:
            self.refuse_unless(False, ("task", "d", "frac", "rank", "seed"),
                               "with --data (the data file fixes the problem)")
            c["task"] = None
            from ..files import npz_array_headers

            headers = npz_array_headers(c["data"], "data file")
            if "M" not in headers:
                raise InputError(f"data file {c['data']!r} has no array 'M' (found: {', '.join(sorted(headers))})")
            shape = headers["M"][0]
            if len(shape) != 2 or shape[0] != shape[1] or shape[0] < 2:
                raise InputError(f"array M in {c['data']!r} must be a square d×d matrix (d ≥ 2), got shape {shape}")
            c["d"] = int(shape[0])
        else:
            self.refuse_unless(c["task"] == "lowrank", ("rank",), f"with --task {c['task']} (its target has rank 1)")
            if c["task"] == "lowrank" and c["rank"] > c["d"]:
                raise InputError(f"rank must be at most d = {c['d']}, got {c['rank']}")
            n_obs = int(round(c["frac"] * c["d"] ** 2))
            if n_obs < 1 or n_obs >= c["d"] ** 2:
                raise InputError(f"frac={c['frac']:g} observes {n_obs} of the {c['d'] ** 2} entries of a "
                                 f"{c['d']}×{c['d']} matrix (need at least one observed and one unobserved entry)")
        self.refuse_unless("t_eval" not in self.given, ("t_end",), "together with --t-eval (its last time is the "
                           "horizon)")
        check_horizon(*self._horizon())  # λ > 0 here: there is always a horizon
        if math.log(2.0) + 2.0 * math.log(c["alpha"]) > 700.0:
            raise InputError(f"alpha={c['alpha']:g} is too large: S(0) = 2α²I overflows float64 (need α < 1e151)")
        auto = AUTO_METHOD if c["alpha"] < AUTO_ROS2_FROM else "ros2"
        self.solver_method = auto if c["method"] == "auto" else c["method"]
        if "data" in self.given:
            # read and check the problem now (symmetry, masks, NaN), before anything is computed; prepare() reuses it
            from ..files import require_memory
            from ..tasks.matrix import load_matrix_npz

            require_memory(*self.memory_estimate())
            self.problem = load_matrix_npz(c["data"])

    def memory_estimate(self) -> tuple[float, str]:
        c = self.config
        d = c["d"]
        saves = len(c["t_eval"]) if c["t_eval"] is not None else 310
        state = 2 * d * d
        from ..numeric.integrate import needs_jacobian

        jac = 3 * 8.0 * state**2 if needs_jacobian(self.solver_method) else 0.0
        # the trajectory (W and two work copies) and the nuclear-norm SDP (a 2d×2d PSD variable, generously)
        where = f" on {c['data']!r}" if c.get("data") is not None else ""
        return 8.0 * saves * d * d * 3 + 8.0 * 1000 * d * d + jac, (
            f"a matrix run{where} with d={d}" + (f" and --method {self.solver_method} (a dense {state}×{state} "
                                         "finite-difference Jacobian)" if jac else ""))

    @classmethod
    def derive(cls, **given: Any):
        from ..analytic import derive_model

        cls.parse_derive_options(given)
        return derive_model("matrix", loss="squared")

    def prepare(self) -> Plan:
        from ..tasks.matrix import load_matrix_npz, make_matrix_task

        c = self.config
        if getattr(self, "problem", None) is None:
            self.problem = load_matrix_npz(c["data"]) if c["data"] is not None else make_matrix_task(
                c["task"], d=c["d"], frac=c["frac"], rank=c["rank"], seed=c["seed"])
        t_theory = theory_time(c["alpha"], c["lam"])
        if c["t_eval"] is not None:
            return Plan(t_eval=c["t_eval"], t_end=float(c["t_eval"][-1]), t_theory=t_theory, rate=c["lam"])
        t_end = c["t_end"] if c["t_end"] is not None else default_t_end(c["alpha"], c["lam"],
                                                                       self.activation_estimate())
        return Plan(t_eval=save_times(t_end, t_theory, theorem_window=True), t_end=t_end, t_theory=t_theory,
                    rate=c["lam"])

    def activation_estimate(self) -> float:
        """Small α (< 1): t₁ = ln(1/α²)/(2(σ − λ)), when the top eigen-direction of W reaches O(1) under the initial
        residual, σ = max|eig R(0)|, R(0) = −(2/N)(P_Ω M + (P_Ω M)ᵀ) (docs/math.md#small-alpha-horizon); NaN at
        α ≥ 1, inf when the decay wins (σ ≤ λ)."""
        c = self.config
        if c["alpha"] >= 1.0:
            return math.nan
        problem = self.problem
        E0 = np.where(problem.train_mask, -problem.M, 0.0)
        sigma = float(np.max(np.abs(np.linalg.eigvalsh(2.0 / problem.n_obs * (E0 + E0.T)))))
        if sigma <= c["lam"]:
            return math.inf
        return -2.0 * math.log(c["alpha"]) / (2.0 * (sigma - c["lam"]))

    def solve(self, plan: Plan, progress: Callable[[float], None] | None):
        from ..numeric.integrate import integrate_flow
        from ..numeric.matrix import MatrixFlow

        c = self.config
        flow = MatrixFlow(self.problem.M, self.problem.train_mask, alpha=c["alpha"], lam=c["lam"])
        return integrate_flow(flow, plan.t_eval, method=self.solver_method, rtol=c["rtol"], atol=c["atol"],
                              progress=progress)

    def observe(self, plan: Plan, sol) -> dict[str, np.ndarray]:
        problem = self.problem
        dim = problem.d
        W = sol.weights.reshape(-1, dim, dim)
        return {"t": sol.t, "W": W, "train_loss": problem.mse(W, problem.train_mask),
                "test_loss": problem.mse(W, problem.test_mask), "param_norm": sol.param_norm,
                "nuclear_norm": nuclear_norms(W)}

    def locate_transition(self, plan: Plan, sol, arrays):
        from ..analysis.transition import find_transition

        if not sol.t.size:
            return None, "log10_test_loss"
        problem, dim = self.problem, self.problem.d

        def dense_metric(s: float) -> float:
            return float(np.log10(problem.mse(sol.weight_at(s).reshape(dim, dim), problem.test_mask)))

        with np.errstate(divide="ignore"):
            log_test = np.log10(arrays["test_loss"])
        return find_transition(sol.t, log_test, plan.t_theory, min_change=0.5,
                               metric=dense_metric if sol.pieces else None), "log10_test_loss"

    def references(self, plan: Plan, sol, arrays) -> dict | None:
        from ..analysis.nuclear import kernel_completion, nuclear_norm_completion

        problem = self.problem
        sdp0 = time.perf_counter()
        W_kernel = kernel_completion(problem.M, problem.train_mask)
        rich = nuclear_norm_completion(problem.M, problem.train_mask)
        self.nuclear = rich
        self.nuclear_seconds = time.perf_counter() - sdp0
        W = arrays["W"]
        arrays.update({"dist_kernel": relative_distance(W, W_kernel), "dist_rich": relative_distance(W, rich.X),
                       "M": problem.M, "train_mask": problem.train_mask, "test_mask": problem.test_mask,
                       "W_kernel": W_kernel, "W_rich": rich.X})
        if not W.size:
            return None
        references = {}
        for name, ref in (("kernel", W_kernel), ("rich", rich.X)):
            references[name] = {"kind": "zero-filled" if name == "kernel" else "nuclear-norm", "feasible": True,
                                "test_metric": "test_loss", "test_value": float(problem.mse(ref, problem.test_mask))}
        references["rich"].update(solver=rich.solver, status=rich.status, max_violation=rich.max_violation,
                                  nuclear_norm=rich.nuclear_norm)
        return references

    def summarize(self, plan: Plan, sol, arrays, transition, references) -> dict[str, Any]:
        W = arrays["W"]
        out = {
            "test_plateau": undo_log10(transition.plateau) if transition else None,
            "test_final": undo_log10(transition.final) if transition else None,
            "train_final": float(arrays["train_loss"][-1]) if W.size else None,
            "transition_metric": "log10_test_loss",
            "integrate_seconds": sol.stats.wall_seconds,
            "nuclear_seconds": getattr(self, "nuclear_seconds", None),
            "nuclear_norm_rich": self.nuclear.nuclear_norm if hasattr(self, "nuclear") else None,
            "dist_kernel_final": float(arrays["dist_kernel"][-1]) if W.size and "dist_kernel" in arrays else None,
            "dist_rich_final": float(arrays["dist_rich"][-1]) if W.size and "dist_rich" in arrays else None,
        }
        out["regime"] = None
        if references is not None and W.size:
            from ..analysis.regime import classify_regression_regime

            out["regime"] = classify_regression_regime(arrays["t"], arrays["train_loss"], arrays["test_loss"],
                                                       references["kernel"]["test_value"],
                                                       references["rich"]["test_value"])
        if self.config["alpha"] <= 1.0:
            out["t_theory"] = None  # ln(α)/λ ≤ 0: there is no kernel phase to time
            t_one = self.activation_estimate()
            out["t_activation"] = t_one if math.isfinite(t_one) else None
        if references is not None:
            for name in ("kernel", "rich"):
                out[f"{name}_test"] = references[name]["test_value"]
        return out

    def record(self, plan: Plan) -> tuple[dict[str, Any], dict[str, Any]]:
        c, problem = self.config, self.problem
        params = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in problem.params.items()}
        options = {"model": self.name, "depth": 2, "task": c["task"], "data": c["data"], "n": problem.n_obs,
                   "d": problem.d, "frac": params.get("frac", c["frac"]), "rank": params.get("rank", c["rank"]),
                   "seed": c["seed"], "loss": "squared", "alpha": c["alpha"], "lam": c["lam"], "t_end": plan.t_end,
                   "rtol": c["rtol"], "atol": c["atol"], "method": c["method"], "formulation": "lifted"}
        dataset = {"name": problem.name, "kind": "regression", **params}
        return options, dataset

    def extra_meta(self) -> dict[str, Any]:
        rich = getattr(self, "nuclear", None)
        meta: dict[str, Any] = {"solver_method": self.solver_method}
        if rich is not None:
            meta["nuclear"] = {"solver": rich.solver, "status": rich.status, "seconds": rich.seconds,
                               "max_violation": rich.max_violation, "dual_value": rich.dual_value,
                               "relative_gap": rich.relative_gap, "iterations": rich.iterations}
        return meta

    def file_stem(self) -> str:
        c = self.config
        name = c["task"] or "data"
        return f"matrix-{name}-d{c['d']}-f{c['frac']:g}-a{c['alpha']:.0e}-lam{c['lam']:.0e}-s{c['seed']}".replace(
            "+", "")
