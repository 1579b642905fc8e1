"""Separable homogeneous models (docs/math.md#separable): the exact reduced n-dimensional flow and the full kd flow.

f(θ; x) = Σ_j φ(θ_j) x_j with θ_j ∈ R^k and φ positively homogeneous of degree L ≥ 2, every θ_j(0) = c θ̂₁
(c = α/√d, ‖θ̂₁‖ = 1, φ(θ̂₁) = 0). With θ_j = e^{−λt}Θ_j every coordinate is Θ_j(t) = Ψ(Γ_j(t)) on the one
autonomous profile dΨ/dΓ = −∇φ(Ψ), Ψ(0) = c θ̂₁, in its own clock Γ_j = (XᵀH)_j/n, dH/dt = e^{−(L−2)λt} r(f):

    w_j(t) = e^{−Lλt} F(Γ_j),   F = φ∘Ψ,   F′ = −‖∇φ(Ψ)‖²,   F(Γ; c) = c^L F₁(c^{L−2}Γ).

:class:`ReducedSeparableFlow` integrates that n-dimensional flow with F₁ tabulated once per formula
(:mod:`grokode.numeric.separable_profile`), in log magnitudes (α up to 1e100 and beyond), on the base
:class:`~grokode.numeric.reduced.ReducedLinearFlow` (log time, scaled state, analytic Jacobian, the squared
loss's slow-manifold mode, rescaling), as the diagonal net's reduced flow does.
For L ≥ 3, F reaches a singularity at finite Γ*± and the late phase is re-anchored like the diagonal net's
(:class:`SeparableAnchor`). :class:`FullSeparableFlow` is the kd-dimensional flow in θ, for checks and small d,
with numba kernels of φ, ∇φ and the Hessian printed from the sympy expression (``model.phi_kernel()``).

Nothing here imports :mod:`grokode.analytic` (the layers are independent): the flows take the symbolic model
object (:class:`grokode.analytic.separable.SeparableModel`) and read its attributes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from ..errors import InputError
from . import generated as gen
from .flow import FlowBase
from .linalg import DataMatrix
from .parallel import sized_kernel
from .reduced import LOG_ANCHOR_FACTOR, ReducedLinearFlow, check_loss
from .residuals import loss_log_curvatures, loss_residuals
from .separable_profile import (
    M_A_LO,
    M_GSTAR,
    M_GSW,
    M_H,
    M_LOGF1,
    M_NC,
    M_SHI,
    M_SINGULAR,
    M_SLO,
    M_SLOPE_A,
    Profile,
    point_distance,
    point_gamma,
    profile_for,
)

_COST = 48  # operations per coordinate of a profile evaluation (serial/parallel dispatch)
#: A distance mode (:class:`SeparableAnchor`) is used for a coordinate whose distance to a singular end is
#: below this fraction of |Γ*| at an anchor; farther away Γ itself is the better-conditioned variable.
DISTANCE_MODE = 0.5
#: The dense Jacobian of :class:`FullSeparableFlow` is formed only up to this many unknowns (kd).
MAX_FULL_JACOBIAN = 4000
_GL_X, _GL_W = np.polynomial.legendre.leggauss(8)


# -- one coordinate of the reduced flow ---------------------------------------------------------------------
# A coordinate is located on the unit profile F₁ (θ̄ = θ̂₁) in one of the frames of the state:
#   mode −1 (no anchor):  Γ₁ = b·e^{shift}, b = (Xᵀy)_j/n, shift = (L−2) log c − c_frame;
#   mode 0 (anchored):   Γ₁ = base + b·e^{shift} (base = Γ₁ at the anchor);
#   mode 1 / 2:          the distance δ to the end Γ*₊ / Γ*₋, log δ = base + log1p(∓b·e^{shift − base}).
# In modes 1, 2 the distance keeps its relative accuracy however small it is (docs/math.md#conditioning).


@numba.njit(cache=True, inline="always")
def _log_distance(bj, shift, mode, base):
    """log δ of a coordinate in distance mode 1 or 2; NaN once it has crossed its end."""
    if bj == 0.0:
        return base
    e = math.log(abs(bj)) + shift - base
    rel = math.copysign(math.exp(e) if e < 709.0 else math.inf, bj)
    arg = -rel if mode == 1 else rel
    if not arg > -1.0:
        return math.nan
    return base + math.log1p(arg)


@numba.njit(cache=True, inline="always")
def _anchored_gamma(bj, gscale, shift, base):
    """Γ₁ = base + b·e^{shift} (mode 0)."""
    if bj == 0.0:
        return base
    if gscale != 0.0:
        return base + bj * gscale
    e = math.log(abs(bj)) + shift
    return base + math.copysign(math.exp(e) if e < 709.0 else math.inf, bj)


@numba.njit(cache=True, inline="always")
def _unit_profile(central, singular, meta, bj, gscale, shift, mode, base):
    """(log|F₁|, sign F₁, log|F₁′|) of one coordinate in its frame (see the comment above)."""
    if mode < 0:
        return point_gamma(central, singular, meta, bj, gscale, shift)
    if mode == 0:
        return point_gamma(central, singular, meta, _anchored_gamma(bj, gscale, shift, base), 1.0, 0.0)
    ld = _log_distance(bj, shift, mode, base)
    if math.isnan(ld):
        return math.nan, math.nan, math.nan
    return point_distance(central, singular, meta, mode - 1, 1.0, ld)


@numba.njit(cache=True, inline="always")
def _central_q(central, meta, d, gam):
    """q(γ) = log(F₁/(F₁′(0)γ)) of direction d on its central table (γ ≤ γ_sw): one quintic Hermite column."""
    h = meta[d, M_H]
    u = gam / h
    i = min(int(u), int(meta[d, M_NC]) - 1)
    t = u - i
    t2 = t * t
    t3 = t2 * t
    t4 = t3 * t
    t5 = t4 * t
    return (central[d, i, 0] * (1.0 - 10.0 * t3 + 15.0 * t4 - 6.0 * t5)
            + h * central[d, i, 1] * (t - 6.0 * t3 + 8.0 * t4 - 3.0 * t5)
            + h * h * central[d, i, 2] * 0.5 * (t2 - 3.0 * t3 + 3.0 * t4 - t5)
            + central[d, i + 1, 0] * (10.0 * t3 - 15.0 * t4 + 6.0 * t5)
            + h * central[d, i + 1, 1] * (-4.0 * t3 + 7.0 * t4 - 3.0 * t5)
            + h * h * central[d, i + 1, 2] * 0.5 * (t3 - 2.0 * t4 + t5))


@sized_kernel(lambda B, *args: _COST * B.shape[0])
def _weights(B, central, singular, meta, gscale, shift, anchored, mode, base, log_wscale, out):
    """w_j = sign F₁ · e^{log_wscale + log|F₁|}, log_wscale = L log c − Lλt (NaN past a singular end)."""
    # Fast path (no anchor, Γ₁ on a central table, scales representable): w = ∓ e^{log_wscale + log|F₁′(0)|}·γ·e^{q(γ)}
    # with the scale per direction computed once: one exp per coordinate instead of a log and an exp. The
    # log path (:func:`_unit_profile`) is exact everywhere and covers the rest.
    s0 = log_wscale + meta[0, M_LOGF1]
    s1 = log_wscale + meta[1, M_LOGF1]
    fast = not anchored and gscale != 0.0 and abs(s0) < 690.0 and abs(s1) < 690.0
    k0 = math.exp(s0) if fast else 0.0
    k1 = math.exp(s1) if fast else 0.0
    for j in numba.prange(B.shape[0]):
        bj = B[j]
        if fast:
            if bj == 0.0:
                out[j] = 0.0
                continue
            gam = abs(bj) * gscale
            d = 0 if bj > 0.0 else 1
            if 1e-300 < gam <= meta[d, M_GSW]:
                v = gam * math.exp(_central_q(central, meta, d, gam))
                out[j] = -k0 * v if d == 0 else k1 * v
                continue
        m = mode[j] if anchored else -1
        lf, sf, _ = _unit_profile(central, singular, meta, bj, gscale, shift, m, base[j] if anchored else 0.0)
        out[j] = sf * math.exp(log_wscale + lf) if sf != 0.0 else 0.0


@sized_kernel(lambda B, *args: _COST * B.shape[0])
def _log_dweights(B, central, singular, meta, gscale, shift, anchored, mode, base, log_dscale, logs, signs):
    """log|∂w_j/∂Γ_j| = log_dscale + log|F₁′|, log_dscale = (2L−2) log c − Lλt; the sign is −1 (F′ < 0)."""
    for j in numba.prange(B.shape[0]):
        m = mode[j] if anchored else -1
        _, _, ldf = _unit_profile(central, singular, meta, B[j], gscale, shift, m, base[j] if anchored else 0.0)
        logs[j] = log_dscale + ldf
        signs[j] = -1.0


@sized_kernel(lambda B, *args: 8 * B.shape[0])
def _locate(B, gscale, shift, anchored, mode, base, gplus, gminus, out_g, out_lp, out_lm):
    """Γ₁ and the log distances log(Γ*₊ − Γ₁), log(Γ₁ − Γ*₋) of every coordinate (Γ*₋ = −gminus); the
    distance a coordinate is carried by (mode 1, 2) is exact, the others are formed from Γ₁."""
    span = gplus + gminus
    for j in numba.prange(B.shape[0]):
        bj = B[j]
        m = mode[j] if anchored else -1
        if m <= 0:
            if m < 0:
                g = 0.0
                if bj != 0.0:
                    g = bj * gscale if gscale != 0.0 else math.copysign(
                        math.exp(min(math.log(abs(bj)) + shift, 709.0)), bj)
            else:
                g = _anchored_gamma(bj, gscale, shift, base[j])
            dp, dm = gplus - g, g + gminus
            out_g[j] = g
            out_lp[j] = math.log(dp) if dp > 0.0 else (-math.inf if dp == 0.0 else math.nan)
            out_lm[j] = math.log(dm) if dm > 0.0 else (-math.inf if dm == 0.0 else math.nan)
            continue
        ld = _log_distance(bj, shift, m, base[j])
        dist = math.exp(ld)
        other = span - dist
        lo = math.log(other) if other > 0.0 else math.nan
        if m == 1:
            out_g[j], out_lp[j], out_lm[j] = gplus - dist, ld, lo
        else:
            out_g[j], out_lp[j], out_lm[j] = dist - gminus, lo, ld


# -- ‖Ψ‖²: the parameter norm ---------------------------------------------------------------------------------
# d‖Ψ‖²/dΓ = 2Ψ·Ψ′ = −2Ψ·∇φ(Ψ) = −2L φ(Ψ) (Euler), so on the unit profile ρ₁²(Γ) = 1 + 2L |∫₀^Γ F₁| (F₁ has the
# sign of −Γ: no cancellation). V = log ρ₁² is tabulated per direction of Γ by cubic Hermite with its exact
# derivative: on uniform knots in γ = |Γ| up to the profile's γ_sw, and (L ≥ 3) in σ = log(distance to Γ*)
# below, with the exact tail slope −2/(L−2) under σ_lo; for L = 2 beyond γ_sw the profile's exponential tail
# integrates in closed form. ‖θ‖² = e^{−2λt} c² Σ_j ρ₁²(Γ₁_j).
(N_HC, N_NC, N_GSW, N_SLO, N_HS, N_NS, N_SHI, N_SLOPE, N_VANCHOR, N_ALO, N_GSTAR, N_L, N_SINGULAR) = range(13)
NORM_META = 13


@numba.njit(cache=True, inline="always")
def _cubic(tab, d, i, t, h):
    t2 = t * t
    t3 = t2 * t
    return (tab[d, i, 0] * (2.0 * t3 - 3.0 * t2 + 1.0) + h * tab[d, i, 1] * (t3 - 2.0 * t2 + t)
            + tab[d, i + 1, 0] * (3.0 * t2 - 2.0 * t3) + h * tab[d, i + 1, 1] * (t3 - t2))


@numba.njit(cache=True)
def _norm_sigma(nsin, nmeta, d, sigma):
    """V = log ρ₁² at distance e^σ from direction d's singular end (σ ≤ σ_hi)."""
    slo = nmeta[d, N_SLO]
    if sigma < slo:
        return nmeta[d, N_VANCHOR] + nmeta[d, N_SLOPE] * (sigma - slo)
    hs = nmeta[d, N_HS]
    u = (sigma - slo) / hs
    i = min(int(u), int(nmeta[d, N_NS]) - 1)
    return _cubic(nsin, d, i, u - i, hs)


