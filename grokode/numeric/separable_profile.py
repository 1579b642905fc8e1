"""The profile F₁ of a separable homogeneous model, tabulated once and evaluated in log magnitudes.

Mathematics: docs/math.md#separable.

For f(θ; x) = Σ_j φ(θ_j) x_j every coordinate follows θ_j(t) = e^{−λt} Ψ(Γ_j(t)), where dΨ/dΓ = −∇φ(Ψ),
Ψ(0) = θ̄ = c θ̂₁ (c = α/√d, ‖θ̂₁‖ = 1), and w_j(t) = e^{−Lλt} F(Γ_j(t)) with F = φ∘Ψ, F′ = −‖∇φ(Ψ)‖².
By homogeneity F(Γ; c) = c^L F₁(c^{L−2}Γ) and F′(Γ; c) = c^{2L−2} F₁′(c^{L−2}Γ), so F₁ is computed once per
formula and α only enters through log c.

How F₁ is computed
------------------
Each direction of Γ is a forward problem: for Γ < 0, Ψ(−γ) solves the same flow with φ replaced by −φ.
The flow is integrated in polar variables, Ψ = ρω with ‖ω‖ = 1 and the time τ, dτ = ρ^{L−2} dΓ:

    dω/dτ = −(∇φ(ω) − Lφ(ω)ω),   d log ρ/dτ = −Lφ(ω),   dΓ/dτ = ρ^{2−L},   dφ(ω)/dτ = −‖∇φ(ω) − Lφ(ω)ω‖².

Nothing blows up in τ: ω converges (exponentially, for a nondegenerate minimum) to a critical point of φ
on the sphere with value −M < 0, and log ρ grows like LMτ. For L ≥ 3, Γ reaches a finite Γ* (the finite-Γ
singularity of F), and the distance s = Γ* − Γ is an integral of ρ^{2−L} over the rest of the trajectory,
computed as such (Gauss–Legendre on the dense output, plus the exact tail ρ^{2−L}/((L−2)LM) once ω has
converged), never as a difference: s keeps its relative accuracy down to s → 0 (γ itself is accumulated the
same way from 0: the ODE's own γ is ~1e-14·Γ* off, which the steep F near Γ* would amplify). F and its derivatives are
F^{(m)} = ρ^{L+m(L−2)} P_m(ω) with P_0 = φ, P_{m+1} = −∇P_m·∇φ (derived by sympy); F itself comes from the
integrated φ(ω), which keeps its relative accuracy near Γ = 0 where φ(ω) → 0. The integrator is DOP853 at
rtol = 100 ε.

Tables (per direction)
----------------------
* central: uniform knots in γ = |Γ| from 0 to γ_sw (γ_sw = 0.9 Γ* for L ≥ 3), quintic Hermite of
  q(γ) = log(F/(F′(0)γ)) and p(γ) = log(F′/F′(0)) with their first two derivatives (q is smooth through
  γ = 0; its derivatives there come from F′(0), F″(0), F‴(0));
* L ≥ 3, singular region: uniform knots in σ = log s from σ_lo to σ_hi = log(Γ* − γ_sw), quintic Hermite of
  A(σ) = log|F| and B(σ) = log|F′|; below σ_lo the exact tail A = A_lo − L/(L−2)(σ − σ_lo),
  B = B_lo − (2L−2)/(L−2)(σ − σ_lo);
* L = 2: beyond γ_sw (where ω has converged) the exact exponential tail, log|F| and log|F′| linear in γ
  with slope 4M.
Knot spacing is halved until the Hermite interpolant reproduces new midpoints to ``INTERP_TOL`` or halving
stops paying (the knot data's own noise, ~1e-14); the achieved numbers are in :attr:`Profile.info`.
Checked against closed forms and mpmath (tests/models/test_separable_analytic.py): log|F| and log|F′| to ~1e-13
(≤ 4e-13) for |Γ| ≤ 0.9 Γ* and by distance down to s = 1e-250; Γ* to a few ulp. Evaluated *by Γ* closer
to Γ* than that, the error grows like (Γ*/s)·1e-15 (the absolute error of Γ*): use the distance form there.

Evaluation is by numba kernels taking the table arrays, O(1) per point (no search), vectorized over a
d-vector: by Γ (:meth:`Profile.evaluate`) or by the distance to a singular end (:meth:`Profile.evaluate_distance`),
returning (log|F|, sign F, log|F′|, sign F′) with the scale applied in log space (α up to 1e100 and beyond).
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numba
import numpy as np
from scipy.integrate import DOP853

from ..errors import InputError
from .parallel import sized_kernel

#: meta layout (one row per direction: 0 is Γ > 0, 1 is Γ < 0)
(M_L, M_H, M_NC, M_GSW, M_LOGF1, M_GSTAR, M_SHI, M_HS, M_NS, M_SLO, M_SLOPE_A, M_SLOPE_B, M_A_LO, M_B_LO,
 M_SINGULAR, M_LOG_GSTAR) = range(16)
META_SIZE = 16
EPS = float(np.finfo(float).eps)
RTOL = 100 * EPS  # the smallest rtol scipy's DOP853 accepts
INTERP_TOL = 5e-14  # target of the midpoint check (log magnitudes, i.e. relative errors of F and F′)
CONVERGED = 1e-10  # ‖tangential gradient‖ / ‖∇φ‖ at which ω counts as converged
MAX_STEPS = 20000
TAU_MAX = 2000.0  # in units of 1/‖∇φ(θ̂₁)‖ (when that is below 1)
MAX_KNOTS = 1 << 16
SWITCH = 0.9  # the central table of a singular direction ends at γ = SWITCH·Γ*
_GL_X, _GL_W = np.polynomial.legendre.leggauss(8)
_COST = 40  # operations per point of an evaluation kernel (for the serial/parallel dispatch)


# -- quintic Hermite ----------------------------------------------------------------------------------------

@numba.njit(cache=True, inline="always")
def _hermite(tab, i, col, t, h):
    """Quintic Hermite on knot interval i at t ∈ [0, 1] from (value, 1st, 2nd derivative) in columns col…col+2."""
    t2 = t * t
    t3 = t2 * t
    t4 = t3 * t
    t5 = t4 * t
    h00 = 1.0 - 10.0 * t3 + 15.0 * t4 - 6.0 * t5
    h10 = t - 6.0 * t3 + 8.0 * t4 - 3.0 * t5
    h20 = 0.5 * (t2 - 3.0 * t3 + 3.0 * t4 - t5)
    h01 = 10.0 * t3 - 15.0 * t4 + 6.0 * t5
    h11 = -4.0 * t3 + 7.0 * t4 - 3.0 * t5
    h21 = 0.5 * (t3 - 2.0 * t4 + t5)
    return (tab[i, col] * h00 + h * tab[i, col + 1] * h10 + h * h * tab[i, col + 2] * h20
            + tab[i + 1, col] * h01 + h * tab[i + 1, col + 1] * h11 + h * h * tab[i + 1, col + 2] * h21)


@numba.njit(cache=True)
def _hermite_at(tab, col, x0, h, xs, out):
    """Interpolate column ``col`` of a uniform table (knots x0 + i h) at points xs (build-time checks)."""
    n = tab.shape[0] - 1
    for j in range(xs.shape[0]):
        u = (xs[j] - x0) / h
        i = min(max(int(u), 0), n - 1)
        out[j] = _hermite(tab, i, col, u - i, h)


# -- evaluation kernels ---------------------------------------------------------------------------------------

@numba.njit(cache=True, inline="always")
def _hermite_pair(tab, d, i, t, h):
    """Columns 0 and 3 of table ``tab[d]`` interpolated on knot interval i (one set of basis polynomials)."""
    t2 = t * t
    t3 = t2 * t
    t4 = t3 * t
    t5 = t4 * t
    h00 = 1.0 - 10.0 * t3 + 15.0 * t4 - 6.0 * t5
    h10 = h * (t - 6.0 * t3 + 8.0 * t4 - 3.0 * t5)
    h20 = h * h * 0.5 * (t2 - 3.0 * t3 + 3.0 * t4 - t5)
    h01 = 10.0 * t3 - 15.0 * t4 + 6.0 * t5
    h11 = h * (-4.0 * t3 + 7.0 * t4 - 3.0 * t5)
    h21 = h * h * 0.5 * (t3 - 2.0 * t4 + t5)
    a = (tab[d, i, 0] * h00 + tab[d, i, 1] * h10 + tab[d, i, 2] * h20
         + tab[d, i + 1, 0] * h01 + tab[d, i + 1, 1] * h11 + tab[d, i + 1, 2] * h21)
    b = (tab[d, i, 3] * h00 + tab[d, i, 4] * h10 + tab[d, i, 5] * h20
         + tab[d, i + 1, 3] * h01 + tab[d, i + 1, 4] * h11 + tab[d, i + 1, 5] * h21)
    return a, b


@numba.njit(cache=True)
def _sigma_eval(sing, meta, d, sigma):
    """(log|F_d|, log|F_d′|) at σ = log s ≤ σ_hi, s the distance to direction d's singular end."""
    slo = meta[d, M_SLO]
    if sigma < slo:
        ds = sigma - slo
        return meta[d, M_A_LO] + meta[d, M_SLOPE_A] * ds, meta[d, M_B_LO] + meta[d, M_SLOPE_B] * ds
    hs = meta[d, M_HS]
    u = (sigma - slo) / hs
    i = min(int(u), int(meta[d, M_NS]) - 1)
    return _hermite_pair(sing, d, i, u - i, hs)


