"""Empirical metrics of linear predictors along a trajectory (train/test loss and accuracy)."""

from __future__ import annotations

import numba
import numpy as np

from ..numeric import generated as gen


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
    for j0 in range(0, d, block):
        F += W[:, j0:j0 + block] @ np.asarray(X[:, j0:j0 + block], dtype=np.float64).T
    return F


def empirical_metrics(X: np.ndarray, y: np.ndarray, W: np.ndarray, loss: str,
                      F: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean loss and accuracy (ties count ½) of each row of W on (X, y); ``F``: ``outputs(X, W)`` if known."""
    F = outputs(X, W) if F is None else F
    loss_out, acc_out = np.empty(F.shape[0]), np.empty(F.shape[0])
    _loss_and_accuracy(F, np.asarray(y, dtype=np.float64), gen.LOSS_NAMES.index(loss), loss_out, acc_out)
    return loss_out, acc_out