@numba.njit(cache=True)
def _norm_gamma(ncen, nsin, nmeta, d, gam):
    """V = log ρ₁² at γ = |Γ₁| ≥ 0 on direction d."""
    gsw = nmeta[d, N_GSW]
    if gam <= gsw:
        h = nmeta[d, N_HC]
        u = gam / h
        i = min(int(u), int(nmeta[d, N_NC]) - 1)
        return _cubic(ncen, d, i, u - i, h)
    if nmeta[d, N_SINGULAR] == 0.0:  # L = 2: |F₁| = e^{A_lo + slope·(γ − γ_sw)} exactly beyond γ_sw
        slope = nmeta[d, N_SLOPE]
        x = slope * (gam - gsw)
        tail = math.log(2.0 * nmeta[d, N_L] / slope) + nmeta[d, N_ALO] + x + math.log(-math.expm1(-x))
        v0 = nmeta[d, N_VANCHOR]
        top = max(v0, tail)
        return top + math.log(math.exp(v0 - top) + math.exp(tail - top))
    s = nmeta[d, N_GSTAR] - gam
    if s > 0.0:
        return _norm_sigma(nsin, nmeta, d, math.log(s))
    return math.inf if s == 0.0 else math.nan


@numba.njit(cache=True)
def _norm_distance(ncen, nsin, nmeta, end, sigma):
    """V at distance e^σ from singular end ``end`` (0: Γ*₊, 1: Γ*₋)."""
    if sigma <= nmeta[end, N_SHI]:
        return _norm_sigma(nsin, nmeta, end, sigma)
    gam = nmeta[end, N_GSTAR] - math.exp(sigma)
    if gam >= 0.0:
        return _norm_gamma(ncen, nsin, nmeta, end, gam)
    return _norm_gamma(ncen, nsin, nmeta, 1 - end, -gam)


