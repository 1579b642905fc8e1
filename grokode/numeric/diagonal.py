"""Diagonal-net flows (MATH.md §3): the exact reduced n-dimensional flow and the full 2d flow.

Every model formula comes from :mod:`grokode.numeric.generated` (derived by sympy); this file only
arranges the arithmetic so that it neither overflows nor cancels for α up to 1e300.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ..errors import InputError
from . import generated as gen
from .linalg import DataMatrix
from .parallel import sized_kernel
from .primitives import log_expdiff

LOG_LINEAR = math.log(1e-8)  # below |z| = 1e-8, e^A − e^B = slope·z to relative error < 1e-16
_TRANSCENDENTAL_COST = 16  # an element of the closed form costs a few exp/log: ~16 multiply-adds
_CHUNKS = 8  # parallel tasks of a sum; fixed so its order does not depend on the thread count


def check_loss_and_depth(loss: str, depth: int) -> None:
    """Both must have generated kernels (:mod:`grokode.numeric.generated`); else an InputError naming them."""
    if loss not in gen.LOSS_NAMES:
        raise InputError(f"unknown loss {loss!r} (choose {', '.join(gen.LOSS_NAMES)})")
    if depth not in gen.DEPTHS:
        raise InputError(f"depth must be one of {gen.DEPTHS}, got {depth}")


@numba.njit(cache=True)
def weight_from_q(depth, E, log_kappa, logq, sgn):
    """w_j = e^E (e^{A(z)} − e^{B(z)}), z = κ q, from log|q| and sign(q) (q may be below 1e-308)."""
    if sgn == 0.0:
        return 0.0
    lz = log_kappa + logq
    slope = gen.diag_slope(depth, 0.0)
    if lz < LOG_LINEAR:
        return math.copysign(1.0, slope) * sgn * math.exp(E + math.log(abs(slope)) + lz)
    z = sgn * math.exp(lz)
    a = gen.diag_A(depth, z)
    b = gen.diag_B(depth, z)
    if not (math.isfinite(a) and math.isfinite(b)):
        return math.nan  # a bracket of the closed form reached zero: finite-time blow-up
    return math.copysign(1.0, a - b) * math.exp(E + log_expdiff(a, b))


@numba.njit(cache=True)
def log_dweight_dq(depth, E, log_kappa, logq, sgn):
    """(log|∂w/∂q|, sign) with ∂w/∂q = κ e^E (A'(z) e^{A} − B'(z) e^{B})."""
    lz = log_kappa + logq
    if sgn == 0.0 or lz < LOG_LINEAR:
        slope = gen.diag_slope(depth, 0.0)
        return E + log_kappa + math.log(abs(slope)), math.copysign(1.0, slope)
    z = sgn * math.exp(lz)
    a = gen.diag_A(depth, z)
    b = gen.diag_B(depth, z)
    m = max(a, b)
    bracket = gen.diag_dA(depth, z) * math.exp(a - m) - gen.diag_dB(depth, z) * math.exp(b - m)
    return E + log_kappa + m + math.log(abs(bracket)), math.copysign(1.0, bracket)


@numba.njit(cache=True)
def _fast_constants(depth, E, log_kappa, shift):
    """(K, lin): z = K·B and the linear regime's w = lin·B, or 0 where they are not representable."""
    K = math.exp(log_kappa + shift) if abs(log_kappa + shift) < 690.0 else 0.0
    slope = gen.diag_slope(depth, 0.0)
    lin_log = E + math.log(abs(slope)) + log_kappa + shift
    lin = math.copysign(math.exp(lin_log), slope) if abs(lin_log) < 690.0 else 0.0
    return K, lin


