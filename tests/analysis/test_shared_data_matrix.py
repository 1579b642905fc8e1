"""A caller's DataMatrix (the flow's) serves the reference predictors: the same predictors, built once per run."""

from __future__ import annotations

import numpy as np
import pytest

import grokode
from grokode.analysis.predictors import predictor_pair, reference_predictors
from grokode.errors import InputError
from grokode.numeric import linalg
from grokode.numeric.linalg import DataMatrix


def _data(kind: str, problem: str):
    rng = np.random.default_rng(7)
    n, d = 12, 203
    X = rng.choice(np.array([-1, 1], dtype=np.int8), size=(n, d)) if kind == "pm1" else rng.standard_normal((n, d))
    score = X[:, :3].astype(np.float64).sum(axis=1)
    return X, (np.sign(score) if problem == "classification" else score)


@pytest.mark.parametrize("kind", ["pm1", "real"])
@pytest.mark.parametrize("problem", ["classification", "regression"])
def test_a_data_matrix_gives_the_same_predictors(kind, problem):
    X, y = _data(kind, problem)
    pairs = zip(predictor_pair(DataMatrix(X), y, problem), reference_predictors(X, y, problem), strict=True)
    for mine, theirs in pairs:
        assert mine.kind == theirs.kind and mine.feasible == theirs.feasible
        assert np.array_equal(mine.w, theirs.w) and mine.norm == theirs.norm and mine.gap == theirs.gap


def test_a_data_matrix_is_checked_like_an_array():
    X, y = _data("real", "classification")
    bad = X.copy()
    bad[3, 5] = np.nan
    with pytest.raises(InputError, match="finite"):
        predictor_pair(DataMatrix(bad), y, "classification")
    with pytest.raises(InputError, match="shape"):
        predictor_pair(DataMatrix(X), y[:-1], "classification")
    with pytest.raises(InputError, match="labels"):
        predictor_pair(DataMatrix(X), 2 * y, "classification")


def test_a_run_builds_one_data_matrix(monkeypatch):
    built = []
    original = DataMatrix.__init__

    def counting(self, X):
        built.append(X.shape)
        original(self, X)

    monkeypatch.setattr(linalg.DataMatrix, "__init__", counting)
    run = grokode.integrate(model="diagonal", n=16, d=200, n_test=0, alpha=1e3, lam=1e-2)
    assert run.meta["references"]["kernel"]["feasible"] and run.meta["references"]["rich"]["feasible"]
    assert built == [(16, 200)]  # the flow's, read again by both reference predictors
