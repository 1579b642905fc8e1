"""Empirical metrics of linear predictors along a trajectory (train/test loss and accuracy)."""

from __future__ import annotations

from collections.abc import Callable

import numba
import numpy as np

from ..numeric import generated as gen
from ..numeric.blas_threads import BlasThreadChoice

#: Products of at least this many multiply-adds choose their BLAS threads by timing (:class:`BlasThreadChoice`).
THREADS_FROM = 1 << 30


@numba.njit(parallel=True, cache=True)
def _loss_and_accuracy(F, y, loss_id, loss_out, acc_out):
    T, n = F.shape
    for s in numba.prange(T):
        total = 0.0
        hits = 0.0
        for i in range(n):
            total += gen.loss_value(loss_id, F[s, i], y[i])
            m = F[s, i] * y[i]
            hits += 1.0 if m > 0 else (0.5 if m == 0 else 0.0)
        loss_out[s] = total / n
        acc_out[s] = hits / n


def outputs(X: np.ndarray, W: np.ndarray, block: int = 4096) -> np.ndarray:
    """F = W Xᵀ (T × n) for compact or float X, by BLAS on float64 column blocks."""
    W = np.atleast_2d(W)
    n, d = X.shape
    F = np.zeros((W.shape[0], n))
    if not W.any():  # w = 0 (a run's initial state, written at its start): no product (data are finite)
        return F
    # compact X's full blocks are converted into one buffer: a new float64 block per step costs its page faults again
    buffer = np.empty((n, block)) if d >= block and X.dtype != np.float64 else None
    # each block's product with BLAS's threads or one, whichever is faster now (the same numbers either way)
    threads = BlasThreadChoice() if W.shape[0] * n * d >= THREADS_FROM else None
    for j0 in range(0, d, block):
        if buffer is not None and j0 + block <= d:
            np.copyto(buffer, X[:, j0:j0 + block])
            part = buffer
        else:
            part = np.asarray(X[:, j0:j0 + block], dtype=np.float64)
        if threads is None:
            F += W[:, j0:j0 + block] @ part.T
        else:
            F += threads(np.matmul, W[:, j0:j0 + block], part.T, work=part.shape[1])
    return F


