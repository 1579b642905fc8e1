"""The depth-L reduced flow's settled frame: log-brackets of the active coordinates (docs/math.md#conditioning).

In the late phase of a run with weight decay the brackets of the active coordinates (the set 𝒜, |𝒜| = s < n) tend
to 0 like e^{−kt}, k = (L−2)λ, while the state S tends to a limit S_∞ at which they vanish. A *settled* anchor made
at t_a (:class:`~grokode.numeric.diagonal.Anchor` with ``side`` and ``push``) writes the state as

    e^{c}(S − S_a) = h(t)·D + T(t)·y,   h = 1 − e^{−x},   T = I + (e^{−x} − 1)Π,   x = k(t − t_a),

with Π the orthogonal projector onto span{x_j : j ∈ 𝒜} (columns of X) and D = ``push`` ∈ range Π the point at which
every active bracket is exactly 0. Since x_jᵀ(I − Π) = 0 for j ∈ 𝒜, an active bracket is then

    b_j(t) = b_j(t_a)·e^{−x}·(1 + σ_j γ e^{γE_j} κ e^{−c} x_jᵀy/n),

(σ_j = +1 when u's bracket tends to 0, E_j = A_j; −1 for v's, E_j = B_j): its decay e^{−x} is exact and y holds
log b_j + kt up to a constant, a variable that converges. The flow of y is

    dy/dτ = e^{−x} q + (1 − e^{−x}) Π q + tk(Π y − D),   q = t e^{c−k t_a} r(f),

autonomous in the limit, so the late phase is a fixed point of it: no re-anchoring per decade of the decay. The
inactive coordinates read their clock from h·D + T y as before (their brackets stay O(1)).
"""

from __future__ import annotations

import math

import numpy as np

from . import diagonal_kernels as dk
from . import generated as gen
from .residuals import loss_log_curvatures, loss_residuals

#: A coordinate joins the active set of a settled anchor when its smallest bracket is below 1/ACTIVE_BELOW and it
#: shrank since the last anchor at least ACTIVE_RATE times the rate e^{−kt} of an active bracket
ACTIVE_BELOW = 10.0
ACTIVE_RATE = 0.5
#: The active columns must be independent: the smallest singular value of their orthonormalized basis's R factor
#: above this fraction of the largest
RANK_TOL = 1e-8


class SettledBasis:
    """What a settled anchor needs of the data: the active indices, their columns X_𝒜 (n×s) and an orthonormal basis
    Q of their span (Π = QQᵀ)."""

    def __init__(self, data, side: np.ndarray):
        self.idx = np.flatnonzero(side)
        self.side = np.asarray(side)[self.idx]
        self.XA = data.columns(self.idx)
        self.Q, self.R = np.linalg.qr(self.XA)

    def project(self, v: np.ndarray) -> np.ndarray:
        """Π v."""
        return self.Q @ (self.Q.T @ v)


def choose_active(data, A, B, prev_A, prev_B, gamma: float, decay: float) -> tuple[np.ndarray, SettledBasis] | None:
    """σ (d,) (+1: u's bracket tends to 0, −1: v's, 0: inactive) and its basis, or None when no valid set exists.

    ``decay`` = k(t − t_prev) is log of the factor an active bracket shrank by since the previous anchor.
    """
    small = gamma * np.maximum(A, B)
    grown = small - gamma * np.maximum(prev_A, prev_B)
    with np.errstate(invalid="ignore"):
        active = (small > math.log(ACTIVE_BELOW)) & (grown >= ACTIVE_RATE * decay)
    s = int(np.count_nonzero(active))
    if s == 0 or s >= data.n or not decay > 0.0:
        return None
    side = np.where(active, np.where(A >= B, 1.0, -1.0), 0.0)
    basis = SettledBasis(data, side)
    diag = np.abs(np.diag(basis.R))
    if not diag.min() > RANK_TOL * diag.max():
        return None
    return side, basis


def push_point(basis: SettledBasis, A, B, gamma: float, log_kappa: float, c: float, n: int) -> np.ndarray:
    """D = e^{c}(S_∞ − S_a) projected: the point of range Π at which every active bracket is 0 (x_jᵀD/n fixed)."""
    E = np.where(basis.side > 0, A[basis.idx], B[basis.idx])
    target = -basis.side * np.exp(c - log_kappa - gamma * E) / gamma  # x_jᵀD/n
    beta = np.linalg.solve(basis.R.T, n * target)
    return basis.Q @ beta


def exponents(flow, tau: float, y: np.ndarray, c: float, anchor, basis: SettledBasis):
    """(A, B, x): the closed form's exponents (d,) at the state y of a settled frame (c, anchor), x = k(t − t_a)."""
    k = (flow.depth - 2) * flow.lam
    x = k * (flow.time_at(tau) - anchor.time)
    em = math.exp(-x)
    v = y + (em - 1.0) * basis.project(y) - math.expm1(-x) * anchor.push  # T y + h D
    clock = flow.data.rmatvec(v, 1.0 / flow.n)
    idx, side, gam = basis.idx, basis.side, flow.gamma
    clock_active = clock[idx].copy()
    clock[idx] = 0.0  # the active coordinates are done below (the kernel would meet their brackets' zero)
    A, Bv = np.empty(flow.d), np.empty(flow.d)
    dk.anchored_exponents(clock, flow.depth, flow.log_kappa, -c, anchor.A, anchor.B, A, Bv)
    # the small bracket from x_jᵀy alone (x_jᵀ(I − Π) = 0): b_j = b_j(t_a)·e^{−x}·(1 + σγ e^{γE_a}δ_y); the other one
    # (far from 0) from the whole clock, b_j = b_j(t_a)·(1 − σγ e^{γE_a}δ)
    Ea = np.where(side > 0, anchor.A[idx], anchor.B[idx])
    Eo = np.where(side > 0, anchor.B[idx], anchor.A[idx])
    rel = (basis.XA.T @ y) / flow.n * np.exp(flow.log_kappa - c + gam * Ea)
    rel_o = clock_active * np.exp(flow.log_kappa - c + gam * Eo)
    with np.errstate(invalid="ignore", divide="ignore"):
        small = Ea + x / gam - np.log1p(side * gam * rel) / gam
        other = Eo - np.log1p(-side * gam * rel_o) / gam
    A[idx] = np.where(side > 0, small, other)
    Bv[idx] = np.where(side < 0, small, other)
    return A, Bv, x


