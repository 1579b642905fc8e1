"""Population (infinite-test-set) metrics of linear predictors on the synthetic tasks (docs/math.md#data).

All functions are vectorised over the rows of ``W``: a single predictor of shape ``(d,)`` gives a 0-d
array, a trajectory of shape ``(T, d)`` gives shape ``(T,)``. Non-finite rows give NaN rather than an
error, so that a diverged run can still be analysed.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.special import ndtr, owens_t

from grokode.errors import InputError

__all__ = [
    "MAX_SPARSE_K",
    "margin_population_accuracy",
    "sparse_population_accuracy",
    "squared_population_loss",
]

#: Largest support size for which the 2^k sign patterns are enumerated.
MAX_SPARSE_K = 20

# Row blocks are sized so that a temporary (rows, d) float64 block stays around 32 MB.
_BLOCK_ELEMENTS = 1 << 22


def _as_rows(W: np.ndarray, teacher: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """Return ``W`` as a float64 (T, d) array, the teacher as float64 (d,), and the output shape."""
    teacher = np.asarray(teacher, dtype=np.float64)
    if teacher.ndim != 1 or teacher.size == 0:
        raise InputError(f"teacher must be a non-empty 1-D array, got shape {teacher.shape}")
    W = np.asarray(W, dtype=np.float64)
    if W.ndim not in (1, 2) or W.shape[-1] != teacher.size:
        raise InputError(f"W must have shape (d,) or (T, d) with d = {teacher.size} (the teacher's length), "
                         f"got shape {W.shape}")
    return np.atleast_2d(W), teacher, W.shape[:-1]


def _row_blocks(T: int, d: int):
    step = max(1, _BLOCK_ELEMENTS // max(d, 1))
    for start in range(0, T, step):
        yield slice(start, min(start + step, T))


def _step(m: np.ndarray) -> np.ndarray:
    """Heaviside step with value 1/2 at 0 (and NaN at NaN): the accuracy of a noiseless margin ``m``."""
    return np.where(np.isnan(m), np.nan, 0.5 * (1.0 + np.sign(m)))


def sparse_population_accuracy(W: np.ndarray, teacher: np.ndarray, k: int) -> np.ndarray:
    """CLT population accuracy on sparse ±1 data (docs/math.md#data).

    acc(w) = mean over s in {±1}^k of Phi(y(s) <w_{1:k}, s> / ||w_{k+1:}||), with y(s) = sign(<w*_{1:k}, s>).
    Ties count 1/2; when ``||w_{k+1:}|| = 0`` the step function replaces Phi. The approximation is
    exact in the limit where no single noise coordinate of ``w`` dominates ``||w_{k+1:}||``.

    Parameters
    ----------
    W : (d,) or (T, d) array
        Predictor(s).
    teacher : (d,) array
        The teacher w*; only its first ``k`` entries are used.
    k : int
        Support size, ``1 <= k <= min(d, MAX_SPARSE_K)``.

    Returns
    -------
    ndarray of shape ``W.shape[:-1]``
    """
    rows, teacher, out_shape = _as_rows(W, teacher)
    d = teacher.size
    k = _require_int("k", k, 1)
    if k > min(d, MAX_SPARSE_K):
        raise InputError(f"k must be <= min(d, {MAX_SPARSE_K}) = {min(d, MAX_SPARSE_K)}, got {_show(k)}")
    patterns = np.array(list(itertools.product((-1.0, 1.0), repeat=k)))  # (2^k, k)
    labels = np.sign(patterns @ teacher[:k])  # (2^k,)
    # Signed margins of every row on every pattern; only the first k columns are touched, so no (T, d) copy.
    margins = (rows[:, :k] @ patterns.T) * labels  # (T, 2^k)
    noise = np.sqrt(np.einsum("ij,ij->i", rows[:, k:], rows[:, k:]))  # (T,)
    acc = np.empty(rows.shape[0])
    has_noise = noise > 0
    acc[has_noise] = ndtr(margins[has_noise] / noise[has_noise, None]).mean(axis=1)
    still = ~has_noise
    acc[still] = _step(margins[still]).mean(axis=1)
    acc[~(np.isfinite(noise) & np.isfinite(rows[:, :k]).all(axis=1))] = np.nan
    return acc.reshape(out_shape)


def margin_population_accuracy(W: np.ndarray, teacher: np.ndarray, gamma: float) -> np.ndarray:
    """Exact population accuracy on large-margin Gaussian data (docs/math.md#data).

    With a = <w, w*>, b = ||w - a w*|| and s ~ N(0, 1), acc(w) = E_s[Phi(a(|s| + gamma/2)/b)].
    The expectation has the closed form Phi(h) + 2 T(h, a/b), h = (gamma/2) a/||w||, with Owen's T
    function (a bivariate-normal orthant probability), which is accurate to ~1e-15 for every a/b —
    unlike quadrature, whose integrand becomes a step as b -> 0. For b = 0 the step function of a is
    used (1/2 at a = 0).

    Parameters
    ----------
    W : (d,) or (T, d) array
        Predictor(s).
    teacher : (d,) array
        Unit-norm teacher w*.
    gamma : float
        Margin parameter, >= 0.

    Returns
    -------
    ndarray of shape ``W.shape[:-1]``
    """
    rows, teacher, out_shape = _as_rows(W, teacher)
    norm = np.linalg.norm(teacher)
    if not abs(norm - 1.0) <= 1e-8:
        raise InputError(f"teacher must have unit norm for the margin task, got norm {float(norm)!r}")
    gamma = _nonnegative("gamma", gamma)
    T, d = rows.shape
    a = rows @ teacher
    b = np.empty(T)
    # b is computed from the residual, not as sqrt(||w||^2 - a^2), which cancels catastrophically when
    # w is nearly parallel to w*.
    for blk in _row_blocks(T, d):
        resid = rows[blk] - a[blk, None] * teacher
        b[blk] = np.sqrt(np.einsum("ij,ij->i", resid, resid))
    acc = _step(a)
    pos = b > 0
    ap, bp = a[pos], b[pos]
    # With c = a/b, 2 int_0^inf Phi(c t + c gamma/2) phi(t) dt = 2 P(T > 0, U < h) for T ~ N(0, 1),
    # U = (G - cT)/sqrt(1 + c^2), corr(T, U) = -c/sqrt(1 + c^2); the bivariate-normal CDF with one limit
    # at 0 reduces to Owen's T, giving Phi(h) + 2 T(h, c) with h = (gamma/2) c/sqrt(1 + c^2).
    h = 0.5 * gamma * ap / np.hypot(ap, bp)
    acc[pos] = ndtr(h) + 2.0 * owens_t(h, ap / bp)
    acc[~(np.isfinite(a) & np.isfinite(b))] = np.nan
    return acc.reshape(out_shape)


def squared_population_loss(W: np.ndarray, teacher: np.ndarray) -> np.ndarray:
    """Population squared error ``E[<w - w*, x>^2] = ||w - w*||^2`` for x uniform on {±1}^d.

    Parameters
    ----------
    W : (d,) or (T, d) array
        Predictor(s).
    teacher : (d,) array
        The teacher w*.

    Returns
    -------
    ndarray of shape ``W.shape[:-1]``
    """
    rows, teacher, out_shape = _as_rows(W, teacher)
    T, d = rows.shape
    out = np.empty(T)
    for blk in _row_blocks(T, d):
        diff = rows[blk] - teacher
        out[blk] = np.einsum("ij,ij->i", diff, diff)
    return out.reshape(out_shape)


def _show(value: object) -> str:
    """``repr`` of a value, NumPy scalars shown as Python numbers (``2.0``, not ``np.float64(2.0)``)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _require_int(name: str, value: int, minimum: int) -> int:
    """``int(value)``, or :class:`InputError` unless ``value`` is an integer >= ``minimum``."""
    try:
        ok = not isinstance(value, bool) and int(value) == value and value >= minimum
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise InputError(f"{name} must be an integer >= {minimum}, got {_show(value)}")
    return int(value)


def _nonnegative(name: str, value: float) -> float:
    """``float(value)``, or :class:`InputError` unless it is finite and >= 0."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number >= 0, got {_show(value)}") from None
    if not np.isfinite(v) or v < 0:
        raise InputError(f"{name} must be a finite number >= 0, got {_show(value)}")
    return v
