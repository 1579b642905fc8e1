"""Numerically stable scalar primitives (numba), the numeric side of :mod:`grokode.analytic.functions`.

These are generic numerics (like ``log1p``), not model formulas: generated kernels call them. Each is
accurate to a few ulp over the whole float64 range, e.g. ``softplus(1e300) == 1e300`` and
``sigmoid(-1e300) == 0`` without overflow warnings.
"""

from __future__ import annotations

import math

import numba


@numba.njit(cache=True)
def softplus(z: float) -> float:
    """log(1 + e^z)."""
    if z > 0.0:
        return z + math.log1p(math.exp(-z))
    return math.log1p(math.exp(z))


@numba.njit(cache=True)
def sigmoid(z: float) -> float:
    """1 / (1 + e^{-z})."""
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@numba.njit(cache=True)
def log_expdiff(a: float, b: float) -> float:
    """log|e^a − e^b|, accurate when a ≈ b (uses expm1); -inf when a == b."""
    if a == b:
        return -math.inf
    hi = a if a > b else b
    return hi + math.log(-math.expm1(-abs(a - b)))


@numba.njit(cache=True)
def signed_exp(sign: float, log_magnitude: float) -> float:
    """sign·e^{log_magnitude}; the pair is how huge/tiny values travel between kernels."""
    return sign * math.exp(log_magnitude)
