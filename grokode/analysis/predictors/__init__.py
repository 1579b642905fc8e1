"""Implicit-bias reference predictors: max-margin classifiers and min-norm interpolants (ℓ2 and ℓ1).

A diagonal linear network trained from a large initialisation (kernel regime) converges to the max
ℓ2-margin classifier / min ℓ2-norm interpolant; from a small one (rich regime) to the max ℓ1-margin
classifier / basis-pursuit interpolant. These are computed exactly (to a relative duality gap <= 1e-8
certified here, not taken from a solver flag) at n ~ 256 samples and d ~ 1e5 features:

* :mod:`.l2`: the ℓ2 problems, in the n x n Gram matrix;
* :mod:`.l1`: the ℓ1 problems and their sign-weighted versions (separable models with c₊ ≠ c₋), which are
  LPs solved by the machinery of :mod:`.lp` (an interior-point method, column generation);
* :mod:`.base`: the :class:`Predictor` with its certificate, and input validation.

Data ``X`` may be int8 (kept as int8) or any real dtype (converted to float64 once); both are held in a
:class:`grokode.numeric.linalg.DataMatrix`.
"""

from __future__ import annotations

import numpy as np

from grokode.errors import InputError, checked_arguments
from grokode.numeric.linalg import DataMatrix

from .base import GAP_TOLERANCE, Predictor
from .l1 import max_l1_margin, min_l1_interpolant, weighted_l1_interpolant, weighted_l1_margin
from .l2 import max_l2_margin, min_l2_interpolant

__all__ = [
    "GAP_TOLERANCE",
    "Predictor",
    "max_l1_margin",
    "max_l2_margin",
    "min_l1_interpolant",
    "min_l2_interpolant",
    "reference_predictors",
    "weighted_l1_interpolant",
    "weighted_l1_margin",
]


@checked_arguments
def reference_predictors(X: np.ndarray, y: np.ndarray, kind: str) -> tuple[Predictor, Predictor]:
    """The (kernel-regime, rich-regime) limits of a diagonal linear network on ``(X, y)``.

    Parameters
    ----------
    X : (n, d) int8 or real array
    y : (n,) labels in {-1, +1} (classification) or targets (regression)
    kind : {"classification", "regression"}

    Returns
    -------
    (Predictor, Predictor)
        ``(max_l2_margin, max_l1_margin)`` or ``(min_l2_interpolant, min_l1_interpolant)``.
    """
    return predictor_pair(X, y, kind)


def predictor_pair(X: np.ndarray | DataMatrix, y: np.ndarray, kind: str) -> tuple[Predictor, Predictor]:
    """:func:`reference_predictors` on ``X`` or a caller's :class:`DataMatrix` of it (not built again)."""
    if kind == "classification":
        return max_l2_margin(X, y), max_l1_margin(X, y)
    if kind == "regression":
        return min_l2_interpolant(X, y), min_l1_interpolant(X, y)
    raise InputError(f"kind must be 'classification' or 'regression', got {kind!r}")
