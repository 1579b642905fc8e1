"""Alignment of a trajectory with the reference predictors, and the time its implicit bias switches.

Along a run, w(t)/‖w(t)‖ first points at the kernel predictor (max ℓ2 margin / min ℓ2 interpolant,
paper Thm 3.4/3.9) and later at the rich one (max ℓ1 margin / basis pursuit, Thm 3.5/3.10). We measure
both with the cosine cos(w, w_ref) = ⟨w, w_ref⟩ / (‖w‖₂‖w_ref‖₂) and, for classification, with the
normalized margins min_i y_i⟨w, x_i⟩/‖w‖₂ and /‖w‖₁ that the two predictors maximize.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.optimize import brentq

from ..numeric.lazy_weights import LazyWeights
from ..numeric.linalg import row_norms_block
from ..tasks.metrics import outputs


def row_norms(W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(‖w‖₂, ‖w‖₁) of each row of a 2-D ``W``, in blocks of rows (same values as ``np.linalg.norm(W, axis=1)``
    and ``np.abs(W).sum(axis=1)``, without their T×d temporaries, which cost more than the sums at paper scale)."""
    if isinstance(W, LazyWeights):  # its rows are computed when read: once, kept
        return W.row_norms()
    norms = row_norms_block(W)
    return norms[:, 0].copy(), norms[:, 1].copy()


def cosine(W: np.ndarray, w_ref: np.ndarray, w_norms: np.ndarray | None = None) -> np.ndarray:
    """cos(w, w_ref) for each row of ``W`` ((d,) → 0-d array); NaN where either vector is zero.

    ``w_norms``: ‖w‖₂ of each row of ``W`` if already known (:func:`row_norms`).
    """
    W = W if isinstance(W, LazyWeights) else np.asarray(W, dtype=np.float64)
    w_ref = np.asarray(w_ref, dtype=np.float64)
    if w_norms is None:
        w_norms = row_norms(W)[0] if W.ndim == 2 else np.linalg.norm(W, axis=-1)
    norms = w_norms * np.linalg.norm(w_ref)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norms > 0, (W @ w_ref) / np.where(norms > 0, norms, 1.0), np.nan)


def normalized_margins(X: np.ndarray, y: np.ndarray, W: np.ndarray, F: np.ndarray | None = None,
                       norms: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(min_i y_i⟨w, x_i⟩/‖w‖₂, min_i y_i⟨w, x_i⟩/‖w‖₁) for each row of ``W``; NaN for w = 0.

    These are the objectives of the max ℓ2- and ℓ1-margin problems, so along a run they approach the
    kernel and the rich predictor's ``margin`` respectively. ``F`` (``outputs(X, W)``) and ``norms``
    (:func:`row_norms` of ``W``) may be passed when already computed.
    """
    W = W if isinstance(W, LazyWeights) else np.atleast_2d(np.asarray(W, dtype=np.float64))
    worst = ((outputs(X, W) if F is None else F) * np.asarray(y, dtype=np.float64)[None, :]).min(axis=1)
    l2, l1 = row_norms(W) if norms is None else norms
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(l2 > 0, worst / l2, np.nan), np.where(l1 > 0, worst / l1, np.nan)


def bias_switch_time(t: np.ndarray, cos_kernel: np.ndarray, cos_rich: np.ndarray,
                     difference: Callable[[float], float] | None = None, xtol_rel: float = 1e-6) -> float | None:
    """The time at which cos_rich overtakes cos_kernel for good (its last upward crossing), or None.

    The crossing is bracketed on the saved grid and located by Brent's method on ``difference(t)``
    = cos_rich − cos_kernel at any t (dense output) when given, else by linear interpolation.
    """
    t = np.asarray(t, dtype=np.float64)
    diff = np.asarray(cos_rich, dtype=np.float64) - np.asarray(cos_kernel, dtype=np.float64)
    ok = np.isfinite(diff)
    t, diff = t[ok], diff[ok]
    if t.size < 2 or diff[-1] <= 0:
        return None
    below = np.flatnonzero(diff <= 0)
    if below.size == 0:
        return None  # the rich predictor led from the first saved time: no switch was observed
    k = int(below[-1])
    lo, hi = float(t[k]), float(t[k + 1])
    if difference is not None:
        try:
            return float(brentq(difference, lo, hi, xtol=xtol_rel * hi, rtol=4 * np.finfo(float).eps))
        except ValueError:  # the dense curve disagrees with the grid by rounding at a bracket end
            pass
    return lo + (0.0 - diff[k]) * (hi - lo) / (diff[k + 1] - diff[k])
