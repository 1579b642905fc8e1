"""The weights of a run's saved times, computed from its saved reduced states when they are read.

A reduced flow (docs/math.md#reduction-depth-l) is exactly determined by its n-dimensional state and the frame
it was saved in: w (d) follows from them by one product Xᵀy and the closed form. A run with T saved times then
needs T·n numbers, not T·d (at n 256, d 1e6 and T 302: 0.6 MB against 2.4 GB). :class:`LazyWeights` stands in
for the T×d array of such a run: rows and blocks of rows are computed on demand by the flow's own ``observe``
(the same call, on the same state, that would have filled the array while integrating, so every row is the
same to the last bit), and a pass over the rows may compute several per-row quantities at once
(:meth:`LazyWeights.map_rows`). Products with a few vectors and the row norms, wanted by several readers, are
computed in one pass and kept (:meth:`LazyWeights.project`). When the whole array fits in
:data:`CACHE_BYTES` the first pass keeps it, and later reads are plain array reads.

``np.asarray(weights)`` materializes the array (and keeps it): code that needs all of w at once still works.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .linalg import row_norms_block

#: Keep the whole T×d array after the first pass when it takes at most this many bytes (the paper-scale run's
#: 302×1e5 is 242 MB); larger runs are read in blocks of rows of about BLOCK_BYTES.
CACHE_BYTES = 320 * 2**20
BLOCK_BYTES = 64 * 2**20
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
        clock = time.perf_counter()
        out = np.empty((max(0, stop - start), self.shape[1]))
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
        return block_rows(self.shape)

    def keeps_whole(self) -> bool:
        """Whether the first pass over the rows keeps the whole array (at most :data:`CACHE_BYTES`): later passes are
        array reads."""
        return self.nbytes <= CACHE_BYTES

    def blocks(self) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, block) over all rows; the first pass over a small array keeps it."""
        T = self.shape[0]
        if self._full is None and self.keeps_whole():
            self._full = self.rows(0, T)
        if self._full is not None:
            self._norms_done = True
            yield 0, self._full
            return
        step = self.block_rows()
        for k in range(0, T, step):
            yield k, self.rows(k, min(T, k + step))
        self._norms_done = True

    def map_rows(self, functions: dict[str, Callable[[np.ndarray], Any]]) -> dict[str, Any]:
        """One pass over the rows: each function maps a block (R×d) to per-row values (R or R×m), concatenated
        along the rows; a value that is None stays None."""
        parts: dict[str, list] = {name: [] for name in functions}
        for _, block in self.blocks():
            for name, fn in functions.items():
                parts[name].append(fn(block))
        return {name: (None if any(p is None for p in ps) else np.concatenate(ps) if ps else
                       np.empty(0)) for name, ps in parts.items()}

    def project(self, vectors: list[np.ndarray]) -> list[np.ndarray]:
        """W·v (T) for each v, computed together in one pass (with the row norms) and kept for later reads."""
        vectors = [np.asarray(v, dtype=np.float64) for v in vectors]
        missing = [v for v in vectors if self._known(v) is None]
        if missing or self._row_norms is None:
            V = np.stack(missing, axis=1) if missing else np.zeros((self.shape[1], 0))
            found = self.map_rows({"products": lambda B: B @ V, "norms": row_norms_block})
            products = found["products"].reshape(self.shape[0], V.shape[1])
            for j, v in enumerate(missing):
                self._projections.append((v.copy(), products[:, j].copy()))
            if self._row_norms is None:
                self._row_norms = (found["norms"][:, 0].copy(), found["norms"][:, 1].copy())
        return [self._known(v) for v in vectors]  # type: ignore[misc]

    def _known(self, v: np.ndarray) -> np.ndarray | None:
        for saved, products in self._projections:
            if saved.shape == v.shape and np.array_equal(saved, v):
                return products
        if self._full is not None:
            return self._full @ v
        return None

    def keep_row_norms(self, norms: np.ndarray) -> None:
        """Keep (‖w‖₂, ‖w‖₁) of every row (T×2), computed by a caller's pass (:func:`row_norms_block`)."""
        norms = np.asarray(norms, dtype=np.float64).reshape(self.shape[0], 2)
        self._row_norms = (norms[:, 0].copy(), norms[:, 1].copy())

    def row_norms(self) -> tuple[np.ndarray, np.ndarray]:
        """(‖w‖₂, ‖w‖₁) of every row (one pass, kept)."""
        if self._row_norms is None:
            if self._full is not None:
                found = row_norms_block(self._full)
                self._row_norms = (found[:, 0].copy(), found[:, 1].copy())
            else:
                self.project([])
        assert self._row_norms is not None
        return self._row_norms

    @property
    def param_norm(self) -> np.ndarray:
        """‖θ‖ at every saved time (a pass over the rows if some are not known yet)."""
        if not self._norms_done:
            for _ in self.blocks():
                pass
            self._norms_done = True
        return self.norms

    def _materialize(self) -> np.ndarray:
        if self._full is None:
            self._full = self.rows(0, self.shape[0])
            self._norms_done = True
        return self._full


def block_rows(shape: tuple[int, int]) -> int:
    """Rows per block of a pass over a T×d float64 array read like :class:`LazyWeights` (all of them when it is kept,
    at most :data:`CACHE_BYTES`): the blocks on which per-row quantities are computed (:meth:`LazyWeights.map_rows`)."""
    T, d = shape
    if 8 * T * d <= CACHE_BYTES:
        return max(1, T)
    return max(1, min(T, BLOCK_BYTES // max(1, 8 * d)))


def is_lazy(W: Any) -> bool:
    """Whether ``W`` is a :class:`LazyWeights` (its rows are computed when read)."""
    return isinstance(W, LazyWeights)


def keeps_states_only(flow: Any, saved_values: float) -> bool:
    """Whether a run of ``flow`` with ``saved_values`` = T·d saved weights keeps its states instead of w: a
    reduced flow that can rebuild w from them, above :data:`LAZY_FROM`."""
    from .reduced import ReducedLinearFlow

    return saved_values > LAZY_FROM and isinstance(flow, ReducedLinearFlow) and math.isfinite(saved_values)