@numba.njit(cache=True)
def _gamma_eval(cen, sing, meta, d, gam, lg):
    """(log|F_d|, log|F_d′|) at γ = e^{lg} > 0 for direction d (F_d(γ) = ±F(±γ), see module docstring)."""
    logf1 = meta[d, M_LOGF1]
    if lg < -600.0:  # F = F′(0)γ to relative O(γ)
        return logf1 + lg, logf1
    if gam <= meta[d, M_GSW]:
        h = meta[d, M_H]
        u = gam / h
        i = min(int(u), int(meta[d, M_NC]) - 1)
        q, p = _hermite_pair(cen, d, i, u - i, h)
        return logf1 + lg + q, logf1 + p
    if meta[d, M_SINGULAR] == 0.0:
        dg = gam - meta[d, M_GSW]
        return meta[d, M_A_LO] + meta[d, M_SLOPE_A] * dg, meta[d, M_B_LO] + meta[d, M_SLOPE_B] * dg
    s = meta[d, M_GSTAR] - gam
    if s > 0.0:
        return _sigma_eval(sing, meta, d, math.log(s))
    if s == 0.0:
        return math.inf, math.inf
    return math.nan, math.nan  # beyond the singularity


@numba.njit(cache=True, inline="always")
def _scaled(a, gscale, log_gscale):
    """(γ, log γ) for γ = a·e^{log_gscale}, a > 0: one multiply when the scale is representable."""
    if gscale != 0.0:
        gam = a * gscale
        if 1e-300 < gam < 1e300:
            return gam, math.log(gam)
    lg = math.log(a) + log_gscale
    return (math.exp(lg) if lg < 709.0 else math.inf), lg


