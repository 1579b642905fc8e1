"""The weights of a run's saved times, computed from its saved reduced states when they are read.

A reduced flow (docs/math.md#reduction-depth-l) is exactly determined by its n-dimensional state and the frame
it was saved in: w (d) follows from them by one product Xᵀy and the closed form. A run with T saved times then
needs T·n numbers, not T·d (at n 256, d 1e6 and T 302: 0.6 MB against 2.4 GB). :class:`LazyWeights` stands in
for the T×d array of such a run: rows and blocks of rows are computed on demand by the flow's own ``observe``
(the same call, on the same state, that would have filled the array while integrating, so every row is the
same to the last bit), and a pass over the rows may compute several per-row quantities at once
(:meth:`LazyWeights.map_rows`). Products with a few vectors and the row norms, wanted by several readers, are
computed in a pass and kept (:meth:`LazyWeights.project`); vectors known before the first pass are computed in it
(:meth:`LazyWeights.plan_projections`).

A pass computes its blocks of about :data:`BLOCK_BYTES` into one buffer, reused from block to block: the T×d array
is not kept. Writing a fresh T×d array costs the first touch of every page, about as much as computing the rows
again (benchmarks/PAPER_SCALE.md), and a cache-sized buffer costs neither. ``np.asarray(weights)`` materializes
the array (and keeps it): code that needs all of w at once still works.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..threads import compute_threads
from .linalg import row_norms_block

#: A pass over the rows computes them in blocks of about this many bytes, in one buffer, ...
BLOCK_BYTES = 8 * 2**20
#: ... and of at least this many rows (the products of a block run its rows in parallel).
BLOCK_ROWS_MIN = 4
#: A flow's run keeps its states instead of w from this many saved values (T·d) on; below, the array is small.
LAZY_FROM = 500_000


class LazyWeights:
    """A read-only T×d float64 array whose rows are ``flow.observe(var_k, states[k], frames[k])[0]`` of a reduced
    flow (:class:`~grokode.numeric.reduced.ReducedLinearFlow`, whose ``observe`` writes w into a given row).

    Rows whose frame is None (saved times before the flow's start, where w = 0) are zero. ``norms`` (T) holds
    ‖θ‖ at the saved times where it is known (before the start) and NaN elsewhere; a pass over the rows fills
    it in place (the flow's ``observe`` returns w and ‖θ‖ together).
    """

    ndim = 2
    dtype = np.dtype(np.float64)

    def __init__(self, flow: Any, var: np.ndarray, states: np.ndarray, frames: list, norms: np.ndarray):
        self.flow = flow
        self.var = np.asarray(var, dtype=np.float64)
        self.states = states
        self.frames = frames
        self.norms = norms
        self.shape = (len(frames), int(flow.d))
        self.size = self.shape[0] * self.shape[1]
        self.seconds = 0.0  # spent computing rows
        self._full: np.ndarray | None = None
        self._projections: list[tuple[np.ndarray, np.ndarray]] = []
        self._planned: list[np.ndarray] = []
        self._row_norms: tuple[np.ndarray, np.ndarray] | None = None
        self._norms_done = False

    # -- array protocol ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.shape[0]

    @property
    def nbytes(self) -> int:
        return 8 * self.size

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        full = self._materialize()
        return full if dtype is None or np.dtype(dtype) == full.dtype else full.astype(dtype)

    def __getitem__(self, index) -> np.ndarray:
        if self._full is not None:
            return self._full[index]
        rows, cols = (index[0], index[1:]) if isinstance(index, tuple) else (index, ())
        if isinstance(rows, (int, np.integer)):
            k = int(rows)
            k = k + self.shape[0] if k < 0 else k
            if not 0 <= k < self.shape[0]:
                raise IndexError(f"row {rows} is out of range for {self.shape[0]} saved times")
            out = self.rows(k, k + 1)[0]
        elif isinstance(rows, slice):
            start, stop, step = rows.indices(self.shape[0])
            out = self.rows(start, stop) if step == 1 else self.rows(0, self.shape[0])[rows]
        else:
            out = np.asarray(self)[rows]
        return out[(slice(None), *cols)] if cols and out.ndim == 2 else (out[cols] if cols else out)

    def __matmul__(self, other) -> np.ndarray:
        v = np.asarray(other, dtype=np.float64)
        if v.ndim == 1:
            return self.project([v])[0]
        return np.asarray(self) @ v

    def __repr__(self) -> str:
        return f"LazyWeights(shape={self.shape}, kept={'yes' if self._full is not None else 'no'})"

    # -- rows ----------------------------------------------------------------------------------------
    def rows(self, start: int, stop: int) -> np.ndarray:
        """Rows start … stop − 1 as a new (stop − start)×d array (norms of those rows filled in)."""
        if self._full is not None:
            return self._full[start:stop]
        return self._fill(start, stop, np.empty((max(0, stop - start), self.shape[1])))

    def _fill(self, start: int, stop: int, out: np.ndarray) -> np.ndarray:
        """Rows start … stop − 1 written into ``out`` (norms of those rows filled in)."""
        clock = time.perf_counter()
        for i, k in enumerate(range(start, stop)):
            frame = self.frames[k]
            if frame is None:
                out[i] = 0.0
                continue
            # w straight into its row: no d-long temporary and copy per row
            _, norm = self.flow.observe(float(self.var[k]), np.ascontiguousarray(self.states[k]), frame, out=out[i])
            self.norms[k] = norm
        self.seconds += time.perf_counter() - clock
        return out

    def block_rows(self) -> int:
        """Rows per block of a pass (all of them when the array is kept)."""
        return self.shape[0] if self._full is not None else block_rows(self.shape)

    def blocks(self) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, block) over all rows. Unless the array is kept (:meth:`__array__`), every block is a view of
        one buffer that the next block overwrites: a reader keeps what it computes from a block, never the block."""
        T = self.shape[0]
        if self._full is not None:
            yield 0, self._full
            return
        step = self.block_rows()
        buffer = np.empty((min(T, step), self.shape[1]))
        for k in range(0, T, step):
            stop = min(T, k + step)
            yield k, self._fill(k, stop, buffer[:stop - k])
        self._norms_done = True

    def map_rows(self, functions: dict[str, Callable[[np.ndarray], Any]]) -> dict[str, Any]:
        """One pass over the rows: each function maps a block (R×d) to per-row values (R or R×m), concatenated
        along the rows; a value that is None stays None. The same pass computes the products planned by
        :meth:`plan_projections` and the row norms, unless known."""
        planned = self._planned
        own: dict[str, Callable[[np.ndarray], Any]] = {}
        if planned:  # one matrix-vector product per vector: the same values as W @ v on the whole array
            own["products"] = lambda B: np.stack([B @ v for v in planned], axis=1)
        if self._row_norms is None:
            own["norms"] = row_norms_block
        everything = {**{("own", k): f for k, f in own.items()}, **{("caller", k): f for k, f in functions.items()}}
        parts: dict[tuple[str, str], list] = {key: [] for key in everything}
        # one BLAS thread: the pass alternates numba's parallel kernels (the rows) with small products, and
        # OpenBLAS's threads, spinning after each product, would hold the cores the next rows need
        with compute_threads():
            for _, block in self.blocks():
                for key, fn in everything.items():
                    parts[key].append(fn(block))
        found = {key: (None if any(p is None for p in ps) else np.concatenate(ps) if ps else np.empty(0))
                 for key, ps in parts.items()}
        if planned:
            products = np.asarray(found["own", "products"]).reshape(self.shape[0], len(planned))
            self._projections += [(v, products[:, j].copy()) for j, v in enumerate(planned)]
            self._planned = []
        if ("own", "norms") in found:
            self.keep_row_norms(np.asarray(found["own", "norms"]))
        return {name: found["caller", name] for name in functions}

    def plan_projections(self, vectors: list[np.ndarray]) -> None:
        """Compute W·v for each of ``vectors`` in the next pass over the rows, whatever it is for, and keep them:
        a later :meth:`project` on them reads them without a pass of its own."""
        self._planned += [np.array(v, dtype=np.float64) for v in vectors
                          if self._known(np.asarray(v, dtype=np.float64)) is None]

    def project(self, vectors: list[np.ndarray]) -> list[np.ndarray]:
        """W·v (T) for each v, computed together in one pass (with the row norms) and kept for later reads."""
        vectors = [np.asarray(v, dtype=np.float64) for v in vectors]
        self.plan_projections(vectors)
        if self._planned or self._row_norms is None:
            self.map_rows({})
        return [self._known(v) for v in vectors]  # type: ignore[misc]

    def _known(self, v: np.ndarray) -> np.ndarray | None:
        for saved, products in self._projections:
            if saved.shape == v.shape and np.array_equal(saved, v):
                return products
        if self._full is not None:
            return self._full @ v
        return None

    def keep_row_norms(self, norms: np.ndarray) -> None:
        """Keep (‖w‖₂, ‖w‖₁) of every row (T×2), computed by a pass (:func:`row_norms_block`)."""
        norms = np.asarray(norms, dtype=np.float64).reshape(self.shape[0], 2)
        self._row_norms = (norms[:, 0].copy(), norms[:, 1].copy())

    def row_norms(self) -> tuple[np.ndarray, np.ndarray]:
        """(‖w‖₂, ‖w‖₁) of every row (one pass, kept)."""
        if self._row_norms is None:
            if self._full is not None:
                self.keep_row_norms(row_norms_block(self._full))
            else:
                self.map_rows({})
        assert self._row_norms is not None
        return self._row_norms

    @property
    def param_norm(self) -> np.ndarray:
        """‖θ‖ at every saved time (a pass over the rows if some are not known yet)."""
        if not self._norms_done:
            self.map_rows({})
        return self.norms

    def _materialize(self) -> np.ndarray:
        if self._full is None:
            self._full = self.rows(0, self.shape[0])
            self._norms_done = True
        return self._full


def block_rows(shape: tuple[int, int]) -> int:
    """Rows per block of a pass over a T×d float64 array read like :class:`LazyWeights`: about :data:`BLOCK_BYTES`,
    at least :data:`BLOCK_ROWS_MIN` rows, at most T. The blocks on which per-row quantities are computed
    (:meth:`LazyWeights.map_rows`), also when the array is held whole (a compact file's rebuilt w), so that both
    compute the same values."""
    T, d = shape
    return max(1, min(T, max(BLOCK_ROWS_MIN, BLOCK_BYTES // max(1, 8 * d))))


def is_lazy(W: Any) -> bool:
    """Whether ``W`` is a :class:`LazyWeights` (its rows are computed when read)."""
    return isinstance(W, LazyWeights)


def keeps_states_only(flow: Any, saved_values: float) -> bool:
    """Whether a run of ``flow`` with ``saved_values`` = T·d saved weights keeps its states instead of w: a
    reduced flow that can rebuild w from them, above :data:`LAZY_FROM`."""
    from .reduced import ReducedLinearFlow

    return saved_values > LAZY_FROM and isinstance(flow, ReducedLinearFlow) and math.isfinite(saved_values)
