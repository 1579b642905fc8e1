"""The nuclear-norm-penalized completion (matrix completion's rich reference with weight decay) against a convex
solver and its own optimality conditions, and matrix runs with λ > 0: their final W is that completion, and their
regime is read against it."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest

from grokode.analysis.nuclear_penalized import penalized_completion
from grokode.errors import InputError
from grokode.pipeline import integrate
from grokode.tasks.matrix import make_matrix_task

CASES = [  # task, d, frac, rank, penalty
    ("lowrank", 8, 0.5, 2, 5e-3),
    ("lowrank", 10, 0.4, 1, 2e-2),
    ("multiplication", 9, 0.5, 1, 1e-3),
    ("lowrank", 8, 0.6, 3, 5e-2),
]


def kkt_violation(M, mask, X, penalty):
    """How far X is from the optimality conditions of min (1/N)Σ_Ω(X − M)² + p‖X‖_*, from the data alone: with
    G = (E + Eᵀ)/N, −G/p must be a subgradient of ‖·‖_* at X, i.e. equal sign(X) on X's range, map the range's
    complement into itself, and have spectral norm ≤ 1. Returns (on the range, across, spectral norm − 1)."""
    N = mask.sum()
    E = np.where(mask, X - M, 0.0)
    S = -(E + E.T) / N / penalty
    vals, vecs = np.linalg.eigh(X)
    on = np.abs(vals) > 1e-9 * max(1.0, np.abs(vals).max())
    V = vecs[:, on]
    inside = V.T @ S @ V - np.diag(np.sign(vals[on]))
    across = (np.eye(len(M)) - V @ V.T) @ S @ V
    return float(np.abs(inside).max(initial=0.0)), float(np.abs(across).max(initial=0.0)), \
        float(np.abs(np.linalg.eigvalsh(S)).max()) - 1.0


@pytest.mark.parametrize(("task", "d", "frac", "rank", "penalty"), CASES)
def test_penalized_completion_matches_a_convex_solver_and_its_kkt_conditions(task, d, frac, rank, penalty):
    problem = make_matrix_task(task, d=d, frac=frac, rank=rank, seed=d)
    M, mask = problem.M, problem.train_mask
    found = penalized_completion(M, mask, penalty)
    assert found.status == "optimal" and found.relative_gap <= 1e-8
    assert found.dual_value <= found.objective * (1 + 1e-12)
    N = int(mask.sum())
    P, Q = cp.Variable((d, d), PSD=True), cp.Variable((d, d), PSD=True)
    X = P - Q
    rows, cols = np.nonzero(mask)
    fit = cp.sum_squares(X[rows, cols] - M[rows, cols]) / N
    solved = cp.Problem(cp.Minimize(fit + penalty * (cp.trace(P) + cp.trace(Q))))
    solved.solve(solver=cp.CLARABEL)
    reference = P.value - Q.value

    def objective(A):
        return float(np.sum(np.where(mask, A - M, 0.0) ** 2)) / N + penalty * float(np.abs(np.linalg.eigvalsh(
            0.5 * (A + A.T))).sum())

    assert objective(found.X) <= solved.value * (1 + 1e-7)
    assert np.linalg.norm(found.X - reference) <= 1e-4 * np.linalg.norm(reference)
    assert found.objective == pytest.approx(objective(found.X), rel=1e-12)
    inside, across, excess = kkt_violation(M, mask, found.X, penalty)
    assert inside <= 1e-5 and across <= 1e-5 and excess <= 1e-6
    assert 1 <= found.rank <= d


def test_the_start_changes_the_work_not_the_answer():
    problem = make_matrix_task("lowrank", d=10, frac=0.5, rank=2, seed=3)
    cold = penalized_completion(problem.M, problem.train_mask, 1e-2)
    rng = np.random.default_rng(0)
    start = rng.standard_normal((10, 10))
    warm = penalized_completion(problem.M, problem.train_mask, 1e-2, start=start + start.T)
    near = penalized_completion(problem.M, problem.train_mask, 1e-2, start=cold.X)
    assert warm.relative_gap <= 1e-8 and near.relative_gap <= 1e-8 and near.iterations <= cold.iterations
    assert np.linalg.norm(warm.X - cold.X) <= 1e-5 * np.linalg.norm(cold.X)


def test_a_large_penalty_gives_zero_and_bad_arguments_are_refused():
    problem = make_matrix_task("lowrank", d=6, frac=0.5, rank=1, seed=1)
    M, mask = problem.M, problem.train_mask
    E = np.where(mask, -M, 0.0)
    top = float(np.abs(np.linalg.eigvalsh((E + E.T) / mask.sum())).max())  # ‖G(0)‖₂: above it, 0 is optimal
    zero = penalized_completion(M, mask, 1.01 * top)
    assert not np.any(zero.X) and zero.rank == 0 and zero.relative_gap <= 1e-8
    assert np.any(penalized_completion(M, mask, 0.9 * top).X)
    for bad in (0.0, -1.0, float("nan"), "0.1"):
        with pytest.raises(InputError, match="penalty"):
            penalized_completion(M, mask, bad)
    with pytest.raises(InputError, match="same shape"):
        penalized_completion(M, mask[:3], 0.1)
    with pytest.raises(InputError, match="empty"):
        penalized_completion(M, np.zeros_like(mask), 0.1)


@pytest.mark.parametrize(("alpha", "regime"), [(1e-2, "rich"), (1e3, "grokking")])
def test_a_matrix_run_with_weight_decay_ends_at_the_penalized_completion(alpha, regime):
    """An exact rank-2 target: the λ = 0 reference recovers it (test loss ~1e-16), the flow with λ = 1e-2 cannot
    (it ends at the penalized completion, test loss ~3e-3); against the latter the run is rich at small α and groks
    at large α."""
    lam = 1e-2
    run = integrate(model="matrix", task="lowrank", rank=2, d=12, frac=0.5, alpha=alpha, lam=lam)
    s = run.summary
    assert s["status"] == "ok" and s["regime"] == regime
    problem = make_matrix_task("lowrank", d=12, frac=0.5, rank=2, seed=0)
    reference = penalized_completion(problem.M, problem.train_mask, lam / 2)  # cold start: independent of the run
    inside, across, excess = kkt_violation(problem.M, problem.train_mask, reference.X, lam / 2)
    assert max(inside, across, excess) <= 1e-5
    W = run.arrays["W"][-1]
    assert np.linalg.norm(W - reference.X) <= 1e-4 * np.linalg.norm(reference.X)
    assert np.linalg.norm(run.arrays["W_rich_decay"] - reference.X) <= 1e-6 * np.linalg.norm(reference.X)
    assert s["rich_decay_test"] == pytest.approx(float(problem.mse(reference.X, problem.test_mask)), rel=1e-5)
    assert run.meta["references"]["rich"]["test_value"] < 1e-12 < s["rich_decay_test"]