@numba.njit(cache=True, inline="always")
def point_gamma(central, singular, meta, G, gscale, log_gscale):
    """(log|F₁(s)|, sign F₁(s), log|F₁′(s)|) at s = G·e^{log_gscale}, for one G (F₁′ < 0 everywhere).

    ``gscale`` is e^{log_gscale}, or 0 when that is not representable. Callable from other numba code, like
    the vectorized :func:`eval_gamma`. F₁(0) = 0 gives (−inf, 0, log|F₁′(0)|); NaN beyond a singular end.
    """
    if G == 0.0:
        return -math.inf, 0.0, meta[0, M_LOGF1]
    if not math.isfinite(G):
        return math.nan, math.nan, math.nan
    d = 0 if G > 0.0 else 1
    gam, lg = _scaled(abs(G), gscale, log_gscale)
    lf, ldf = _gamma_eval(central, singular, meta, d, gam, lg)
    return lf, (-1.0 if G > 0.0 else 1.0), ldf


@numba.njit(cache=True, inline="always")
def point_distance(central, singular, meta, end, D, log_gscale):
    """(log|F₁|, sign F₁, log|F₁′|) at distance δ = D·e^{log_gscale} from singular end ``end`` (0: Γ*₊,
    1: Γ*₋), i.e. at s = Γ*₊ − δ or Γ*₋ + δ. δ = 0 gives +inf; NaN if δ < 0 or that end does not exist."""
    d = end
    sgn = 1.0 if end == 0 else -1.0  # Γ = sgn·γ on this end's side
    if not (D >= 0.0) or meta[d, M_SINGULAR] == 0.0:
        return math.nan, math.nan, math.nan
    if D == 0.0:
        return math.inf, -sgn, math.inf
    sigma = math.log(D) + log_gscale
    if sigma <= meta[d, M_SHI]:
        lf, ldf = _sigma_eval(singular, meta, d, sigma)
        return lf, -sgn, ldf
    gam = meta[d, M_GSTAR] - math.exp(sigma)  # far from the end: a plain Γ evaluation
    if gam > 0.0:
        lf, ldf = _gamma_eval(central, singular, meta, d, gam, math.log(gam))
        return lf, -sgn, ldf
    if gam < 0.0:
        lf, ldf = _gamma_eval(central, singular, meta, 1 - d, -gam, math.log(-gam))
        return lf, sgn, ldf
    return -math.inf, 0.0, meta[d, M_LOGF1]


@sized_kernel(lambda central, singular, meta, gamma, *args: _COST * gamma.shape[0])
def eval_gamma(central, singular, meta, gamma, log_gscale, log_fscale, log_dfscale, out_lf, out_sf, out_ldf,
               out_sdf):
    """Vectorized :func:`point_gamma` with the output scales: log|F| = log_fscale + log|F₁|, log|F′| =
    log_dfscale + log|F₁′| (see :meth:`Profile.scales`)."""
    gscale = math.exp(log_gscale) if abs(log_gscale) < 690.0 else 0.0
    for j in numba.prange(gamma.shape[0]):
        lf, sf, ldf = point_gamma(central, singular, meta, gamma[j], gscale, log_gscale)
        out_lf[j] = log_fscale + lf
        out_sf[j] = sf
        out_ldf[j] = log_dfscale + ldf
        out_sdf[j] = -1.0


@sized_kernel(lambda central, singular, meta, end, dist, *args: _COST * dist.shape[0])
def eval_distance(central, singular, meta, end, dist, log_gscale, log_fscale, log_dfscale, out_lf, out_sf, out_ldf,
                  out_sdf):
    """Vectorized :func:`point_distance` with the output scales."""
    for j in numba.prange(dist.shape[0]):
        lf, sf, ldf = point_distance(central, singular, meta, end, dist[j], log_gscale)
        out_lf[j] = log_fscale + lf
        out_sf[j] = sf
        out_ldf[j] = log_dfscale + ldf
        out_sdf[j] = -1.0