@numba.njit(cache=True, inline="always")
def _weight_and_term(bj, depth, E, log_kappa, shift, K, lin, two_eE):
    """(w_j, e^E(e^{A(z)} + e^{B(z)})): the weight and, for depth 2, its coordinate's share of ‖θ‖², from the
    same exponentials. The term is NaN where only the exact log path (:func:`weight_from_q`) applies."""
    # Fast paths avoid per-element logs when the scale factors are representable; the log path is exact
    # everywhere and is the reference they are tested against.
    if bj == 0.0:
        return 0.0, two_eE
    if K != 0.0:
        z = K * bj
        az = abs(z)
        if az < 1e-8 and lin != 0.0:
            return lin * bj, two_eE  # e^{A} + e^{B} = 2 + O(z²)
        if az >= 1e-8:
            a = gen.diag_A(depth, z)
            b = gen.diag_B(depth, z)
            top = E + max(a, b)
            if abs(top) < 690.0 and math.isfinite(a) and math.isfinite(b):
                m = -math.expm1(-abs(a - b))
                et = math.exp(top)
                return math.copysign(et, a - b) * m, et * (2.0 - m)  # e^{max}(1 + e^{−|a−b|}) = e^{max}(2 − m)
    return weight_from_q(depth, E, log_kappa, math.log(abs(bj)) + shift, math.copysign(1.0, bj)), math.nan


@sized_kernel(lambda B, *args: _TRANSCENDENTAL_COST * B.shape[0])
def _weights(B, depth, E, log_kappa, shift, out):
    # The body of _weight_and_term without the norm term: written out because the RHS calls this ~1000
    # times per run and the shared helper measured a few % slower. Bit-identical to it (tested).
    K, lin = _fast_constants(depth, E, log_kappa, shift)
    for j in numba.prange(B.shape[0]):
        bj = B[j]
        if bj == 0.0:
            out[j] = 0.0
            continue
        if K != 0.0:
            z = K * bj
            az = abs(z)
            if az < 1e-8 and lin != 0.0:
                out[j] = lin * bj
                continue
            if az >= 1e-8:
                a = gen.diag_A(depth, z)
                b = gen.diag_B(depth, z)
                top = E + max(a, b)
                if abs(top) < 690.0 and math.isfinite(a) and math.isfinite(b):
                    out[j] = math.copysign(math.exp(top), a - b) * -math.expm1(-abs(a - b))
                    continue
        out[j] = weight_from_q(depth, E, log_kappa, math.log(abs(bj)) + shift, math.copysign(1.0, bj))


@sized_kernel(lambda B, *args: _TRANSCENDENTAL_COST * B.shape[0])
def _weights_and_norm_sq(B, depth, E, log_kappa, shift, out):
    """w into ``out`` (bit-identical to :func:`_weights`) and ‖θ‖², or NaN when this pass cannot give it.

    At depth 2, u_j² + v_j² = e^E (e^{A(z_j)} + e^{B(z_j)}), whose exponentials the weight has just
    computed, so the norm costs one multiply-add per coordinate instead of :func:`_log_param_norm_sq`'s
    five transcendental functions. NaN (the caller falls back to the log-space sum) at other depths,
    where an element needs the log path, or where e^E is not representable. The sum runs in a fixed
    number of chunks, so serial and parallel builds agree bit for bit.
    """
    K, lin = _fast_constants(depth, E, log_kappa, shift)
    two_eE = 2.0 * math.exp(E) if abs(E) < 690.0 else math.nan
    d = B.shape[0]
    part = np.zeros(_CHUNKS)
    size = (d + _CHUNKS - 1) // _CHUNKS
    for c in numba.prange(_CHUNKS):
        acc = 0.0
        for j in range(c * size, min(d, (c + 1) * size)):
            w, term = _weight_and_term(B[j], depth, E, log_kappa, shift, K, lin, two_eE)
            out[j] = w
            acc += term
        part[c] = acc
    total = 0.0
    for c in range(_CHUNKS):
        total += part[c]
    return total if depth == 2 else math.nan


@sized_kernel(lambda B, *args: _TRANSCENDENTAL_COST * B.shape[0])
def _log_dweights(B, depth, E, log_kappa, shift, logs, signs):
    for j in numba.prange(B.shape[0]):
        bj = B[j]
        lq = math.log(abs(bj)) + shift if bj != 0.0 else -math.inf
        logs[j], signs[j] = log_dweight_dq(depth, E, log_kappa, lq, math.copysign(1.0, bj) if bj != 0.0 else 0.0)


