"""The finite-α implicit bias at λ = 0: the interpolant the squared-loss flow ends at, without integrating it.

At λ = 0 every coordinate of the reduced flow is w_j = F(Γ_j) with the clock Γ = XᵀH/n in range(Xᵀ)
(docs/math.md#finite-alpha), where F is the model's profile at scale u0 (decreasing: F′ = −‖∇φ‖² < 0). If the
flow reaches an interpolant, it is therefore w∞ = F(Xᵀβ) for some β ∈ Rⁿ with Xw∞ = y: the KKT point of

    min Q(w) = Σ_j Φ*(w_j)  s.t.  Xw = y,      (Φ*)′ = F⁻¹ (the inverse profile, up to sign),

which for the depth-2 diagonal net is Woodworth et al.'s potential Q_α(w) = Σ_j u0² q(w_j/u0²),
q(z) = 2 − √(4 + z²) + z·asinh(z/2), w∞ = 2u0² sinh(Xᵀβ) (COLT 2020, "Kernel and rich regimes in
overparametrized models"). β minimizes the strictly convex dual D(β) = Σ_j Ψ(x_jᵀβ) − yᵀβ, ∇D = Xw(β) − y,
∇²D = X diag(∂w/∂β) Xᵀ; :func:`implicit_interpolant` solves it by Newton with an exact line search on the
directional derivative (no values of D are needed, so the tabulated profiles of separable models serve as they
are). For L ≥ 3, F has finite singular ends Γ*₋ < 0 < Γ*₊, and the line search keeps Xᵀβ inside them (D → ∞
there). Every α-dependent scale is kept as a logarithm, so u0 from 1e-150 to 1e150 (α up to 1e300) is safe.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla

from ..errors import InputError

#: Newton stops when ‖Xw − y‖ ≤ GRAD_RTOL·‖y‖ (the dual's gradient is the residual).
GRAD_RTOL = 1e-13
MAX_NEWTON = 500
#: Newton stops when its best residual has not improved for this many steps (the float64 floor of the problem) …
_STALL_STEPS = 6
#: … and counts as converged if that floor is ≤ FLOOR_RTOL·‖y‖.
FLOOR_RTOL = 1e-9
#: The line search never goes further than this fraction of the way to a singular end (L ≥ 3).
_DOMAIN_FRACTION = 0.99


@dataclass(frozen=True)
class DiagonalProfile:
    """F(Γ) = u0^L (e^{A(κΓ)} − e^{B(κΓ)}) of the depth-L diagonal net at λ = 0 (docs/math.md#reduction-depth-l).

    A(z) = −(L/(L−2))·log(1 + ((L−2)/L)·z), B(z) = A(−z) (A(z) = −z, B(z) = z at L = 2), κ = L²u0^{L−2}: the
    closed form of the reduced flow, with the same interface as :class:`~grokode.numeric.separable_profile.Profile`
    (``evaluate`` in log magnitudes, ``singular_end``) so that :func:`implicit_interpolant` takes either.
    """

    degree: int

    def _z(self, gamma: np.ndarray, log_c: float, shift: float) -> tuple[np.ndarray, np.ndarray]:
        """(log|z|, sign z) of z = κ·Γ, Γ = gamma·e^{shift}."""
        L = self.degree
        log_kappa = 2.0 * math.log(L) + (L - 2) * log_c
        with np.errstate(divide="ignore"):
            return np.log(np.abs(gamma)) + shift + log_kappa, np.sign(gamma)

    def evaluate(self, gamma: np.ndarray, log_c: float = 0.0, shift: float = 0.0):
        """(log|F|, sign F, log|F′|, sign F′) at Γ = gamma·e^{shift}, u0 = e^{log_c}."""
        L = self.degree
        gamma = np.asarray(gamma, dtype=np.float64)
        lz, sz = self._z(gamma, log_c, shift)
        log_kappa = 2.0 * math.log(L) + (L - 2) * log_c
        with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
            z = sz * np.exp(np.minimum(lz, 700.0))
            if L == 2:
                A, B = -z, z
                lA, lB = np.zeros_like(z), np.zeros_like(z)  # log(−dA/dz), log(dB/dz)
            else:
                g = (L - 2) / L
                up, down = np.log1p(g * z), np.log1p(-g * z)
                A, B = -up / g, -down / g
                lA, lB = -up, -down
            diff = A - B  # = −2z·(1 + O(z²)): no cancellation (log1p of opposite arguments)
            top = np.maximum(A, B)
            log_f = L * log_c + top + np.log(-np.expm1(-np.abs(diff)))
            sign_f = -np.sign(z)
            # F′ = κ u0^L (A′e^A − B′e^B) = −κ u0^L (e^{A + lA} + e^{B + lB}) < 0
            a, b = A + lA, B + lB
            m = np.maximum(a, b)
            log_df = log_kappa + L * log_c + m + np.log1p(np.exp(-np.abs(a - b)))
            small = lz < math.log(1e-8)  # linear regime: F = −2 u0^L z, F′ = −2κ u0^L
            log_f = np.where(small, L * log_c + math.log(2.0) + lz, log_f)
            log_df = np.where(small, log_kappa + L * log_c + math.log(2.0), log_df)
            if L > 2:
                outside = np.abs(z) * g >= 1.0
                log_f = np.where(outside, np.nan, log_f)
                log_df = np.where(outside, np.nan, log_df)
        return log_f, np.where(gamma == 0.0, 0.0, sign_f), log_df, -np.ones_like(log_df)

    def singular_end(self, end: int, log_c: float = 0.0) -> tuple[float, float]:
        """(sign, log|Γ*|): Γ* = ±(L/(L−2))/κ; (sign, inf) at L = 2."""
        L = self.degree
        if L == 2:
            return float(end), math.inf
        return float(end), math.log(L / (L - 2)) - 2.0 * math.log(L) - (L - 2) * log_c


@dataclass(frozen=True)
class ImplicitInterpolant:
    """The predicted λ = 0 interpolant and its certificate.

    ``w`` (d,); ``beta`` (n,) the dual variable (in the scaled units of :func:`implicit_interpolant`);
    ``residual`` ‖Xw − y‖/‖y‖ recomputed from ``w``; ``grad_norm`` ‖∇D(β)‖ at the last Newton iterate (the
    same vector, before ``w`` was rounded); ``iterations``; ``converged``; ``message``.
    """

    w: np.ndarray
    beta: np.ndarray
    residual: float
    grad_norm: float
    iterations: int
    converged: bool
    message: str


def interpolant_exists(X: np.ndarray, y: np.ndarray, rtol: float = 1e-10) -> tuple[bool, int]:
    """(whether Xw = y has a solution, rank X): false when y is not in range(X) (rank X < n and y off it)."""
    X = np.asarray(X, dtype=np.float64)
    U, s, _ = np.linalg.svd(X, full_matrices=False)
    rank = int(np.sum(s > s[0] * max(X.shape) * np.finfo(float).eps)) if s.size and s[0] > 0 else 0
    if rank == X.shape[0]:
        return True, rank
    Ur = U[:, :rank]
    off = np.linalg.norm(y - Ur @ (Ur.T @ y))
    return bool(off <= rtol * max(float(np.linalg.norm(y)), 1e-300)), rank


def _weights(profile, X: np.ndarray, b: np.ndarray, log_c: float, shift: float):
    """(w, log ∂w/∂b) at Γ = −e^{shift}·Xᵀb: w increasing in b, ∂w_j/∂b = e^{shift} |F′(Γ_j)| x_j."""
    s = X.T @ b
    lf, sf, ldf, _ = profile.evaluate(-s, log_c, shift=shift)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        w = sf * np.exp(lf)
    w = np.where(s == 0.0, 0.0, w)
    return w, ldf + shift, s


def implicit_interpolant(X: np.ndarray, y: np.ndarray, profile, log_c: float, *, rtol: float = GRAD_RTOL,
                         max_iter: int = MAX_NEWTON) -> ImplicitInterpolant:
    """The interpolant w∞ = F(Xᵀβ) the λ = 0 squared-loss flow ends at (see the module docstring).

    Parameters
    ----------
    X, y : the training data (n×d) and targets (n,).
    profile : :class:`DiagonalProfile` or a separable model's :class:`~grokode.numeric.separable_profile.Profile`.
    log_c : log of the profile's scale: log u0 = log(α/√(2d)) for the diagonal net, log(α/√d) for a separable model.
    rtol : stop when ‖Xw − y‖ ≤ rtol·‖y‖.

    Returns
    -------
    ImplicitInterpolant; ``converged`` False (with ``message``) when Newton did not reach ``rtol``.
    InputError when no interpolant exists (y ∉ range X).
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    n, d = X.shape
    exists, rank = interpolant_exists(X, y)
    if not exists:
        raise InputError(f"no interpolant exists: rank X = {rank} < n = {n} and y is not in the range of X")
    ynorm = max(float(np.linalg.norm(y)), 1e-300)
    # scale the dual so that ∂w/∂b = XᵀIdentity at b = 0: Γ = −e^{shift}Xᵀb with shift = −log|F′(0)|
    _, _, ldf0, _ = profile.evaluate(np.zeros(1), log_c)
    shift = -float(ldf0[0])
    ends = []
    for end in (1, -1):
        _, log_gstar = profile.singular_end(end, log_c)
        ends.append(math.inf if not math.isfinite(log_gstar) else math.exp(min(log_gstar - shift, 700.0)))
    # in b-units, s = Xᵀb must stay in (−ends[0], ends[1]) (Γ = −e^{shift}s: the +end of Γ is s < 0)
    s_low, s_high = -ends[0], ends[1]
    b = np.zeros(n)
    w, ldw, s = _weights(profile, X, b, log_c, shift)
    g = X @ w - y
    iterations, message, converged = 0, "", False
    best, since_best, full_step = math.inf, 0, False
    for iterations in range(1, max_iter + 1):  # noqa: B007 (the count is reported)
        gnorm = float(np.linalg.norm(g))
        if gnorm <= rtol * ynorm:
            converged = True
            iterations -= 1
            break
        if gnorm < (1.0 - 1e-3) * best:
            best, since_best = gnorm, 0
        elif full_step or best <= FLOOR_RTOL * ynorm:
            # damped steps decrease D, not always ‖∇D‖; full ones that do not (or any step once the residual is at
            # rounding level) are at the floor
            since_best += 1
            if since_best >= _STALL_STEPS:  # the residual no longer falls: the float64 floor of this problem
                break
        p = _newton_step(X, ldw, g)
        dp = X.T @ p
        t_max = _step_to_boundary(s, dp, s_low, s_high)

        def slope(t: float, b=b, p=p) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
            """φ′(t) = ∇D(b + t·p)ᵀp and the weights there (D is convex along p: φ′ increases)."""
            wt, lt, _ = _weights(profile, X, b + t * p, log_c, shift)
            with np.errstate(invalid="ignore", over="ignore"):
                gt = X @ wt - y
                return float(gt @ p), wt, lt, gt

        t = min(1.0, t_max)
        val, wt, lt, gt = slope(t)
        while not np.isfinite(val) and t > 1e-300:  # w overflows there (tiny u0, early steps): come back
            t *= 1e-2
            val, wt, lt, gt = slope(t)
        if not np.isfinite(val) or val > 0.0:  # the minimum of D along p is before t: bisect φ′(t) = 0
            lo, hi = 0.0, t
            for _ in range(60):
                mid = 0.5 * (lo + hi)
                val, wt, lt, gt = slope(mid)
                if np.isfinite(val) and val <= 0.0:
                    lo = mid
                else:
                    hi = mid
                if hi - lo <= 1e-3 * hi:
                    break
            t = lo
            if t == 0.0:
                message = "the line search made no progress"
                break
            val, wt, lt, gt = slope(t)
        full_step = t >= 0.5
        b = b + t * p
        w, ldw, g = wt, lt, gt
        s = X.T @ b
    else:
        message = f"Newton did not reach ‖Xw − y‖ ≤ {rtol:g}·‖y‖ in {max_iter} iterations"
    grad = float(np.linalg.norm(g))
    if not converged and (not message or iterations == max_iter) and grad <= FLOOR_RTOL * ynorm:
        converged = True  # stalled at rounding level: as far as float64 goes on this problem
        message = (f"converged in {iterations} Newton steps to the rounding floor ‖Xw − y‖ = {grad / ynorm:.1e}·‖y‖ "
                   f"(above the target {rtol:g})")
    elif not converged and not message:
        message = f"Newton stalled at ‖Xw − y‖ = {grad / ynorm:.1e}·‖y‖ after {iterations} steps"
    if converged and not message:
        message = f"converged in {iterations} Newton steps"
    residual = float(np.linalg.norm(X @ w - y)) / ynorm
    return ImplicitInterpolant(w=w, beta=b, residual=residual, grad_norm=grad, iterations=iterations,
                               converged=converged, message=message)


def _newton_step(X: np.ndarray, ldw: np.ndarray, g: np.ndarray) -> np.ndarray:
    """p = −(X D Xᵀ)⁻¹ g, D = e^{ldw}, from a QR factorization of D^{1/2}Xᵀ (never forming X D Xᵀ, whose condition
    number is the square: at small u0, D spans many decades between active and inactive coordinates)."""
    top = float(np.nanmax(ldw))
    At = np.exp(0.5 * (ldw - top))[:, None] * X.T
    R = np.linalg.qr(At, mode="r")
    try:
        if not np.all(np.isfinite(R)) or np.min(np.abs(np.diag(R))) <= 1e-300:
            raise sla.LinAlgError("singular")
        z = sla.solve_triangular(R, g, trans="T")
        return -sla.solve_triangular(R, z) * math.exp(-top)
    except (sla.LinAlgError, ValueError):
        return -np.linalg.lstsq(At.T @ At, g, rcond=None)[0] * math.exp(-top)


def _step_to_boundary(s: np.ndarray, ds: np.ndarray, low: float, high: float) -> float:
    """Largest t with s + t·ds inside (low, high), shortened by :data:`_DOMAIN_FRACTION` (inf if unbounded)."""
    t = math.inf
    with np.errstate(divide="ignore", invalid="ignore"):
        if math.isfinite(high):
            up = ds > 0
            if np.any(up):
                t = min(t, float(np.min((high - s[up]) / ds[up])))
        if math.isfinite(low):
            dn = ds < 0
            if np.any(dn):
                t = min(t, float(np.min((low - s[dn]) / ds[dn])))
    return _DOMAIN_FRACTION * t if math.isfinite(t) else math.inf


def potential_q(z: np.ndarray) -> np.ndarray:
    """Woodworth et al.'s q(z) = 2 − √(4 + z²) + z·asinh(z/2) (the depth-2 potential per unit u0²)."""
    z = np.asarray(z, dtype=np.float64)
    return z * np.arcsinh(0.5 * z) - z * z / (2.0 + np.sqrt(4.0 + z * z))  # 2 − √(4+z²) without cancellation


def relative_distance(w: np.ndarray, ref: np.ndarray) -> float | None:
    """‖w − ref‖/‖ref‖ (None when ref is 0 or not finite)."""
    norm = float(np.linalg.norm(ref))
    if not (norm > 0.0 and np.all(np.isfinite(ref))):
        return None
    return float(np.linalg.norm(np.asarray(w) - ref)) / norm
