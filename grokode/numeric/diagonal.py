"""Diagonal-net flows (docs/math.md#diagonal): the exact reduced n-dimensional flow and the full 2d flow.

Every model formula comes from :mod:`grokode.numeric.generated` (derived by sympy); this file only
arranges the arithmetic so that it neither overflows nor cancels for α up to 1e300. At depth L ≥ 3 the
reduced flow re-anchors the closed form (:class:`Anchor`) so that the brackets of
docs/math.md#reduction-depth-l that approach 0 in the late phase keep their digits; the full flow is
integrated in log variables, which do not cancel.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numba
import numpy as np

from ..errors import InputError
from . import generated as gen
from .linalg import DataMatrix
from .parallel import sized_kernel
from .primitives import log_expdiff, sigmoid, softplus
from .solution import InTime

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

# -- re-anchored closed form (depth L ≥ 3; docs/math.md#conditioning) -------------------------------------
# The state holds only the change since the last anchor, δ_j = κ·(Γ_j − Γ_j(t_a)), and the anchor keeps
# A_a = A(z_a), B_a = B(z_a) per coordinate. The closed form restarts exactly from z_a (derived identity):
#     A(z_a + δ) = A(z_a) + A(δ·e^{γA(z_a)}),   e^{−γA} the bracket, e^{γA(z_a)} = 1/bracket at the anchor,
# so a bracket near 0 is carried by its log (in A_a) plus a relative change computed from δ alone.


@numba.njit(cache=True, inline="always")
def _restart_u(depth, gam, a_anchor, ld, sgn):
    """(A(z_a + δ), log|∂A/∂δ|, sign ∂A/∂δ) from A(z_a) and δ = sgn·e^{ld}; NaN past the bracket's zero."""
    e = ld + gam * a_anchor
    rel = sgn * math.exp(e) if e < 700.0 else sgn * math.inf
    a = a_anchor + gen.diag_A(depth, rel)
    da = gen.diag_dA(depth, rel)
    if not (math.isfinite(a) and math.isfinite(da)):
        return math.nan, math.nan, 0.0
    return a, math.log(abs(da)) + gam * a_anchor, math.copysign(1.0, da)


@numba.njit(cache=True, inline="always")
def _restart_v(depth, gam, b_anchor, ld, sgn):
    """The same for B."""
    e = ld + gam * b_anchor
    rel = sgn * math.exp(e) if e < 700.0 else sgn * math.inf
    b = b_anchor + gen.diag_B(depth, rel)
    db = gen.diag_dB(depth, rel)
    if not (math.isfinite(b) and math.isfinite(db)):
        return math.nan, math.nan, 0.0
    return b, math.log(abs(db)) + gam * b_anchor, math.copysign(1.0, db)


@numba.njit(cache=True, inline="always")
def _log_delta(bj, log_kappa, shift):
    """(log|δ|, sign δ) of δ = κ e^{shift} b (log|δ| = −inf at b = 0)."""
    if bj == 0.0:
        return -math.inf, 1.0
    return log_kappa + shift + math.log(abs(bj)), math.copysign(1.0, bj)


@sized_kernel(lambda B, *args: 2 * _TRANSCENDENTAL_COST * B.shape[0])
def _anchored_exponents(B, depth, log_kappa, shift, Aa, Ba, A, Bv):
    """A_j = A(z_j), Bv_j = B(z_j) at z = z_a + κ e^{shift} B (NaN past a bracket's zero)."""
    gam = gen.diag_gamma(depth, 0.0)
    for j in numba.prange(B.shape[0]):
        ld, sgn = _log_delta(B[j], log_kappa, shift)
        A[j] = _restart_u(depth, gam, Aa[j], ld, sgn)[0]
        Bv[j] = _restart_v(depth, gam, Ba[j], ld, sgn)[0]


@sized_kernel(lambda B, *args: 2 * _TRANSCENDENTAL_COST * B.shape[0])
def _anchored_weights(B, depth, E, log_kappa, shift, Aa, Ba, out):
    """w_j = e^E (e^{A} − e^{B}) in the anchored frame, in log form (any E, brackets down to e^{−700})."""
    gam = gen.diag_gamma(depth, 0.0)
    for j in numba.prange(B.shape[0]):
        ld, sgn = _log_delta(B[j], log_kappa, shift)
        a = _restart_u(depth, gam, Aa[j], ld, sgn)[0]
        b = _restart_v(depth, gam, Ba[j], ld, sgn)[0]
        if not (math.isfinite(a) and math.isfinite(b)):
            out[j] = math.nan  # the step crossed a bracket's zero: the solver must reject it
        elif a == b:
            out[j] = 0.0
        else:
            out[j] = math.copysign(math.exp(E + log_expdiff(a, b)), a - b)