@numba.njit(cache=True)
def _log_norm_sum(B, gscale, shift, anchored, mode, base, ncen, nsin, nmeta):
    """log Σ_j ρ₁²(Γ₁_j) over the coordinates in their frame (max-shifted sum)."""
    d = B.shape[0]
    V = np.empty(d)
    for j in range(d):
        bj = B[j]
        m = mode[j] if anchored else -1
        if m < 0:
            if bj == 0.0:
                V[j] = 0.0
                continue
            lg = math.log(abs(bj)) + shift
            if lg < -340.0:
                V[j] = 0.0  # ρ₁² = 1 + O(Γ₁²)
                continue
            V[j] = _norm_gamma(ncen, nsin, nmeta, 0 if bj > 0.0 else 1, math.exp(min(lg, 709.0)))
        elif m == 0:
            g = _anchored_gamma(bj, gscale, shift, base[j])
            V[j] = _norm_gamma(ncen, nsin, nmeta, 0 if g >= 0.0 else 1, abs(g))
        else:
            V[j] = _norm_distance(ncen, nsin, nmeta, m - 1, _log_distance(bj, shift, m, base[j]))
    top = V.max()
    if not math.isfinite(top):
        return top
    acc = 0.0
    for j in range(d):
        acc += math.exp(V[j] - top)
    return top + math.log(acc)


