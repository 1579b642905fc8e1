"""The depth-L diagonal net's closed form as numba kernels (docs/math.md#reduction-depth-l, #conditioning).

The reduced flow (:class:`grokode.numeric.diagonal.ReducedDiagonalFlow`) reads w from the clock q = XᵀS/n
through the derived closed form w_j = e^E (e^{A(z_j)} − e^{B(z_j)}), z = κq (:mod:`grokode.numeric.generated`).
These kernels arrange its arithmetic so that it neither overflows nor cancels for α up to 1e300: the exact
log path (:func:`weight_from_q`) everywhere, faster paths where the scale factors are representable, and the
re-anchored form (depth L ≥ 3) that restarts the closed form at an anchor so a bracket near 0 keeps its digits.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ..errors import InputError
from . import generated as gen
from .parallel import sized_kernel
from .primitives import log_expdiff

LOG_LINEAR = math.log(1e-8)  # below |z| = 1e-8, e^A − e^B = slope·z to relative error < 1e-16
TRANSCENDENTAL_COST = 16  # an element of the closed form costs a few exp/log: ~16 multiply-adds
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
    """(K, lin, eE): z = K·B, the linear regime's w = lin·B and e^E, or 0 where they are not representable."""
    K = math.exp(log_kappa + shift) if abs(log_kappa + shift) < 690.0 else 0.0
    slope = gen.diag_slope(depth, 0.0)
    lin_log = E + math.log(abs(slope)) + log_kappa + shift
    lin = math.copysign(math.exp(lin_log), slope) if abs(lin_log) < 690.0 else 0.0
    eE = math.exp(E) if abs(E) < 690.0 else 0.0
    return K, lin, eE


@numba.njit(cache=True, inline="always")
def _weight_and_term(bj, depth, E, log_kappa, shift, K, lin, eE):
    """(w_j, e^E(e^{A(z)} + e^{B(z)})): the weight and, for depth 2, its coordinate's share of ‖θ‖², from the
    same exponentials. The term is NaN where only the exact log path (:func:`weight_from_q`) applies."""
    # Fast paths avoid per-element logs when the scale factors are representable; the log path is exact
    # everywhere and is the reference they are tested against.
    if bj == 0.0:
        return 0.0, 2.0 * eE if eE != 0.0 else math.nan
    if K != 0.0:
        z = K * bj
        az = abs(z)
        if az < 1e-8 and lin != 0.0:
            return lin * bj, 2.0 * eE if eE != 0.0 else math.nan  # e^{A} + e^{B} = 2 + O(z²)
        if az >= 1e-8:
            if depth == 2 and eE != 0.0 and E > -600.0 and az < 700.0 and E + az < 690.0:
                # A = −z, B = z: with p = e^{|z|} = 1 + expm1(|z|), e^{|z|} − e^{−|z|} = (p − 1)·((p + 1)/p) without
                # cancellation or overflow, and e^{|z|} + e^{−|z|} = p + 1/p: one transcendental function, not two
                em = math.expm1(az)
                inv = 1.0 / (1.0 + em)
                return math.copysign(eE * (em * ((2.0 + em) * inv)), -z), eE * ((1.0 + em) + inv)
            a = gen.diag_A(depth, z)
            b = gen.diag_B(depth, z)
            top = E + max(a, b)
            if abs(top) < 690.0 and math.isfinite(a) and math.isfinite(b):
                m = -math.expm1(-abs(a - b))
                et = math.exp(top)
                return math.copysign(et, a - b) * m, et * (2.0 - m)  # e^{max}(1 + e^{−|a−b|}) = e^{max}(2 − m)
    return weight_from_q(depth, E, log_kappa, math.log(abs(bj)) + shift, math.copysign(1.0, bj)), math.nan


@numba.njit(cache=True, inline="always")
def _weight(bj, depth, E, log_kappa, shift, K, lin, eE):
    """w_j: :func:`_weight_and_term` without the norm term (the right-hand side's inner loop), the same value."""
    if bj == 0.0:
        return 0.0
    if K != 0.0:
        z = K * bj
        az = abs(z)
        if az < 1e-8 and lin != 0.0:
            return lin * bj
        if az >= 1e-8:
            if depth == 2 and eE != 0.0 and E > -600.0 and az < 700.0 and E + az < 690.0:  # as in _weight_and_term
                em = math.expm1(az)
                inv = 1.0 / (1.0 + em)
                return math.copysign(eE * (em * ((2.0 + em) * inv)), -z)
            a = gen.diag_A(depth, z)
            b = gen.diag_B(depth, z)
            top = E + max(a, b)
            if abs(top) < 690.0 and math.isfinite(a) and math.isfinite(b):
                return math.copysign(math.exp(top), a - b) * -math.expm1(-abs(a - b))
    return weight_from_q(depth, E, log_kappa, math.log(abs(bj)) + shift, math.copysign(1.0, bj))