@sized_kernel(lambda B, *args: 2 * _TRANSCENDENTAL_COST * B.shape[0])
def _anchored_log_dweights(B, depth, E, log_kappa, shift, Aa, Ba, logs, signs):
    """(log|∂w/∂Γ|, sign): ∂w/∂Γ = κ e^E (∂A/∂δ e^{A} − ∂B/∂δ e^{B}) in the anchored frame."""
    gam = gen.diag_gamma(depth, 0.0)
    for j in numba.prange(B.shape[0]):
        ld, sgn = _log_delta(B[j], log_kappa, shift)
        a, la, sa = _restart_u(depth, gam, Aa[j], ld, sgn)
        b, lb, sb = _restart_v(depth, gam, Ba[j], ld, sgn)
        m = max(la + a, lb + b)
        bracket = sa * math.exp(la + a - m) - sb * math.exp(lb + b - m)
        logs[j] = E + log_kappa + m + math.log(abs(bracket))
        signs[j] = math.copysign(1.0, bracket)


@sized_kernel(lambda B, *args: 2 * _TRANSCENDENTAL_COST * B.shape[0])
def _anchored_log_param_norm_sq(B, depth, ell0, lam, t, log_kappa, shift, Aa, Ba):
    """log ‖θ‖² = 2(ℓ0 − λt) + log Σ_j (e^{2A_j/L} + e^{2B_j/L}) in the anchored frame."""
    gam = gen.diag_gamma(depth, 0.0)
    n = B.shape[0]
    terms = np.empty(2 * n)
    for j in numba.prange(n):
        ld, sgn = _log_delta(B[j], log_kappa, shift)
        terms[j] = 2.0 * _restart_u(depth, gam, Aa[j], ld, sgn)[0] / depth
        terms[n + j] = 2.0 * _restart_v(depth, gam, Ba[j], ld, sgn)[0] / depth
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


#: The Jacobian's Gram part is rebuilt only when ∂w/∂q (normalized to max 1) moved by more than this
#: (ReducedDiagonalFlow._gram)
GRAM_REUSE = 1e-4
#: Re-anchor when a bracket has shrunk by this factor since the last anchor (docs/math.md#conditioning):
#: between anchors a bracket is known to rtol·(its change)/(its value) ≤ rtol·(ANCHOR_FACTOR − 1) relative.
ANCHOR_FACTOR = 10.0
_LOG_ANCHOR_FACTOR = math.log(ANCHOR_FACTOR)
#: Squared loss: follow the interpolating manifold when max|f − y| < QS_ENTER·max|y|, leave it when the
#: misfit of the exact flow would exceed QS_LEAVE·max|y| (ReducedDiagonalFlow.rescale).
QS_ENTER = 1e-9
QS_LEAVE = 1e-7
_START_LOG_SCALE = math.log(1e3)  # y(τ0) ~ 1e-3, so atol 1e-9 is ~rtol of it (ReducedDiagonalFlow)


@dataclass(frozen=True)
class Anchor:
    """Where the depth-L closed form was last restarted (re-anchoring, docs/math.md#conditioning).

    ``A``, ``B`` (d,) are A(z_j), B(z_j) at the anchor: (e^{λt}u_j/u0)^L = e^{A_j}, and e^{−γA_j} is u's bracket
    u0^{L−2}((e^{λt}u_j)^{2−L}) = 1 + ((L−2)/L)·z_j, so a bracket down to e^{−700} keeps all its digits in its
    log. ``level`` is −log of the smallest bracket there.
    """

    A: np.ndarray
    B: np.ndarray
    level: float


