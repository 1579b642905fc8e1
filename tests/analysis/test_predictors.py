"""Tests for grokode.analysis.predictors (l2, l1, lp) against independent references.

References: the naive primal LP (2d variables w = p - q) solved by HiGHS for the ℓ1 problems, SLSQP on the
primal QP for the hard-margin SVM, and numpy's SVD least squares for the min-norm interpolant.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linprog, minimize

from grokode.analysis.predictors import (
    GAP_TOLERANCE,
    base,
    l2,
    lp,
    max_l1_margin,
    max_l2_margin,
    min_l1_interpolant,
    min_l2_interpolant,
    reference_predictors,
)
from grokode.errors import InputError

# --------------------------------------------------------------------------------------------------------
# Data and references


def make_X(rng: np.random.Generator, n: int, d: int, kind: str) -> np.ndarray:
    if kind == "gauss":
        return rng.standard_normal((n, d))
    if kind == "sparse":  # entries in {-1, 0, +1}, 70% zeros, stored as int8
        return (rng.choice([-1, 1], size=(n, d)) * (rng.random((n, d)) < 0.3)).astype(np.int8)
    if kind == "pm1":
        return rng.choice(np.array([-1, 1], dtype=np.int8), size=(n, d))
    raise ValueError(kind)


def teacher_labels(rng: np.random.Generator, X: np.ndarray) -> np.ndarray:
    """Labels of a dense Gaussian teacher: separable by construction, in any dimension."""
    while True:
        y = np.sign(X.astype(np.float64) @ rng.standard_normal(X.shape[1]))
        if np.all(y != 0):
            return y


def naive_l1_margin(X: np.ndarray, y: np.ndarray):
    """min 1^T (p + q) s.t. diag(y) X (p - q) >= 1, p, q >= 0 (HiGHS, all 2d columns)."""
    Z = y[:, None] * X.astype(np.float64)
    d = Z.shape[1]
    A_ub, b_ub = np.hstack([-Z, Z]), -np.ones(y.size)
    res = linprog(np.ones(2 * d), A_ub=A_ub, b_ub=b_ub, bounds=(0, None), method="highs")
    return res, (res.x[:d] - res.x[d:] if res.status == 0 else None)


def naive_basis_pursuit(X: np.ndarray, y: np.ndarray):
    """min 1^T (p + q) s.t. X (p - q) = y, p, q >= 0 (HiGHS, all 2d columns)."""
    Xf = X.astype(np.float64)
    d = Xf.shape[1]
    res = linprog(np.ones(2 * d), A_eq=np.hstack([Xf, -Xf]), b_eq=y, bounds=(0, None), method="highs")
    return res, (res.x[:d] - res.x[d:] if res.status == 0 else None)


def slsqp_l2_margin(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """min ||w||^2 / 2 s.t. diag(y) X w >= 1 by SLSQP on the primal, from the least-squares start."""
    Z = y[:, None] * X.astype(np.float64)
    w0 = np.linalg.lstsq(Z, np.ones(len(y)), rcond=None)[0]
    res = minimize(
        lambda w: 0.5 * w @ w,
        w0,
        jac=lambda w: w,
        constraints=[{"type": "ineq", "fun": lambda w: Z @ w - 1.0, "jac": lambda w: Z}],
        method="SLSQP",
        options={"ftol": 1e-12, "maxiter": 1000},
    )
    assert res.success, res.message
    return res.x


def assert_close(actual: float, expected: float, rtol: float) -> None:
    assert abs(actual - expected) <= rtol * abs(expected), (actual, expected)


def assert_certified(p) -> None:
    assert p.feasible, p.message
    assert 0 <= p.gap <= GAP_TOLERANCE, p.message
    assert p.message.startswith("optimal"), p.message
    assert p.w.dtype == np.float64 and np.all(np.isfinite(p.w))


CASES = [
    (20, 30, "sparse", 0),
    (30, 80, "gauss", 1),
    (40, 200, "sparse", 2),
    (25, 120, "gauss", 3),
    (40, 30, "gauss", 4),  # d < n: still separable (teacher labels) / interpolable (teacher targets)
    (32, 150, "pm1", 5),
]


# --------------------------------------------------------------------------------------------------------
# Comparisons with the references on random small problems


@pytest.mark.parametrize(("n", "d", "kind", "seed"), CASES)
def test_max_l1_margin_matches_naive_lp(n, d, kind, seed):
    rng = np.random.default_rng(seed)
    X = make_X(rng, n, d, kind)
    y = teacher_labels(rng, X)
    res, w_ref = naive_l1_margin(X, y)
    assert res.status == 0
    p = max_l1_margin(X, y)
    assert_certified(p)
    assert p.kind == "max_l1_margin"
    assert_close(p.norm, res.fun, 1e-6)
    assert_close(p.margin, 1.0 / res.fun, 1e-6)
    margins = y * (X.astype(np.float64) @ p.w)
    assert margins.min() == pytest.approx(1.0, abs=1e-9)
    assert p.norm == pytest.approx(np.abs(p.w).sum(), rel=1e-12)
    if kind == "gauss":
        # Gaussian data: the LP optimum is unique a.s.; with discrete data it is often not (then any
        # w attaining the optimal norm is right, which the lines above check).
        np.testing.assert_allclose(p.w, w_ref, atol=1e-4 * np.abs(w_ref).max())


@pytest.mark.parametrize(("n", "d", "kind", "seed"), CASES)
def test_min_l1_interpolant_matches_naive_lp(n, d, kind, seed):
    rng = np.random.default_rng(seed)
    X = make_X(rng, n, d, kind)
    y = X.astype(np.float64) @ rng.standard_normal(d)
    res, w_ref = naive_basis_pursuit(X, y)
    assert res.status == 0
    p = min_l1_interpolant(X, y)
    assert_certified(p)
    assert p.kind == "min_l1_interpolant"
    assert np.isnan(p.margin)
    assert_close(p.norm, res.fun, 1e-6)
    np.testing.assert_allclose(X.astype(np.float64) @ p.w, y, atol=1e-8 * np.linalg.norm(y))
    if kind == "gauss":
        np.testing.assert_allclose(p.w, w_ref, atol=1e-4 * np.abs(w_ref).max())


@pytest.mark.parametrize(("n", "d", "kind", "seed"), CASES)
def test_max_l2_margin_matches_slsqp(n, d, kind, seed):
    rng = np.random.default_rng(seed)
    X = make_X(rng, n, d, kind)
    y = teacher_labels(rng, X)
    w_ref = slsqp_l2_margin(X, y)
    p = max_l2_margin(X, y)
    assert_certified(p)
    assert p.kind == "max_l2_margin"
    assert_close(p.norm, np.linalg.norm(w_ref), 1e-6)
    assert p.margin == pytest.approx(1.0 / p.norm, rel=1e-12)
    np.testing.assert_allclose(p.w, w_ref, atol=1e-4 * np.abs(w_ref).max())  # strictly convex: unique
    assert (y * (X.astype(np.float64) @ p.w)).min() == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize(("n", "d", "kind", "seed"), CASES)
def test_min_l2_interpolant_matches_lstsq(n, d, kind, seed):
    rng = np.random.default_rng(seed)
    X = make_X(rng, n, d, kind)
    y = X.astype(np.float64) @ rng.standard_normal(d)
    w_ref = np.linalg.lstsq(X.astype(np.float64), y, rcond=None)[0]  # SVD: the min-norm solution
    p = min_l2_interpolant(X, y)
    assert_certified(p)
    assert p.kind == "min_l2_interpolant"
    assert_close(p.norm, np.linalg.norm(w_ref), 1e-6)
    np.testing.assert_allclose(p.w, w_ref, atol=1e-4 * np.abs(w_ref).max())


def test_column_generation_on_wide_data_matches_full_lp():
    # d >> n, so column generation really has to find the right columns among thousands.
    rng = np.random.default_rng(11)
    X = make_X(rng, 50, 4000, "gauss")
    y = rng.choice([-1.0, 1.0], size=50)  # random labels: an optimum with ~n nonzeros
    res, w_ref = naive_l1_margin(X, y)
    p = max_l1_margin(X, y)
    assert_certified(p)
    assert_close(p.norm, res.fun, 1e-6)
    np.testing.assert_allclose(p.w, w_ref, atol=1e-4 * np.abs(w_ref).max())
    target = rng.standard_normal(50)
    res, w_ref = naive_basis_pursuit(X, target)
    p = min_l1_interpolant(X, target)
    assert_certified(p)
    assert_close(p.norm, res.fun, 1e-6)
    np.testing.assert_allclose(p.w, w_ref, atol=1e-4 * np.abs(w_ref).max())


def test_simplex_fallback_gives_the_same_answer(monkeypatch):
    # Force the HiGHS dual-simplex path of the restricted LPs (taken when the interior point fails).
    def broken(*args, **kwargs):
        raise np.linalg.LinAlgError("forced")

    rng = np.random.default_rng(5)
    X = make_X(rng, 30, 300, "gauss")
    y = teacher_labels(rng, X)
    target = X @ rng.standard_normal(300)
    expected = (max_l1_margin(X, y).norm, min_l1_interpolant(X, target).norm)
    monkeypatch.setattr(lp, "_ipm_l1_game", broken)
    p, q = max_l1_margin(X, y), min_l1_interpolant(X, target)
    assert_certified(p)
    assert_certified(q)
    assert_close(p.norm, expected[0], 1e-8)
    assert_close(q.norm, expected[1], 1e-8)


def test_l2_margin_without_the_nnls_warm_start(monkeypatch):
    # If scipy's NNLS fails, our own Lawson-Hanson iterations start from zero and must reach the same point.
    rng = np.random.default_rng(9)
    X = make_X(rng, 40, 100, "gauss")
    y = teacher_labels(rng, X)
    expected = max_l2_margin(X, y)

    def broken(*args, **kwargs):
        raise RuntimeError("forced")

    monkeypatch.setattr(l2, "nnls", broken)
    p = max_l2_margin(X, y)
    assert_certified(p)
    np.testing.assert_allclose(p.w, expected.w, atol=1e-10 * np.abs(expected.w).max())


def test_blas_runs_single_threaded_and_the_thread_count_is_restored():
    from threadpoolctl import threadpool_info

    def blas_threads():
        return [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]

    before = blas_threads()
    with base._single_threaded_blas():
        assert blas_threads() and all(n == 1 for n in blas_threads())
    assert blas_threads() == before


def test_int8_and_float64_data_agree():
    rng = np.random.default_rng(7)
    X = make_X(rng, 30, 200, "pm1")
    y = teacher_labels(rng, X)
    target = X.astype(np.float64) @ rng.standard_normal(200)
    for func, labels in [
        (max_l2_margin, y),
        (max_l1_margin, y),
        (min_l2_interpolant, target),
        (min_l1_interpolant, target),
    ]:
        a, b = func(X, labels), func(X.astype(np.float64), labels)
        assert_close(a.norm, b.norm, 1e-9)


# --------------------------------------------------------------------------------------------------------
# Known answers


def sparse_teacher_data(seed: int, n: int = 200, d: int = 500) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = make_X(rng, n, d, "pm1")
    return X, X[:, :3].sum(axis=1).astype(np.float64)


@pytest.mark.parametrize("seed", [0, 1])
def test_l1_margin_recovers_the_sparse_teacher(seed):
    # y = sign(x1 + x2 + x3): w = (1, 1, 1, 0, ...) has y<w,x> = |x1 + x2 + x3| >= 1, so ||w||_1 = 3 and
    # normalised ℓ1 margin 1/3; with n = 200 >> k log d it is the max-ℓ1-margin solution.
    X, s = sparse_teacher_data(seed)
    p = max_l1_margin(X, np.sign(s))
    assert_certified(p)
    expected = np.zeros(X.shape[1])
    expected[:3] = 1.0
    np.testing.assert_allclose(p.w, expected, atol=1e-8)
    assert p.margin == pytest.approx(1.0 / 3.0, rel=1e-9)
    assert p.norm == pytest.approx(3.0, rel=1e-9)


def test_basis_pursuit_recovers_the_sparse_teacher():
    # Compressed sensing: 3-sparse w from 200 random ±1 measurements is recovered exactly by ℓ1.
    X, s = sparse_teacher_data(2)
    p = min_l1_interpolant(X, s)
    assert_certified(p)
    expected = np.zeros(X.shape[1])
    expected[:3] = 1.0
    np.testing.assert_allclose(p.w, expected, atol=1e-8)
    assert p.norm == pytest.approx(3.0, rel=1e-9)


def test_l2_margin_of_two_points():
    # x1 = (1, 0), x2 = (0, 1), both +1: the max-margin w is (1, 1), margin 1/sqrt(2).
    X = np.array([[1.0, 0.0], [0.0, 1.0]])
    p = max_l2_margin(X, np.array([1.0, 1.0]))
    assert_certified(p)
    np.testing.assert_allclose(p.w, [1.0, 1.0], atol=1e-12)
    assert p.margin == pytest.approx(1 / np.sqrt(2), rel=1e-12)


# --------------------------------------------------------------------------------------------------------
# Infeasible problems


def test_duplicated_point_with_opposite_labels_is_not_separable():
    rng = np.random.default_rng(3)
    X = make_X(rng, 20, 50, "gauss")
    y = teacher_labels(rng, X)
    X = np.vstack([X, X[:1]])
    y = np.append(y, -y[0])
    for p in reference_predictors(X, y, "classification"):
        assert not p.feasible
        assert "not separable" in p.message
        assert np.isnan(p.margin) and np.isnan(p.gap) and p.norm == np.inf
        assert np.all(p.w == 0)
    assert naive_l1_margin(X, y)[0].status == 2  # the reference agrees: infeasible


def test_random_labels_in_low_dimension_are_not_separable():
    # 60 points with random labels in 4 dimensions (no bias): separable with probability ~1e-13 (Cover).
    rng = np.random.default_rng(4)
    X = rng.standard_normal((60, 4))
    y = rng.choice([-1.0, 1.0], size=60)
    assert naive_l1_margin(X, y)[0].status == 2
    for p in (max_l2_margin(X, y), max_l1_margin(X, y)):
        assert not p.feasible, p.message
        assert "not separable" in p.message


def test_inconsistent_regression_is_not_interpolable():
    rng = np.random.default_rng(5)
    X = make_X(rng, 20, 60, "sparse")
    y = X.astype(np.float64) @ rng.standard_normal(60)
    X = np.vstack([X, X[:1]])
    y = np.append(y, y[0] + 1.0)  # same x, different target
    for p in reference_predictors(X, y, "regression"):
        assert not p.feasible
        assert "not interpolable" in p.message
        assert np.isnan(p.gap) and p.norm == np.inf
    assert naive_basis_pursuit(X, y)[0].status == 2
    # More samples than features, generic targets.
    X = rng.standard_normal((40, 10))
    y = rng.standard_normal(40)
    for p in reference_predictors(X, y, "regression"):
        assert not p.feasible, p.message


def test_rank_deficient_but_consistent_regression_is_interpolable():
    rng = np.random.default_rng(6)
    X = make_X(rng, 20, 60, "gauss")
    y = X @ rng.standard_normal(60)
    X, y = np.vstack([X, X[:3]]), np.concatenate([y, y[:3]])  # repeated samples, same targets
    l2, l1 = reference_predictors(X, y, "regression")
    assert_certified(l2)
    assert_certified(l1)
    np.testing.assert_allclose(l2.w, np.linalg.lstsq(X, y, rcond=None)[0], atol=1e-8)
    assert_close(l1.norm, naive_basis_pursuit(X, y)[0].fun, 1e-6)


def test_zero_targets_give_zero_interpolant():
    X = np.ones((3, 4))
    for p in reference_predictors(X, np.zeros(3), "regression"):
        assert p.feasible and p.norm == 0.0 and np.all(p.w == 0)


# --------------------------------------------------------------------------------------------------------
# API


def test_reference_predictors_kinds():
    rng = np.random.default_rng(8)
    X = make_X(rng, 10, 40, "gauss")
    y = teacher_labels(rng, X)
    assert [p.kind for p in reference_predictors(X, y, "classification")] == [
        "max_l2_margin",
        "max_l1_margin",
    ]
    kinds = [p.kind for p in reference_predictors(X, X @ rng.standard_normal(40), "regression")]
    assert kinds == ["min_l2_interpolant", "min_l1_interpolant"]


@pytest.mark.parametrize(
    ("X", "y", "match"),
    [
        (np.ones(5), np.ones(5), "2-D"),
        (np.ones((0, 3)), np.ones(0), "2-D"),
        (np.ones((3, 2)), np.ones(4), "shape"),
        (np.ones((3, 2)), np.array([1.0, -1.0, 0.5]), "0.5"),
        (np.array([[1.0, np.nan], [0.0, 1.0]]), np.ones(2), "finite"),
        (np.ones((2, 2)), np.array([1.0, np.inf]), "finite"),
        (np.ones((2, 2), dtype=complex), np.ones(2), "complex"),
    ],
)
def test_bad_input_raises(X, y, match):
    with pytest.raises(InputError, match=match):
        max_l1_margin(X, y)


def test_bad_kind_raises():
    with pytest.raises(InputError, match="'ranking'"):
        reference_predictors(np.ones((2, 2)), np.ones(2), "ranking")


def test_int8_gram_by_rank_k_update_is_exact():
    from grokode.numeric.linalg import DataMatrix

    rng = np.random.default_rng(8)
    X = rng.choice(np.array([-1, 1], dtype=np.int8), size=(31, 5003))
    K = DataMatrix(X).gram()
    Xf = X.astype(np.float64)
    assert np.array_equal(K, Xf @ Xf.T)  # integer entries: exact whatever the summation order
