"""Separable homogeneous models from one formula: f(θ; x) = Σ_j φ(θ_j) x_j (docs/math.md#separable).

The user writes φ (``--phi "a*b*c"``), positively homogeneous of degree L ≥ 2 in θ_j ∈ R^k, and the direction θ̂
of the initialization (``--init "a=1, b=1, c=0"``, φ(θ̂) = 0); every coordinate starts at θ_j(0) = α·θ̂/(‖θ̂‖√d),
so ‖θ(0)‖ = α. Both are parsed safely by :mod:`grokode.analytic.separable` (never evaluated as Python), in
:meth:`SeparableModel.check`, before anything is computed. The kd-dimensional flow reduces exactly to n
unknowns, as the diagonal net's does (:class:`~grokode.numeric.separable.ReducedSeparableFlow`, on the profile F₁
tabulated once per formula); ``--formulation full`` integrates the θ flow itself (for checks and small d).

Tasks, data, metrics and the transition are :class:`~grokode.models.linear.LinearModel`'s. References: the kernel
predictor is the max ℓ2-margin / min ℓ2-norm one (the NTK is ‖∇φ(θ̄)‖²⟨x, x′⟩); the rich one for L = 2 minimizes
Σ_j c_{sign w_j}|w_j| subject to the margin (or the interpolation), c_± = min{‖θ‖² : φ(θ) = ±1}: with c₊ = c₋ the
max ℓ1-margin / basis-pursuit predictor, otherwise a weighted ℓ1 LP; for L > 2 the regularizer c_±|w|^{2/L} is not
convex, and ℓ1 is shown as a reference only (as for the deep diagonal net).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..errors import InputError
from ..options import Option
from .base import ALPHA, LAM, Plan, method_option, with_default
from .linear import DATA_OPTIONS, RUN_OPTIONS, LinearModel

FLOW_METHODS = ("auto", "LSODA", "BDF", "Radau", "RK45", "DOP853", "rkc")
FORMULATIONS = ("reduced", "full")
#: The full formulation's dense Jacobian (implicit methods) is formed only up to this many unknowns (kd).
MAX_FULL_JACOBIAN = 4000


@dataclass(frozen=True)
class InitOption(Option):
    """``--init``: name=value pairs as text (values may be exact: ``2**(1/2)``) or a mapping; parsed against
    φ's parameters in :meth:`SeparableModel.check` (:func:`grokode.analytic.separable.parse_init`)."""

    def _parse_assignments(self, value: object) -> object:
        if isinstance(value, str):
            return value
        if isinstance(value, Mapping):
            return dict(value)
        raise self._bad(value, "name=value pairs such as 'a=1, b=0' (or a mapping)")


PHI = Option("phi", "text", "the formula φ(θ) of one coordinate, e.g. 'a*b*c': names, numbers, + − * / **, abs(); "
             "positively homogeneous of degree L ≥ 2")
INIT = InitOption("init", "assignments", "direction θ̂ of every θ_j(0) = α·θ̂/(‖θ̂‖√d), e.g. 'a=1, b=1, c=0' "
                  "(needs φ(θ̂) = 0; exact values such as 2**(1/2) allowed)")

OPTIONS = (
    PHI,
    INIT,
    *DATA_OPTIONS,
    Option("formulation", "str", "reduced (n unknowns, exact: the tabulated profile F) | full (the kd-dimensional "
           "θ flow, for checks)", default="reduced", choices=FORMULATIONS),
    with_default(ALPHA, 1e3, "initialization scale α > 0 (default 1e3; ‖θ(0)‖ = α)"),
    with_default(LAM, 1e-3, "weight decay λ ≥ 0 (default 1e-3; 0: classification in log time to t = 1e300)"),
    *RUN_OPTIONS,
    method_option(FLOW_METHODS, help="auto (LSODA, redone with BDF if it gives up) | LSODA | BDF | Radau | RK45 | "
                  "DOP853 | rkc"),
)