@sized_kernel(lambda B, *args: _TRANSCENDENTAL_COST * B.shape[0])
def _log_param_norm_sq(B, depth, ell0, lam, t, log_kappa, shift):
    # ‖θ‖² = Σ_j u_j² + v_j², log u_j = ℓ0 − λt + A(z_j)/L (closed form); summed with a max shift.
    n = B.shape[0]
    terms = np.empty(2 * n)
    for j in numba.prange(n):
        bj = B[j]
        z = 0.0
        if bj != 0.0:
            lz = log_kappa + math.log(abs(bj)) + shift
            z = math.copysign(math.exp(lz), bj) if lz > -700.0 else 0.0
        terms[j] = 2.0 * gen.diag_A(depth, z) / depth
        terms[n + j] = 2.0 * gen.diag_B(depth, z) / depth
    top = terms.max()
    return 2.0 * (ell0 - lam * t) + top + math.log(np.exp(terms - top).sum())


@numba.njit(cache=True)
def _residuals(f, y, loss_id, log_factor, out):
    # e^{log_factor}·r_i formed in log space: the factor (t·rate) overflows at large α exactly when r is tiny
    for i in range(f.shape[0]):
        sign = gen.loss_residual_sign(loss_id, f[i], y[i])
        out[i] = 0.0 if sign == 0.0 else sign * math.exp(log_factor + gen.loss_log_abs_residual(loss_id, f[i], y[i]))


@numba.njit(cache=True)
def _log_curvatures(f, y, loss_id, out):
    for i in range(f.shape[0]):
        out[i] = gen.loss_log_curvature(loss_id, f[i], y[i])


