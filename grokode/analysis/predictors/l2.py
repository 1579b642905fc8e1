"""ℓ2 reference predictors: the hard-margin SVM and the minimum ℓ2-norm interpolant (the kernel-regime limits).

Both live in the n x n Gram matrix K = X X^T. The hard-margin SVM is the least-distance program
``min ||w|| s.t. diag(y) X w >= 1``, solved through its NNLS form (Lawson-Hanson) on a square root of the
scaled Gram matrix, then finished by Lawson-Hanson iterations in Gram form so that the KKT conditions hold
to ~1e-12. The min-ℓ2 interpolant is ``X^T K^+ y`` with iterative refinement against X itself. Each result
carries a certificate computed from X (see :class:`~grokode.analysis.predictors.base.Predictor`).
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import scipy.linalg
from scipy.optimize import nnls

from .base import GAP_TOLERANCE, ZERO_TOLERANCE, Predictor, infeasible, single_threaded, solved, status, validate

__all__ = ["max_l2_margin", "min_l2_interpolant"]


def _lawson_hanson_gram(M: np.ndarray, u0: np.ndarray, rel_tol: float = 1e-13) -> np.ndarray:
    """Minimise ``u^T M u / 2 - 1^T u`` over ``u >= 0`` (M symmetric PSD) by Lawson-Hanson from ``u0 >= 0``.

    Used to finish scipy's NNLS (which works on a square root of M) so that the KKT conditions hold in
    terms of M itself. An index j is added while ``1 - (Mu)_j > rel_tol * (1 - 1^T u)``; that right-hand
    side is the scale of the SVM margin in this parametrisation (see ``max_l2_margin``).
    """
    n = M.shape[0]
    u = np.where(u0 > 0, u0, 0.0)
    passive = u > 0
    ones = np.ones(n)
    last_added = -1
    for _ in range(10 * n + 10):
        # Inner loop: move to the minimiser on the passive set while keeping u >= 0.
        for _ in range(n + 1):
            idx = np.flatnonzero(passive)
            if idx.size == 0:
                u[:] = 0.0
                break
            try:
                with warnings.catch_warnings():
                    # Near-singular M_PP (rounding let an affinely dependent point in): use least squares.
                    warnings.simplefilter("error", scipy.linalg.LinAlgWarning)
                    z = scipy.linalg.solve(M[np.ix_(idx, idx)], ones[idx], assume_a="pos", check_finite=False)
            except (np.linalg.LinAlgError, scipy.linalg.LinAlgWarning):
                z = np.linalg.lstsq(M[np.ix_(idx, idx)], ones[idx], rcond=None)[0]
            if np.all(z > 0):
                u[:] = 0.0
                u[idx] = z
                break
            current = u[idx]
            neg = z <= 0
            step = np.min(current[neg] / (current[neg] - z[neg]))
            new = current + step * (z - current)
            new[new <= 1e-300] = 0.0
            # The coordinate(s) that hit zero leave the passive set (exactly, despite rounding).
            blocking = neg & (current / np.maximum(current - z, 1e-300) <= step * (1 + 1e-12))
            new[blocking] = 0.0
            u[:] = 0.0
            u[idx] = new
            passive[:] = u > 0
        slack = 1.0 - M @ u
        # Floor: the rounding level of the slack itself (|M| <= 2, sum(u) <= 1), reached when not separable.
        tol = max(rel_tol * (1.0 - u.sum()), 8 * np.finfo(float).eps)
        candidates = np.flatnonzero(~passive & (slack > tol))
        if candidates.size == 0:
            return u
        j = int(candidates[np.argmax(slack[candidates])])
        if j == last_added:
            # Rounding made the entering index leave at once: KKT holds to working precision.
            return u
        last_added = j
        passive[j] = True
    return u


@single_threaded
def max_l2_margin(X: np.ndarray, y: np.ndarray) -> Predictor:
    """Hard-margin SVM without bias: ``min ||w||_2`` s.t. ``y_i <w, x_i> >= 1``.

    Parameters
    ----------
    X : (n, d) int8 or real array
    y : (n,) labels in {-1, +1}

    Returns
    -------
    Predictor
        ``kind="max_l2_margin"``; the certificate is a convex combination ``a`` of the ``y_i x_i``:
        ``||sum a_i y_i x_i||_2`` bounds the normalised margin from above, ``w`` from below.
    """
    t0 = time.perf_counter()
    data, y = validate(X, y, classification=True)
    kind = "max_l2_margin"
    K = data.gram()
    Q = (y[:, None] * K) * y[None, :]
    scale = float(np.max(np.diag(Q)))
    if scale <= 0:
        return infeasible(kind, data.d, "not separable: every x_i is zero", t0)
    # Least-distance program min ||w|| s.t. Zw >= 1 (Z = diag(y) X) <=> NNLS
    # min_u ||Z^T u||^2 + (1^T u - 1)^2, u >= 0, solved on a square root R of Q/scale (R^T R = Q/scale).
    # The optimal u is a multiple of the min-norm point a of conv{z_i}; 1^T u -> 1 iff not separable.
    Qs = Q / scale
    evals, evecs = np.linalg.eigh(Qs)
    R = np.sqrt(np.clip(evals, 0.0, None))[:, None] * evecs.T
    A = np.vstack([R, np.ones((1, data.n))])
    b = np.zeros(data.n + 1)
    b[-1] = 1.0
    try:
        u0 = nnls(A, b, maxiter=50 * data.n)[0]
    except RuntimeError:
        u0 = np.zeros(data.n)
    u = _lawson_hanson_gram(Qs + 1.0, u0)
    alpha = u / u.sum()

    # Certificate in feature space, from X itself rather than from K.
    w_dir = data.rmatvec(y * alpha)
    upper = float(np.linalg.norm(w_dir))  # ||Z^T a|| >= max margin for any a in the simplex
    if upper == 0.0:
        return infeasible(kind, data.d, "not separable: a convex combination of the y_i x_i is 0", t0)
    margins = y * data.matvec(w_dir)
    lower = float(margins.min()) / upper  # margin achieved by w_dir
    if lower <= ZERO_TOLERANCE * np.sqrt(scale):
        return infeasible(
            kind,
            data.d,
            f"not separable: a convex combination of the y_i x_i has norm {upper:.3g} "
            f"({upper / np.sqrt(scale):.2g} of max ||x_i||), best margin found {lower:.3g}",
            t0,
        )
    gap = (upper - lower) / upper
    w = w_dir / margins.min()
    norm = float(np.linalg.norm(w))
    n_sv = int(np.count_nonzero(alpha))
    return solved(w, kind, norm, lower, gap,
                  f"{status(gap)}: l2 margin {lower:.10g}, {n_sv} support vectors, certified gap {gap:.2g}", t0)


@single_threaded
def min_l2_interpolant(X: np.ndarray, y: np.ndarray) -> Predictor:
    """Minimum ℓ2-norm interpolant: ``min ||w||_2`` s.t. ``X w = y``.

    Parameters
    ----------
    X : (n, d) int8 or real array
    y : (n,) targets

    Returns
    -------
    Predictor
        ``kind="min_l2_interpolant"``, ``w = X^T b`` with ``b = K^+ y`` refined against X. ``gap`` is the
        larger of the relative duality gap ``|b^T (Xw - y)| / ||w||^2`` and the relative residual.
    """
    t0 = time.perf_counter()
    data, y = validate(X, y, classification=False)
    kind = "min_l2_interpolant"
    y_norm = float(np.linalg.norm(y))
    if y_norm == 0.0:
        return solved(np.zeros(data.d), kind, 0.0, float("nan"), 0.0, "optimal: y = 0, w = 0", t0)
    K = data.gram()
    evals, evecs = np.linalg.eigh(K)
    # Same rank cut-off as numpy.linalg.lstsq: eigenvalues below n eps lambda_max are rounding noise.
    keep = evals > max(evals[-1], 0.0) * data.n * np.finfo(float).eps
    rank = int(keep.sum())
    if rank == 0:
        return infeasible(kind, data.d, "not interpolable: X = 0 but y != 0", t0)
    V = evecs[:, keep]
    inv = 1.0 / evals[keep]

    def pinv_solve(r: np.ndarray) -> np.ndarray:
        return V @ (inv * (V.T @ r))

    beta = pinv_solve(y)
    w = data.rmatvec(beta)
    resid = data.matvec(w) - y
    # Iterative refinement with the residual taken from X (not K): removes the error of forming K.
    for _ in range(3):
        if np.linalg.norm(resid) <= 1e-14 * y_norm:
            break
        beta_new = beta - pinv_solve(resid)
        w_new = data.rmatvec(beta_new)
        resid_new = data.matvec(w_new) - y
        if np.linalg.norm(resid_new) >= np.linalg.norm(resid):
            break
        beta, w, resid = beta_new, w_new, resid_new
    rel_resid = float(np.linalg.norm(resid)) / y_norm
    if rel_resid > GAP_TOLERANCE:
        return infeasible(
            kind,
            data.d,
            f"not interpolable: y is not in the range of X (rank {rank} of n = {data.n}), "
            f"least-squares relative residual {rel_resid:.3g}",
            t0,
        )
    norm2 = float(w @ w)
    dual_gap = abs(float(beta @ resid)) / norm2 if norm2 > 0 else 0.0
    gap = max(dual_gap, rel_resid)
    message = f"{status(gap)}: ||w||_2 = {np.sqrt(norm2):.10g}, rank {rank}, residual {rel_resid:.2g}"
    return solved(w, kind, float(np.sqrt(norm2)), float("nan"), gap, message, t0)
