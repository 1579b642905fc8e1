"""The LP machinery of the ℓ1 predictors: an interior-point method for the restricted "game" LPs, its
dual-simplex fallback, and the one column-generation loop.

The ℓ1 problems are LPs with 2d primal variables, and a dense LP with 2d columns is far too slow at d = 1e5.
They are solved by column generation on their bounded game form (see :mod:`grokode.analysis.predictors.l1`):
start with the columns most correlated with y, add the most violated priced-out columns, repeat. The
restricted LP is solved by the Mehrotra interior-point method below (normal equations of size n + 1, built
from the dense columns, which is much cheaper than a general sparse LP solver on these dense LPs) and is
*not* crossed over to a vertex: its dual is a central point of the optimal dual face, which prices out far
more of the unseen columns than a vertex dual does, so few rounds are needed. HiGHS' dual simplex is the
fallback when the interior point fails.

Sign weights: the ℓ1 ball is the weighted one, c₊Σw⁺ + c₋Σw⁻ ≤ 1, written with w = p/c₊ − q/c₋, p, q ≥ 0
and Σ(p + q) ≤ 1; c₊ = c₋ = 1 is the plain ℓ1 ball (dividing by 1.0 is exact, so the plain problems take
exactly the same arithmetic).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg
from scipy.optimize import linprog

from grokode.numeric.linalg import DataMatrix

# Column-generation rounds stop once the certified gap is below this (leaves slack under GAP_TOLERANCE).
CG_TARGET = 1e-10
CG_MAX_ROUNDS = 200

_HIGHS_OPTIONS = {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10}

#: The sign weights (c₊, c₋) of the plain ℓ1 norm.
UNWEIGHTED = (1.0, 1.0)


def _ipm_l1_game(G: np.ndarray, E: np.ndarray, c_E: np.ndarray,
                 weights: tuple[float, float] = UNWEIGHTED) -> tuple[np.ndarray, np.ndarray, float]:
    """Mehrotra predictor-corrector interior point for the restricted ℓ1 "game" LPs.

    Standard form: ``min c_E^T x_E`` s.t. ``G (p/c₊ - q/c₋) + E_top x_E = 0``, ``1^T (p + q) + E_last x_E = 1``,
    ``p, q, x_E >= 0`` (E has n + 1 rows; the last one is the ℓ1-ball row; ``weights`` = (c₊, c₋)). The
    normal matrix is only (n+1) x (n+1) and is formed from G directly, which is what makes this faster than
    HiGHS on these dense problems. Iterates approach the analytic centre of the optimal face, so the
    duals are central without any crossover.

    Returns ``(w = p/c₊ - q/c₋, lam, merit)``: ``lam`` (n + 1,) are the equality multipliers, ``merit`` the
    larger of the relative infeasibility and relative gap of the best iterate.
    """
    n, m = G.shape
    cp, cm = weights
    cp2, cm2 = cp * cp, cm * cm
    k = E.shape[1]
    N = 2 * m + k
    b = np.zeros(n + 1)
    b[n] = 1.0
    c = np.concatenate([np.zeros(2 * m), c_E])
    c_norm = float(np.linalg.norm(c))

    def a_mul(x: np.ndarray) -> np.ndarray:
        out = E @ x[2 * m :]
        out[:n] += G @ (x[:m] / cp - x[m : 2 * m] / cm)
        out[n] += x[: 2 * m].sum()
        return out

    def at_mul(lam: np.ndarray) -> np.ndarray:
        g = G.T @ lam[:n]
        return np.concatenate([g / cp + lam[n], lam[n] - g / cm, E.T @ lam])

    def factor(dg: np.ndarray):
        dp, dq, de = dg[:m], dg[m : 2 * m], dg[2 * m :]
        M = (E * de) @ E.T
        M[:n, :n] += (G * (dp / cp2 + dq / cm2)) @ G.T
        v = G @ (dp / cp - dq / cm)
        M[:n, n] += v
        M[n, :n] += v
        M[n, n] += dp.sum() + dq.sum()
        # A tiny ridge keeps Cholesky alive when rows of A are (nearly) dependent, as in basis pursuit
        # with repeated samples, and in the last, badly scaled iterations.
        delta = 1e-15 * max(np.trace(M) / (n + 1), 1e-300)
        for _ in range(10):
            try:
                return scipy.linalg.cho_factor(M + delta * np.eye(n + 1), check_finite=False)
            except np.linalg.LinAlgError:
                delta *= 100.0
        raise np.linalg.LinAlgError("normal matrix is not positive definite")

    def max_step(v: np.ndarray, dv: np.ndarray) -> float:
        neg = dv < 0
        return float(np.min(-v[neg] / dv[neg])) if neg.any() else np.inf

    def direction(F, x, s, rb, rc, rxs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Newton step for A dx = -rb, A^T dl + ds = -rc, S dx + X ds = -rxs via the normal equations."""
        dl = scipy.linalg.cho_solve(F, a_mul((rxs - x * rc) / s) - rb, check_finite=False)
        ds = -rc - at_mul(dl)
        return (-rxs - x * ds) / s, dl, ds

    # Mehrotra's starting point.
    F = factor(np.ones(N))
    lam = scipy.linalg.cho_solve(F, a_mul(c))
    s = c - at_mul(lam)
    x = at_mul(scipy.linalg.cho_solve(F, b))
    x += max(-1.5 * float(x.min()), 0.0)
    s += max(-1.5 * float(s.min()), 0.0)
    xs = float(x @ s)
    x += 0.5 * xs / s.sum()
    s += 0.5 * xs / x.sum()

    best = (np.inf, x, lam)
    stall = 0
    mu0 = None
    for _ in range(100):
        rb = a_mul(x) - b
        rc = at_mul(lam) + s - c
        mu = float(x @ s) / N
        pobj, dobj = float(c @ x), float(b @ lam)
        feas = max(float(np.linalg.norm(rb)), float(np.linalg.norm(rc)) / (1.0 + c_norm))
        # Relative gap, measured against 1e-4 when t* is smaller (data are scaled to max |entry| = 1, so
        # t* <= 1), so that t* = 0 (not separable / not interpolable) converges too.
        gap = abs(pobj - dobj) / max(abs(pobj), abs(dobj), 1e-4)
        merit = max(feas, gap)
        if merit < best[0]:
            best, stall = (merit, x, lam), 0
        else:
            stall += 1
        if mu0 is None:
            mu0 = mu
        # Degenerate problems can crawl for a while before the fast phase, so stalling only counts once
        # mu is small; there the normal equations lose accuracy and further iterations only degrade.
        if (feas <= 1e-11 and gap <= 1e-13) or (stall >= 3 and mu <= 1e-12 * mu0) or mu <= 1e-30:
            break
        F = factor(x / s)
        dxa, _, dsa = direction(F, x, s, rb, rc, x * s)
        ap, ad = min(1.0, max_step(x, dxa)), min(1.0, max_step(s, dsa))
        mu_aff = float((x + ap * dxa) @ (s + ad * dsa)) / N
        sigma = (mu_aff / mu) ** 3
        dx, dl, ds = direction(F, x, s, rb, rc, x * s + dxa * dsa - sigma * mu)
        ap, ad = min(1.0, 0.995 * max_step(x, dx)), min(1.0, 0.995 * max_step(s, ds))
        x = x + ap * dx
        lam = lam + ad * dl
        s = s + ad * ds
        if not (np.all(np.isfinite(x)) and np.all(np.isfinite(lam))):
            break
    merit, x, lam = best
    return x[:m] / cp - x[m : 2 * m] / cm, lam, merit