@numba.njit(cache=True)
def _log_F_by_distance(central, singular, meta, end, sigmas, out):
    for i in range(sigmas.shape[0]):
        out[i] = point_distance(central, singular, meta, end, 1.0, sigmas[i])[0]


def _logsumexp_rows(a: np.ndarray) -> np.ndarray:
    top = np.max(a, axis=1)
    safe = np.where(np.isfinite(top), top, 0.0)
    return safe + np.log(np.sum(np.exp(a - safe[:, None]), axis=1))


@dataclass(frozen=True)
class NormTable:
    """log ρ₁² = log‖Ψ₁‖² of a profile, per direction of Γ (see the comment above :func:`_norm_sigma`)."""

    central: np.ndarray  # (2, Nc + 1, 2): V, dV/dγ
    singular: np.ndarray  # (2, Ns + 1, 2): V, dV/dσ
    meta: np.ndarray  # (2, NORM_META)


def _norm_half(profile: Profile, d: int, n_central: int, sigma_step: float):
    L = profile.degree
    pm = profile.meta[d]
    sgn = 1.0 if d == 0 else -1.0
    gsw = float(pm[M_GSW])
    knots = np.linspace(0.0, gsw, n_central + 1)
    h = gsw / n_central
    nodes = (knots[:-1, None] + 0.5 * h * (_GL_X[None, :] + 1.0)).ravel()
    lf = profile.evaluate(sgn * nodes)[0].reshape(n_central, -1) + np.log(0.5 * h * _GL_W)[None, :]
    pieces = _logsumexp_rows(lf)  # log ∫ |F₁| over each interval
    logcum = np.concatenate([[-np.inf], np.logaddexp.accumulate(pieces)])
    V = np.logaddexp(0.0, math.log(2 * L) + logcum)
    lfk = profile.evaluate(sgn * knots)[0]
    central = np.stack([V, 2 * L * np.exp(lfk - V)], axis=1)
    meta = np.zeros(NORM_META)
    meta[N_HC], meta[N_NC], meta[N_GSW], meta[N_L] = h, n_central, gsw, L
    meta[N_GSTAR] = pm[M_GSTAR]
    if pm[M_SINGULAR] == 0.0:
        meta[N_SLOPE], meta[N_VANCHOR], meta[N_ALO] = pm[M_SLOPE_A], V[-1], pm[M_A_LO]
        return central, np.zeros((2, 2)), meta
    slo, shi = float(pm[M_SLO]), float(pm[M_SHI])
    ns = max(2, int(math.ceil((shi - slo) / sigma_step)))
    sk = np.linspace(slo, shi, ns + 1)
    hs = (shi - slo) / ns
    snodes = (sk[:-1, None] + 0.5 * hs * (_GL_X[None, :] + 1.0)).ravel()
    lfs = np.empty(snodes.size)
    _log_F_by_distance(profile.central, profile.singular, profile.meta, d, snodes, lfs)
    # ∫ |F₁| dΓ = ∫ |F₁(σ)| e^σ dσ, accumulated from σ_hi (where V is the central table's last value) downwards
    spieces = _logsumexp_rows((lfs + snodes).reshape(ns, -1) + np.log(0.5 * hs * _GL_W)[None, :])
    rev = np.concatenate([np.logaddexp.accumulate(spieces[::-1])[::-1], [-np.inf]])
    VS = np.logaddexp(V[-1], math.log(2 * L) + rev)
    lfsk = np.empty(sk.size)
    _log_F_by_distance(profile.central, profile.singular, profile.meta, d, sk, lfsk)
    singular = np.stack([VS, -2 * L * np.exp(lfsk + sk - VS)], axis=1)
    meta[N_SLO], meta[N_HS], meta[N_NS], meta[N_SHI] = slo, hs, ns, shi
    meta[N_SLOPE], meta[N_VANCHOR], meta[N_SINGULAR] = -2.0 / (L - 2), VS[0], 1.0
    return central, singular, meta