def empirical_metrics(X: np.ndarray, y: np.ndarray, W: np.ndarray, loss: str,
                      F: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean loss and accuracy (ties count ½) of each row of W on (X, y); ``F``: ``outputs(X, W)`` if known."""
    F = outputs(X, W) if F is None else F
    loss_out, acc_out = np.empty(F.shape[0]), np.empty(F.shape[0])
    _loss_and_accuracy(F, np.asarray(y, dtype=np.float64), gen.LOSS_NAMES.index(loss), loss_out, acc_out)
    return loss_out, acc_out


def streamed_metrics(ds, W, loss: str, kind: str, test: bool = True) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The per-time metrics of a trajectory whose weights are computed when read (:class:`LazyWeights`), from
    one pass over its rows: training loss and accuracy, test loss and accuracy (unless ``test`` is False: then
    :func:`streamed_test_metrics` computes them later, the same way) and the population metric; the same pass computes
    what ``W`` keeps for the alignment (its row norms and planned projections, :meth:`LazyWeights.map_rows`).
    Returns (arrays, F) with F = ``outputs(ds.X, W)`` (T×n).

    The values are those of :func:`empirical_metrics` and the data set's population functions applied to the
    whole T×d array (each is computed row by row).
    """
    from ..numeric.linalg import DataMatrix

    def population(block: np.ndarray):
        pop = ds.population_accuracy(block) if kind == "classification" else ds.population_loss(block)
        return None if pop is None else np.atleast_1d(np.asarray(pop, dtype=np.float64))

    own = W.flow.data if isinstance(W.flow.data, DataMatrix) else None  # the flow's own bits of X, if any
    product = _block_product(ds, W.shape, own.colbits if own is not None and own.X is ds.X else None)
    functions = {"F": lambda block: product(ds.X, block), "population": population}
    if test and ds.n_test:
        functions["test"] = _test_function(ds, loss, product)
    found = W.map_rows(functions)
    F = found["F"].reshape(len(W), ds.X.shape[0])
    arrays: dict[str, np.ndarray] = {}
    arrays["train_loss"], train_acc = empirical_metrics(ds.X, ds.y, F, loss, F)
    if kind == "classification":
        arrays["train_acc"] = train_acc
    if "test" in found:
        arrays.update(_test_arrays(found["test"], len(W), kind))
    if found["population"] is not None:
        key = "test_acc_population" if kind == "classification" else "test_loss_population"
        arrays[key] = found["population"]
    return arrays, F


def streamed_test_metrics(ds, W, loss: str, kind: str) -> dict[str, np.ndarray]:
    """``test_loss`` (and ``test_acc`` for a classification) of every row of ``W`` on the test set of ``ds``, as
    :func:`streamed_metrics` computes them: the same products on the same blocks of rows (:func:`~grokode.numeric.
    lazy_weights.block_rows`), so the values are the same to the last bit. ``W`` is a :class:`LazyWeights` (one
    pass over its rows) or the T×d array it stands for (a compact file's rebuilt w)."""
    from ..numeric.lazy_weights import block_rows, is_lazy
    from ..threads import compute_threads

    T = len(W)
    function = _test_function(ds, loss, _block_product(ds, W.shape, None))
    if is_lazy(W):
        values = W.map_rows({"test": function})["test"]
    else:
        step = block_rows(W.shape)
        with compute_threads():  # as a pass over the rows of a LazyWeights: one BLAS thread, the same numbers
            values = np.concatenate([function(W[k:k + step]) for k in range(0, T, step)]) if T else np.empty((0, 2))
    return _test_arrays(values, T, kind)


def _block_product(ds, shape: tuple[int, int], own_bits: np.ndarray | None) -> Callable[[np.ndarray, np.ndarray],
                                                                                        np.ndarray]:
    """product(X, block) = ``outputs(X, block)`` for X the training or the test inputs of ``ds``, in a pass over the
    rows of a ``shape`` array. Read in blocks of rows, the BLAS product would convert all of X to float64 once per
    block, so ±1 data (int8) are multiplied from their sign bits instead (equal to rounding), packed when first
    needed (``own_bits``: those of the training inputs, if known). The test inputs are not read before a product
    with them (a generated test set is drawn when first read)."""
    from ..numeric.lazy_weights import block_rows
    from ..numeric.linalg import packed_rows, signs_outputs

    if not block_rows(shape) < shape[0]:
        return outputs
    bits = {} if own_bits is None else {id(ds.X): own_bits}

    def signs_product(X: np.ndarray, block: np.ndarray) -> np.ndarray:
        if X.dtype != np.int8:
            return outputs(X, block)
        if id(X) not in bits:
            bits[id(X)] = packed_rows(X)
        return signs_outputs(bits[id(X)], block)

    return signs_product


def _test_function(ds, loss: str, product: Callable[[np.ndarray, np.ndarray], np.ndarray]):
    """block → (R × 2) test loss and accuracy of its rows."""
    return lambda block: np.stack(empirical_metrics(ds.X_test, ds.y_test, block, loss, product(ds.X_test, block)),
                                  axis=1)


def _test_arrays(values: np.ndarray, T: int, kind: str) -> dict[str, np.ndarray]:
    test = values.reshape(T, 2)
    arrays = {"test_loss": np.ascontiguousarray(test[:, 0])}
    if kind == "classification":
        arrays["test_acc"] = np.ascontiguousarray(test[:, 1])
    return arrays


def saved_metric(arrays: dict[str, np.ndarray], name: str) -> np.ndarray:
    """The transition metric ``name`` (:meth:`LinearModel.transition_metric`) at the saved times, from the metric
    arrays already computed (for weights that are computed when read)."""
    if name.startswith("log10_"):
        return np.log10(arrays[name[len("log10_"):]])
    return np.asarray(arrays[name], dtype=np.float64)


def transposed_product(X: np.ndarray, r: np.ndarray, block: int = 65536) -> np.ndarray:
    """Xᵀ r (d) for int8 or float X, by column blocks: ``X.T @ r`` on int8 data would convert all of X to float64
    first (2 GB at n 256, d 1e6). Each entry is the same dot product as in the whole product."""
    n, d = X.shape
    r = np.asarray(r, dtype=np.float64)
    out = np.empty(d)
    for j0 in range(0, d, block):
        out[j0:j0 + block] = X[:, j0:j0 + block].T @ r
    return out