class ReducedDiagonalFlow:
    """Exact reduction of the depth-L diagonal-net flow to n unknowns (docs/math.md#reduction-depth-l).

    State: y = e^{c}·S with S_i(t) = ∫₀ᵗ ρ(s) r_i(s) ds, ρ = e^{−(L−2)λs}; independent variable
    τ = log t. So dy/dτ = e^{c+τ} ρ(t) r(f), f = X w(q, t), q = XᵀS/n, and w comes from the derived
    closed form. Log-time makes the kernel phase (time scale ~ n/α²) and the rich phase (~ 1/λ) equally
    resolvable; the scale c keeps y = O(1) in the kernel phase and is lowered by exact powers of two when
    |y| grows (:meth:`rescale`), so no quantity over- or underflows even at α = 1e300. The Jacobian
    ∂ẏ_i/∂y_k = e^{τ}ρ ℓ''_i Σ_j x_ij (∂w_j/∂q_j) x_kj / n is analytic (derived), assembled with BLAS.
    The closed forms use t only through λt; at λ = 0 (no weight decay, issue #9) that product is taken as
    exactly 0 without forming t = e^τ, so the flow runs to the float64 end of time (t ≈ 1e308, τ ≈ 709).

    Depth L ≥ 3, re-anchoring (docs/math.md#conditioning): in the late phase the bracket 1 ∓ ((L−2)/L)·z_j of
    an active coordinate tends to 0 like e^{−(L−2)λt}; as a difference of two O(1) numbers from a state whose
    error is relative to |S| it would lose every digit. Whenever a bracket has shrunk by :data:`ANCHOR_FACTOR`
    since the last anchor, :meth:`rescale` restarts the closed form at the current point (:class:`Anchor`
    keeps A, B there, i.e. the log brackets), zeroes the state (it then holds S − S_anchor, which the
    solver controls relative to the changes since the anchor) and picks c so that y = O(1) when the smallest
    bracket has changed by its own size. A bracket is then never known worse than ~rtol·ANCHOR_FACTOR
    relative. The pair (c, anchor) is the *frame* of a state (:meth:`frame`); dense output must be read in
    the frame of its solver piece. Depth 2 has no bracket (its closed form is exponential) and never anchors.

    The exact flow cannot blow up at any finite t (gradient flow of a loss ≥ 0: ‖θ(t) − θ(0)‖² ≤
    t·L̂_λ(θ(0))); a bracket that still crosses 0 is a failure of the numerics, reported as such.
    """

    variable = "log_t"
    #: Largest step in τ = log t. The state grows at most like e^τ, so one step cannot carry it from the
    #: rescaling threshold (1e100) into overflow (e^10 ≪ 1e208); a step whose end is not finite anyway (a
    #: nonlinear flow extrapolated too far) is redone shorter by the driver. Steps of 1 would cost ~ln(α²)
    #: steps through a kernel phase that begins at t ~ n/α².
    max_step = 10.0

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
        # No bound on α: every α-dependent quantity (u0^L, κ = L²u0^{L−2}, the rates) is kept as its log, and
        # depth ≥ 3 runs to α = 1e300 (measured; the former refusal at (L−2)·log u0 > 650 is gone).
        # Initial stiffness: |λ_max| of the t-Jacobian at S = 0 is about ℓ''(0)|∂w/∂q|(0)·mean‖x‖²/n.
        sq = self.data.squared_norm()
        ld0, _ = log_dweight_dq(self.depth, gen.diag_E(self.depth, self.ell0, self.lam, 0.0), self.log_kappa,
                                -math.inf, 0.0)
        logc0 = max(gen.loss_log_curvature(self.loss_id, 0.0, float(v)) for v in self.y[:1])
        self.log_rate0 = logc0 + ld0 + math.log(max(sq, 1e-300) / self.n) - math.log(self.n)
        # y = e^c S: S ~ 1/rate in the kernel phase. At τ0 the state would be ~1e-6 with c = log rate, and atol =
        # 1e-9 alone would bound its early relative error (by 1e-3; measured 4.3e-4 in w at depth 2, 1.5e-4 at
        # depth 3). Starting 1e3 higher (y(τ0) ~ 1e-3) makes atol ~rtol of the state: 7e-7 at depth 2 (the same
        # case), and the default run's t* and RHS count are unchanged (4411.0776; 963 against 966 RHS).
        self._init_run_state()
        self._init_growth(self.ell0)
        self.gamma = gen.diag_gamma(self.depth, 0.0)
        self.failure_hint = (" (a bracket of the depth-L closed form crossed zero: the reduction lost its accuracy;"
                             " the exact flow cannot blow up)" if self.depth > 2 else "")

    def _init_run_state(self) -> None:
        """The frame, mode and work buffers of a fresh run (needs ``log_rate0``, ``y``, ``n``, ``d``); shared with
        :class:`~grokode.numeric.separable.ReducedSeparableFlow`."""
        # At small α the closed form turns nonlinear (|z| = κ|q| ~ 1, incremental learning) long before the kernel
        # rate ~u0^L acts: the start must precede both, or the first step would skip the first activations.
        r0 = np.array([gen.loss_residual(self.loss_id, 0.0, v) for v in self.y])
        g0 = float(np.max(np.abs(self.data.rmatvec(r0, 1.0 / self.n))))
        if g0 > 0.0:
            self.log_rate0 = max(self.log_rate0, self._log_clock_scale() + math.log(g0))
        if self.lam > 0.0:  # and before the decay acts (when nothing activates, the run lasts a few 1/λ)
            self.log_rate0 = max(self.log_rate0, math.log(self.lam))
        self.c0 = self.log_rate0 + _START_LOG_SCALE
        self.c = self.c0
        self.anchor = None
        self.anchors = 0
        self.quasi_static = False
        self.mode_switches = 0
        self._misfit = math.nan
        self._y_scale = max(float(np.max(np.abs(self.y))), 1e-300)
        self._B = np.empty(self.d)
        self._w = np.empty(self.d)
        self._f = np.empty(self.n)
        self._logs = np.empty(self.d)
        self._signs = np.empty(self.d)
        self._zeros = np.zeros(self.d)
        self.nfev = 0
        self.njev = 0

    def stop_reason(self) -> str | None:
        """Why the run ends here, or None (the driver asks after every step).

        With ``stop_at_fit`` (set by the model for the squared loss at λ = 0 without a horizon of the user's): the
        flow has entered its slow-manifold mode (max|f − y| < :data:`QS_ENTER`·max|y|, see :meth:`rescale`), on
        which at λ = 0 nothing moves: Ṡ = r = 2(f − y), so the velocity is below 2·QS_ENTER·max|y| too, and the
        rest of the flow moves w by O(QS_ENTER) relative (docs/math.md#lam0-regression).
        """
        if getattr(self, "stop_at_fit", False) and self.quasi_static and self.lam == 0.0:
            return (f"stopped at interpolation: max|f − y| < {QS_ENTER:g}·max|y| (the flow at λ = 0 is at rest "
                    "there)")
        return None

    def _log_clock_scale(self) -> float:
        """log of the scale κ at which the clock q = XᵀS/n makes the closed form nonlinear (z = κq)."""
        return self.log_kappa

    def _init_growth(self, log_scale0: float) -> None:
        """The kernel phase's growth factor of the state (docs/math.md#conditioning), from log u0 = ``log_scale0``.

        While the closed form is linear (κ|q| ≪ 1) the fitted outputs f = X w stay O(1) although w's scale
        e^{E} decays like e^{−Lλt}: q, hence S, grows like e^{Lλt}, until κ|q| ~ 1 at t_s = log(u0)/λ. The frame's
        scale is therefore c + φ(t) with φ(t) = softplus(Lλ(t_s − t)) − softplus(Lλ t_s) (≈ −Lλt before t_s, constant
        after), so that y = e^{c+φ}S stays O(1) through the whole kernel phase instead of growing like e^{Lλt}:
        the error control then no longer needs ~Lλt_s = L·ln u0 steps to follow that growth.
        """
        g = self.depth * self.lam
        self._growth = g if g > 0.0 and log_scale0 > 0.0 else 0.0
        self._growth_end = log_scale0 / self.lam if self._growth else 0.0
        self._phi_end = softplus(self._growth * self._growth_end)

    def scale_offset(self, tau: float, anchor=None) -> tuple[float, float]:
        """(φ, dφ/dτ) at τ = log t: the scale at τ of a frame (c, ``anchor``) is c + φ (see :meth:`_init_growth`).

        0 in an anchored frame, whose state is a change since the anchor: its scale is fixed when it is anchored.
        """
        if not self._growth or anchor is not None:
            return 0.0, 0.0
        t = math.exp(tau)
        x = self._growth * (self._growth_end - t)
        return softplus(x) - self._phi_end, -t * self._growth * sigmoid(x)

    def _c_at(self, tau: float, c: float, anchor) -> float:
        return c + self.scale_offset(tau, anchor)[0]

    # -- time <-> solver variable --------------------------------------------------------------------
    def start(self) -> tuple[float, np.ndarray]:
        """(τ0, y(τ0)): start where the kernel phase has not begun, S ≈ ρ(0) r(f=0) t (in the initial frame)."""
        # a second run of the same flow (auto's fallback) starts afresh
        self.c, self.anchor, self.quasi_static, self._misfit = self.c0, None, False, math.nan
        tau0 = math.log(1e-6) - self.log_rate0
        r0 = np.array([gen.loss_residual(self.loss_id, 0.0, v) for v in self.y])
        return tau0, math.exp(self._c_at(tau0, self.c, None) + tau0) * r0

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

    def _log_rho(self, t: float) -> float:
        """log ρ(t) = −(L−2)λt, the factor of the reduced flow dS/dt = ρ(t)·r(f)."""
        return gen.diag_log_rho(self.depth, self.lam, t)

    def frame(self) -> tuple[float, Anchor | None]:
        """The frame of the current state: (c, anchor). Opaque to the driver, which hands it back."""
        return self.c, self.anchor

    #: The class of this flow's anchors (:meth:`restore_frame` rebuilds them).
    anchor_class: type = Anchor

    def export_frame(self, frame) -> dict:
        """A frame and the flow's mode, as plain values and arrays, for a run that continues from a saved state."""
        c, anchor = frame
        out = {"c": float(c), "quasi_static": bool(self.quasi_static)}
        if anchor is not None:
            out["anchor"] = {f.name: getattr(anchor, f.name) for f in dataclasses.fields(anchor)}
        return out

    def restore_frame(self, saved: dict | None) -> None:
        """The inverse of :meth:`export_frame`: the flow continues in that frame and mode."""
        if saved is None:
            return
        self.c = float(saved["c"])
        self.quasi_static = bool(saved.get("quasi_static", False))
        anchor = saved.get("anchor")
        self.anchor = None if anchor is None else self.anchor_class(**{
            k: (float(v) if np.ndim(v) == 0 else np.ascontiguousarray(v)) for k, v in anchor.items()})

    # -- kernels --------------------------------------------------------------------------------------
    def _q(self, state):
        return self.data.rmatvec(state, 1.0 / self.n, self._B)  # q = e^{-c}·B

    def _fill_weights(self, tau: float, B: np.ndarray, frame, out: np.ndarray) -> np.ndarray:
        c, anchor = self.frame() if frame is None else frame
        c = self._c_at(tau, c, anchor)
        E = gen.diag_E(self.depth, self.ell0, self.lam, self._time(tau))
        if anchor is None:
            _weights(B, self.depth, E, self.log_kappa, -c, out)
        else:
            _anchored_weights(B, self.depth, E, self.log_kappa, -c, anchor.A, anchor.B, out)
        return out

    def weight(self, tau: float, state: np.ndarray, frame=None) -> np.ndarray:
        """Effective weight w (d,) at τ = log t from the state y in ``frame`` (default: the current one)."""
        return self._fill_weights(tau, self._q(state), frame, np.empty(self.d))

    def observe(self, tau: float, state: np.ndarray, frame=None) -> tuple[np.ndarray, float]:
        """(w, ‖θ‖) at τ = log t; ‖θ‖ from the closed form (α·e^{−λt} while the state is small)."""
        c, anchor = self.frame() if frame is None else frame
        B = self._q(state)
        t = self._time(tau)
        w = np.empty(self.d)
        if anchor is not None:
            self._fill_weights(tau, B, (c, anchor), w)
        c = self._c_at(tau, c, anchor)
        if anchor is not None:
            log_sq = _anchored_log_param_norm_sq(B, self.depth, self.ell0, self.lam, t, self.log_kappa, -c,
                                                 anchor.A, anchor.B)
            return w, math.exp(0.5 * log_sq)
        sq = _weights_and_norm_sq(B, self.depth, gen.diag_E(self.depth, self.ell0, self.lam, t), self.log_kappa,
                                  -c, w)
        if math.isfinite(sq) and sq > 0.0:
            return w, math.sqrt(sq)
        log_sq = _log_param_norm_sq(B, self.depth, self.ell0, self.lam, t, self.log_kappa, -c)
        return w, math.exp(0.5 * log_sq)

    def outputs(self, tau: float, state: np.ndarray) -> np.ndarray:
        self._fill_weights(tau, self._q(state), None, self._w)
        return self.data.matvec(self._w, self._f)

    def rhs(self, tau: float, state: np.ndarray) -> np.ndarray:
        self.nfev += 1
        if self.quasi_static:
            return self._quasi_static_rhs(tau, state)
        t = self._time(tau)
        f = self.outputs(tau, state)
        out = np.empty(self.n)
        phi, dphi = self.scale_offset(tau, self.anchor)
        _residuals(f, self.y, self.loss_id, self.c + phi + tau + self._log_rho(t), out)
        if dphi:
            out += dphi * state
        if self.loss == "squared":
            self._misfit = float(np.max(np.abs(f - self.y))) / self._y_scale
        return out

    def _log_dweights_now(self, tau: float) -> float:
        """log|∂w/∂Γ| and signs at self._B (current frame) into self._logs, self._signs; returns their max."""
        E = gen.diag_E(self.depth, self.ell0, self.lam, self._time(tau))
        c = self._c_at(tau, self.c, self.anchor)
        if self.anchor is None:
            _log_dweights(self._B, self.depth, E, self.log_kappa, -c, self._logs, self._signs)
        else:
            _anchored_log_dweights(self._B, self.depth, E, self.log_kappa, -c, self.anchor.A, self.anchor.B,
                                   self._logs, self._signs)
        return float(np.max(self._logs))

    def _quasi_static_rhs(self, tau: float, state: np.ndarray) -> np.ndarray:
        """dy/dτ on the slow manifold f(S, t) = y of the squared loss (see :meth:`rescale`).

        Differentiating f = X w(Γ, t) with ∂w/∂t = −Lλw (at fixed Γ): X diag(∂w/∂Γ) Xᵀ Ṡ/n = Lλ f = Lλ y.
        The exact flow stays within |f − y| ≈ |Ṡ|/(2ρ) of it, which this also returns (in ``self._misfit``).
        """
        t = self._time(tau)
        self._q(state)
        top = self._log_dweights_now(tau)
        M = self.data.weighted_gram(self._signs * np.exp(self._logs - top)) / self.n  # X D Xᵀ/n · e^{−top}
        try:
            v = np.linalg.solve(M, self.y)
        except np.linalg.LinAlgError:
            return np.full(self.n, np.nan)
        log_lam = math.log(self.depth * self.lam) if self.lam > 0.0 else -math.inf
        with np.errstate(over="ignore"):
            phi, dphi = self.scale_offset(tau, self.anchor)
            out = np.exp(self.c + phi + tau + log_lam - top) * v + dphi * state  # e^{c+φ}·t·Ṡ + (dφ/dτ)·y
            sdot = np.exp(log_lam - top - self._log_rho(t)) * v  # Ṡ/ρ = r
        self._misfit = 0.5 * float(np.max(np.abs(sdot))) / self._y_scale
        return out

    def jac(self, tau: float, state: np.ndarray) -> np.ndarray:
        self.njev += 1
        dphi = self.scale_offset(tau, self.anchor)[1]
        if self.quasi_static:  # the slow-manifold flow is not stiff (rates ~λ): no Jacobian needed
            return dphi * np.eye(self.n)
        t = self._time(tau)
        f = self.outputs(tau, state).copy()
        top = self._log_dweights_now(tau)
        col = self._signs * np.exp(self._logs - top)
        logcurv = np.empty(self.n)
        _log_curvatures(f, self.y, self.loss_id, logcurv)
        with np.errstate(over="ignore"):  # an inf row is a genuinely unbounded rate; the solver stops
            row = np.exp(tau + self._log_rho(t) + logcurv + top - math.log(self.n))
        J = row[:, None] * self._gram(col)
        if not np.all(np.isfinite(J)) and self.depth > 2 and not np.isfinite(top):
            # a trial point past a bracket's zero (w is NaN there): a finite Jacobian lets the implicit solver
            # evaluate the point, see the NaN residual and shorten the step, instead of failing in its LU
            J = np.zeros((self.n, self.n))
        if dphi:
            J[np.diag_indices_from(J)] += dphi
        return J

    def _gram(self, col: np.ndarray) -> np.ndarray:
        """X diag(col) Xᵀ (n×n, the Jacobian's costly part, n²d), or the last one built when its col was within
        :data:`GRAM_REUSE` of this one (max-normalized, entrywise).

        The Jacobian only steers the Newton iterations, so a relative error of GRAM_REUSE in it changes the
        convergence rate, not the solution. In the kernel phase col = ∂w/∂q is nearly the same constant for every
        coordinate (the closed form is linear there), while LSODA/BDF ask for a new Jacobian whenever the step
        changes: at large α that is ~10× more builds than at α = 1e3.
        """
        cached = getattr(self, "_gram_cache", None)
        if cached is not None and float(np.max(np.abs(col - cached[0]))) <= GRAM_REUSE:
            return cached[1]
        gram = self.data.newton_gram(col)  # float32 arithmetic: the Jacobian only steers Newton (linalg.newton_gram)
        self._gram_cache = (col.copy(), gram)
        self.grams = getattr(self, "grams", 0) + 1
        return gram

    # -- saved states as files ----------------------------------------------------------------------------
    @staticmethod
    def encode_frames(frames: list) -> dict[str, np.ndarray]:
        """The frames of saved states as arrays (for a trajectory file that stores states instead of w).

        ``state_c`` (T) holds each state's scale c (NaN before the start, where w = 0); ``state_anchor`` (T) the
        index of its :class:`Anchor` in ``anchor_A``, ``anchor_B`` (F×d), ``anchor_level`` (F), or −1 for none.
        ``state_growth`` marks that an unanchored state's scale at t is c + φ(t) (:meth:`scale_offset`); files
        without it were written when the scale was c alone.
        """
        index: dict[int, int] = {}
        anchors: list[Anchor] = []
        c = np.full(len(frames), np.nan)
        which = np.full(len(frames), -1, dtype=np.int64)
        for k, frame in enumerate(frames):
            if frame is None:
                continue
            c[k], anchor = frame
            if anchor is not None:
                if id(anchor) not in index:
                    index[id(anchor)] = len(anchors)
                    anchors.append(anchor)
                which[k] = index[id(anchor)]
        out = {"state_c": c, "state_anchor": which, "state_growth": np.ones(1)}
        if anchors:
            out["anchor_A"] = np.stack([a.A for a in anchors])
            out["anchor_B"] = np.stack([a.B for a in anchors])
            out["anchor_level"] = np.array([a.level for a in anchors])
        return out

    def decode_frames(self, arrays) -> list:
        """The inverse of :meth:`encode_frames` (``arrays`` also holds the saved times ``t``)."""
        anchors = []
        if "anchor_A" in arrays:
            anchors = [Anchor(A=np.ascontiguousarray(a), B=np.ascontiguousarray(b), level=float(lv))
                       for a, b, lv in zip(arrays["anchor_A"], arrays["anchor_B"], arrays["anchor_level"], strict=True)]
        c = np.array(arrays["state_c"], dtype=np.float64)
        if "state_growth" not in arrays:  # an older file: its unanchored states' scale is c itself, without φ(t)
            for k, (t, i) in enumerate(zip(arrays["t"], arrays["state_anchor"], strict=True)):
                if i < 0 and np.isfinite(c[k]):
                    c[k] -= self.scale_offset(float(self.to_var(t)))[0]
        return [None if not np.isfinite(ck) else (float(ck), anchors[i] if i >= 0 else None)
                for ck, i in zip(c, arrays["state_anchor"], strict=True)]

    def weights_of_states(self, t: np.ndarray, states: np.ndarray, frames: list, rows=None) -> np.ndarray:
        """w (len(rows)×d) of saved states at times ``t`` in their frames (zero before the start)."""
        rows = range(len(t)) if rows is None else rows
        out = np.zeros((len(rows), self.d))
        for i, k in enumerate(rows):
            if frames[k] is not None:
                out[i] = self.observe(float(self.to_var(t[k])), np.ascontiguousarray(states[k]), frames[k])[0]
        return out

    def exponents(self, state: np.ndarray, frame=None, tau: float = -math.inf) -> tuple[np.ndarray, np.ndarray]:
        """(A, B) (d,) at the state in ``frame`` at τ = log t (default t = 0): (e^{λt}u_j/u0)^L = e^{A_j},
        (e^{λt}v_j/u0)^L = e^{B_j} (L ≥ 3)."""
        c, anchor = self.frame() if frame is None else frame
        c = self._c_at(tau, c, anchor)
        A, Bv = np.empty(self.d), np.empty(self.d)
        Aa, Ba = (self._zeros, self._zeros) if anchor is None else (anchor.A, anchor.B)
        _anchored_exponents(self._q(state), self.depth, self.log_kappa, -c, Aa, Ba, A, Bv)
        return A, Bv

    #: |y| above which :meth:`rescale` lowers c by a power of two (an instance may lower it: the tests force rescales)
    rescale_above = 1e100
    #: :meth:`rescale` takes the solver's variable τ too (the frame's scale depends on it, :meth:`scale_offset`).
    rescale_takes_var = True

    def rescale(self, state: np.ndarray, tau: float = -math.inf) -> np.ndarray | None:
        """A new state (and frame) to restart from, or None. Called by the driver after every step, at τ.

        Re-anchors (depth ≥ 3, see the class docstring) when a bracket has shrunk by :data:`ANCHOR_FACTOR`
        since the last anchor; otherwise lowers c by a power of two when |y| > 1e100 (exact), so S can grow
        to O(ln α) at any α.

        Squared loss: once the fit is tight (max|f − y| < :data:`QS_ENTER`·max|y|), the relaxation onto the
        interpolating manifold is faster than λ by the same factor (its rate is ~α²e^{−2λt}), a stiffness the
        solvers cannot step through in float64 (the residual is rounding noise times that rate). The flow
        then follows the manifold itself (:meth:`_quasi_static_rhs`, exact up to the misfit it neglects)
        until the misfit the exact flow would have, |Ṡ|/(2ρ), exceeds :data:`QS_LEAVE`·max|y|; then the
        exact flow resumes from there.
        """
        if self.loss == "squared" and math.isfinite(self._misfit):
            switch = self._misfit > QS_LEAVE if self.quasi_static else self._misfit < QS_ENTER
            if switch:
                self.quasi_static = not self.quasi_static
                self.mode_switches += 1
                self._misfit = math.nan
                return state.copy()
        if self.depth > 2:
            restarted = self._reanchor(state, tau)
            if restarted is not None:
                return restarted
        top = float(np.max(np.abs(state)))
        if top <= self.rescale_above:
            return None
        k = math.floor(math.log2(top))
        self.c -= k * math.log(2.0)
        return np.ldexp(state, -k)

    def _reanchor(self, state: np.ndarray, tau: float) -> np.ndarray | None:
        """Depth ≥ 3: a new anchor and the zero state to restart from, or None (see :meth:`rescale`)."""
        A, Bv = self.exponents(state, tau=tau)
        Aa, Ba = (self._zeros, self._zeros) if self.anchor is None else (self.anchor.A, self.anchor.B)
        with np.errstate(invalid="ignore"):
            shrink = self.gamma * max(float(np.max(A - Aa)), float(np.max(Bv - Ba)))
        if shrink > _LOG_ANCHOR_FACTOR:  # False when NaN: the solver sees the NaN first
            level = self.gamma * max(float(np.max(A)), float(np.max(Bv)))
            self.anchor = Anchor(A, Bv, level)
            self.anchors += 1
            # unit change of y moves the smallest bracket by its own size (its δ_rel = 1/γ)
            self.c = math.log(self.gamma) + self.log_kappa + level + math.log(self._mean_abs_x())
            return np.zeros_like(state)
        return None

    def _mean_abs_x(self) -> float:
        if getattr(self, "_mabs", None) is None:
            self._mabs = 1.0 if self.data.dtype == np.int8 else float(np.mean(np.abs(self.data.X)))
        return self._mabs


