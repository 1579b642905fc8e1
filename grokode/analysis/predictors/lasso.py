"""The weighted lasso: the rich predictor of a degree-2 model trained with weight decay (docs/math.md#regimes-of-a-run).

With weight decay λ the flow of a degree-2 model (the depth-2 diagonal net w = u² − v², a separable φ of degree 2)
does not end at an interpolant but at a minimizer of L(w) + (λ/2)·ψ(w), where L is the training loss and
ψ(w) = min{‖θ‖² : φ(θ) = w} = Σ_j (c₊ w_j⁺ + c₋ w_j⁻) (c₊ = c₋ = 1 for u² − v²). For the squared loss (a mean
without ½) that is the weighted lasso

    minimize  P(w) = (1/n)‖Xw − y‖² + p·Σ_j (c₊ w_j⁺ + c₋ w_j⁻),   p = λ/2,

the decay-aware counterpart of the min-ℓ1 interpolant (its λ → 0 limit). Its Fenchel dual is

    maximize  D(u) = −⟨u, y⟩ − (n/4)‖u‖²   subject to  −p·c₊ ≤ (Xᵀu)_j ≤ p·c₋,

with u = (2/n)(Xw − y) at the optimum. :func:`weighted_lasso` runs FISTA with adaptive restart on P, polishes the
solution on its support (the stationarity equations with the signs fixed), and certifies it with the relative
duality gap (P(w) − D(u))/P(w) at the dual point u = s·(2/n)(Xw − y), s ≤ 1 the largest scale that is feasible.
"""

from __future__ import annotations

import math
import time

import numpy as np

from grokode.errors import InputError
from grokode.numeric.linalg import DataMatrix

from .base import GAP_TOLERANCE, Predictor, single_threaded, solved, status

#: FISTA iterations at most (each one product with X and one with Xᵀ).
MAX_ITERATIONS = 20_000
#: Check the duality gap (and try the polish) every this many iterations.
CHECK_EVERY = 50


def _objective(data: DataMatrix, y: np.ndarray, w: np.ndarray, penalty: float, c_plus: float, c_minus: float
               ) -> tuple[float, np.ndarray]:
    r = data.matvec(w) - y
    reg = c_plus * float(np.sum(np.maximum(w, 0.0))) + c_minus * float(np.sum(np.maximum(-w, 0.0)))
    return float(r @ r) / data.n + penalty * reg, r


def _gap(data: DataMatrix, y: np.ndarray, w: np.ndarray, penalty: float, c_plus: float, c_minus: float) -> float:
    """Relative duality gap of ``w`` (module docstring)."""
    primal, r = _objective(data, y, w, penalty, c_plus, c_minus)
    u = (2.0 / data.n) * r
    v = data.rmatvec(u)
    # the box −p·c₊ ≤ v_j ≤ p·c₋: the largest s ≤ 1 with s·v inside it
    top, low = float(np.max(v)), float(np.min(v))
    s = 1.0
    if top > 0.0:
        s = min(s, penalty * c_minus / top)
    if low < 0.0:
        s = min(s, penalty * c_plus / -low)
    u *= s
    dual = -float(u @ y) - 0.25 * data.n * float(u @ u)
    return max(primal - dual, 0.0) / max(primal, np.finfo(float).tiny)


def _shrink(z: np.ndarray, step: float, penalty: float, c_plus: float, c_minus: float) -> np.ndarray:
    """The proximal map of step·p·Σ(c₊ w⁺ + c₋ w⁻): an asymmetric soft threshold."""
    up, down = step * penalty * c_plus, step * penalty * c_minus
    return np.where(z > up, z - up, np.where(z < -down, z + down, 0.0))


def _polish(data: DataMatrix, y: np.ndarray, w: np.ndarray, penalty: float, c_plus: float, c_minus: float
            ) -> np.ndarray | None:
    """The stationary point with the support and signs of ``w``: (2/n)X_Sᵀ(X_S w_S − y) + p·c_sign = 0; None if the
    support is empty, larger than n or rank-deficient, or the solution changes a sign."""
    support = np.flatnonzero(w)
    if support.size == 0 or support.size > data.n:
        return None
    XS = data.columns(support)
    sign_cost = np.where(w[support] > 0, c_plus, -c_minus)
    rhs = XS.T @ y - 0.5 * data.n * penalty * sign_cost
    try:
        wS = np.linalg.solve(XS.T @ XS, rhs)
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.isfinite(wS)) or np.any(np.sign(wS) != np.sign(w[support])):
        return None
    out = np.zeros_like(w)
    out[support] = wS
    return out


@single_threaded
def weighted_lasso(X: np.ndarray, y: np.ndarray, penalty: float, c_plus: float = 1.0, c_minus: float = 1.0
                   ) -> Predictor:
    """argmin (1/n)‖Xw − y‖² + penalty·Σ_j (c₊ w_j⁺ + c₋ w_j⁻), with its certified relative duality gap.

    Parameters
    ----------
    X, y : training inputs (n, d) and targets (n,).
    penalty : p > 0 (λ/2 for a degree-2 model trained with weight decay λ).
    c_plus, c_minus : the costs of positive and negative weights (> 0).

    Returns
    -------
    Predictor of kind ``"weighted_lasso"``; ``norm`` is Σ(c₊ w⁺ + c₋ w⁻), ``margin`` NaN, ``gap`` the relative
    duality gap (the message says whether it reached the target).
    """
    for name, value in (("penalty", penalty), ("c_plus", c_plus), ("c_minus", c_minus)):
        if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
            raise InputError(f"{name} must be a finite number > 0, got {value!r}")
    t0 = time.perf_counter()
    data = X if isinstance(X, DataMatrix) else DataMatrix(np.asarray(X))
    y = np.asarray(y, dtype=np.float64)
    lipschitz = 2.0 / data.n * float(np.linalg.eigvalsh(data.gram())[-1])
    if not lipschitz > 0.0:  # X = 0: w = 0 is optimal
        return solved(np.zeros(data.d), "weighted_lasso", 0.0, math.nan, 0.0, "optimal (X = 0)", t0)
    step = 1.0 / lipschitz
    w = np.zeros(data.d)
    z, momentum = w.copy(), 1.0
    best, best_gap = w, _gap(data, y, w, penalty, c_plus, c_minus)
    iterations = 0
    for iterations in range(1, MAX_ITERATIONS + 1):
        grad = data.rmatvec(data.matvec(z) - y, 2.0 / data.n)
        w_next = _shrink(z - step * grad, step, penalty, c_plus, c_minus)
        following = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * momentum * momentum))
        if float((z - w_next) @ (w_next - w)) > 0.0:  # adaptive restart (O'Donoghue & Candès): the objective turned
            z, following = w_next.copy(), 1.0
        else:
            z = w_next + ((momentum - 1.0) / following) * (w_next - w)
        w, momentum = w_next, following
        if iterations % CHECK_EVERY == 0:
            for candidate in (w, _polish(data, y, w, penalty, c_plus, c_minus)):
                if candidate is None:
                    continue
                gap = _gap(data, y, candidate, penalty, c_plus, c_minus)
                if gap < best_gap:
                    best, best_gap = candidate, gap
            if best_gap <= GAP_TOLERANCE:
                break
    norm = c_plus * float(np.sum(np.maximum(best, 0.0))) + c_minus * float(np.sum(np.maximum(-best, 0.0)))
    message = f"{status(best_gap)} after {iterations} FISTA iterations (support {np.count_nonzero(best)})"
    return solved(best, "weighted_lasso", norm, math.nan, best_gap, message, t0)