_NORMS: dict[str, NormTable] = {}


def norm_table(profile: Profile, n_central: int = 4096, sigma_step: float = 0.02) -> NormTable:
    """The :class:`NormTable` of ``profile`` (built once per profile key, ~0.1 s)."""
    key = f"{profile.key}|{n_central}|{sigma_step}"
    if key not in _NORMS:
        halves = [_norm_half(profile, d, n_central, sigma_step) for d in (0, 1)]

        def stack(i):
            n = max(h[i].shape[0] for h in halves)
            out = np.zeros((2, n, 2))
            for d, h in enumerate(halves):
                out[d, :h[i].shape[0]] = h[i]
            return out

        _NORMS[key] = NormTable(stack(0), stack(1), np.stack([h[2] for h in halves]))
    return _NORMS[key]


# -- the reduced flow --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeparableAnchor:
    """Where the reduced separable flow was last restarted (L ≥ 3; docs/math.md#conditioning, docs/math.md#separable).

    Per coordinate: ``mode`` 0 (carried by Γ₁ = ``base`` + change) or 1 / 2 (carried by its distance to Γ*₊ /
    Γ*₋, log δ = ``base`` + log1p(∓change/δ)); ``lref_plus``, ``lref_minus`` are the log distances to both ends
    at the anchor (the next anchor comes when one has shrunk by :data:`~grokode.numeric.reduced.ANCHOR_FACTOR`).
    ``level`` is −log of the smallest distance (in units of the unit profile's Γ₁).
    """

    mode: np.ndarray
    base: np.ndarray
    lref_plus: np.ndarray
    lref_minus: np.ndarray
    level: float
    time: float = 0.0
    rate: np.ndarray | None = None
    drift: bool = False