def _highs_l1_game(G: np.ndarray, E: np.ndarray, c_E: np.ndarray,
                   weights: tuple[float, float] = UNWEIGHTED) -> tuple[np.ndarray, np.ndarray, float]:
    """Fallback for :func:`_ipm_l1_game`: the same LP by HiGHS' dual simplex (a vertex solution)."""
    n, m = G.shape
    cp, cm = weights
    A = np.hstack([np.vstack([G / cp, np.ones((1, m))]), np.vstack([-G / cm, np.ones((1, m))]), E])
    b = np.zeros(n + 1)
    b[n] = 1.0
    c = np.concatenate([np.zeros(2 * m), c_E])
    res = linprog(c, A_eq=A, b_eq=b, bounds=(0.0, None), method="highs-ds", options=_HIGHS_OPTIONS)
    if res.status != 0:
        raise RuntimeError(f"HiGHS failed on a restricted l1 LP: {res.message}")
    return res.x[:m] / cp - res.x[m : 2 * m] / cm, np.asarray(res.eqlin.marginals, dtype=np.float64), 0.0


def solve_l1_game(G: np.ndarray, E: np.ndarray, c_E: np.ndarray, exact: bool,
                  weights: tuple[float, float] = UNWEIGHTED) -> tuple[np.ndarray, np.ndarray, str]:
    """Solve a restricted ℓ1 game LP: central (interior point) unless ``exact``.

    Returns ``(w, lam, solver)`` with ``solver`` "interior point" or "dual simplex" (taken when ``exact``
    or when the interior point fails).
    """
    if not exact:
        try:
            w, lam, merit = _ipm_l1_game(G, E, c_E, weights)
            if merit <= 1e-9:
                return w, lam, "interior point"
        except np.linalg.LinAlgError:
            pass
    w, lam, _ = _highs_l1_game(G, E, c_E, weights)
    return w, lam, "dual simplex"