# -- building -------------------------------------------------------------------------------------------------

class _Dense:
    """All DOP853 dense-output polynomials of a run, evaluated vectorized (scipy's OdeSolution loops over
    segments in Python). Same arithmetic as scipy's ``Dop853DenseOutput``."""

    def __init__(self, interps):
        self.t0 = np.array([d.t_old for d in interps])
        self.h = np.array([d.h for d in interps])
        self.y0 = np.array([d.y_old for d in interps])  # (n_seg, n)
        self.F = np.array([d.F for d in interps])  # (n_seg, 7, n)
        self.t_end = interps[-1].t

    def __call__(self, t: np.ndarray, comp: int | None = None) -> np.ndarray:
        """States at times t: (n, m), or component ``comp`` only: (m,)."""
        t = np.asarray(t, dtype=np.float64)
        seg = np.clip(np.searchsorted(self.t0, t, side="right") - 1, 0, self.t0.size - 1)
        x = (t - self.t0[seg]) / self.h[seg]
        F = self.F[seg] if comp is None else self.F[seg, :, comp]
        if comp is None:
            x = x[:, None]
        y = np.zeros(F.shape[:1] + F.shape[2:])
        for i in range(F.shape[1]):
            y += F[:, F.shape[1] - 1 - i]
            y *= x if i % 2 == 0 else 1.0 - x
        y += self.y0[seg] if comp is None else self.y0[seg, comp]
        return y.T


@dataclass
class _Trajectory:
    sol: _Dense
    ts: np.ndarray
    ys: np.ndarray  # states at the step ends, (k + 3, n_steps + 1): ω, log ρ, φ(ω), γ
    k: int
    M: float  # −φ_d(ω) at the end
    converged: bool
    log_s: np.ndarray | None = None  # log of the distance to Γ* at the step ends (L ≥ 3)
    log_g: np.ndarray | None = None  # log γ at the step ends (L ≥ 3)
    steps: int = 0


def _integrate(phi_grad, L: int, omega0: np.ndarray, sign: float) -> _Trajectory:
    """Forward polar flow of sign·φ in τ (see module docstring) until ω has converged."""
    k = omega0.shape[0]

    def rhs(tau, y):
        om = y[:k]
        om = om / math.sqrt(float(om @ om))
        val, grad = phi_grad(om)
        grad = sign * grad
        tang = grad - (L * sign * val) * om
        out = np.empty(k + 3)
        out[:k] = -tang
        out[k] = -L * y[k + 1]
        out[k + 1] = -float(tang @ tang)
        out[k + 2] = math.exp((2 - L) * y[k]) if L > 2 else 1.0
        return out

    y0 = np.concatenate([omega0, [0.0, 0.0, 0.0]])
    atol = np.full(k + 3, 1e-300)
    atol[:k + 1] = 1e-17
    _, grad0 = phi_grad(omega0)
    rate = float(np.linalg.norm(grad0))  # τ-rate of the flow at the start (> 0: checked by the model)
    first = 1e-3 / max(1.0, L * rate)  # scipy's automatic guess divides by the tiny atol
    solver = DOP853(rhs, 0.0, y0, t_bound=TAU_MAX / min(rate, 1.0), rtol=RTOL, atol=atol, first_step=first)
    ts, ys, interps = [0.0], [y0], []
    converged = False
    while solver.status == "running" and len(interps) < MAX_STEPS:
        solver.step()
        if solver.status == "failed":
            raise RuntimeError(f"profile integration failed at tau={solver.t:g}: {solver.status}")
        ts.append(solver.t)
        ys.append(solver.y.copy())
        interps.append(solver.dense_output())
        om = solver.y[:k] / np.linalg.norm(solver.y[:k])
        val, grad = phi_grad(om)
        tang = sign * grad - L * sign * val * om
        if np.linalg.norm(tang) <= CONVERGED * np.linalg.norm(grad):
            converged = True
            break
    ys_arr = np.array(ys).T
    om = ys_arr[:k, -1] / np.linalg.norm(ys_arr[:k, -1])
    M = -sign * phi_grad(om)[0]  # evaluated afresh: the integrated φ(ω) carries the run's accumulated error
    return _Trajectory(sol=_Dense(interps), ts=np.array(ts), ys=ys_arr, k=k, M=float(M), converged=converged,
                       steps=len(interps))