@sized_kernel(lambda B, *args: TRANSCENDENTAL_COST * B.shape[0])
def weights(B, depth, E, log_kappa, shift, out):
    """w_j = e^E (e^{A(z_j)} − e^{B(z_j)}), z = κ e^{shift} B, into ``out``."""
    K, lin, eE = _fast_constants(depth, E, log_kappa, shift)
    for j in numba.prange(B.shape[0]):
        out[j] = _weight(B[j], depth, E, log_kappa, shift, K, lin, eE)


@sized_kernel(lambda B, *args: TRANSCENDENTAL_COST * B.shape[0])
def weights_and_norm_sq(B, depth, E, log_kappa, shift, out):
    """w into ``out`` (bit-identical to :func:`weights`) and ‖θ‖², or NaN when this pass cannot give it.

    At depth 2, u_j² + v_j² = e^E (e^{A(z_j)} + e^{B(z_j)}), whose exponentials the weight has just
    computed, so the norm costs one multiply-add per coordinate instead of :func:`log_norm_sq`'s
    five transcendental functions. NaN (the caller falls back to the log-space sum) at other depths,
    where an element needs the log path, or where e^E is not representable. The sum runs in a fixed
    number of chunks, so serial and parallel builds agree bit for bit.
    """
    K, lin, eE = _fast_constants(depth, E, log_kappa, shift)
    d = B.shape[0]
    part = np.zeros(_CHUNKS)
    size = (d + _CHUNKS - 1) // _CHUNKS
    for c in numba.prange(_CHUNKS):
        part[c] = weights_and_terms(B, c * size, min(d, (c + 1) * size), depth, E, log_kappa, shift, K, lin, eE, out)
    return norm_sq_of_chunks(part, depth)


@numba.njit(cache=True, inline="always")
def weights_and_terms(B, j0, j1, depth, E, log_kappa, shift, K, lin, eE, out):
    """w_j into ``out`` for j0 ≤ j < j1 and the sum of their norm terms (:func:`_weight_and_term`), in order."""
    acc = 0.0
    for j in range(j0, j1):
        w, term = _weight_and_term(B[j], depth, E, log_kappa, shift, K, lin, eE)
        out[j] = w
        acc += term
    return acc


@numba.njit(cache=True, inline="always")
def norm_sq_of_chunks(part, depth):
    """‖θ‖² from the chunks' sums of norm terms, added in chunk order (NaN but at depth 2)."""
    total = 0.0
    for c in range(_CHUNKS):
        total += part[c]
    return total if depth == 2 else math.nan


@sized_kernel(lambda B, *args: TRANSCENDENTAL_COST * B.shape[0])
def log_dweights(B, depth, E, log_kappa, shift, logs, signs):
    """(log|∂w_j/∂q_j|, sign) at q = e^{shift} B into ``logs``, ``signs``."""
    for j in numba.prange(B.shape[0]):
        bj = B[j]
        lq = math.log(abs(bj)) + shift if bj != 0.0 else -math.inf
        logs[j], signs[j] = log_dweight_dq(depth, E, log_kappa, lq, math.copysign(1.0, bj) if bj != 0.0 else 0.0)


@sized_kernel(lambda B, *args: TRANSCENDENTAL_COST * B.shape[0])
def log_norm_sq(B, depth, ell0, lam, t, log_kappa, shift):
    """log ‖θ‖² = log Σ_j u_j² + v_j², log u_j = ℓ0 − λt + A(z_j)/L (closed form), summed with a max shift."""
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


@sized_kernel(lambda B, *args: 2 * TRANSCENDENTAL_COST * B.shape[0])
def anchored_exponents(B, depth, log_kappa, shift, Aa, Ba, A, Bv):
    """A_j = A(z_j), Bv_j = B(z_j) at z = z_a + κ e^{shift} B (NaN past a bracket's zero)."""
    gam = gen.diag_gamma(depth, 0.0)
    for j in numba.prange(B.shape[0]):
        ld, sgn = _log_delta(B[j], log_kappa, shift)
        A[j] = _restart_u(depth, gam, Aa[j], ld, sgn)[0]
        Bv[j] = _restart_v(depth, gam, Ba[j], ld, sgn)[0]


@sized_kernel(lambda B, *args: 2 * TRANSCENDENTAL_COST * B.shape[0])
def anchored_weights(B, depth, E, log_kappa, shift, Aa, Ba, out):
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


@sized_kernel(lambda B, *args: 2 * TRANSCENDENTAL_COST * B.shape[0])
def anchored_log_dweights(B, depth, E, log_kappa, shift, Aa, Ba, logs, signs):
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


@sized_kernel(lambda B, *args: 2 * TRANSCENDENTAL_COST * B.shape[0])
def anchored_log_norm_sq(B, depth, ell0, lam, t, log_kappa, shift, Aa, Ba):
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