def weighted_prices(prices: np.ndarray, weights: tuple[float, float]) -> np.ndarray:
    """``max(p_j / c₊, -p_j / c₋)``: the dual norm's terms (``|p_j|`` when c₊ = c₋ = 1)."""
    cp, cm = weights
    return np.maximum(prices / cp, -prices / cm)


def weighted_norm(w: np.ndarray, weights: tuple[float, float]) -> float:
    """``c₊Σw⁺ + c₋Σw⁻`` (``||w||_1`` when c₊ = c₋ = 1, summed in the same order)."""
    cp, cm = weights
    return float((np.where(w > 0, cp, cm) * np.abs(w)).sum())


def clean(w: np.ndarray) -> np.ndarray:
    """Zero the interior-point dust (|w_j| <= 1e-12 max|w|) so the reported support is the true one."""
    w = w.copy()
    big = float(np.max(np.abs(w))) if w.size else 0.0
    w[np.abs(w) <= 1e-12 * big] = 0.0
    return w


def initial_columns(score: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` columns of largest ``score``, in increasing order."""
    count = min(count, score.size)
    if count == score.size:
        return np.arange(score.size)
    return np.sort(np.argpartition(-score, count - 1)[:count])


def _new_columns(prices: np.ndarray, in_set: np.ndarray, threshold: float, count: int) -> np.ndarray:
    """Up to ``count`` columns outside the working set with price above ``threshold``, most violated first."""
    violated = np.flatnonzero((prices > threshold) & ~in_set)
    if violated.size > count:
        violated = violated[np.argpartition(-prices[violated], count - 1)[:count]]
    return violated


@dataclass
class Round:
    """What one column-generation round reports to the loop.

    ``prices`` (d,) are the weighted prices of every column under the round's dual point, ``upper`` their
    maximum (a bound on the optimum) and ``upper_S`` their maximum over the working set (the restricted
    problem's value); prices within ``noise`` of it are rounding. ``gap`` is the round's certified relative
    gap and ``result`` whatever the caller needs to build its predictor from the best round.
    """

    gap: float
    prices: np.ndarray
    upper: float
    upper_S: float
    noise: float
    result: Any


def column_generation(data: DataMatrix, S: np.ndarray, sign: np.ndarray | None, add: int,
                      solve_round: Callable[[np.ndarray, np.ndarray, bool], Round]) -> tuple[Round, int]:
    """Column generation on a restricted LP over the columns ``S`` of ``diag(sign) X``; returns (best round, rounds).

    ``solve_round(A_S, S, exact)`` solves the restricted problem on the columns ``A_S`` (central duals
    unless ``exact``) and prices every column. The loop stops when the gap reaches :data:`CG_TARGET`, when
    every price is rounding noise, or when nothing prices out even with vertex-exact duals; otherwise up to
    ``add`` most violated columns join the working set. When nothing prices out but the gap is open, the
    interior-point solution was not accurate enough, so the same restricted LP is solved once more with the
    (vertex-exact) dual simplex. The round with the smallest gap is returned.
    """
    def restricted(cols: np.ndarray) -> np.ndarray:
        block = data.columns(cols)
        return block if sign is None else sign[:, None] * block

    in_set = np.zeros(data.d, dtype=bool)
    in_set[S] = True
    A_S = restricted(S)
    best: Round | None = None
    exact = False
    rounds = 0
    while rounds < CG_MAX_ROUNDS:
        rounds += 1
        step = solve_round(A_S, S, exact)
        if best is None or step.gap < best.gap:
            best = step
        if step.upper <= step.noise or step.gap <= CG_TARGET:
            break
        new = _new_columns(step.prices, in_set, step.upper_S * (1 + 1e-12) + step.noise, add)
        if new.size == 0:
            if exact:
                break
            exact = True
            continue
        S = np.concatenate([S, new])
        in_set[new] = True
        exact = False
        A_S = np.hstack([A_S, restricted(new)])
    assert best is not None  # CG_MAX_ROUNDS >= 1
    return best, rounds
