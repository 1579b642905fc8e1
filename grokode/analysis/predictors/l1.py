"""ℓ1 reference predictors (the rich-regime limits): max-margin classifiers and minimum-norm interpolants
for the sign-weighted ℓ1 norm ``c₊Σw⁺ + c₋Σw⁻``; the plain ℓ1 problems are the weights c₊ = c₋ = 1.

A diagonal linear network from a small initialisation converges to the max ℓ1-margin classifier / the
basis-pursuit interpolant; a depth-2 separable model whose regularizer ψ(w) = c_±|w| depends on the sign of w
(docs/math.md#separable) to their sign-weighted versions. Each is an LP, solved by column generation
(:func:`~grokode.analysis.predictors.lp.column_generation`) on its bounded game form:

* classification: ``max_{||w||_c <= 1} min_i y_i<w, x_i> = min_{a in simplex} max_j max((Zᵀa)_j/c₊, −(Zᵀa)_j/c₋)``
  with Z = diag(y) X;
* basis pursuit: ``max{t : Xw = t y, ||w||_c <= 1} = min{max_j max((Xᵀb)_j/c₊, −(Xᵀb)_j/c₋) : <y, b> = 1}``.

Every result carries a certificate computed from the full data: the primal point and the dual point scaled
to be feasible for every column bracket the optimum; ``gap`` is their relative difference. The primal
solution is purified (an exact solve on its support) to remove interior-point dust.
"""

from __future__ import annotations

import time

import numpy as np

from grokode.errors import InputError

from .base import GAP_TOLERANCE, ZERO_TOLERANCE, Predictor, infeasible, single_threaded, solved, status, validate
from .lp import (
    UNWEIGHTED,
    Round,
    clean,
    column_generation,
    initial_columns,
    solve_l1_game,
    weighted_norm,
    weighted_prices,
)

__all__ = ["max_l1_margin", "min_l1_interpolant", "weighted_l1_interpolant", "weighted_l1_margin"]


def _purify_margin(Z_S: np.ndarray, w_S: np.ndarray, weights: tuple[float, float]) -> tuple[np.ndarray, float]:
    """Return the better of ``w_S`` and its purified version, with its normalised (weighted) ℓ1 margin.

    Interior-point solutions carry ~1e-11 relative "dust" off the optimal support and margins that tie
    only to that accuracy. Purification keeps the support J (|w_j| > 1e-9 max|w|) and the active samples
    A (margin within 1e-7 of the minimum) and solves ``Z_AJ v = 1`` by least squares, which at a basic
    optimum is the exact vertex. It is kept only if its margin is at least as good.
    """

    def margin(w: np.ndarray) -> float:
        norm = weighted_norm(w, weights)
        return float(np.min(Z_S @ w)) / norm if norm > 0 else 0.0

    best = (w_S, margin(w_S))
    if best[1] <= 0:
        return best
    J = np.flatnonzero(np.abs(w_S) > 1e-9 * np.max(np.abs(w_S)))
    m = Z_S[:, J] @ w_S[J]
    A = np.flatnonzero(m <= m.min() * (1 + 1e-7))
    v = np.zeros_like(w_S)
    v[J] = np.linalg.lstsq(Z_S[np.ix_(A, J)], np.ones(A.size), rcond=None)[0]
    candidate = (v, margin(v))
    return candidate if candidate[1] >= best[1] else best


def _polish_interpolant(X_S: np.ndarray, w_S: np.ndarray, y: np.ndarray, upper: float,
                        weights: tuple[float, float]) -> tuple[np.ndarray, float, float]:
    """Remove the ~1e-11 interior-point residual of ``X_S w_S = y``; return ``(w, gap, relative residual)``.

    Two candidates besides ``w_S``: the exact solution on the thresholded support J (|w_j| > 1e-9 max|w|),
    which at a basic optimum is the vertex itself, and the min-norm correction of the residual on the full
    support, which moves ``w`` by O(residual). The one with the smallest certified gap
    ``max(|P - D| / P, residual)`` (P = ||w||_c, D = 1 / upper) is returned.
    """
    y_norm = float(np.linalg.norm(y))

    def score(w: np.ndarray) -> tuple[np.ndarray, float, float]:
        primal = weighted_norm(w, weights)
        resid = float(np.linalg.norm(X_S @ w - y)) / y_norm
        gap = max(abs(primal - 1.0 / upper) / primal, resid) if primal > 0 else np.inf
        return w, gap, resid

    candidates = [score(w_S)]
    big = float(np.max(np.abs(w_S))) if w_S.size else 0.0
    for J in (np.flatnonzero(np.abs(w_S) > 1e-9 * big), np.flatnonzero(w_S)):
        if J.size == 0:
            continue
        w = w_S.copy()
        if J.size < np.count_nonzero(w_S):
            w[:] = 0.0
        w[J] += np.linalg.lstsq(X_S[:, J], y - X_S[:, J] @ w[J], rcond=None)[0]
        candidates.append(score(w))
    return min(candidates, key=lambda c: c[1])


