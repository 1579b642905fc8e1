"""What every reference predictor shares: the result with its certificate, input validation, one BLAS thread."""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from grokode.errors import InputError
from grokode.numeric.linalg import DataMatrix

#: Relative duality gap a successful solve must certify.
GAP_TOLERANCE = 1e-8

# Margins / interpolation parameters below this fraction of the data scale are indistinguishable from
# rounding error, so such data are reported as not separable / not interpolable.
ZERO_TOLERANCE = 1e-12


@dataclass(frozen=True, eq=False)
class Predictor:
    """A reference predictor with its optimality certificate.

    Attributes
    ----------
    w : (d,) float64 array
        Classification: normalised so that ``min_i y_i <w, x_i> = 1``; regression: ``X w = y``.
        Zeros when ``feasible`` is False.
    kind : str
        ``"max_l2_margin"``, ``"max_l1_margin"``, ``"min_l2_interpolant"``, ``"min_l1_interpolant"``,
        ``"max_weighted_l1_margin"`` or ``"min_weighted_l1_interpolant"``.
    feasible : bool
        False when the data are not linearly separable (classification) or ``y`` is not in the range
        of ``X`` (regression).
    norm : float
        ``||w||_2``, ``||w||_1`` or the weighted ℓ1 norm (per ``kind``) at the optimum; ``inf`` when infeasible.
    margin : float
        Classification: ``min_i y_i <w, x_i> / ||w||`` (= 1 / norm); regression and infeasible: NaN.
    gap : float
        Relative duality gap certified from a primal and a dual point (for regression also the relative
        residual ``||Xw - y|| / ||y||``, whichever is larger); NaN when infeasible.
    message : str
        What happened, in one line.
    wall_seconds : float
        Wall-clock time of the solve.
    """

    w: np.ndarray
    kind: str
    feasible: bool
    norm: float
    margin: float
    gap: float
    message: str
    wall_seconds: float


# Everything here is a long sequence of small dense BLAS/LAPACK calls (n ~ 256). Multi-threaded OpenBLAS
# gains nothing on those, and when the cores are shared with other processes its spinning worker threads
# make each call one to two orders of magnitude slower. So the solvers run with one BLAS thread.


@contextlib.contextmanager
def _single_threaded_blas() -> Iterator[None]:
    """Run the block with one BLAS thread (threadpoolctl finds every BLAS loaded in the process)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def single_threaded(func):
    """Decorator: run ``func`` with one BLAS thread; keeps the signature and docstring."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with _single_threaded_blas():
            return func(*args, **kwargs)

    return wrapper


def validate(X: np.ndarray, y: np.ndarray, classification: bool) -> tuple[DataMatrix, np.ndarray]:
    """Check ``(X, y)`` and return the data matrix (int8 kept as int8, other dtypes as float64) and float64 ``y``.

    ``X`` may be a :class:`DataMatrix` already (a caller's, shared: it is not built again)."""
    if isinstance(X, DataMatrix):
        data = X
        if data.dtype != np.int8 and not np.isfinite(data.X).all():
            raise InputError("X must be finite, got NaN or inf entries")
        return data, _checked_labels(y, data.n, classification)
    if not isinstance(X, np.ndarray):
        X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise InputError(f"X must be a non-empty 2-D array (n, d), got shape {X.shape}")
    if X.dtype != np.int8:
        if X.dtype.kind not in "biuf":
            raise InputError(f"X must be int8 or real-valued, got dtype {X.dtype}")
        X = np.asarray(X, dtype=np.float64)
        if not np.isfinite(X).all():
            raise InputError("X must be finite, got NaN or inf entries")
    return DataMatrix(X), _checked_labels(y, X.shape[0], classification)


def _checked_labels(y: np.ndarray, n: int, classification: bool) -> np.ndarray:
    """``y`` as a float64 (n,) array, finite, and ±1 for a classification."""
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != n:
        raise InputError(f"y must have shape ({n},) to match X, got shape {y.shape}")
    if y.dtype.kind not in "biuf":
        raise InputError(f"y must be real-valued, got dtype {y.dtype}")
    y = np.asarray(y, dtype=np.float64)
    if not np.isfinite(y).all():
        raise InputError("y must be finite, got NaN or inf entries")
    if classification and not np.all(np.abs(y) == 1.0):
        bad = y[np.abs(y) != 1.0][0]
        raise InputError(f"classification labels y must be +1 or -1, got {bad!r}")
    return y


def infeasible(kind: str, d: int, message: str, t0: float) -> Predictor:
    """The predictor of data that are not separable / not interpolable."""
    return Predictor(
        w=np.zeros(d),
        kind=kind,
        feasible=False,
        norm=float("inf"),
        margin=float("nan"),
        gap=float("nan"),
        message=message,
        wall_seconds=time.perf_counter() - t0,
    )


def solved(w: np.ndarray, kind: str, norm: float, margin: float, gap: float, message: str, t0: float) -> Predictor:
    """The predictor of a successful solve (``t0``: when it started, by :func:`time.perf_counter`)."""
    return Predictor(w=w, kind=kind, feasible=True, norm=norm, margin=margin, gap=gap, message=message,
                     wall_seconds=time.perf_counter() - t0)


def status(gap: float) -> str:
    """"optimal", or how far the certified gap is from the target."""
    return "optimal" if gap <= GAP_TOLERANCE else f"gap {gap:.2g} above the {GAP_TOLERANCE:g} target"
