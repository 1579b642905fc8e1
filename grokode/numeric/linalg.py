"""Data-matrix products for compact (int8 ±1) or float64 data, numba-parallel where it pays.

At paper scale X is 256 × 10⁵; as int8 it is 25.6 MB instead of 205 MB of float64. The two products
the flows need, X·w and Xᵀ·r, are memory-bound, so reading 8× fewer bytes is most of the speed. Both
are written so that the inner loop runs over *independent* outputs (which LLVM vectorizes without
``fastmath``): Xᵀ·r streams rows of X into a block of outputs, and X·w streams rows of Xᵀ (a second,
transposed copy, :class:`DataMatrix`) into per-task partial sums that are added in a fixed order, so
results are deterministic.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numba
import numpy as np
from scipy.linalg.blas import dsyrk as _syrk
from scipy.linalg.blas import ssyrk as _syrk32

from .blas_threads import BlasThreadChoice
from .parallel import sized_kernel
from .sign_bits import sign_columns, sign_gram

_BLOCK = 1024  # output columns per parallel task in Xᵀ·r (8 KB of float64 accumulators: stays in L1)
_CHUNKS = 8  # parallel tasks in X·w; fixed so the summation order does not depend on the thread count
#: Newton Gram products of at least this many multiply-adds (n²d) choose their BLAS threads by timing.
GRAM_THREADS_FROM = 1 << 32


@sized_kernel(lambda X, r, scale, out: X.size)
def rmatvec(X, r, scale, out):
    """out = scale · Xᵀ r for X (n, d), int8 or float64, row-major."""
    n, d = X.shape
    nblocks = (d + _BLOCK - 1) // _BLOCK
    for b in numba.prange(nblocks):
        j0 = b * _BLOCK
        j1 = min(d, j0 + _BLOCK)
        for j in range(j0, j1):
            out[j] = 0.0
        i = 0
        while i + 8 <= n:
            r0, r1, r2, r3 = r[i] * scale, r[i + 1] * scale, r[i + 2] * scale, r[i + 3] * scale
            r4, r5, r6, r7 = r[i + 4] * scale, r[i + 5] * scale, r[i + 6] * scale, r[i + 7] * scale
            for j in range(j0, j1):
                out[j] += ((X[i, j] * r0 + X[i + 1, j] * r1) + (X[i + 2, j] * r2 + X[i + 3, j] * r3)) + (
                    (X[i + 4, j] * r4 + X[i + 5, j] * r5) + (X[i + 6, j] * r6 + X[i + 7, j] * r7))
            i += 8
        while i < n:
            ri = r[i] * scale
            for j in range(j0, j1):
                out[j] += X[i, j] * ri
            i += 1


@sized_kernel(lambda XT, w, out: XT.size)
def matvec_t(XT, w, out):
    """out = X w given XT = Xᵀ (d, n), int8 or float64, row-major."""
    d, n = XT.shape
    part = np.zeros((_CHUNKS, n))
    size = (d + _CHUNKS - 1) // _CHUNKS
    for c in numba.prange(_CHUNKS):
        p = part[c]
        j = c * size
        j1 = min(d, (c + 1) * size)
        while j + 4 <= j1:
            w0, w1, w2, w3 = w[j], w[j + 1], w[j + 2], w[j + 3]
            for i in range(n):
                p[i] += (XT[j, i] * w0 + XT[j + 1, i] * w1) + (XT[j + 2, i] * w2 + XT[j + 3, i] * w3)
            j += 4
        while j < j1:
            wj = w[j]
            for i in range(n):
                p[i] += XT[j, i] * wj
            j += 1
    for i in range(n):
        acc = 0.0
        for c in range(_CHUNKS):
            acc += part[c, i]
        out[i] = acc


def pack_signs(XT: np.ndarray) -> np.ndarray:
    """Bits of x_ij = +1 for ±1 data, packed along samples: out[j, b] bit k <-> sample 8b + k."""
    # numpy's packbits (little bit order: bit k of byte b is element 8b + k) is ~10× faster than a numba loop
    return np.packbits(np.asarray(XT) > 0, axis=1, bitorder="little")


def packed_rows(X: np.ndarray, block: int = 64) -> np.ndarray:
    """``pack_signs(X)ᵀ`` (⌈d/8⌉ × n), contiguous, built in blocks of rows, without an n × d temporary."""
    n, d = X.shape
    out = np.empty(((d + 7) // 8, n), dtype=np.uint8)
    for i0 in range(0, n, block):
        out[:, i0:i0 + block] = pack_signs(X[i0:i0 + block]).T
    return out


@numba.njit(cache=True, inline="always")
def sign_tables(r, nbytes):
    """(table, Σr) of :func:`rmatvec_signs`: table[b, m] = Σ r_{8b+k} over the set bits k of m (nbytes × 256)."""
    n = r.shape[0]
    table = np.zeros((nbytes, 256))
    for b in range(nbytes):
        for k in range(8):  # built by doubling
            i = 8 * b + k
            rk = r[i] if i < n else 0.0
            half = 1 << k
            for m in range(half):
                table[b, half + m] = table[b, m] + rk
    total = 0.0
    for i in range(n):
        total += r[i]
    return table, total


@sized_kernel(lambda bits, r, scale, out: 4 * bits.size)
def rmatvec_signs(bits, r, scale, out):
    """out = scale · Xᵀ r for ±1 data from packed sign bits, by byte lookup tables ("four Russians").

    x_ij r_i summed over i equals 2·Σ_{x_ij=+1} r_i − Σ_i r_i; the partial sums over each byte's eight
    samples are tabulated once per call (256 entries per byte), so each output costs n/8 lookups
    instead of n multiply-adds, reading n/8 bytes instead of n.
    """
    d, nbytes = bits.shape
    table, total = sign_tables(r, nbytes)
    for j in numba.prange(d):
        acc = 0.0
        for b in range(nbytes):
            acc += table[b, bits[j, b]]
        out[j] = scale * (2.0 * acc - total)


@numba.njit(cache=True, inline="always")
def _group_table(w, b, table):
    """table[m] = Σ_{bit k of m} w[8b + k] (256 entries, table[0] = 0), built by doubling."""
    d = w.shape[0]
    for k in range(8):
        j = 8 * b + k
        wk = w[j] if j < d else 0.0
        half = 1 << k
        for m in range(half):
            table[half + m] = table[m] + wk


@numba.njit(cache=True, inline="always")
def _group_sums(colbits, w, b0, b1, tables, p):
    """p[i] += Σ_{b0 ≤ b < b1} table_b[colbits[b, i]] (:func:`_group_table` of w's group b); ``tables``: 4 × 256 zeros.

    Four groups per pass over p, their four lookups added in pairs first: p is read and written a quarter as often,
    which is most of the lookups' cost."""
    n = p.shape[0]
    b = b0
    while b + 4 <= b1:
        for q in range(4):
            _group_table(w, b + q, tables[q])
        t0, t1, t2, t3 = tables[0], tables[1], tables[2], tables[3]
        for i in range(n):
            p[i] += (t0[colbits[b, i]] + t1[colbits[b + 1, i]]) + (t2[colbits[b + 2, i]] + t3[colbits[b + 3, i]])
        b += 4
    while b < b1:
        _group_table(w, b, tables[0])
        t0 = tables[0]
        for i in range(n):
            p[i] += t0[colbits[b, i]]
        b += 1


@sized_kernel(lambda colbits, w, out: 4 * colbits.size)
def matvec_signs(colbits, w, out):
    """out = X w for ±1 data from sign bits packed along features: colbits[b, i] bit k <-> x_{i, 8b+k} = +1.

    Same identity as :func:`rmatvec_signs`. For each group of eight features a 256-entry table of partial
    sums of w (2 KB, in L1) serves all n samples; the groups are split into a fixed number of tasks whose
    partial sums are added in order, so the result does not depend on the thread count.
    """
    nbytes, n = colbits.shape
    d = w.shape[0]
    part = np.zeros((_CHUNKS, n))
    size = (nbytes + _CHUNKS - 1) // _CHUNKS
    for c in numba.prange(_CHUNKS):
        _group_sums(colbits, w, c * size, min(nbytes, (c + 1) * size), np.zeros((4, 256)), part[c])
    total = 0.0
    for j in range(d):
        total += w[j]
    for i in range(n):
        acc = 0.0
        for c in range(_CHUNKS):
            acc += part[c, i]
        out[i] = 2.0 * acc - total


class DataMatrix:
    """A data matrix kept in both layouts (X and Xᵀ, same dtype) for the two products."""

    def __init__(self, X: np.ndarray):
        self.X = np.ascontiguousarray(X)
        self.n, self.d = self.X.shape
        self.dtype = self.X.dtype
        # ±1 data (stored as int8) keeps its sign bits instead: both products read them (8× fewer bytes), and Xᵀ
        # is made only when asked for (n·d bytes: 256 MB at n 256, d 1e6); other int8 data (zeros, e.g.) are not
        # two-valued, so they take the general kernels
        # (sign_columns checks the entries and packs the columns in one pass: None unless every entry is ±1)
        self.bits = sign_columns(self.X) if self.dtype == np.int8 else None
        signs = self.bits is not None
        self._XT = None if signs else np.ascontiguousarray(self.X.T)
        self.colbits = packed_rows(self.X) if signs else None
        self._gram_threads: BlasThreadChoice | None = None

    @property
    def XT(self) -> np.ndarray:
        """Xᵀ (d, n), contiguous (for ±1 data made on first use)."""
        if self._XT is None:
            self._XT = np.ascontiguousarray(self.X.T)
        return self._XT

    def matvec(self, w: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        out = np.empty(self.n) if out is None else out
        if self.colbits is not None:
            matvec_signs(self.colbits, w, out)
        else:
            matvec_t(self.XT, w, out)
        return out

    def rmatvec(self, r: np.ndarray, scale: float = 1.0, out: np.ndarray | None = None) -> np.ndarray:
        out = np.empty(self.d) if out is None else out
        if self.bits is not None:
            rmatvec_signs(self.bits, r, scale, out)
        else:
            rmatvec(self.X, r, scale, out)
        return out

    def weighted_gram(self, col: np.ndarray, block: int = 4096) -> np.ndarray:
        """X diag(col) Xᵀ (n × n), the O(n²d) part of a Jacobian, by symmetric rank-k updates (BLAS syrk, see
        :meth:`_signed_syrk`). Agrees with the GEMM form to rounding (~1e-16 relative), not bit for bit."""
        c = self._signed_syrk(col, block, np.float64, _syrk)
        return np.triu(c) + np.triu(c, 1).T

    def newton_gram(self, col: np.ndarray, block: int = 8192) -> np.ndarray:
        """An approximation of X diag(col) Xᵀ for a Newton matrix: :meth:`weighted_gram` in float32 arithmetic.

        Returned as float64 (n × n), with a relative error of a few float32 roundings (~1e-6 of its largest
        entries): enough for the Jacobian of an implicit method, which only steers the Newton iterations (their
        converged result is checked against the float64 right-hand side), and half the time of the float64
        product, which is most of a Jacobian's cost. Not for anything that is itself a result.
        """
        if self._gram_threads is None and self.n * self.n * self.d >= GRAM_THREADS_FROM:
            # the dynamics run BLAS on one thread; this product is large enough for numba's threads (the faster
            # count is chosen by timing, and the sums do not depend on it)
            self._gram_threads = BlasThreadChoice(numba.get_num_threads())
        syrk = _syrk32 if self._gram_threads is None else functools.partial(self._gram_threads, _syrk32)
        c = self._signed_syrk(col, block, np.float32, syrk)
        c64 = c.astype(np.float64)
        return np.triu(c64) + np.triu(c64, 1).T

    def _signed_syrk(self, col: np.ndarray, block: int, dtype: type, syrk: Callable[..., np.ndarray]) -> np.ndarray:
        """The upper triangle of X diag(col) Xᵀ (n × n, Fortran order) in ``dtype`` arithmetic, by ``syrk``.

        X diag(col) Xᵀ = A₊A₊ᵀ − A₋A₋ᵀ with A± the columns of X where ±col > 0, scaled by √|col|: syrk
        computes one triangle, half the flops of a GEMM. (The reduced flows' col = ∂w/∂q has one sign, so
        one of A± is empty; the split keeps the method exact for any col.)
        """
        c: np.ndarray = np.zeros((self.n, self.n), dtype=dtype, order="F")
        root = np.sqrt(np.abs(col)).astype(dtype, copy=False)
        for j0 in range(0, self.d, block):
            Xb = self.X[:, j0:j0 + block] * root[j0:j0 + block]  # a new block (X is not touched)
            if Xb.dtype != dtype:  # int8 or float64 data times float32
                Xb = Xb.astype(dtype)
            sign = col[j0:j0 + block] > 0
            n_pos = int(np.count_nonzero(sign))
            if n_pos == 0 or n_pos == sign.size:  # transposed view: (b, n) Fortran order, syrk with trans=1
                c = syrk(1.0 if n_pos else -1.0, Xb.T, beta=1.0, c=c, trans=1, overwrite_c=1)
            else:
                c = syrk(1.0, np.ascontiguousarray(Xb[:, sign]).T, beta=1.0, c=c, trans=1, overwrite_c=1)
                c = syrk(-1.0, np.ascontiguousarray(Xb[:, ~sign]).T, beta=1.0, c=c, trans=1, overwrite_c=1)
        return c

    def squared_norm(self) -> float:
        if self.bits is not None:
            return float(self.X.size)
        if self.dtype != np.float64:  # einsum would sum in the data's own (overflowing) integer type
            return float(self.column_sq_norms().sum())
        return float(np.einsum("ij,ij->", self.X, self.X))

    def gram(self) -> np.ndarray:
        """X Xᵀ (n × n), exactly symmetric, from float64 blocks of ~1 MB (they stay in cache); for ±1 data from the
        sign bits (:func:`~grokode.numeric.sign_bits.sign_gram`, the same exact integers)."""
        if self.colbits is not None:
            return sign_gram(self.colbits, self.d)
        chunk = max(1, (1 << 17) // self.n)
        K = np.zeros((self.n, self.n), order="F")
        for j0 in range(0, self.d, chunk):
            block = np.asarray(self.X[:, j0:j0 + chunk], dtype=np.float64)
            if self.dtype == np.int8:
                # integer entries: every partial sum is an integer below 2⁵³, so a symmetric rank-k update (one
                # triangle, half the flops of a GEMM) is exact
                K = _syrk(1.0, block.T, beta=1.0, c=K, trans=1, overwrite_c=1)
            else:
                K += block @ block.T
        return np.triu(K) + np.triu(K, 1).T if self.dtype == np.int8 else 0.5 * (K + K.T)

    def columns(self, idx: np.ndarray) -> np.ndarray:
        """The columns ``idx`` of X as an (n, len(idx)) float64 array."""
        if self._XT is None:  # ±1 data keep no Xᵀ (n·d bytes); a few columns are read from X itself
            return np.asarray(self.X[:, np.asarray(idx)], dtype=np.float64)
        return np.asarray(self.XT[idx], dtype=np.float64).T

    def column_sq_norms(self) -> np.ndarray:
        """``‖x_j‖²`` for every column j, (d,)."""
        if self.bits is not None:  # ±1 data: every column's squared norm is n, exactly
            return np.full(self.d, float(self.n))
        out = np.empty(self.d)
        for j0 in range(0, self.d, 4096):  # float64 blocks of rows of Xᵀ: int8 data are never copied whole
            block = np.asarray(self.XT[j0:j0 + 4096], dtype=np.float64)
            out[j0:j0 + 4096] = np.einsum("ij,ij->i", block, block)
        return out

    def max_abs(self) -> float:
        """``max_ij |X_ij|`` (by max and min: np.abs overflows on int8 −128)."""
        return float(max(self.X.max(), -float(self.X.min()))) if self.X.size else 0.0


def row_norms_block(W: np.ndarray, rows: int | None = None) -> np.ndarray:
    """(‖w‖₂, ‖w‖₁) of each row of a 2-D ``W`` as a (T, 2) array, in blocks of ``rows`` rows (default: about 8 MB
    of them), the same values as ``np.linalg.norm(W, axis=1)`` and ``np.abs(W).sum(axis=1)`` without their T×d
    temporaries."""
    rows = max(1, (1 << 20) // max(1, W.shape[1])) if rows is None else rows
    out = np.empty((W.shape[0], 2))
    for k in range(0, W.shape[0], rows):
        block = W[k:k + rows]
        out[k:k + rows, 0] = np.linalg.norm(block, axis=1)
        out[k:k + rows, 1] = np.abs(block).sum(axis=1)
    return out


@numba.njit(parallel=True, cache=True)
def _matmat_signs(colbits, W, out, group_block):
    """out[r] = X W[r] for every row r of W, from sign bits packed along features (see :func:`matvec_signs`).

    The byte groups are visited in blocks of ``group_block`` (their bits stay in cache while every row reads
    them); within a block the rows run in parallel, each with its own table, and each output sums its groups in
    increasing order, so the result does not depend on the thread count.
    """
    nbytes, n = colbits.shape
    R, d = W.shape
    for r in range(R):
        for i in range(n):
            out[r, i] = 0.0
    for g0 in range(0, nbytes, group_block):
        g1 = min(nbytes, g0 + group_block)
        for r in numba.prange(R):
            _group_sums(colbits, W[r], g0, g1, np.zeros((4, 256)), out[r])
    for r in numba.prange(R):
        total = 0.0
        for j in range(d):
            total += W[r, j]
        for i in range(n):
            out[r, i] = 2.0 * out[r, i] - total


def signs_outputs(colbits: np.ndarray, W: np.ndarray) -> np.ndarray:
    """W Xᵀ (R × n) for ±1 data from its packed sign bits (:func:`packed_rows`): R rows of X·w by table lookups,
    without converting X to float64 (equal to the BLAS product to rounding)."""
    W = np.ascontiguousarray(np.atleast_2d(W), dtype=np.float64)
    out = np.empty((W.shape[0], colbits.shape[1]))
    _matmat_signs(colbits, W, out, max(1, (1 << 20) // max(1, colbits.shape[1])))
    return out

