"""DataMatrix's products against numpy on float64 copies, for ±1, {-1, 0, 1} and real data."""

from __future__ import annotations

import numpy as np
import pytest

from grokode.numeric.linalg import DataMatrix


def _data(kind: str, rng: np.random.Generator) -> np.ndarray:
    n, d = 13, 1037  # not multiples of 8: the sign-bit kernels' partial bytes are exercised
    if kind == "pm1":
        return rng.choice(np.array([-1, 1], dtype=np.int8), size=(n, d))
    if kind == "ternary":
        return (rng.choice([-1, 1], size=(n, d)) * (rng.random((n, d)) < 0.3)).astype(np.int8)
    return rng.standard_normal((n, d))


@pytest.mark.parametrize("kind", ["pm1", "ternary", "real"])
def test_products_match_numpy(kind):
    rng = np.random.default_rng(3)
    X = _data(kind, rng)
    Xf = X.astype(np.float64)
    D = DataMatrix(X)
    # sign bits (the table-lookup kernels) only for two-valued data
    assert (D.bits is not None) == (kind == "pm1")
    w, r = rng.standard_normal(X.shape[1]), rng.standard_normal(X.shape[0])
    np.testing.assert_allclose(D.matvec(w), Xf @ w, rtol=1e-12, atol=1e-12 * np.abs(Xf).sum())
    np.testing.assert_allclose(D.rmatvec(r, 2.0), 2.0 * (Xf.T @ r), rtol=1e-12, atol=1e-12 * np.abs(Xf).sum())
    assert D.squared_norm() == pytest.approx(float(np.sum(Xf * Xf)), rel=1e-14)
    np.testing.assert_allclose(D.column_sq_norms(), np.sum(Xf * Xf, axis=0), rtol=1e-14)
    idx = np.array([5, 0, 1036, 17])
    assert np.array_equal(D.columns(idx), Xf[:, idx])
    assert D.max_abs() == np.max(np.abs(Xf))
    K = D.gram()
    assert np.array_equal(K, K.T)
    if kind == "real":
        np.testing.assert_allclose(K, Xf @ Xf.T, rtol=1e-13, atol=1e-13 * np.max(np.abs(K)))
    else:  # integer entries: exact whatever the summation order
        assert np.array_equal(K, Xf @ Xf.T)


def test_int8_minus_128_is_not_a_sign():
    X = np.array([[-128, 1], [1, -1]], dtype=np.int8)
    D = DataMatrix(X)
    assert D.bits is None and D.max_abs() == 128.0
    assert D.squared_norm() == 128.0**2 + 3.0
    np.testing.assert_array_equal(D.rmatvec(np.array([1.0, 1.0])), [-127.0, 0.0])
