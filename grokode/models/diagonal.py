"""The depth-L diagonal linear network on linear classification or regression (docs/math.md#diagonal).

f(θ; x) = ⟨u^{⊙L} − v^{⊙L}, x⟩ from u(0) = v(0) = α/√(2d)·1, trained by gradient flow with weight decay λ
(paper §3.2.3, eq. 4). Its 2d-dimensional flow reduces exactly to n unknowns
(:class:`~grokode.numeric.diagonal.ReducedDiagonalFlow`); the full flow, full-batch gradient descent (the
paper's pipeline), normalized GD (λ = 0, App. B.1) and label-noise SGD (App. B.2) are the other methods.
The kernel predictor is the max ℓ2-margin classifier (min ℓ2-norm interpolant), the rich one the max
ℓ1-margin classifier (basis pursuit) — for L > 2 the rich problem is min Σ|w_j|^{2/L}, and ℓ1 is shown as a
reference only. Tasks, data, metrics and references: :class:`~grokode.models.linear.LinearModel`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np

from ..errors import InputError
from ..options import Option
from .base import (
    ALPHA,
    LAM,
    LR,
    NORMALIZED_LR,
    Plan,
    check_horizon,
    check_step_count,
    method_option,
    with_default,
)
from .linear import DATA_OPTIONS, DISCRETE_METHOD_NAMES, LOSSES, RUN_OPTIONS, LinearModel

FLOW_METHODS = ("auto", "LSODA", "BDF", "Radau", "RK45", "DOP853", "rkc")
DISCRETE_METHODS = DISCRETE_METHOD_NAMES
GD, LABEL_NOISE = DISCRETE_METHODS
FORMULATIONS = ("reduced", "full")
MAX_DEPTH = 6
#: A dense full-flow Jacobian (implicit methods, --formulation full) is formed only up to this many unknowns.
MAX_FULL_JACOBIAN = 4000

OPTIONS = (
    *DATA_OPTIONS,
    Option("depth", "int", f"depth L of the diagonal net (2…{MAX_DEPTH}); L ≥ 3 integrates the Γ reduction",
           default=2, low=2, high=MAX_DEPTH),
    Option("formulation", "str", "reduced (n unknowns, exact) | full (the 2d-dimensional (u, v) flow, for checks)",
           default="reduced", choices=FORMULATIONS),
    with_default(ALPHA, 1e3, "initialization scale α > 0 (default 1e3)"),
    with_default(LAM, 1e-3, "weight decay λ ≥ 0 (default 1e-3; 0: classification in log time to t = 1e300)"),
    *RUN_OPTIONS,
    method_option(FLOW_METHODS + DISCRETE_METHODS,
                  help="auto (LSODA, redone with BDF if it gives up) | LSODA | BDF | Radau | RK45 | DOP853 | rkc | "
                       "gd (the paper's gradient descent) | label-noise-sgd"),
    with_default(LR, None, "learning rate η of gd (default 0.01) or label-noise-sgd (default "
                 "1/(4L²u0^(2L−2) max‖x‖²))"),
    NORMALIZED_LR,
    Option("noise", "float", "label-noise-sgd: label noise σ (default 0.5)", low=0.0),
    Option("batch", "int", "label-noise-sgd: minibatch size B ≤ n, drawn without replacement (default 1)", low=1),
    Option("noise_seed", "int", "label-noise-sgd: seed of the noise (default: --seed)", low=0),
)


class DiagonalModel(LinearModel):
    """Depth-L diagonal linear net w = u^L − v^L on the paper's linear tasks or user data (docs/math.md#diagonal)."""

    name: ClassVar[str] = "diagonal"
    NORM_START = "α"  # ‖θ(0)‖ = α
    title: ClassVar[str] = "diagonal linear network w = u^L − v^L (sparse classification, misgrokking, regression)"
    options: ClassVar[tuple[Option, ...]] = OPTIONS
    derive_options: ClassVar[tuple[Option, ...]] = (
        Option("depth", "int", f"depth L (2…{MAX_DEPTH})", default=2, low=2, high=MAX_DEPTH),
        Option("loss", "str", "logistic | exponential | squared", default="logistic", choices=LOSSES),
    )

    # -- options -----------------------------------------------------------------------------------------
    def uses_seed_with_data(self) -> bool:
        return self.config["method"] == LABEL_NOISE

    def check(self) -> None:
        self.check_data()
        cfg = self.config
        method = cfg["method"]
        discrete = method in DISCRETE_METHODS
        self.refuse_unless(method in DISCRETE_METHODS, ("lr",), f"with --method {method} (a learning rate is for gd "
                           "and label-noise-sgd)")
        self.refuse_unless(method == GD, ("normalized_lr",), f"with --method {method} (it is a variant of gd)")
        self.refuse_unless(method == LABEL_NOISE, ("noise", "batch", "noise_seed"),
                           f"with --method {method} (they are options of label-noise-sgd)")
        self.refuse_unless(not discrete, ("rtol", "atol"), f"with --method {method} (tolerances are for the "
                           "adaptive flow methods; gd and label-noise-sgd take fixed steps)")
        self.refuse_unless(not discrete, ("formulation",), f"with --method {method} (it always steps (u, v))")
        if method == GD:
            cfg["lr"] = cfg["lr"] if cfg["lr"] is not None else 0.01
        if method == LABEL_NOISE:
            if not self.regression:
                raise InputError(f"label-noise SGD perturbs regression labels, but the task is classification with "
                                 f"loss {cfg['loss']!r} (use --task sparse-regression or --loss squared)")
            cfg["noise"] = 0.5 if cfg["noise"] is None else cfg["noise"]
            cfg["batch"] = 1 if cfg["batch"] is None else cfg["batch"]
            cfg["noise_seed"] = cfg["seed"] if cfg["noise_seed"] is None else cfg["noise_seed"]
            n = self._data_shape()[0]
            if cfg["batch"] > n:
                raise InputError(f"batch must be at most the number of training samples n={n}, got {cfg['batch']}")
        own_horizon = cfg["t_end"] is not None or cfg["t_eval"] is not None
        if method == LABEL_NOISE and cfg["lam"] == 0 and (cfg["noise"] == 0 or cfg["depth"] != 2) and not own_horizon:
            raise InputError(f"lam={cfg['lam']!r} and noise={cfg['noise']!r} give no time scale (depth "
                             f"{cfg['depth']}): pass --t-end")
        if cfg["lam"] == 0 and self.regression and method == GD and cfg["normalized_lr"]:
            raise InputError(f"lam={cfg['lam']!r} with squared loss: normalized GD's steps η/L̂ grow without bound as "
                             "the loss goes to 0 at interpolation (use the flow, or plain gd with --t-end)")
        self.refuse_full_formulation_at_fit()
        if cfg["lam"] == 0 and method == GD and not cfg["normalized_lr"] and not own_horizon:
            raise InputError(f"lam={cfg['lam']!r}: plain GD cannot reach the log-time horizon of a run without weight "
                             "decay (pass --normalized-lr, or a horizon --t-end)")
        horizon, name = self._horizon()
        if horizon is not None and (cfg["method"] != LABEL_NOISE or own_horizon):
            check_horizon(horizon, name)
        self._check_alpha()
        d = self._data_shape()[1]
        if (cfg["formulation"] == "full" and not discrete and method in ("auto", "LSODA", "BDF", "Radau")
                and 2 * d > MAX_FULL_JACOBIAN):
            raise InputError(f"--formulation full with --method {method} forms a dense 2d×2d Jacobian; d={d} is too "
                             f"large (2d ≤ {MAX_FULL_JACOBIAN}); use the reduced formulation or an explicit method")
        self.check_memory_and_data()
        self._check_steps()

    def _check_steps(self) -> None:
        """A constant step η must reach the horizon in at least one and at most 2^53 steps (t = steps·η)."""
        cfg = self.config
        method = cfg["method"]
        if method not in DISCRETE_METHODS or cfg["normalized_lr"]:
            return
        horizon, name = self._horizon()
        if horizon is None or (method == LABEL_NOISE and cfg["t_end"] is None and cfg["t_eval"] is None):
            return  # label-noise SGD's default horizon depends on its λ_eff, known once the run is built
        lr = cfg["lr"] if cfg["lr"] is not None else self._default_label_noise_lr()
        if lr is not None:
            check_step_count(lr, horizon, name, method)

    def _default_label_noise_lr(self) -> float | None:
        """:func:`label_noise_default_lr` where it is known before the data are drawn: a data file (read by
        then) or ±1 inputs (‖x‖² = d); None for the margin task."""
        cfg = self.config
        if cfg["data"] is not None:  # read by then
            return label_noise_default_lr(self.dataset(), cfg["alpha"], cfg["depth"])
        if cfg["task"] not in ("sparse", "sparse-regression"):
            return None
        d, L = cfg["d"], cfg["depth"]
        log_h0 = math.log(4.0 * L * L) + (L - 1) * (2.0 * math.log(cfg["alpha"]) - math.log(2.0 * d)) + math.log(d)
        return math.exp(-log_h0) if abs(log_h0) < 700.0 else None

    def _check_alpha(self) -> None:
        cfg = self.config
        d = self._data_shape()[1]
        ell0 = math.log(cfg["alpha"]) - 0.5 * math.log(2.0 * d)  # log u0, u0 = α/√(2d)
        # the flows keep every α-dependent quantity as its log (any depth runs to α = 1e300); the (u, v)
        # parametrization the discrete methods step cannot
        if cfg["method"] in DISCRETE_METHODS and cfg["depth"] * ell0 > 709.0:
            raise InputError(f"alpha={cfg['alpha']:g}: u0^L overflows float64 in the (u, v) parametrization "
                             f"--method {cfg['method']} steps")

    def memory_estimate(self) -> tuple[float, str]:
        need, what = super().memory_estimate()
        cfg = self.config
        if cfg["method"] in DISCRETE_METHODS:  # GD also keeps (u, v) at every save
            saves = len(cfg["t_eval"]) if cfg["t_eval"] is not None else 400
            need += 2 * 8.0 * saves * self._data_shape()[1]
        return need, what

    def solver_bytes(self) -> float:
        cfg = self.config
        if cfg["method"] in DISCRETE_METHODS:
            return 0.0
        if cfg["formulation"] == "full" and cfg["method"] in ("auto", "LSODA", "BDF", "Radau"):
            return 3 * 8.0 * (2 * self._data_shape()[1]) ** 2
        return super().solver_bytes()

    # -- derivation --------------------------------------------------------------------------------------
    @classmethod
    def derive(cls, **given: Any):
        from ..analytic import derive_model

        opts = cls.parse_derive_options(given)
        return derive_model("diagonal", depth=opts["depth"], loss=opts["loss"])

    # -- the run -----------------------------------------------------------------------------------------
    def prepare(self) -> Plan:
        cfg = self.config
        data = self.dataset()
        method = cfg["method"]
        if method not in DISCRETE_METHODS:
            return super().prepare()
        self.check_alpha_axis(data, None)
        if method == GD:  # the discrete pipeline, always on the full (u, v) parametrization
            from ..numeric.gd import DiagonalGD
            from ..numeric.normalized_gd import NormalizedGD

            stepper = NormalizedGD if cfg["normalized_lr"] else DiagonalGD
            return self.plan(cfg["lam"], data, stepper(self.data_matrix(data), data.y, alpha=cfg["alpha"],
                                                       lam=cfg["lam"], lr=cfg["lr"], depth=cfg["depth"],
                                                       loss=cfg["loss"]))
        from ..numeric.label_noise import LabelNoiseSGD, noise_generator

        lr = cfg["lr"] if cfg["lr"] is not None else label_noise_default_lr(data, cfg["alpha"], cfg["depth"])
        sgd = LabelNoiseSGD(self.data_matrix(data), data.y, alpha=cfg["alpha"], lam=cfg["lam"], lr=lr,
                            noise=cfg["noise"], batch=cfg["batch"], depth=cfg["depth"],
                            rng=noise_generator(cfg["noise_seed"]))
        rate = cfg["lam"] + sgd.lam_eff
        if rate == 0 and cfg["t_eval"] is None and cfg["t_end"] is None:
            raise InputError(f"lam={cfg['lam']!r} and noise={cfg['noise']!r} give no time scale (depth "
                             f"{cfg['depth']}): pass --t-end")
        return self.plan(rate, data, sgd, recorded={"lr": lr})

    def make_flow(self, data):
        from ..numeric.diagonal import FullDiagonalFlow, ReducedDiagonalFlow

        cfg = self.config
        flow_class = ReducedDiagonalFlow if cfg["formulation"] == "reduced" else FullDiagonalFlow
        flow = flow_class(self.data_matrix(data), data.y, alpha=cfg["alpha"], lam=cfg["lam"], depth=cfg["depth"],
                          loss=cfg["loss"])
        flow.stop_at_fit = self.stops_at_fit()
        return flow

    def implicit_profile(self, data):
        from ..analysis.implicit_bias import DiagonalProfile

        cfg = self.config
        return DiagonalProfile(cfg["depth"]), math.log(cfg["alpha"]) - 0.5 * math.log(2.0 * data.d)

    def saddle_scale(self, data) -> tuple[int, dict[str, Any]]:
        return self.config["depth"], {"log_u0": self.implicit_profile(data)[1]}

    @classmethod
    def flow_for(cls, options: Mapping[str, Any], data):
        from ..numeric.diagonal import ReducedDiagonalFlow

        return ReducedDiagonalFlow(data.X, data.y, alpha=options["alpha"], lam=options["lam"],
                                   depth=options["depth"], loss=options["loss"])

    def solve(self, plan: Plan, progress: Callable[[float], None] | None):
        cfg = self.config
        if cfg["method"] in DISCRETE_METHODS:
            return plan.dynamics.run(plan.t_eval, progress=progress)
        from ..numeric.integrate import integrate_flow

        return integrate_flow(plan.dynamics, plan.t_eval, method=cfg["method"], rtol=cfg["rtol"], atol=cfg["atol"],
                              progress=progress)

    def summarize(self, plan: Plan, solution, arrays, transition, references) -> dict[str, Any]:
        out = super().summarize(plan, solution, arrays, transition, references)
        if self.config["method"] == LABEL_NOISE:
            out["lam_eff"] = plan.dynamics.lam_eff
        return out

    def file_stem(self) -> str:
        cfg = self.config
        stem = super().file_stem().replace(f"{self.name}-", f"{self.name}-L{cfg['depth']}-", 1)
        return (stem + (f"-gd{cfg['lr']:g}" if cfg["method"] == GD else "") + ("n" if cfg["normalized_lr"] else "")
                + (f"-lnsgd-s{cfg['noise']:g}-b{cfg['batch']}" if cfg["method"] == LABEL_NOISE else ""))


def label_noise_default_lr(ds, alpha: float, depth: int) -> float:
    """η = 1/H₀, H₀ = 4L²u₀^{2L−2}·max‖x_i‖²: a bound on the top eigenvalue of a minibatch's loss Hessian at
    initialization (its Gauss-Newton part (2/B)·J_BᵀJ_B, trace-bounded), so η is half the step at which
    one-sample GD would diverge in the kernel phase."""
    X = np.asarray(ds.X, dtype=np.float64)
    u0_sq = alpha**2 / (2.0 * ds.d)
    h0 = 4.0 * depth**2 * u0_sq ** (depth - 1) * float(np.max(np.einsum("ij,ij->i", X, X)))
    return 1.0 / h0