class ReducedDiagonalFlow:
    """Exact reduction of the depth-L diagonal-net flow to n unknowns (MATH.md §3).

    State: y = e^{c}·S with S_i(t) = ∫₀ᵗ ρ(s) r_i(s) ds, ρ = e^{−(L−2)λs}; independent variable
    τ = log t. So dy/dτ = e^{c+τ} ρ(t) r(f), f = X w(q, t), q = XᵀS/n, and w comes from the derived
    closed form. Log-time makes the kernel phase (time scale ~ n/α²) and the rich phase (~ 1/λ) equally
    resolvable; the scale c keeps y = O(1) in the kernel phase and is lowered by exact powers of two when
    |y| grows (:meth:`rescale`), so no quantity over- or underflows even at α = 1e300. The Jacobian
    ∂ẏ_i/∂y_k = e^{τ}ρ ℓ''_i Σ_j x_ij (∂w_j/∂q_j) x_kj / n is analytic (derived), assembled with BLAS.
    The closed forms use t only through λt; at λ = 0 (no weight decay, issue #9) that product is taken as
    exactly 0 without forming t = e^τ, so the flow runs to the float64 end of time (t ≈ 1e308, τ ≈ 709).
    """

    variable = "log_t"
    #: Largest step in τ = log t. The state grows at most like e^τ, so one step cannot carry it from
    #: O(1) past the rescaling threshold (1e100) into overflow, which the solvers' error tests (NaN
    #: compares false) would not catch.
    max_step = 1.0

    def __init__(self, X, y, *, alpha, lam, depth=2, loss="logistic"):
        check_loss_and_depth(loss, depth)
        self.data = X if isinstance(X, DataMatrix) else DataMatrix(X)
        self.y = np.ascontiguousarray(y, dtype=np.float64)
        self.n, self.d = self.data.n, self.data.d
        self.depth, self.lam, self.alpha = int(depth), float(lam), float(alpha)
        self.loss, self.loss_id = loss, gen.LOSS_NAMES.index(loss)
        # u0 = α/√(2d), kept as its log so α up to 1e300 (and depth L powers of it) never overflow.
        self.ell0 = math.log(self.alpha) - 0.5 * math.log(2.0 * self.d)
        self.log_kappa = gen.diag_log_kappa(self.depth, self.ell0)
        if self.depth > 2 and (self.depth - 2) * self.ell0 > 650.0:
            raise InputError(f"alpha={alpha:g} is too large for depth {depth} in float64 "
                             f"(u0^(L-2) = e^{(self.depth - 2) * self.ell0:.0f})")
        # Initial stiffness: |λ_max| of the t-Jacobian at S = 0 is about ℓ''(0)|∂w/∂q|(0)·mean‖x‖²/n.
        sq = self.data.squared_norm()
        ld0, _ = log_dweight_dq(self.depth, gen.diag_E(self.depth, self.ell0, self.lam, 0.0), self.log_kappa,
                                -math.inf, 0.0)
        logc0 = max(gen.loss_log_curvature(self.loss_id, 0.0, float(v)) for v in self.y[:1])
        self.log_rate0 = logc0 + ld0 + math.log(max(sq, 1e-300) / self.n) - math.log(self.n)
        self.c = self.log_rate0  # y = e^c S: S ~ 1/rate in the kernel phase
        self._B = np.empty(self.d)
        self._w = np.empty(self.d)
        self._f = np.empty(self.n)
        self._logs = np.empty(self.d)
        self._signs = np.empty(self.d)
        self.nfev = 0
        self.njev = 0
        self.failure_hint = (" (a bracket of the depth-L closed form reached zero: finite-time blow-up)"
                             if self.depth > 2 else "")

    # -- time <-> solver variable --------------------------------------------------------------------
    def start(self) -> tuple[float, np.ndarray]:
        """(τ0, y(τ0)): start where the kernel phase has not begun, S ≈ ρ(0) r(f=0) t."""
        tau0 = math.log(1e-6) - self.log_rate0
        r0 = np.array([gen.loss_residual(self.loss_id, 0.0, v) for v in self.y])
        return tau0, math.exp(self.c + tau0) * r0

    @staticmethod
    def to_var(t):
        with np.errstate(divide="ignore"):
            return np.log(t)

    @staticmethod
    def to_time(tau):
        return np.exp(tau)

    def _time(self, tau: float) -> float:
        """t = e^τ where the closed forms need it (through λt): 0 at λ = 0, where e^τ may overflow."""
        return math.exp(tau) if self.lam > 0.0 else 0.0

    # -- kernels --------------------------------------------------------------------------------------
    def _q(self, state):
        return self.data.rmatvec(state, 1.0 / self.n, self._B)  # q = e^{-c}·B

    def _fill_weights(self, tau: float, B: np.ndarray, c: float | None, out: np.ndarray) -> np.ndarray:
        shift = -(self.c if c is None else c)
        E = gen.diag_E(self.depth, self.ell0, self.lam, self._time(tau))
        _weights(B, self.depth, E, self.log_kappa, shift, out)
        return out

    def weight(self, tau: float, state: np.ndarray, c: float | None = None) -> np.ndarray:
        """Effective weight w (d,) at τ = log t from the state y (scaled by e^c; default: current c)."""
        return self._fill_weights(tau, self._q(state), c, np.empty(self.d))

    def observe(self, tau: float, state: np.ndarray, c: float | None = None) -> tuple[np.ndarray, float]:
        """(w, ‖θ‖) at τ = log t; ‖θ‖ from the closed form (α·e^{−λt} while the state is small)."""
        B = self._q(state)
        shift = -(self.c if c is None else c)
        t = self._time(tau)
        w = np.empty(self.d)
        sq = _weights_and_norm_sq(B, self.depth, gen.diag_E(self.depth, self.ell0, self.lam, t), self.log_kappa,
                                  shift, w)
        if math.isfinite(sq) and sq > 0.0:
            return w, math.sqrt(sq)
        log_sq = _log_param_norm_sq(B, self.depth, self.ell0, self.lam, t, self.log_kappa, shift)
        return w, math.exp(0.5 * log_sq)

    def outputs(self, tau: float, state: np.ndarray) -> np.ndarray:
        self._fill_weights(tau, self._q(state), None, self._w)
        return self.data.matvec(self._w, self._f)

    def rhs(self, tau: float, state: np.ndarray) -> np.ndarray:
        self.nfev += 1
        t = self._time(tau)
        f = self.outputs(tau, state)
        out = np.empty(self.n)
        _residuals(f, self.y, self.loss_id, self.c + tau + gen.diag_log_rho(self.depth, self.lam, t), out)
        return out

    def jac(self, tau: float, state: np.ndarray) -> np.ndarray:
        self.njev += 1
        t = self._time(tau)
        f = self.outputs(tau, state).copy()
        E = gen.diag_E(self.depth, self.ell0, self.lam, t)
        _log_dweights(self._B, self.depth, E, self.log_kappa, -self.c, self._logs, self._signs)
        top = float(np.max(self._logs))
        col = self._signs * np.exp(self._logs - top)
        logcurv = np.empty(self.n)
        _log_curvatures(f, self.y, self.loss_id, logcurv)
        with np.errstate(over="ignore"):  # an inf row is a genuinely unbounded rate (blow-up); the solver stops
            row = np.exp(tau + gen.diag_log_rho(self.depth, self.lam, t) + logcurv + top - math.log(self.n))
        return row[:, None] * self.data.weighted_gram(col)

    def rescale(self, state: np.ndarray) -> np.ndarray | None:
        """Lower c by a power of two when |y| > 1e100 (exact), so S can grow to O(ln α) at any α."""
        top = float(np.max(np.abs(state)))
        if top <= 1e100:
            return None
        k = math.floor(math.log2(top))
        self.c -= k * math.log(2.0)
        return np.ldexp(state, -k)


