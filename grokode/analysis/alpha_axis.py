"""Time scales of small initialization (docs/math.md#small-alpha-horizon).

While every |w_j| is small the residual stays at its initial value r(0), so the clock of coordinate j grows
linearly, Γ_j(t) = g_j·τ_ρ(t) with g = Xᵀr(0)/n and τ_ρ(t) = ∫₀ᵗ e^{−(L−2)λs} ds, and the coordinate becomes
O(1) when |w_j(t)| = e^{−Lλt}|F(Γ_j(t))| reaches 1, F the model's profile at scale u0. That is
t₁ ≈ ln(1/u0)/(2 max|g_j| − λ) at degree 2 (incremental learning, Pesme & Flammarion 2023) and
t₁ ≈ u0^{−(L−2)}/(L(L−2) max|g_j|) at degree L ≥ 3 and λ = 0. :func:`activation_time` solves the condition on the
profile itself (any degree, any λ, separable models included); inf when no coordinate ever activates (with decay,
a gradient too small against λ).
"""

from __future__ import annotations

import math

import numpy as np

#: log-spaced times scanned for the first activation (1e-300 … 1e300)
_SCAN = np.linspace(math.log(1e-300), math.log(1e300), 4001)


def clock(t_log: np.ndarray, lam: float, depth: int) -> np.ndarray:
    """log τ_ρ(t) at t = e^{t_log}: τ_ρ = t at λ = 0 or L = 2, (1 − e^{−(L−2)λt})/((L−2)λ) otherwise."""
    t_log = np.asarray(t_log, dtype=np.float64)
    if lam == 0.0 or depth == 2:
        return t_log
    k = (depth - 2) * lam
    with np.errstate(over="ignore"):
        x = k * np.exp(t_log)
    return np.log(-np.expm1(-x)) - math.log(k)


def activation_time(profile, log_c: float, depth: int, lam: float, g: np.ndarray) -> float:
    """The first time t₁ at which a coordinate's |w_j| reaches 1 under the frozen initial gradient ``g`` (d,).

    ``profile`` is :class:`~grokode.analysis.implicit_bias.DiagonalProfile` or a separable model's tabulated
    profile, at scale e^{log_c}. Returns 0.0 when |w| reaches 1 at once (large α: the kernel regime) and inf when
    it never does. An estimate: the residual starts to move once w is O(1), so later activations come later.
    """
    g = np.asarray(g, dtype=np.float64)
    picks = [float(g.max()), float(g.min())]
    first = math.inf
    for gj in picks:
        if gj == 0.0:
            continue
        h = _excess(profile, log_c, depth, lam, gj, _SCAN)
        reached = np.flatnonzero(~(h < 0.0))  # NaN (past a singular end) counts as reached
        if reached.size == 0:
            continue
        i = int(reached[0])
        if i == 0:
            return 0.0
        lo, hi = float(_SCAN[i - 1]), float(_SCAN[i])
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            if _excess(profile, log_c, depth, lam, gj, np.array([mid]))[0] < 0.0:
                lo = mid
            else:
                hi = mid
        first = min(first, math.exp(hi))
    return first


def _excess(profile, log_c: float, depth: int, lam: float, gj: float, t_log: np.ndarray) -> np.ndarray:
    """log|w_j(t)| = log|F(g_j τ_ρ(t))| − Lλt on the grid (NaN past a singular end)."""
    log_tau = clock(t_log, lam, depth)
    with np.errstate(over="ignore", under="ignore"):
        gamma = math.copysign(1.0, gj) * np.exp(np.minimum(math.log(abs(gj)) + log_tau, 700.0))
    lf = profile.evaluate(gamma, log_c)[0]
    with np.errstate(over="ignore", invalid="ignore"):
        return lf - depth * lam * np.exp(t_log)