class SeparableModel(LinearModel):
    """Separable L-homogeneous model f(θ; x) = Σ_j φ(θ_j) x_j from a formula φ (docs/math.md#separable)."""

    name: ClassVar[str] = "separable"
    title: ClassVar[str] = "your own model f = Σ_j φ(θ_j) x_j from a formula φ (--phi, --init) on the linear tasks"
    options: ClassVar[tuple[Option, ...]] = OPTIONS
    derive_options: ClassVar[tuple[Option, ...]] = (PHI, INIT)

    # -- options -----------------------------------------------------------------------------------------
    def symbolic(self):
        """The parsed φ and θ̂ (:class:`grokode.analytic.separable.SeparableModel`; parsed once)."""
        if "_symbolic" not in self.__dict__:
            cfg = self.config
            self.__dict__["_symbolic"] = symbolic_model(cfg["phi"], cfg["init"], f"model {self.name!r}")
        return self.__dict__["_symbolic"]

    def check(self) -> None:
        cfg = self.config
        symbolic = self.symbolic()
        cfg["init"] = self.init_text()
        self.check_data()
        self.check_decay_and_horizon()
        if cfg["formulation"] == "full":
            L, d = symbolic.degree, self._data_shape()[1]
            kd = len(symbolic.params) * d
            if cfg["method"] in ("auto", "LSODA", "BDF", "Radau") and kd > MAX_FULL_JACOBIAN:
                raise InputError(f"--formulation full with --method {cfg['method']} forms a dense kd×kd Jacobian; "
                                 f"k·d = {kd} is too large (at most {MAX_FULL_JACOBIAN}); use the reduced formulation "
                                 "or an explicit method")
            log_c = math.log(cfg["alpha"]) - 0.5 * math.log(d)
            if L * log_c > 700.0:
                raise InputError(f"alpha={cfg['alpha']:g} is too large for --formulation full at degree {L} "
                                 f"((α/√d)^L overflows float64); use the reduced formulation")
        self.check_memory_and_data()

    def init_text(self) -> str:
        """θ̂ as canonical text ``a=1, b=1, c=0`` that ``--init`` parses back exactly (roots as ``2**(1/2)``)."""
        return ", ".join(f"{p.name}={_exact_text(v)}" for p, v in self.symbolic().theta_hat.items())

    def solver_bytes(self) -> float:
        cfg = self.config
        if cfg["formulation"] == "full":
            kd = len(self.symbolic().params) * self._data_shape()[1]
            return 3 * 8.0 * kd * kd if cfg["method"] in ("auto", "LSODA", "BDF", "Radau") else 16.0 * kd
        return super().solver_bytes()

    # -- derivation --------------------------------------------------------------------------------------
    @classmethod
    def derive(cls, **given: Any):
        opts = cls.parse_derive_options(given)
        model = symbolic_model(opts["phi"], opts["init"], f"grokode derive {cls.name}")
        return model.derive()

    # -- the run -----------------------------------------------------------------------------------------
    def saddle_scale(self, data) -> tuple[int, dict[str, Any] | str]:
        """Degree 2 at λ = 0: the limit's boundaries are where the profile reaches |F(Γ)| = 1 (and the measured
        level 0.05), on each side (docs/math.md#saddle-to-saddle)."""
        symbolic, cfg = self.symbolic(), self.config
        degree = symbolic.degree
        if degree != 2:
            return degree, ""
        if cfg["lam"] != 0:
            return degree, (f"lam={cfg['lam']:g} > 0: for a separable model the limit is implemented at λ = 0 (the "
                            "boundaries move at rates set by φ)")
        from ..analysis.saddles import ACTIVE_THRESHOLD, profile_levels

        profile, log_c = self.implicit_profile(data)
        if log_c >= 0:
            return degree, "α/√d ≥ 1: the α → 0 limit does not apply"

        def log_abs_f(gamma: float) -> float:
            return float(profile.log_F(np.array([gamma]), log_c)[0][0])

        try:
            box = profile_levels(log_abs_f, 1.0)
            levels = profile_levels(log_abs_f, ACTIVE_THRESHOLD)
        except ValueError as exc:
            return degree, f"the profile F of φ = {symbolic.phi_text} {str(exc)[len('the profile '):]}"
        eps = -log_c
        return degree, {"log_u0": log_c, "box": (box[0] / eps, box[1] / eps),
                        "levels": (levels[0] / eps, levels[1] / eps)}

    def make_flow(self, data):
        from ..numeric.separable import FullSeparableFlow, ReducedSeparableFlow

        cfg = self.config
        flow_class = ReducedSeparableFlow if cfg["formulation"] == "reduced" else FullSeparableFlow
        flow = flow_class(self.data_matrix(data), data.y, model=self.symbolic(), alpha=cfg["alpha"], lam=cfg["lam"],
                          loss=cfg["loss"])
        flow.stop_at_fit = self.stops_at_fit()
        return flow

    @classmethod
    def flow_for(cls, options: Mapping[str, Any], data):
        from ..numeric.separable import ReducedSeparableFlow

        model = symbolic_model(options["phi"], options["init"], f"model {cls.name!r}")
        return ReducedSeparableFlow(data.X, data.y, model=model, alpha=options["alpha"], lam=options["lam"],
                                    loss=options["loss"])

    def implicit_profile(self, data):
        from ..numeric.separable_profile import profile_for

        return profile_for(self.symbolic()), math.log(self.config["alpha"]) - 0.5 * math.log(data.d)

    def plan(self, rate: float, data, dynamics, *, recorded: Mapping[str, Any] | None = None) -> Plan:
        plan = super().plan(rate, data, dynamics, recorded={"degree": self.symbolic().degree, **(recorded or {})})
        return dataclasses.replace(plan, describe=lambda: self.describe(dynamics))

    def solve(self, plan: Plan, progress: Callable[[float], None] | None):
        from ..numeric.integrate import integrate_flow

        cfg = self.config
        return integrate_flow(plan.dynamics, plan.t_eval, method=cfg["method"], rtol=cfg["rtol"], atol=cfg["atol"],
                              progress=progress)

    def regularizer(self) -> tuple[float, float]:
        """(c₊, c₋): ψ(w) = c_± |w|^{2/L} = min{‖θ‖² : φ(θ) = w} (derived; docs/math.md#separable)."""
        reg = self.symbolic().regularizer()
        return float(reg["c_plus"]), float(reg["c_minus"])

    def weighted_rich(self) -> bool:
        """Whether the rich predictor is the weighted ℓ1 one (L = 2 and c₊ ≠ c₋)."""
        if self.symbolic().degree != 2:
            return False
        cp, cm = self.regularizer()
        return not math.isclose(cp, cm, rel_tol=1e-12)

    def solve_reference_predictors(self, data) -> tuple[Any, Any]:
        """(kernel, rich); at degree 2 with c₊ ≠ c₋ the rich one is the weighted ℓ1 predictor."""
        if not self.weighted_rich():
            return super().solve_reference_predictors(data)
        from ..analysis.predictors import max_l2_margin, min_l2_interpolant, weighted_l1_interpolant, weighted_l1_margin

        cp, cm = self.regularizer()
        X = self.data_matrix(data)
        if self.regression:
            return min_l2_interpolant(X, data.y), weighted_l1_interpolant(X, data.y, cp, cm)
        return max_l2_margin(X, data.y), weighted_l1_margin(X, data.y, cp, cm)

    def describe(self, flow) -> dict[str, Any]:
        """``meta["separable"]``: φ, θ̂, the degree, the regularizer's constants, the rich reference, the anchors."""
        from ..analysis.analyze import finite_or_none

        cp, cm = self.regularizer()
        sym = self.symbolic()
        out = {"phi": sym.phi_text, "init": self.config["init"], "degree": sym.degree,
               "parameters": [p.name for p in sym.params], "c_plus": finite_or_none(cp), "c_minus": finite_or_none(cm),
               "kernel_constant_unit": float(sym.grad_norm_sq_unit),
               "rich_reference": ("weighted_l1" if self.weighted_rich() else "l1") if sym.degree == 2 else
               f"l1 (reference only: the regularizer |w|^(2/{sym.degree}) is not convex)"}
        if self.config["formulation"] == "reduced":
            out["anchors"] = flow.anchors
        return {"separable": out}

    def file_stem(self) -> str:
        cfg = self.config
        formula = re.sub(r"[^A-Za-z0-9]+", "", cfg["phi"])[:24] or "phi"
        return super().file_stem().replace(f"{self.name}-", f"{self.name}-L{self.symbolic().degree}-{formula}-", 1)


def symbolic_model(phi: str | None, init: str | Mapping | None, owner: str):
    """The parsed and checked :class:`grokode.analytic.separable.SeparableModel`; InputError naming what is wrong."""
    from ..analytic.separable import SeparableModel as Symbolic

    missing = [flag for flag, value in (("--phi", phi), ("--init", init)) if value is None]
    if missing:
        raise InputError(f"{owner} needs {' and '.join(missing)} (e.g. --phi \"a*b*c\" --init \"a=1, b=1, c=0\")")
    return Symbolic(phi, init)


def _exact_text(value) -> str:
    """An exact number as text of the --init grammar (integers, fractions, ``**`` with rational exponents)."""
    from sympy.printing.precedence import PRECEDENCE
    from sympy.printing.str import StrPrinter

    class Printer(StrPrinter):
        def _print_Pow(self, expr, rational=False):
            base, exponent = expr.args
            if exponent.is_Rational and not exponent.is_Integer:
                return f"{self.parenthesize(base, PRECEDENCE['Pow'])}**({exponent.p}/{exponent.q})"
            return super()._print_Pow(expr, rational)

    return Printer().doprint(value)