@sized_kernel(lambda u, *args: 4 * u.shape[0])
def _full_parts(u, v, g, depth, lam, du, dv):
    for j in numba.prange(u.shape[0]):
        du[j] = gen.diag_flow_u(depth, u[j], g[j], lam)
        dv[j] = gen.diag_flow_v(depth, v[j], g[j], lam)


@sized_kernel(lambda u, *args: 4 * u.shape[0])
def _full_weight(u, v, depth, out):
    for j in numba.prange(u.shape[0]):
        out[j] = gen.diag_weight(depth, u[j], v[j])


class FullDiagonalFlow:
    """The full 2d-dimensional flow du/dt = −L u^{L−1} g − λu, dv/dt = +L v^{L−1} g − λv, g = Xᵀr/n.

    Used to check the reduction (and for small problems); the dense Jacobian
    diag(∂flow/∂θ) − diag(∂w/∂θ)·(Xᵀ diag(ℓ'') X / n)·diag(∂w/∂θ) is formed only when 2d ≤ 4000.
    """

    variable = "t"

    def __init__(self, X, y, *, alpha, lam, depth=2, loss="logistic"):
        self.data = X if isinstance(X, DataMatrix) else DataMatrix(X)
        self.y = np.ascontiguousarray(y, dtype=np.float64)
        self.n, self.d = self.data.n, self.data.d
        self.depth, self.lam, self.alpha = int(depth), float(lam), float(alpha)
        self.loss_id = gen.LOSS_NAMES.index(loss)
        self.u0 = self.alpha / math.sqrt(2.0 * self.d)
        self.nfev = 0
        self.njev = 0

    def start(self):
        return 0.0, np.full(2 * self.d, self.u0)

    @staticmethod
    def to_var(t):
        return np.asarray(t, dtype=np.float64)

    @staticmethod
    def to_time(t):
        return t

    def weight(self, t, state, c=None):
        out = np.empty(self.d)
        _full_weight(state[: self.d], state[self.d:], self.depth, out)
        return out

    def observe(self, t, state, c=None):
        return self.weight(t, state), float(np.linalg.norm(state))

    def _grad(self, state):
        f = self.data.matvec(self.weight(0.0, state))
        r = np.empty(self.n)
        _residuals(f, self.y, self.loss_id, 0.0, r)
        return f, self.data.rmatvec(r, 1.0 / self.n)

    def rhs(self, t, state):
        self.nfev += 1
        _, g = self._grad(state)
        du, dv = np.empty(self.d), np.empty(self.d)
        _full_parts(state[: self.d], state[self.d:], g, self.depth, self.lam, du, dv)
        return np.concatenate([du, dv])

    def jac(self, t, state):
        if 2 * self.d > 4000:
            raise InputError(f"the full formulation forms a dense 2d×2d Jacobian; d={self.d} is too large")
        self.njev += 1
        f, g = self._grad(state)
        u, v = state[: self.d], state[self.d:]
        L = self.depth
        curv = np.array([gen.loss_curvature(self.loss_id, fi, yi) for fi, yi in zip(f, self.y, strict=True)])
        Xf = np.asarray(self.data.X, dtype=np.float64)
        H = (Xf.T * curv) @ Xf / self.n
        dw = np.concatenate([[gen.diag_dweight_du(L, a) for a in u], [gen.diag_dweight_dv(L, b) for b in v]])
        diag = np.concatenate([[gen.diag_dflow_u_du(L, a, gj, self.lam) for a, gj in zip(u, g, strict=True)],
                               [gen.diag_dflow_v_dv(L, b, gj, self.lam) for b, gj in zip(v, g, strict=True)]])
        Hfull = np.block([[H, H], [H, H]])
        J = -(dw[:, None] * Hfull * dw[None, :])
        J[np.diag_indices_from(J)] += diag
        return J

    def rescale(self, state):
        return None
