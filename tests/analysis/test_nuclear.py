"""grokode's own minimum nuclear-norm completion (ADMM) with its duality certificate, against cvxpy's SDP solvers."""

from __future__ import annotations

import numpy as np
import pytest

from grokode.analysis.nuclear import kernel_completion, nuclear_norm_completion
from grokode.tasks.matrix import make_matrix_task


def _problems():
    yield "multiplication", make_matrix_task("multiplication", d=20, frac=0.3, seed=1)
    yield "lowrank", make_matrix_task("lowrank", d=24, frac=0.25, rank=2, seed=3)


@pytest.mark.parametrize("name,task", list(_problems()))
def test_certificate_holds(name, task):
    """Primal feasible, dual feasible (zero off Ω, spectral norm ≤ 1), and a relative gap ≤ 1e-6 between them."""
    sol = nuclear_norm_completion(task.M, task.train_mask)
    assert sol.status == "optimal" and sol.solver == "ADMM"
    B = kernel_completion(task.M, task.train_mask)
    omega = task.train_mask | task.train_mask.T
    assert np.max(np.abs((sol.X - B)[omega])) <= 1e-12 * np.max(np.abs(B))
    assert np.allclose(sol.X, sol.X.T, rtol=0, atol=0)
    Y = sol.Y
    assert np.all(Y[~omega] == 0.0)
    assert np.linalg.norm(Y, 2) <= 1.0 + 1e-12
    assert np.sum(Y * B) == pytest.approx(sol.dual_value, rel=1e-12)
    assert np.abs(np.linalg.eigvalsh(sol.X)).sum() == pytest.approx(sol.nuclear_norm, rel=1e-12)
    assert sol.dual_value <= sol.nuclear_norm
    assert (sol.nuclear_norm - sol.dual_value) / sol.nuclear_norm == pytest.approx(sol.relative_gap, abs=1e-15)
    assert sol.relative_gap <= 1e-6
    np.testing.assert_allclose(sol.P - sol.Q, sol.X, rtol=0, atol=1e-12 * np.max(np.abs(B)))


@pytest.mark.parametrize("name,task", list(_problems()))
def test_agrees_with_cvxpy(name, task):
    ours = nuclear_norm_completion(task.M, task.train_mask)
    scs = nuclear_norm_completion(task.M, task.train_mask, solver="SCS")
    assert ours.nuclear_norm == pytest.approx(scs.nuclear_norm, rel=1e-6)
    assert ours.nuclear_norm <= scs.nuclear_norm * (1 + 1e-7)  # ours is exactly feasible; SCS only to its eps
    assert np.linalg.norm(ours.X - scs.X) / np.linalg.norm(scs.X) < 1e-4


def test_rank_one_with_observed_diagonal_is_recovered():
    """Diagonal observed: tr X = tr M and ‖X‖_* ≥ tr X, so the PSD M is the optimum (closed form)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(12)
    M = np.outer(x, x)
    mask = (rng.random((12, 12)) < 0.6) | np.eye(12, dtype=bool)
    sol = nuclear_norm_completion(M, mask)
    assert sol.nuclear_norm == pytest.approx(np.trace(M), rel=1e-6)
    assert np.linalg.norm(sol.X - M) / np.linalg.norm(M) < 1e-4