def weights(E: float, A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """w = e^{E}(e^{A} − e^{B}) from the exponents, in log form (NaN where an exponent is)."""
    with np.errstate(invalid="ignore", over="ignore"):
        diff = A - B
        return np.sign(diff) * np.exp(E + np.maximum(A, B)) * -np.expm1(-np.abs(diff))


def log_norm_sq(flow, t: float, A: np.ndarray, B: np.ndarray) -> float:
    """log ‖θ‖² = 2(ℓ0 − λt) + log Σ_j e^{2A_j/L} + e^{2B_j/L}."""
    terms = np.concatenate([A, B]) * (2.0 / flow.depth)
    top = float(np.max(terms))
    return 2.0 * (flow.ell0 - flow.lam * t) + top + math.log(float(np.sum(np.exp(terms - top))))


def rhs(flow, tau: float, y: np.ndarray) -> np.ndarray:
    """dy/dτ in the current settled frame (module docstring)."""
    c, anchor = flow.c, flow.anchor
    basis = flow.settled_basis(anchor)
    t = flow.time_at(tau)
    A, B, x = exponents(flow, tau, y, c, anchor, basis)
    w = weights(gen.diag_E(flow.depth, flow.ell0, flow.lam, t), A, B)
    f = flow.data.matvec(w)
    q = np.empty(flow.n)
    loss_residuals(f, flow.y, flow.loss_id, c + tau + flow.log_rho(t) + x, q)
    em = math.exp(-x)
    tk = t * (flow.depth - 2) * flow.lam
    return em * q - math.expm1(-x) * basis.project(q) + tk * (basis.project(y) - anchor.push)


def jac(flow, tau: float, y: np.ndarray) -> np.ndarray:
    """∂(dy/dτ)/∂y in the current settled frame:

        [e^{−x} + (1 − e^{−x})Π]·diag(t e^{−k t_a} ℓ'')·X diag(∂w/∂Γ) XᵀT/n + tkΠ,

    formed with the active columns' ∂w/∂Γ scaled by e^{−x} (x_jᵀT = e^{−x}x_jᵀ for j ∈ 𝒜), so nothing overflows."""
    c, anchor = flow.c, flow.anchor
    basis = flow.settled_basis(anchor)
    t = flow.time_at(tau)
    A, B, x = exponents(flow, tau, y, c, anchor, basis)
    E = gen.diag_E(flow.depth, flow.ell0, flow.lam, t)
    f = flow.data.matvec(weights(E, A, B)).copy()
    g1 = 1.0 + flow.gamma
    logs = E + flow.log_kappa + np.logaddexp(g1 * A, g1 * B)  # ∂w/∂Γ = −κe^{E}(e^{(1+γ)A} + e^{(1+γ)B})
    logs[basis.idx] -= x
    top = float(np.max(logs))
    col = -np.exp(logs - top)
    em = math.exp(-x)
    G = flow.gram(col)
    XA = basis.XA
    Ga = (XA * col[basis.idx]) @ XA.T
    Gd = G + (em - 1.0) * ((G - Ga) @ basis.Q) @ basis.Q.T  # X diag(∂w/∂Γ) XᵀT, e^{−top}
    logcurv = np.empty(flow.n)
    loss_log_curvatures(f, flow.y, flow.loss_id, logcurv)
    with np.errstate(over="ignore"):
        row = np.exp(tau + flow.log_rho(t) + x + logcurv + top - math.log(flow.n))
    J0 = row[:, None] * Gd
    tk = t * (flow.depth - 2) * flow.lam
    Q = basis.Q
    J = em * J0 - math.expm1(-x) * (Q @ (Q.T @ J0)) + tk * (Q @ Q.T)  # Π as QQᵀ: n²s, not n³
    if not np.all(np.isfinite(J)):
        J = np.zeros((flow.n, flow.n))
    return J


def shrink(flow, A: np.ndarray, B: np.ndarray, x: float, anchor, basis: SettledBasis) -> float:
    """log of the largest change of a bracket against what the frame carries exactly: the shrink of an inactive bracket
    since the anchor, and an active one's departure (either way) from its e^{−x} (a coordinate that stops decaying
    leaves the active set at the next anchor)."""
    gam = flow.gamma
    with np.errstate(invalid="ignore"):
        out = gam * np.maximum(A - anchor.A, B - anchor.B)
        idx, side = basis.idx, basis.side
        out[idx] = np.abs(np.where(side > 0, gam * (A[idx] - anchor.A[idx]), gam * (B[idx] - anchor.B[idx])) - x)
    return float(np.max(out))