class ReducedSeparableFlow(ReducedLinearFlow):
    """Exact reduction of a separable homogeneous model's flow to n unknowns (docs/math.md#separable).

    State y = e^{c+φ}·H, H(t) = ∫₀ᵗ e^{−(L−2)λs} r(f(s)) ds, in log time τ = log t, as
    :class:`~grokode.numeric.reduced.ReducedLinearFlow` describes (whose driver logic this class inherits: start,
    rhs, jac, the squared loss's slow-manifold mode, rescaling; its hooks supply the weights, their derivatives,
    the norm and the anchors): Γ = e^{−c−φ}XᵀH/n, w_j = e^{−Lλt} c^L F₁(c^{L−2}Γ_j) from the tabulated
    unit profile F₁ in log magnitudes, and the analytic Jacobian ∂ẏ_i/∂y_k = e^{τ}ρ ℓ''_i Σ_j x_ij
    (∂w_j/∂Γ_j) x_kj / n with ∂w_j/∂Γ_j = e^{−Lλt} F′(Γ_j) = e^{−Lλt} c^{2L−2} F₁′(c^{L−2}Γ_j).

    L ≥ 3: F has singular ends Γ*₊ > 0 > Γ*₋; in the late phase active coordinates approach one like
    e^{−(L−2)λt}, and as a difference Γ* − Γ_j their distance would lose every digit. Whenever a distance has
    shrunk by ANCHOR_FACTOR since the last anchor, :meth:`reanchor` restarts from the current point
    (:class:`SeparableAnchor`): coordinates near an end are carried by their log distance (evaluated by
    distance, :func:`~grokode.numeric.separable_profile.point_distance`), the others by Γ; the state is zeroed
    and c chosen so that a unit change of y moves the smallest distance by its own size. A coordinate that
    still crosses its end is a failure of the numerics, reported as such (the exact flow cannot blow up).

    Parameters
    ----------
    X, y : the training data (``DataMatrix`` or array) and labels / targets.
    model : the symbolic model (:class:`grokode.analytic.separable.SeparableModel`): ``degree``, ``key`` and
        ``numeric_functions()`` are read.
    alpha, lam, loss : α, λ and the loss name.
    profile : the tabulated F₁ (default: :func:`~grokode.numeric.separable_profile.profile_for` the model).
    """

    anchor_class = SeparableAnchor

    def __init__(self, X, y, *, model, alpha, lam, loss="logistic", profile: Profile | None = None):
        check_loss(loss)
        self.model = model
        self.profile = profile if profile is not None else profile_for(model)
        self.norms = norm_table(self.profile)
        super().__init__(X, y, alpha=alpha, lam=lam, depth=int(self.profile.degree), loss=loss)
        self._no_mode = np.zeros(self.d, dtype=np.int64)
        self._lref0 = (np.full(self.d, math.log(self.gstar_plus)), np.full(self.d, math.log(self.gstar_minus)))
        self.failure_hint = (" (a coordinate crossed a singular end of the profile F: the reduction lost its "
                             "accuracy; the exact flow cannot blow up)" if self.depth > 2 else "")

    def prepare_closed_form(self) -> tuple[float, float]:
        L = self.depth
        self.log_c = math.log(self.alpha) - 0.5 * math.log(self.d)  # c = α/√d = ‖θ_j(0)‖
        self.log_gshift = (L - 2) * self.log_c  # Γ₁ = c^{L−2} Γ
        self.log_fscale, self.log_dfscale = L * self.log_c, (2 * L - 2) * self.log_c  # log c^L, log c^{2L−2}
        meta = self.profile.meta
        self.gstar_plus, self.gstar_minus = float(meta[0, M_GSTAR]), float(meta[1, M_GSTAR])  # |Γ*±| of F₁
        return self.log_dfscale + float(meta[0, M_LOGF1]), self.log_c  # log|∂w/∂Γ| at t = 0, log c

    def log_clock_scale(self) -> float:
        """Γ₁ = c^{L−2}Γ turns F₁ nonlinear at |Γ₁| ~ 1/|F₁′(0)|-ish; L² stands for the unit profile's scale."""
        return self.log_gshift + 2.0 * math.log(self.depth)

    def log_rho(self, t: float) -> float:
        return -(self.depth - 2) * self.lam * t if self.depth > 2 else 0.0

    def _frame_args(self, frame, tau: float):
        """(gscale, shift, anchored, mode, base) of a frame (c, anchor) at τ for the kernels."""
        c, anchor = self.frame() if frame is None else frame
        c = self.scale_at(tau, c, anchor)
        shift = self.log_gshift - c
        gscale = math.exp(shift) if abs(shift) < 690.0 else 0.0
        if anchor is None:
            return gscale, shift, False, self._no_mode, self._zeros
        return gscale, shift, True, anchor.mode, anchor.base

    def fill_weights(self, tau: float, B: np.ndarray, frame, out: np.ndarray) -> np.ndarray:
        p = self.profile
        log_wscale = self.log_fscale - self.depth * self.lam * self.time_at(tau)
        _weights(B, p.central, p.singular, p.meta, *self._frame_args(frame, tau), log_wscale, out)
        return out

    def log_weight_slopes(self, tau: float, B: np.ndarray, logs: np.ndarray, signs: np.ndarray) -> float:
        p = self.profile
        log_dscale = self.log_dfscale - self.depth * self.lam * self.time_at(tau)
        _log_dweights(B, p.central, p.singular, p.meta, *self._frame_args(None, tau), log_dscale, logs, signs)
        return float(np.max(logs))

    def observe(self, tau: float, state: np.ndarray, frame=None,
                out: np.ndarray | None = None) -> tuple[np.ndarray, float]:
        """(w, ‖θ‖) at τ = log t; ‖θ‖² = e^{−2λt} c² Σ_j ‖Ψ₁(Γ₁_j)‖² (:class:`NormTable`). ``out`` (d), if given,
        receives w (and is returned)."""
        B = self.clock(state, tau, frame)
        w = self.fill_weights(tau, B, frame, np.empty(self.d) if out is None else out)
        nt = self.norms
        log_sum = _log_norm_sum(B, *self._frame_args(frame, tau), nt.central, nt.singular, nt.meta)
        log_sq = 2.0 * (self.log_c - self.lam * self.time_at(tau)) + log_sum
        return w, math.exp(0.5 * log_sq)

    def locate(self, state: np.ndarray, frame=None,
               tau: float = -math.inf) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(Γ₁, log(Γ*₊ − Γ₁), log(Γ₁ − Γ*₋)) per coordinate on the unit profile, at the state in ``frame`` at τ
        (default t = 0)."""
        B = self.clock(state, tau, frame).copy()
        G, lp, lm = np.empty(self.d), np.empty(self.d), np.empty(self.d)
        _locate(B, *self._frame_args(frame, tau), self.gstar_plus, self.gstar_minus, G, lp, lm)
        return G, lp, lm

    def reanchor(self, state: np.ndarray, tau: float) -> np.ndarray | None:
        """Re-anchor (L ≥ 3) when a distance to a singular end has shrunk by ANCHOR_FACTOR since the last anchor."""
        G, lp, lm = self.locate(state, tau=tau)
        rp, rm = self._lref0 if self.anchor is None else (self.anchor.lref_plus, self.anchor.lref_minus)
        with np.errstate(invalid="ignore"):
            shrink = max(float(np.max(rp - lp)), float(np.max(rm - lm)))
        if not shrink > LOG_ANCHOR_FACTOR:  # also when NaN: the solver sees the NaN first
            return None
        near_plus = lp < math.log(DISTANCE_MODE * self.gstar_plus)
        near_minus = ~near_plus & (lm < math.log(DISTANCE_MODE * self.gstar_minus))
        mode = np.where(near_plus, 1, np.where(near_minus, 2, 0)).astype(np.int64)
        base = np.where(near_plus, lp, np.where(near_minus, lm, G))
        level = -min(float(np.min(lp)), float(np.min(lm)))
        rate, drift = self.drift_rate(tau, state)
        self.anchor = SeparableAnchor(mode, base, lp, lm, level, self.time_at(tau), rate, drift)
        self.anchors += 1
        # a unit change of y moves the smallest distance by its own size
        self.c = self.log_gshift + level + math.log(self.mean_abs_x())
        return np.zeros_like(state)


# -- the full kd-dimensional flow ------------------------------------------------------------------------------


class FullSeparableFlow(FlowBase):
    """The full kd-dimensional flow dθ_j/dt = −g_j ∇φ(θ_j) − λθ_j, g = Xᵀr/n, for checks and small d
    (docs/math.md#separable).

    Variables ϑ_j = e^{λt}θ_j/c − θ̂₁ (the scaled deviation from the initialization, c = α/√d):

        dϑ_j/dt = −c^{L−2} e^{−(L−2)λt} g_j ∇φ(θ̂₁ + ϑ_j),   w_j = c^L e^{−Lλt} φ(θ̂₁ + ϑ_j),   ϑ(0) = 0,

    with φ expanded about θ̂₁ (``model.phi_kernel()``), so w does not cancel while ϑ is tiny. The state is σϑ,
    σ = max(1, c^L ‖∇φ(θ̂₁)‖), about e^{Lλt}w in the kernel phase. The analytic Jacobian (dense, kd ≤ 4000)
    is −c^{L−2}ρ (g_j ∇²φ(θ̂₁ + ϑ_j) δ_jm + ∇φ_j (Xᵀ diag(ℓ'') X/n)_jm c^L e^{−Lλt} ∇φ_mᵀ). c^L must be a float64
    (L log c ≤ 700). The saved states (:meth:`export_state`) are θ, (d·k,) with θ_j contiguous.
    """

    def __init__(self, X, y, *, model, alpha, lam, loss="logistic"):
        check_loss(loss)
        self.data = X if isinstance(X, DataMatrix) else DataMatrix(X)
        self.y = np.ascontiguousarray(y, dtype=np.float64)
        self.n, self.d = self.data.n, self.data.d
        self.model = model
        self.depth = L = int(model.degree)
        self.k = len(model.params)
        self.lam, self.alpha = float(lam), float(alpha)
        self.loss_id = gen.LOSS_NAMES.index(loss)
        self.log_c = math.log(self.alpha) - 0.5 * math.log(self.d)
        grad0 = math.sqrt(float(model.grad_norm_sq_unit))
        log_sigma = L * self.log_c + math.log(grad0)
        if L * self.log_c > 700.0 or log_sigma > 700.0:
            raise InputError(f"alpha={alpha:g} is too large for the full formulation at degree {L} (c^L = "
                             f"(α/√d)^L = e^{L * self.log_c:.0f} overflows float64; use the reduced formulation)")
        self.sigma = math.exp(max(0.0, log_sigma))
        self.unit = np.array([float(model.unit[p]) for p in model.params])
        self.kernel = model.phi_kernel()
        self._phi = np.empty(self.d)
        self._grad = np.empty((self.d, self.k))
        self._hess = np.empty((self.d, self.k, self.k))
        self.nfev = 0
        self.njev = 0

    def start(self):
        return 0.0, np.zeros(self.d * self.k)

    def _parts(self, t: float, state: np.ndarray, hess: bool = False) -> np.ndarray:
        """w at t; fills φ, ∇φ (and the Hessian) at θ̂₁ + ϑ."""
        E = np.ascontiguousarray(state.reshape(self.d, self.k) / self.sigma)
        self.kernel(E, self._phi, self._grad, self._hess, hess)
        return math.exp(self.depth * (self.log_c - self.lam * t)) * self._phi

    def weight(self, t, state, frame=None):
        return self._parts(t, state)

    def observe(self, t, state, frame=None):
        w = self._parts(t, state)
        theta = self.unit[None, :] + state.reshape(self.d, self.k) / self.sigma
        return w, math.exp(self.log_c - self.lam * t) * float(np.linalg.norm(theta))

    def export_state(self, t, state):
        """θ = c e^{−λt}(θ̂₁ + ϑ), flattened (θ_j contiguous)."""
        theta = self.unit[None, :] + state.reshape(self.d, self.k) / self.sigma
        return (math.exp(self.log_c - self.lam * t) * theta).ravel()

    def _rate(self, t: float) -> float:
        """c^{L−2} e^{−(L−2)λt}."""
        return math.exp((self.depth - 2) * (self.log_c - self.lam * t))

    def _grad_g(self, t, state, hess=False):
        w = self._parts(t, state, hess)
        f = self.data.matvec(w)
        r = np.empty(self.n)
        loss_residuals(f, self.y, self.loss_id, 0.0, r)
        return f, self.data.rmatvec(r, 1.0 / self.n)

    def rhs(self, t, state):
        self.nfev += 1
        _, g = self._grad_g(t, state)
        return (-self.sigma * self._rate(t)) * (g[:, None] * self._grad).ravel()

    def jac(self, t, state):
        kd = self.d * self.k
        if kd > MAX_FULL_JACOBIAN:
            raise InputError(f"the full formulation forms a dense kd×kd Jacobian; k·d = {kd} is too large "
                             f"(at most {MAX_FULL_JACOBIAN})")
        self.njev += 1
        f, g = self._grad_g(t, state, hess=True)
        logcurv = np.empty(self.n)
        loss_log_curvatures(f, self.y, self.loss_id, logcurv)
        Xf = np.asarray(self.data.X, dtype=np.float64)
        H = (Xf.T * np.exp(logcurv)) @ Xf / self.n
        scale = math.exp(self.depth * (self.log_c - self.lam * t))
        G = self._grad.ravel()  # (kd,), ∇φ of coordinate j at rows j·k … j·k + k − 1
        J = (scale * np.kron(H, np.ones((self.k, self.k)))) * np.outer(G, G)
        for j in range(self.d):
            s = slice(j * self.k, (j + 1) * self.k)
            J[s, s] += g[j] * self._hess[j]
        return -self._rate(t) * J


__all__ = ["FullSeparableFlow", "NormTable", "ReducedSeparableFlow", "SeparableAnchor", "norm_table"]
