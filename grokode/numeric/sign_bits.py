"""±1 data as bits: the sign check and packing of :class:`~grokode.numeric.linalg.DataMatrix`, and its Gram matrix.

A ±1 matrix is one bit per entry (x = +1 ↔ bit 1). :func:`sign_columns` checks that every entry of an int8 ``X``
is ±1 and packs its columns in the same pass over ``X`` (numpy needs a comparison, an absolute value and a
transposed copy per block for the same). :func:`sign_gram` forms X Xᵀ from rows packed along features: for ±1
rows, ⟨x_i, x_j⟩ = d − 2·(number of positions where they differ), a population count of the XOR of their bits,
64 entries per machine word. Every Gram entry is an integer, computed exactly, so the result is the same number as
any exact float64 product (BLAS's, for instance: its partial sums are integers below 2⁵³).
"""

from __future__ import annotations

import numba
import numpy as np

from .parallel import sized_kernel

#: Columns of X per parallel task of :func:`sign_columns` (their packed bytes and one row's slice stay in L1).
_COLUMN_BLOCK = 4096


@sized_kernel(lambda X, out, block: X.size)
def _pack_columns(X, out, block):
    """out[j, b] bit k = (X[8b + k, j] > 0), for every column j; returns the number of column blocks holding an
    entry that is not ±1 (0: every entry is ±1)."""
    n, d = X.shape
    nbytes = out.shape[1]
    nblocks = (d + block - 1) // block
    bad = np.zeros(nblocks, dtype=np.uint8)
    for c in numba.prange(nblocks):
        j0 = c * block
        m = min(d, j0 + block) - j0
        acc = np.empty(m, dtype=np.uint8)
        flag = np.uint8(0)
        for b in range(nbytes):
            acc[:] = 0
            for k in range(min(8, n - 8 * b)):
                row = X[8 * b + k, j0:j0 + m]
                for j in range(m):
                    v = row[j]
                    acc[j] |= np.uint8(v > 0) << np.uint8(k)
                    flag |= np.uint8((v != 1) & (v != -1))
            for j in range(m):
                out[j0 + j, b] = acc[j]
        bad[c] = flag
    return int(np.count_nonzero(bad))


def sign_columns(X: np.ndarray) -> np.ndarray | None:
    """For int8 ``X`` (n, d) whose every entry is ±1: its columns' sign bits, (d, ⌈n/8⌉) uint8 with bit k of
    ``out[j, b]`` set iff x_{8b+k, j} = +1 (numpy's ``packbits(Xᵀ > 0, axis=1, bitorder="little")``); None when an
    entry is not ±1 (0, or −128, whose absolute value is itself in int8)."""
    X = np.ascontiguousarray(X)
    if X.dtype != np.int8 or X.ndim != 2:
        raise ValueError(f"sign_columns needs a 2-D int8 array, got {X.dtype} with shape {X.shape}")
    out = np.empty((X.shape[1], (X.shape[0] + 7) // 8), dtype=np.uint8)
    return out if _pack_columns(X, out, _COLUMN_BLOCK) == 0 else None


@sized_kernel(lambda words, d, out: words.shape[0] * words.size // 2)
def _xor_counts(words, d, out):
    """out[i, j] = d − 2·popcount(words[i] XOR words[j]) for i ≤ j, mirrored."""
    n, nwords = words.shape
    for i in numba.prange(n):
        wi = words[i]
        for j in range(i, n):
            wj = words[j]
            count = np.uint64(0)
            for k in range(nwords):
                x = wi[k] ^ wj[k]
                # the population count of a 64-bit word (LLVM turns this into the popcnt instruction)
                x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
                x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
                x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
                count += (x * np.uint64(0x0101010101010101)) >> np.uint64(56)
            value = float(d - 2 * np.int64(count))
            out[i, j] = value
            out[j, i] = value


def sign_gram(colbits: np.ndarray, d: int) -> np.ndarray:
    """X Xᵀ (n × n, float64, C order, exactly symmetric) of ±1 data from its rows' sign bits packed along features
    (``colbits`` (⌈d/8⌉, n): bit k of ``colbits[b, i]`` set iff x_{i, 8b+k} = +1, unused bits 0)."""
    nbytes, n = colbits.shape
    rows = np.zeros((n, 8 * ((nbytes + 7) // 8)), dtype=np.uint8)  # whole 64-bit words, the padding 0 in every row
    rows[:, :nbytes] = colbits.T
    out = np.empty((n, n))
    _xor_counts(rows.view(np.uint64), d, out)
    return out


@numba.njit(cache=True)
def _unpack_signs(raw, out):
    """out[8b + k] = +1 if bit 7 − k of raw[b] is set, else −1 (numpy's unpackbits order, big-endian bits)."""
    size = out.size
    full = size // 8
    for b in range(full):
        v = raw[b]
        for k in range(8):
            out[8 * b + k] = np.int8((((v >> (7 - k)) & 1) << 1) - 1)
    for i in range(8 * full, size):
        out[i] = np.int8((((raw[i // 8] >> (7 - i % 8)) & 1) << 1) - 1)


def unpack_signs(raw: np.ndarray, size: int) -> np.ndarray:
    """The first ``size`` bits of the uint8 array ``raw`` as ±1 int8 values (bit 1 ↔ +1, most significant bit of each
    byte first): ``2·unpackbits(raw, count=size) − 1`` in one pass, without the intermediate array."""
    raw = np.ascontiguousarray(raw, dtype=np.uint8)
    if not 0 <= size <= 8 * raw.size:
        raise ValueError(f"unpack_signs: {size} bits asked of {raw.size} bytes")
    out = np.empty(size, dtype=np.int8)
    _unpack_signs(raw, out)
    return out