def _weights_text(weights: tuple[float, float]) -> str:
    return f"(c+ = {weights[0]:.6g}, c- = {weights[1]:.6g})"


def _norm_words(kind: str, weights: tuple[float, float]) -> str:
    """How a message names the norm: "l1", or the weighted norm with its weights."""
    return f"weighted l1 {_weights_text(weights)}" if "weighted" in kind else "l1"


def _expand(w_S: np.ndarray, S: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    """The (d,) weights of ``w_S`` on the columns ``S``, and their support (in the order of ``S``)."""
    w = np.zeros(d)
    w[S] = w_S
    return w, S[w_S != 0]


def _what_and_how(kind: str, weights: tuple[float, float], plain: str, norm: float, solver: str,
                  S: np.ndarray, d: int, rounds: int) -> tuple[str, str]:
    """What was found and how, for the message: the plain problems' ``plain`` wording, or the weighted norm."""
    how = f"{S.size} of {d} columns generated in {rounds} rounds"
    if "weighted" not in kind:
        return plain, how
    return f"weighted l1 norm {_weights_text(weights)} {norm:.10g}", f"{how}, {solver}"


def _l1_margin(X: np.ndarray, y: np.ndarray, weights: tuple[float, float], kind: str) -> Predictor:
    """``min ||w||_c`` s.t. ``y_i <w, x_i> >= 1`` by column generation on the game form (module docstring)."""
    t0 = time.perf_counter()
    data, y = validate(X, y, classification=True)
    n, d = data.n, data.d
    scale = data.max_abs()
    if scale == 0.0:
        return infeasible(kind, d, "not separable: every x_i is zero", t0)
    smallest_weight = min(weights)
    # Restricted game LP: max t s.t. Z_S w - s = t 1, ||w||_c + r = 1 with Z = diag(y) X / scale;
    # E holds the columns of s (n), r and t.
    E = np.zeros((n + 1, n + 2))
    E[np.arange(n), np.arange(n)] = -1.0
    E[n, n] = 1.0
    E[:n, n + 1] = -1.0
    c_E = np.zeros(n + 2)
    c_E[-1] = -1.0
    # Prices below this are rounding noise of the dual norm of Z^T a (a in the simplex, |Z_ij| <= scale).
    noise = 1e-11 * scale / smallest_weight

    def solve_round(Z_S: np.ndarray, S: np.ndarray, exact: bool) -> Round:
        w_S, lam, solver = solve_l1_game(Z_S / scale, E, c_E, exact, weights)
        w_S = clean(w_S)
        alpha = np.clip(lam[:n], 0.0, None)
        if alpha.sum() <= 0:
            raise RuntimeError("the restricted max-l1-margin LP returned no dual solution")
        alpha /= alpha.sum()
        prices = weighted_prices(data.rmatvec(y * alpha), weights)
        upper = float(np.max(prices))  # >= max ℓ1 margin, for any alpha in the simplex
        upper_S = float(np.max(prices[S]))  # the restricted problem's dual value
        w_S, lower = _purify_margin(Z_S, w_S, weights)
        gap = (upper - lower) / upper if upper > 0 else 0.0
        return Round(gap, prices, upper, upper_S, noise, (lower, w_S, S, solver))

    # start from the coordinates most correlated with the labels
    best, rounds = column_generation(data, initial_columns(np.abs(data.rmatvec(y)), n), y, n, solve_round)
    gap, upper = best.gap, best.upper
    lower, w_S, S, solver = best.result
    words = _norm_words(kind, weights)
    if lower <= ZERO_TOLERANCE * scale / smallest_weight:
        dual_norm = "sup-norm" if words == "l1" else "dual norm"
        why = (f"a convex combination of the y_i x_i has {dual_norm} {upper:.3g} ({upper / scale:.2g} of max "
               f"|x_ij|); best {words} margin found {lower:.3g}")
        return infeasible(kind, d, f"not separable: {why}", t0)
    w, support = _expand(w_S, S, d)
    w /= float(np.min(y * (data.columns(support) @ w[support])))
    norm = weighted_norm(w, weights)
    what, how = _what_and_how(kind, weights, f"l1 margin {lower:.10g}", norm, solver, S, d, rounds)
    message = f"{status(gap)}: {what}, {support.size} nonzero weights, certified gap {gap:.2g} ({how})"
    return solved(w, kind, norm, lower, gap, message, t0)


def _l1_interpolant(X: np.ndarray, y: np.ndarray, weights: tuple[float, float], kind: str) -> Predictor:
    """``min ||w||_c`` s.t. ``X w = y`` by column generation on the game form (module docstring)."""
    t0 = time.perf_counter()
    data, y = validate(X, y, classification=False)
    n, d = data.n, data.d
    y_norm = float(np.linalg.norm(y))
    if y_norm == 0.0:
        return solved(np.zeros(d), kind, 0.0, float("nan"), 0.0, "optimal: y = 0, w = 0", t0)
    col_scale = float(np.sqrt(np.max(data.column_sq_norms())))  # max_j ||x_j||_2
    if col_scale == 0.0:
        return infeasible(kind, d, "not interpolable: X = 0 but y != 0", t0)
    scale, y_scale = data.max_abs(), float(np.max(np.abs(y)))
    smallest_weight = min(weights)
    # Restricted game LP: max t s.t. X_S w / scale = t y / y_scale, ||w||_c + r = 1; E holds r and t.
    # (y is interpolable iff t* > 0, and then min ||w||_c = 1 / t* in these units.)
    E = np.zeros((n + 1, 2))
    E[n, 0] = 1.0
    E[:n, 1] = -y / y_scale
    c_E = np.array([0.0, -1.0])

    def solve_round(X_S: np.ndarray, S: np.ndarray, exact: bool) -> Round:
        w_S, lam, solver = solve_l1_game(X_S / scale, E, c_E, exact, weights)
        beta = lam[:n]
        yb = float(y @ beta)
        if not yb > 0:
            raise RuntimeError("the restricted basis-pursuit LP returned no dual solution")
        beta = beta / yb  # dual feasible: <y, beta> = 1
        prices = weighted_prices(data.rmatvec(beta), weights)
        upper = float(np.max(prices))  # ||w||_c >= 1 / upper for every interpolant w
        upper_S = float(np.max(prices[S]))
        noise = 1e-11 * col_scale * float(np.linalg.norm(beta)) / smallest_weight
        w_S = clean(w_S)
        fit = X_S @ w_S
        nu = float(fit @ y) / y_norm**2  # X_S w_S = nu y at the LP optimum
        gap, resid_rel = np.inf, np.inf
        if nu > ZERO_TOLERANCE * col_scale / y_norm * float(np.abs(w_S).sum()) and upper > 0:
            w_S, gap, resid_rel = _polish_interpolant(X_S, w_S / nu, y, upper, weights)
        return Round(gap, prices, upper, upper_S, noise, (w_S, S, resid_rel, solver))

    # 2n columns most correlated with y: generically they span R^n, so the first LP already has t > 0.
    best, rounds = column_generation(data, initial_columns(np.abs(data.rmatvec(y)), 2 * n), None, n, solve_round)
    gap, upper, noise = best.gap, best.upper, best.noise
    w_S, S, resid_rel, solver = best.result
    if not np.isfinite(gap) or resid_rel > GAP_TOLERANCE:
        dual_norm = "||X^T b||_inf" if "weighted" not in kind else "the dual norm of X^T b"
        why = f"a b with <y, b> = 1 has {dual_norm} = {upper:.3g}, rounding level {noise:.2g}"
        return infeasible(kind, d, f"not interpolable: y is not in the range of X ({why})", t0)
    w, support = _expand(w_S, S, d)
    # Residual against the full X (a recomputation: the polish used the same columns).
    resid_rel = float(np.linalg.norm((data.columns(support) @ w[support]) - y)) / y_norm
    gap = max(gap, resid_rel)
    norm = weighted_norm(w, weights)
    what, how = _what_and_how(kind, weights, f"||w||_1 = {norm:.10g}", norm, solver, S, d, rounds)
    message = (f"{status(gap)}: {what}, {support.size} nonzero weights, certified gap {gap:.2g}, "
               f"relative residual {resid_rel:.2g} ({how})")
    return solved(w, kind, norm, float("nan"), gap, message, t0)


def _weights(c_plus: float, c_minus: float) -> tuple[float, float]:
    for name, value in (("c_plus", c_plus), ("c_minus", c_minus)):
        if not (np.isfinite(value) and value > 0):
            raise InputError(f"{name} must be a finite number > 0, got {value!r}")
    return float(c_plus), float(c_minus)


@single_threaded
def weighted_l1_margin(X: np.ndarray, y: np.ndarray, c_plus: float, c_minus: float) -> Predictor:
    """Sign-weighted ℓ1 max-margin classifier: ``min c₊·Σw⁺ + c₋·Σw⁻`` s.t. ``y_i <w, x_i> >= 1`` (an LP).

    The rich predictor of a depth-2 separable model whose regularizer ψ(w) = c_±|w| depends on the sign of w
    (docs/math.md#separable); with c₊ = c₋ it is the max ℓ1-margin classifier scaled by c₊.

    Parameters
    ----------
    X : (n, d) int8 or real array
    y : (n,) labels in {-1, +1}
    c_plus, c_minus : finite numbers > 0, the weights c₊ and c₋

    Returns
    -------
    Predictor
        ``kind="max_weighted_l1_margin"``, ``norm`` the weighted norm; the certificate is a convex
        combination ``a`` of the ``y_i x_i`` whose weighted dual norm ``max_j max(p_j/c₊, −p_j/c₋)``
        (p = Σ a_i y_i x_i) bounds the normalised margin from above, ``w`` from below.
    """
    return _l1_margin(X, y, _weights(c_plus, c_minus), "max_weighted_l1_margin")


@single_threaded
def weighted_l1_interpolant(X: np.ndarray, y: np.ndarray, c_plus: float, c_minus: float) -> Predictor:
    """Sign-weighted basis pursuit: ``min c₊·Σw⁺ + c₋·Σw⁻`` s.t. ``X w = y`` (an LP).

    Parameters
    ----------
    X : (n, d) int8 or real array
    y : (n,) targets
    c_plus, c_minus : finite numbers > 0, the weights c₊ and c₋

    Returns
    -------
    Predictor
        ``kind="min_weighted_l1_interpolant"``, ``norm`` the weighted norm; the certificate is ``b`` with
        ``<y, b> = 1``, whose weighted dual norm of ``X^T b`` bounds the norm of every interpolant from
        below. ``gap`` is the larger of the relative duality gap and the relative residual ``||Xw - y|| / ||y||``.
    """
    return _l1_interpolant(X, y, _weights(c_plus, c_minus), "min_weighted_l1_interpolant")


@single_threaded
def max_l1_margin(X: np.ndarray, y: np.ndarray) -> Predictor:
    """Max ℓ1-margin classifier without bias: ``min ||w||_1`` s.t. ``y_i <w, x_i> >= 1`` (an LP).

    :func:`weighted_l1_margin` with c₊ = c₋ = 1 (same parameters ``X``, ``y``), of ``kind="max_l1_margin"``;
    the certificate's dual norm is ``||sum a_i y_i x_i||_inf``.
    """
    return _l1_margin(X, y, UNWEIGHTED, "max_l1_margin")


@single_threaded
def min_l1_interpolant(X: np.ndarray, y: np.ndarray) -> Predictor:
    """Basis pursuit: ``min ||w||_1`` s.t. ``X w = y`` (an LP).

    :func:`weighted_l1_interpolant` with c₊ = c₋ = 1 (same parameters ``X``, ``y``), of
    ``kind="min_l1_interpolant"``; ``1 / ||X^T b||_inf`` bounds ``||w||_1`` from below.
    """
    return _l1_interpolant(X, y, UNWEIGHTED, "min_l1_interpolant")
