"""The weighted lasso (the rich reference of a degree-2 model with weight decay) against a convex solver and its
own optimality conditions."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest

from grokode.analysis.predictors.lasso import weighted_lasso
from grokode.errors import InputError

CASES = [  # n, d, c₊, c₋, penalty, ±1 inputs
    (20, 60, 1.0, 1.0, 0.01, False),
    (30, 80, 2.0, 0.5, 0.05, False),
    (64, 500, 1.0, 1.0, 0.005, True),
    (16, 10, 1.0, 3.0, 0.1, False),
]


def _problem(n, d, ints, seed):
    rng = np.random.default_rng(seed)
    X = rng.choice([-1, 1], size=(n, d)).astype(np.int8) if ints else rng.standard_normal((n, d))
    teacher = np.zeros(d)
    teacher[:3] = [1.0, -0.7, 0.4]
    return X, X.astype(np.float64) @ teacher + 0.01 * rng.standard_normal(n)


@pytest.mark.parametrize(("n", "d", "c_plus", "c_minus", "penalty", "ints"), CASES)
def test_weighted_lasso_matches_a_convex_solver_and_its_kkt_conditions(n, d, c_plus, c_minus, penalty, ints):
    X, y = _problem(n, d, ints, seed=n + d)
    found = weighted_lasso(X, y, penalty, c_plus, c_minus)
    assert found.feasible and found.gap <= 1e-8, found.message
    Xf = X.astype(np.float64)
    w, pos, neg = cp.Variable(d), cp.Variable(d, nonneg=True), cp.Variable(d, nonneg=True)
    problem = cp.Problem(cp.Minimize(cp.sum_squares(Xf @ w - y) / n + penalty * (c_plus * cp.sum(pos)
                                                                               + c_minus * cp.sum(neg))),
                         [w == pos - neg])
    problem.solve(solver=cp.CLARABEL)

    def objective(v):
        return float(np.sum((Xf @ v - y) ** 2)) / n + penalty * (c_plus * np.maximum(v, 0).sum()
                                                                 + c_minus * np.maximum(-v, 0).sum())

    assert objective(found.w) <= problem.value * (1 + 1e-7)
    assert np.linalg.norm(found.w - w.value) <= 1e-4 * np.linalg.norm(w.value)
    grad = 2.0 / n * Xf.T @ (Xf @ found.w - y)
    support = found.w != 0
    assert np.allclose(grad[support], np.where(found.w[support] > 0, -penalty * c_plus, penalty * c_minus),
                       rtol=1e-6, atol=1e-10)
    off = grad[~support]
    assert np.all((off >= -penalty * c_plus * (1 + 1e-6)) & (off <= penalty * c_minus * (1 + 1e-6)))


def test_a_large_penalty_gives_zero_and_bad_arguments_are_refused():
    X, y = _problem(10, 20, False, seed=0)
    top = float(np.max(np.abs(2.0 / 10 * X.T @ y)))
    assert not np.any(weighted_lasso(X, y, 1.01 * top).w)
    for bad in (0.0, -1.0, float("nan"), "0.1"):
        with pytest.raises(InputError, match="penalty"):
            weighted_lasso(X, y, bad)