def _log_tail_integral(traj: _Trajectory, L: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """log ∫_a^b ρ^{2−L} dτ for arrays a ≤ b, by 8-point Gauss–Legendre on sub-intervals over which the
    integrand changes by at most a factor e (its log has slope (L−2)·L·|φ(ω)| ≤ (L−2)·L·M)."""
    keep = b > a
    out = np.full(a.size, -np.inf)
    if not np.any(keep):
        return out
    a, b = a[keep], b[keep]
    rate = (L - 2) * L * max(traj.M, 1e-300)
    nsub = np.maximum(1, np.ceil(rate * (b - a))).astype(np.int64)
    starts = np.repeat(a, nsub) + (np.arange(nsub.sum()) - np.repeat(np.cumsum(nsub) - nsub, nsub)) * np.repeat(
        (b - a) / nsub, nsub)
    widths = np.repeat((b - a) / nsub, nsub)
    nodes = (starts[:, None] + 0.5 * widths[:, None] * (_GL_X[None, :] + 1.0)).ravel()
    logv = (2 - L) * traj.sol(nodes, traj.k)
    logv = logv.reshape(-1, _GL_X.size) + np.log(0.5 * widths[:, None] * _GL_W[None, :])
    top = logv.max(axis=1)
    per_sub = top + np.log(np.exp(logv - top[:, None]).sum(axis=1))
    owner = np.repeat(np.arange(a.size), nsub)
    part = np.full(a.size, -np.inf)
    np.logaddexp.at(part, owner, per_sub)
    out[keep] = part
    return out


def _distances(traj: _Trajectory, L: int) -> None:
    """log γ and log s at every step end: integrals of ρ^{2−L} accumulated forwards (γ) and backwards (s,
    starting from the exact tail at the end). Quadrature keeps both relatively accurate where the ODE's own
    γ has an error ~1e-14·Γ*, which the steep F near Γ* would amplify."""
    k = traj.k
    lam_end = traj.ys[k, -1]
    log_s_end = (2 - L) * lam_end - math.log((L - 2) * L * traj.M)
    pieces = _log_tail_integral(traj, L, traj.ts[:-1], traj.ts[1:])
    log_s = np.empty(traj.ts.size)
    log_s[-1] = log_s_end
    for i in range(traj.ts.size - 2, -1, -1):
        log_s[i] = np.logaddexp(log_s[i + 1], pieces[i])
    log_g = np.empty(traj.ts.size)
    log_g[0] = -np.inf
    for i in range(traj.ts.size - 1):
        log_g[i + 1] = np.logaddexp(log_g[i], pieces[i])
    traj.log_s = log_s
    traj.log_g = log_g


def _step_index(traj: _Trajectory, tau: np.ndarray) -> np.ndarray:
    return np.clip(np.searchsorted(traj.ts, tau, side="right") - 1, 0, traj.ts.size - 2)


def _log_s_at(traj: _Trajectory, L: int, tau: np.ndarray) -> np.ndarray:
    idx = _step_index(traj, tau)
    return np.logaddexp(traj.log_s[idx + 1], _log_tail_integral(traj, L, tau, traj.ts[idx + 1]))


def _log_gamma_at(traj: _Trajectory, L: int, tau: np.ndarray) -> np.ndarray:
    idx = _step_index(traj, tau)
    return np.logaddexp(traj.log_g[idx], _log_tail_integral(traj, L, traj.ts[idx], tau))


def _tau_for_gamma(traj: _Trajectory, L: int, gam: np.ndarray) -> np.ndarray:
    """τ with γ(τ) = gam (Newton on the quadrature γ(τ); dγ/dτ = ρ^{2−L})."""
    if L == 2:
        return gam.copy()
    pos = gam > 0
    tau = np.zeros_like(gam)
    target = np.log(gam[pos])
    t = np.interp(target, traj.log_g[1:], traj.ts[1:])
    for _ in range(12):
        lg = _log_gamma_at(traj, L, t)
        step = (lg - target) * np.exp(lg - (2 - L) * traj.sol(t, traj.k))
        t = np.clip(t - step, 0.0, traj.ts[-1])
        if np.all(np.abs(step) <= 1e-15 * np.maximum(1.0, t)):
            break
    tau[pos] = t
    return tau


def _tau_for_sigma(traj: _Trajectory, L: int, sigma: np.ndarray) -> np.ndarray:
    """τ with log s(τ) = σ (Newton; d log s/dτ = −ρ^{2−L}/s)."""
    k = traj.k
    tau = np.interp(-sigma, -traj.log_s, traj.ts)
    for _ in range(12):
        ls = _log_s_at(traj, L, tau)
        lam = traj.sol(tau, k)
        step = (ls - sigma) * np.exp(ls - (2 - L) * lam)
        tau = np.clip(tau + step, 0.0, traj.ts[-1])
        if np.all(np.abs(step) <= 1e-15 * np.maximum(1.0, tau)):
            break
    return tau


def _states(traj: _Trajectory, lie, sign: float, tau: np.ndarray):
    """At τ: (log ρ, φ_d(ω) integrated, P_m^{(d)}(ω) for m = 0…3) with P_m^{(d)} = sign^{m+1} P_m."""
    y = traj.sol(tau)
    om = y[:traj.k] / np.linalg.norm(y[:traj.k], axis=0)
    P = lie(om)
    P = P * np.array([sign ** (m + 1) for m in range(4)])[:, None]
    return y[traj.k], y[traj.k + 1], P


def _central_rows(traj, lie, sign, L, gam, first):
    """Rows (q, q′, q″, p, p′, p″) at γ ≥ 0; ``first`` = (F1, F2, F3) = F_d′(0), F_d″(0), F_d‴(0)."""
    F1, F2, F3 = first
    lam, E, P = _states(traj, lie, sign, _tau_for_gamma(traj, L, gam))
    rows = np.empty((gam.size, 6))
    with np.errstate(divide="ignore", invalid="ignore"):
        e1 = np.exp((L - 2) * lam)
        R1 = e1 * P[1] / E
        R2 = e1 * e1 * P[2] / E
        rows[:, 0] = L * lam + np.log(np.abs(E)) - math.log(abs(F1)) - np.log(gam)
        rows[:, 1] = R1 - 1.0 / gam
        rows[:, 2] = R2 - R1 * R1 + 1.0 / (gam * gam)
        S1 = e1 * P[2] / P[1]
        rows[:, 3] = (2 * L - 2) * lam + np.log(np.abs(P[1])) - math.log(abs(F1))
        rows[:, 4] = S1
        rows[:, 5] = e1 * e1 * P[3] / P[1] - S1 * S1
    zero = gam == 0.0
    rows[zero, 0] = 0.0
    rows[zero, 1] = F2 / (2 * F1)
    rows[zero, 2] = F3 / (3 * F1) - (F2 / (2 * F1)) ** 2
    rows[zero, 3] = 0.0
    rows[zero, 4] = F2 / F1
    rows[zero, 5] = F3 / F1 - (F2 / F1) ** 2
    return rows


def _singular_rows(traj, lie, sign, L, sigma):
    """Rows (A, A′, A″, B, B′, B″) at σ = log s: A = log|F_d|, B = log|F_d′| as functions of σ."""
    lam, E, P = _states(traj, lie, sign, _tau_for_sigma(traj, L, sigma))
    rows = np.empty((sigma.size, 6))
    x1 = np.exp(sigma + (L - 2) * lam)  # s·ρ^{L−2} = O(1)
    sR1 = x1 * P[1] / E
    s2R2 = x1 * x1 * P[2] / E
    sS1 = x1 * P[2] / P[1]
    s2S2 = x1 * x1 * P[3] / P[1]
    rows[:, 0] = L * lam + np.log(np.abs(E))
    rows[:, 1] = -sR1
    rows[:, 2] = -sR1 + s2R2 - sR1 * sR1
    rows[:, 3] = (2 * L - 2) * lam + np.log(np.abs(P[1]))
    rows[:, 4] = -sS1
    rows[:, 5] = -sS1 + s2S2 - sS1 * sS1
    return rows


def _refined(make_rows, x0: float, x1: float, n0: int) -> tuple[np.ndarray, float, float]:
    """Uniform knots on [x0, x1]: halve the spacing until the Hermite interpolant on the current knots
    reproduces the midpoints (columns 0 and 3) to INTERP_TOL, or until halving stops paying (the error is
    then the noise of the knot data, not interpolation); the midpoints join the knots. Returns
    (rows, spacing, last check error: an upper bound of the interpolation error on the returned knots)."""
    n = max(2, n0)
    rows = make_rows(np.linspace(x0, x1, n + 1))
    previous = math.inf
    while True:
        h = (x1 - x0) / n
        mids = x0 + h * (np.arange(n) + 0.5)
        mid_rows = make_rows(mids)
        err = 0.0
        for col in (0, 3):
            out = np.empty(n)
            _hermite_at(rows, col, x0, h, mids, out)
            # a log magnitude |v| is only known to ~|v|·ε: that part of the difference is not interpolation error
            excess = np.abs(out - mid_rows[:, col]) - 4 * EPS * np.abs(mid_rows[:, col])
            err = max(err, float(np.max(excess)))
        merged = np.empty((2 * n + 1, rows.shape[1]))
        merged[::2] = rows
        merged[1::2] = mid_rows
        rows, n = merged, 2 * n
        if err <= INTERP_TOL or err > previous / 8 or 2 * n > MAX_KNOTS:
            return rows, (x1 - x0) / n, err
        previous = err


def _half_table(fns, sign: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    L = fns["degree"]
    om0 = fns["direction"]
    lie = fns["lie"]
    traj = _integrate(fns["phi_grad"], L, om0, sign)
    P0 = lie(om0[:, None])[:, 0] * np.array([sign ** (m + 1) for m in range(4)])
    F1, F2, F3 = P0[1], P0[2], P0[3]
    meta = np.zeros(META_SIZE)
    meta[M_L] = L
    meta[M_LOGF1] = math.log(abs(F1))
    info = {"steps": traj.steps, "converged": bool(traj.converged), "M": traj.M, "tau_end": float(traj.ts[-1])}
    if traj.M <= 0:
        raise InputError("the profile does not grow: φ along the flow did not become negative (degenerate φ)")
    if L == 2:
        gsw = float(traj.ts[-1])
        n0 = int(math.ceil(gsw * 4 * traj.M * 16))
        central, h, err = _refined(lambda xs: _central_rows(traj, lie, sign, L, xs, (F1, F2, F3)), 0.0, gsw, n0)
        meta[M_H], meta[M_NC], meta[M_GSW] = h, central.shape[0] - 1, gsw
        meta[M_GSTAR], meta[M_LOG_GSTAR] = math.inf, math.inf
        meta[M_SLOPE_A] = meta[M_SLOPE_B] = 4.0 * traj.M
        meta[M_A_LO] = meta[M_LOGF1] + math.log(gsw) + central[-1, 0]
        meta[M_B_LO] = meta[M_LOGF1] + central[-1, 3]
        info.update(central_knots=central.shape[0], central_error=err, singular_error=0.0)
        return central, np.zeros((2, 6)), meta, info
    _distances(traj, L)
    log_gstar = float(traj.log_s[0])
    gstar = math.exp(log_gstar)
    gsw = SWITCH * gstar
    central, h, err_c = _refined(lambda xs: _central_rows(traj, lie, sign, L, xs, (F1, F2, F3)), 0.0, gsw, 32)
    shi = math.log(gstar - gsw)
    slo = float(traj.log_s[-1])
    singular, hs, err_s = _refined(lambda xs: _singular_rows(traj, lie, sign, L, xs), slo, shi,
                                   int(math.ceil((shi - slo) * 4)))
    meta[M_H], meta[M_NC], meta[M_GSW] = h, central.shape[0] - 1, gsw
    meta[M_GSTAR], meta[M_LOG_GSTAR], meta[M_SINGULAR] = gstar, log_gstar, 1.0
    meta[M_SHI], meta[M_HS], meta[M_NS], meta[M_SLO] = shi, hs, singular.shape[0] - 1, slo
    meta[M_SLOPE_A] = -L / (L - 2)
    meta[M_SLOPE_B] = -(2 * L - 2) / (L - 2)
    meta[M_A_LO], meta[M_B_LO] = singular[0, 0], singular[0, 3]
    gamma_end = math.exp(traj.log_g[-1])
    info.update(central_knots=central.shape[0], singular_knots=singular.shape[0], central_error=err_c,
                singular_error=err_s, gamma_star=gstar, sigma_lo=slo,
                consistency=abs(gamma_end + math.exp(slo) - gstar) / gstar,
                tail_slope_mismatch=max(abs(singular[0, 1] - meta[M_SLOPE_A]), abs(singular[0, 4] - meta[M_SLOPE_B])))
    return central, singular, meta, info


def _stack(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    n = max(a.shape[0], b.shape[0])
    out = np.zeros((2, n, a.shape[1]))
    out[0, :a.shape[0]] = a
    out[1, :b.shape[0]] = b
    return out


@dataclass
class Profile:
    """F₁ of one separable model (φ, θ̂₁), tabulated for both directions of Γ (see module docstring).

    Attributes: ``degree`` L, ``key`` (the model's canonical key), the table arrays ``central`` (2, N, 6),
    ``singular`` (2, S, 6), ``meta`` (2, 16) (row 0: Γ > 0, row 1: Γ < 0), and ``info`` (build time, knot
    counts, midpoint-check errors, M per direction, whether ω converged, Γ*±).
    """

    degree: int
    key: str
    central: np.ndarray
    singular: np.ndarray
    meta: np.ndarray
    info: dict = field(default_factory=dict)

    def scales(self, log_c: float, shift: float = 0.0) -> tuple[float, float, float]:
        """(log_gscale, log_fscale, log_dfscale) = ((L−2) log c + shift, L log c, (2L−2) log c)."""
        L = self.degree
        return (L - 2) * log_c + shift, L * log_c, (2 * L - 2) * log_c

    @staticmethod
    def _outs(n, outs):
        for o in outs:
            if o is not None and (not isinstance(o, np.ndarray) or o.shape != (n,) or o.dtype != np.float64):
                raise InputError(f"output arrays must be float64 of shape ({n},), got {getattr(o, 'shape', o)!r}")
        return tuple(np.empty(n) if o is None else o for o in outs)

    def evaluate(self, gamma: np.ndarray, log_c: float = 0.0, out_log_f=None, out_sign_f=None, out_log_df=None,
                 out_sign_df=None, shift: float = 0.0):
        """(log|F|, sign F, log|F′|, sign F′) at Γ = gamma·e^{shift} for θ̄ = c θ̂₁: F(Γ) = c^L F₁(c^{L−2}Γ),
        F′(Γ) = c^{2L−2} F₁′(c^{L−2}Γ).

        ``log_c`` = log(α/√d); ``shift`` lets a caller keep Γ scaled when it is not representable (Γ*
        scales like c^{2−L}, e.g. 1e-400 for α = 1e100, L = 6). Γ = 0 gives (−inf, 0, log|F′(0)|, −1);
        beyond a singular end (L ≥ 3) NaN, exactly at it +inf. Outputs may be passed in (preallocated).
        """
        gamma = np.ascontiguousarray(gamma, dtype=np.float64)
        outs = self._outs(gamma.shape[0], (out_log_f, out_sign_f, out_log_df, out_sign_df))
        eval_gamma(self.central, self.singular, self.meta, gamma, *self.scales(float(log_c), float(shift)), *outs)
        return outs

    def log_F(self, gamma, log_c=0.0, out_log=None, out_sign=None, shift=0.0):
        """(log|F|, sign F) at Γ = gamma·e^{shift}."""
        lf, sf, _, _ = self.evaluate(gamma, log_c, out_log, out_sign, shift=shift)
        return lf, sf

    def log_dF(self, gamma, log_c=0.0, out_log=None, out_sign=None, shift=0.0):
        """(log|F′|, sign F′) at Γ = gamma·e^{shift} (F′ < 0 everywhere)."""
        _, _, ldf, sdf = self.evaluate(gamma, log_c, None, None, out_log, out_sign, shift=shift)
        return ldf, sdf

    def evaluate_distance(self, dist: np.ndarray, end: int, log_c: float = 0.0, out_log_f=None, out_sign_f=None,
                          out_log_df=None, out_sign_df=None, shift: float = 0.0):
        """(log|F|, sign F, log|F′|, sign F′) at distance δ = dist·e^{shift} ≥ 0 from the singular end ``end``
        (+1: Γ = Γ*₊ − δ, −1: Γ = Γ*₋ + δ), for θ̄ = c θ̂₁. The distance is scaled in log space, so it keeps
        its digits however close to the end; NaN if that end does not exist (L = 2) or dist < 0."""
        if end not in (1, -1):
            raise InputError(f"end must be +1 or -1, got {end!r}")
        dist = np.ascontiguousarray(dist, dtype=np.float64)
        outs = self._outs(dist.shape[0], (out_log_f, out_sign_f, out_log_df, out_sign_df))
        eval_distance(self.central, self.singular, self.meta, 0 if end == 1 else 1, dist,
                       *self.scales(float(log_c), float(shift)), *outs)
        return outs

    def singular_end(self, end: int, log_c: float = 0.0) -> tuple[float, float]:
        """(sign, log|Γ*|) of the singular end ``end`` (+1 or −1) for θ̄ = c θ̂₁: Γ* = ±Γ*₁/c^{L−2};
        (sign, inf) when F has no finite-Γ singularity on that side (L = 2)."""
        if end not in (1, -1):
            raise InputError(f"end must be +1 or -1, got {end!r}")
        row = self.meta[0 if end == 1 else 1]
        if row[M_SINGULAR] == 0.0:
            return float(end), math.inf
        return float(end), float(row[M_LOG_GSTAR]) - (self.degree - 2) * float(log_c)

    def F(self, gamma, c: float = 1.0) -> np.ndarray:
        """F(Γ; c) as plain floats (convenience; overflows where the log form does not)."""
        lf, sf, _, _ = self.evaluate(np.atleast_1d(np.asarray(gamma, dtype=np.float64)), math.log(c))
        with np.errstate(over="ignore", invalid="ignore"):
            return sf * np.exp(lf)

    def dF(self, gamma, c: float = 1.0) -> np.ndarray:
        """F′(Γ; c) as plain floats (convenience)."""
        _, _, ldf, sdf = self.evaluate(np.atleast_1d(np.asarray(gamma, dtype=np.float64)), math.log(c))
        with np.errstate(over="ignore", invalid="ignore"):
            return sdf * np.exp(ldf)


def build_profile(model) -> Profile:
    """Integrate and tabulate F₁ for ``model`` (a :class:`grokode.analytic.separable.SeparableModel`)."""
    start = time.perf_counter()
    fns = model.numeric_functions()
    halves = [_half_table(fns, sign) for sign in (1.0, -1.0)]
    central = _stack(halves[0][0], halves[1][0])
    singular = _stack(halves[0][1], halves[1][1])
    meta = np.stack([halves[0][2], halves[1][2]])
    info = {"plus": halves[0][3], "minus": halves[1][3], "build_seconds": time.perf_counter() - start}
    return Profile(degree=int(fns["degree"]), key=fns["key"], central=central, singular=singular, meta=meta, info=info)


_MEMORY: dict[str, Profile] = {}


def profile_for(model, cache_dir: str | Path | None = None) -> Profile:
    """The profile of ``model``, built once per (φ, θ̂₁) and kept in memory; with ``cache_dir`` also stored
    on disk (``separable-<sha256 of the key>.npz``) and loaded from there by later processes."""
    key = model.key
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"separable-{hashlib.sha256(key.encode()).hexdigest()[:32]}.npz"
    prof = _MEMORY.get(key)
    if prof is None and path is not None and path.exists():
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) == key:
                prof = Profile(degree=int(z["degree"]), key=key, central=z["central"], singular=z["singular"],
                               meta=z["meta"], info={"loaded_from": str(path)})
    if prof is None:
        prof = build_profile(model)
    _MEMORY[key] = prof
    if path is not None and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.stem + ".tmp.npz")
        np.savez(tmp, key=np.array(key), degree=np.array(prof.degree), central=prof.central,
                 singular=prof.singular, meta=prof.meta)
        tmp.replace(path)
    return prof


__all__ = ["Profile", "build_profile", "eval_distance", "eval_gamma", "point_distance", "point_gamma", "profile_for"]