@sized_kernel(lambda u, *args: 4 * u.shape[0])
def _full_parts(u, v, g, depth, lam, du, dv):
    for j in numba.prange(u.shape[0]):
        du[j] = gen.diag_flow_u(depth, u[j], g[j], lam)
        dv[j] = gen.diag_flow_v(depth, v[j], g[j], lam)


@sized_kernel(lambda u, *args: 4 * u.shape[0])
def _full_weight(u, v, depth, out):
    for j in numba.prange(u.shape[0]):
        out[j] = gen.diag_weight(depth, u[j], v[j])


@sized_kernel(lambda a, *args: 4 * _TRANSCENDENTAL_COST * a.shape[0])
def _log_full_parts(a, b, depth, ell0, lam_t, out_w, log_pa, log_pb):
    """w_j = u0^L e^{−Lλt}(e^{La_j} − e^{Lb_j}) and log of the rates p = L u0^{L−2} e^{(L−2)(a − λt)} (same for b)."""
    L = depth
    E = L * (ell0 - lam_t)
    for j in numba.prange(a.shape[0]):
        la, lb = L * a[j], L * b[j]
        out_w[j] = 0.0 if la == lb else math.copysign(math.exp(E + log_expdiff(la, lb)), la - lb)
        log_pa[j] = math.log(L) + (L - 2) * (ell0 + a[j] - lam_t)
        log_pb[j] = math.log(L) + (L - 2) * (ell0 + b[j] - lam_t)


