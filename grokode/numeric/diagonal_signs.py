"""The reduced diagonal flow's clock and closed form on ±1 data, in one parallel pass over the sign bits.

Two steps of the reduced flow's right-hand side (docs/math.md#reduction-depth-l) run over the d coordinates: the
clock B = Xᵀr/n and the closed form w_j = e^E (e^{A(z_j)} − e^{B(z_j)}) at z = κ e^{shift} B. On ±1 data
(:class:`grokode.numeric.linalg.DataMatrix` keeps their sign bits) the first is a pass of byte lookups
(:func:`~grokode.numeric.linalg.rmatvec_signs`), the second a pass of transcendental functions
(:func:`~grokode.numeric.diagonal_kernels.weights`); each alone is too small at d ~ 1e5 to pay for a parallel
region. :func:`signs_weights` does both in one region, chunk by chunk (a chunk's clocks, then its weights: one loop
holding both bodies runs slower than the two loops). Its serial form is the two separate kernels, which run faster
on one core than the fused loops. :func:`signs_weights_and_norm_sq`
does the same for w and ‖θ‖² at a saved time.

Each value is computed by the same operations in the same order as the separate kernels, so B, w and ‖θ‖² are
bit-identical to theirs (tested).
"""

from __future__ import annotations

import numba
import numpy as np

from . import diagonal_kernels as dk
from .diagonal_kernels import _CHUNKS, TRANSCENDENTAL_COST, _fast_constants, _weight
from .linalg import rmatvec_signs, sign_tables
from .parallel import sized_kernel


@numba.njit(cache=True, inline="always")
def _clocks(bits, table, total, scale, j0, j1, B):
    """B_j = scale·(Xᵀr)_j for j0 ≤ j < j1 from the tables of r (``rmatvec_signs``'s arithmetic)."""
    for j in range(j0, j1):
        acc = 0.0
        for b in range(bits.shape[1]):
            acc += table[b, bits[j, b]]
        B[j] = scale * (2.0 * acc - total)


def _separate_weights(bits, r, scale, depth, E, log_kappa, shift, B, w):
    rmatvec_signs.serial(bits, r, scale, B)
    dk.weights.serial(B, depth, E, log_kappa, shift, w)


def _separate_weights_and_norm_sq(bits, r, scale, depth, E, log_kappa, shift, B, w):
    rmatvec_signs.serial(bits, r, scale, B)
    return dk.weights_and_norm_sq.serial(B, depth, E, log_kappa, shift, w)


@sized_kernel(lambda bits, *args: 4 * bits.size + TRANSCENDENTAL_COST * bits.shape[0], serial=_separate_weights)
def signs_weights(bits, r, scale, depth, E, log_kappa, shift, B, w):
    """B = scale·Xᵀr (``rmatvec_signs``) and w = the closed form at B (:func:`~grokode.numeric.diagonal_kernels.
    weights`) into ``B`` and ``w``; ``bits`` is a DataMatrix's packing of the signs of X along samples."""
    d, nbytes = bits.shape
    table, total = sign_tables(r, nbytes)
    K, lin, eE = _fast_constants(depth, E, log_kappa, shift)
    size = (d + _CHUNKS - 1) // _CHUNKS
    for c in numba.prange(_CHUNKS):
        j1 = min(d, (c + 1) * size)
        _clocks(bits, table, total, scale, c * size, j1, B)
        for j in range(c * size, j1):
            w[j] = _weight(B[j], depth, E, log_kappa, shift, K, lin, eE)


@sized_kernel(lambda bits, *args: 4 * bits.size + TRANSCENDENTAL_COST * bits.shape[0],
              serial=_separate_weights_and_norm_sq)
def signs_weights_and_norm_sq(bits, r, scale, depth, E, log_kappa, shift, B, w):
    """B = scale·Xᵀr and w at B into ``B``, ``w``; returns ‖θ‖² or NaN, as
    :func:`~grokode.numeric.diagonal_kernels.weights_and_norm_sq` at B (its chunks, summed in its order)."""
    d, nbytes = bits.shape
    table, total_r = sign_tables(r, nbytes)
    K, lin, eE = _fast_constants(depth, E, log_kappa, shift)
    part = np.zeros(_CHUNKS)
    size = (d + _CHUNKS - 1) // _CHUNKS
    for c in numba.prange(_CHUNKS):
        j1 = min(d, (c + 1) * size)
        _clocks(bits, table, total_r, scale, c * size, j1, B)
        part[c] = dk.weights_and_terms(B, c * size, j1, depth, E, log_kappa, shift, K, lin, eE, w)
    return dk.norm_sq_of_chunks(part, depth)
