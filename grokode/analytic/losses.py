"""Loss functions, declared once; residual and curvature are derived by differentiation.

For a label ``y`` and an output ``f`` the loss is ℓ(f); the gradient flow is driven by the residual
r = ∂ℓ/∂f and the Jacobians use the curvature ℓ'' = ∂²ℓ/∂f² (docs/math.md#setting). For classification the
label is ±1, so ``y**2`` is replaced by 1 after differentiating. The log-curvature is derived as well:
the reduced flow's Jacobian multiplies ℓ'' (which underflows at large margins) by kernel factors
(which overflow at large α), so the product is formed in log space.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..errors import InputError
from .functions import sigmoid, softplus

f, y = sp.symbols("f y", real=True)

#: name -> (ℓ(f; y), task kind). Declarations only: everything else is derived.
LOSS_DECLARATIONS: dict[str, tuple[sp.Expr, str]] = {
    "logistic": (softplus(-y * f), "classification"),
    "exponential": (sp.exp(-y * f), "classification"),
    "squared": ((f - y) ** 2, "regression"),
}

LOSS_NAMES = tuple(LOSS_DECLARATIONS)


@dataclass(frozen=True)
class LossDerivation:
    """A loss and what is derived from it (all sympy expressions in ``f`` and ``y``)."""

    name: str
    kind: str
    value: sp.Expr
    residual: sp.Expr
    curvature: sp.Expr
    log_curvature: sp.Expr
    log_abs_residual: sp.Expr
    residual_sign: sp.Expr


def _unit_labels(expr: sp.Expr, kind: str) -> sp.Expr:
    return sp.simplify(expr.subs(y**2, 1)) if kind == "classification" else sp.simplify(expr)


def _log_of(expr: sp.Expr) -> sp.Expr:
    # log(σ(a)) = -softplus(-a): keeps the log-curvature finite where σ underflows.
    logged = sp.expand_log(sp.log(sp.simplify(expr)), force=True)
    return sp.simplify(logged.replace(lambda e: e.func == sp.log and isinstance(e.args[0], sigmoid),
                                      lambda e: -softplus(-e.args[0].args[0])))


def derive_loss(name: str) -> LossDerivation:
    """Derive residual, curvature and log-curvature of the named loss."""
    if name not in LOSS_DECLARATIONS:
        raise InputError(f"unknown loss {name!r} (choose {', '.join(LOSS_NAMES)})")
    value, kind = LOSS_DECLARATIONS[name]
    residual = _unit_labels(sp.diff(value, f), kind)
    curvature = _unit_labels(sp.diff(value, f, 2), kind)
    # r = sign·e^{log|r|}: the reduced flow multiplies r (tiny at large margins) by t·rate (huge at large α)
    log_abs = _log_of(sp.Abs(residual))
    if kind == "classification":
        log_abs = sp.simplify(log_abs.subs(sp.log(sp.Abs(y)), 0))
    sign = sp.simplify(sp.sign(residual))
    if kind == "classification":  # labels are ±1: |y| = 1 and y ≠ 0
        sign = sp.piecewise_fold(sign.subs(sp.Abs(y), 1)).subs(sp.Eq(y, 0), sp.false)
    return LossDerivation(name, kind, value, residual, curvature, _log_of(curvature), log_abs, sign)