class FullDiagonalFlow(InTime):
    """The full 2d-dimensional flow (docs/math.md#diagonal-flow) in log variables that do not cancel.

    With Θ = e^{λt}θ, a_j = log(Θ_{u,j}/u0), b_j = log(Θ_{v,j}/u0), the flow du/dt = −L u^{L−1} g − λu,
    dv/dt = +L v^{L−1} g − λv (g = Xᵀr/n) becomes

        da/dt = −L u0^{L−2} e^{(L−2)(a − λt)} g,   db/dt = +L u0^{L−2} e^{(L−2)(b − λt)} g,
        w = u0^L e^{−Lλt} (e^{La} − e^{Lb}),

    a(0) = b(0) = 0. The state is σ·(a, b), σ = max(1, 2L u0^L), so that it is ≈ e^{Lλt}w in the kernel phase,
    where a ≈ −b ≈ w/(2L u0^L) are tiny: there w = u^L − v^L of the plain variables cancels (u ≈ v ≈ u0) and
    loses ~log10(L u0^L/|w|) digits, while e^{La} − e^{Lb} here is formed from a − b (no cancellation, a and b
    have opposite signs). In the late phase a = O(λt), so w is known to ~L·|a|·(state error): measured against
    an independent integration (tests/numerics/test_depth_accuracy.py) the relative error in w at the default tolerances
    (rtol 1e-6, atol 1e-9) is ≤ 1e-4 (L 2…6, α ≤ 1e6). Used to check the reduction, and for small problems;
    the dense Jacobian is formed only when 2d ≤ 4000. α must keep 2L·u0^L in float64 (L·log u0 ≤ 700).
    The saved states (:meth:`export_state`) are (u, v). :class:`PlainFullDiagonalFlow` is the same flow
    integrated in (u, v).
    """

    def __init__(self, X, y, *, alpha, lam, depth=2, loss="logistic"):
        check_loss_and_depth(loss, depth)
        self.data = X if isinstance(X, DataMatrix) else DataMatrix(X)
        self.y = np.ascontiguousarray(y, dtype=np.float64)
        self.n, self.d = self.data.n, self.data.d
        self.depth, self.lam, self.alpha = int(depth), float(lam), float(alpha)
        self.loss_id = gen.LOSS_NAMES.index(loss)
        self.ell0 = math.log(self.alpha) - 0.5 * math.log(2.0 * self.d)
        log_sigma = math.log(2.0 * self.depth) + self.depth * self.ell0
        if log_sigma > 700.0:
            raise InputError(f"alpha={alpha:g} is too large for the full formulation at depth {depth} "
                             f"(2L·u0^L = e^{log_sigma:.0f} overflows float64; use the reduced formulation)")
        self.sigma = math.exp(max(0.0, log_sigma))
        self.u0 = math.exp(self.ell0)
        self._w = np.empty(self.d)
        self._la = np.empty(self.d)
        self._lb = np.empty(self.d)
        self.nfev = 0
        self.njev = 0

    def start(self):
        return 0.0, np.zeros(2 * self.d)

    def _parts(self, t, state):
        ab = state / self.sigma
        _log_full_parts(ab[: self.d], ab[self.d:], self.depth, self.ell0, self.lam * t, self._w, self._la, self._lb)
        return ab

    def weight(self, t, state, frame=None):
        self._parts(t, state)
        return self._w.copy()

    def observe(self, t, state, frame=None):
        ab = self._parts(t, state)
        terms = 2.0 * ab
        top = float(np.max(terms))
        log_sq = 2.0 * (self.ell0 - self.lam * t) + top + math.log(float(np.sum(np.exp(terms - top))))
        return self._w.copy(), math.exp(0.5 * log_sq)

    def export_state(self, t, state):
        """(u, v) = u0 e^{(a, b) − λt}: what the run saves as its states (``FlowSolution.states``)."""
        return np.exp(self.ell0 + state / self.sigma - self.lam * t)

    def _grad(self, t, state):
        ab = self._parts(t, state)
        f = self.data.matvec(self._w)
        r = np.empty(self.n)
        _residuals(f, self.y, self.loss_id, 0.0, r)
        return ab, f, self.data.rmatvec(r, 1.0 / self.n)

    def rhs(self, t, state):
        self.nfev += 1
        _, _, g = self._grad(t, state)
        return self.sigma * np.concatenate([-np.exp(self._la) * g, np.exp(self._lb) * g])

    def jac(self, t, state):
        """∂(σ ȧ_j)/∂(σ a_k) = −p_j((L−2) g_j δ_jk + H_jk ∂w_k/∂a_k) with H = Xᵀ diag(ℓ'') X / n (same for b)."""
        if 2 * self.d > 4000:
            raise InputError(f"the full formulation forms a dense 2d×2d Jacobian; d={self.d} is too large")
        self.njev += 1
        ab, f, g = self._grad(t, state)
        L = self.depth
        logcurv = np.empty(self.n)
        _log_curvatures(f, self.y, self.loss_id, logcurv)
        Xf = np.asarray(self.data.X, dtype=np.float64)
        H = (Xf.T * np.exp(logcurv)) @ Xf / self.n
        E = L * (self.ell0 - self.lam * t)
        dw = L * np.concatenate([np.exp(E + L * ab[: self.d]), -np.exp(E + L * ab[self.d:])])  # ∂w/∂a, ∂w/∂b
        p = np.concatenate([-np.exp(self._la), np.exp(self._lb)])  # ∂ȧ/∂g, ∂ḃ/∂g
        J = p[:, None] * np.block([[H, H], [H, H]]) * dw[None, :]
        J[np.diag_indices_from(J)] += (L - 2) * p * np.concatenate([g, g])
        return J

    def rescale(self, state):
        return None


class PlainFullDiagonalFlow(InTime):
    """The full 2d-dimensional flow du/dt = −L u^{L−1} g − λu, dv/dt = +L v^{L−1} g − λv, g = Xᵀr/n, in (u, v).

    The generated kernels as they are (docs/math.md#diagonal-flow), for checking them; w = u^L − v^L cancels
    while u ≈ v ≈ u0, so integrating in these variables loses digits at large α (use :class:`FullDiagonalFlow`).
    The dense Jacobian diag(∂flow/∂θ) − diag(∂w/∂θ)·(Xᵀ diag(ℓ'') X / n)·diag(∂w/∂θ) is formed only when 2d ≤ 4000.
    """

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
