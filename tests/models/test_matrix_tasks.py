"""Matrix tasks, the --data loader and its validation, and the reference predictors."""

import numpy as np
import pytest

from grokode.analysis.nuclear import kernel_completion, nuclear_norm_completion
from grokode.errors import InputError
from grokode.tasks.matrix import LOWRANK_RMS, load_matrix_npz, make_matrix_task


def test_multiplication_table_and_mask():
    task = make_matrix_task("multiplication", d=10, frac=0.25, seed=3)
    i, j = 7, 4
    assert task.M[i, j] == pytest.approx((i / 10) * (j / 10), abs=0)
    assert task.n_obs == 25 and task.train_mask.sum() == 25
    assert not (task.train_mask & task.test_mask).any() and (task.train_mask | task.test_mask).all()
    again = make_matrix_task("multiplication", d=10, frac=0.25, seed=3)
    assert (again.train_mask == task.train_mask).all()
    assert (make_matrix_task("multiplication", d=10, frac=0.25, seed=4).train_mask != task.train_mask).any()


def test_lowrank_task():
    task = make_matrix_task("lowrank", d=20, frac=0.3, rank=3, seed=0)
    s = np.linalg.svd(task.M, compute_uv=False)
    assert s[2] > 1e-6 * s[0] and s[3] < 1e-12 * s[0]
    assert np.sqrt(np.mean(task.M**2)) == pytest.approx(LOWRANK_RMS, rel=1e-12)
    np.testing.assert_array_equal(task.M, task.M.T)


@pytest.mark.parametrize("kwargs,needle", [
    ({"frac": 0.0}, "frac"), ({"frac": 1.0}, "frac"), ({"d": 1}, "d"), ({"rank": 0, "task": "lowrank"}, "rank"),
    ({"rank": 11, "task": "lowrank"}, "rank"), ({"task": "banana"}, "banana"), ({"frac": 0.001}, "frac"),
])
def test_bad_task_arguments(kwargs, needle):
    with pytest.raises(InputError, match=needle):
        make_matrix_task(**{"task": "multiplication", "d": 10, **kwargs})


def _write(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_loader_roundtrip(tmp_path):
    task = make_matrix_task("multiplication", d=6, frac=0.5, seed=0)
    test_mask = np.zeros((6, 6), bool)
    test_mask[0, 1] = True
    loaded = load_matrix_npz(_write(tmp_path / "ok.npz", M=task.M, train_mask=task.train_mask, test_mask=test_mask))
    np.testing.assert_array_equal(loaded.M, task.M)
    assert loaded.test_mask.sum() == 1 and loaded.name == "data:ok.npz"
    default = load_matrix_npz(_write(tmp_path / "ok2.npz", M=task.M, train_mask=task.train_mask.astype(int)))
    np.testing.assert_array_equal(default.test_mask, ~task.train_mask)


@pytest.mark.parametrize("case,needle", [
    ("nonsquare", "square"), ("asym", "symmetric"), ("mismatch", "shape"), ("empty", "empty"), ("nan", "nan"),
    ("nokey", "train_mask"), ("floatmask", "boolean"),
])
def test_loader_rejects(tmp_path, case, needle):
    M = np.outer(np.arange(4.0), np.arange(4.0))
    mask = np.eye(4, dtype=bool)
    arrays = {"M": M, "train_mask": mask}
    if case == "nonsquare":
        arrays["M"] = np.ones((4, 3))
    elif case == "asym":
        arrays["M"] = M + np.triu(np.ones((4, 4)), 1)
    elif case == "mismatch":
        arrays["train_mask"] = np.ones((3, 3), bool)
    elif case == "empty":
        arrays["train_mask"] = np.zeros((4, 4), bool)
    elif case == "nan":
        arrays["M"] = M.copy()
        arrays["M"][2, 1] = np.nan
    elif case == "nokey":
        del arrays["train_mask"]
    elif case == "floatmask":
        arrays["train_mask"] = mask * 0.5
    with pytest.raises(InputError, match=needle):
        load_matrix_npz(_write(tmp_path / "bad.npz", **arrays))


def test_kernel_completion():
    M = np.arange(16.0).reshape(4, 4)
    M = M + M.T
    mask = np.zeros((4, 4), bool)
    mask[0, 1] = mask[2, 2] = mask[3, 1] = mask[1, 3] = True
    K = kernel_completion(M, mask)
    want = np.zeros((4, 4))
    for i, j in ((0, 1), (1, 0), (2, 2), (1, 3), (3, 1)):
        want[i, j] = M[i, j]
    np.testing.assert_array_equal(K, want)


def test_nuclear_norm_recovers_rank_one():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(12)
    M = np.outer(x, x)
    mask = rng.random((12, 12)) < 0.6
    mask |= np.eye(12, dtype=bool)  # diagonal observed: then tr X = tr M, and ‖X‖_* ≥ tr X, so M is optimal
    sol = nuclear_norm_completion(M, mask)
    assert sol.status == "optimal"
    assert np.linalg.norm(sol.X - M) / np.linalg.norm(M) < 1e-5
    assert sol.nuclear_norm == pytest.approx(np.trace(M), rel=1e-6)
    assert sol.max_violation < 1e-6
    # the interior-point solver agrees (independent algorithm)
    other = nuclear_norm_completion(M, mask, solver="CLARABEL")
    assert np.linalg.norm(other.X - sol.X) / np.linalg.norm(M) < 1e-5


def test_nuclear_norm_below_kernel_norm_on_multiplication_table():
    task = make_matrix_task("multiplication", d=15, frac=0.3, seed=1)
    sol = nuclear_norm_completion(task.M, task.train_mask)
    kernel_nuc = np.abs(np.linalg.eigvalsh(kernel_completion(task.M, task.train_mask))).sum()
    assert sol.nuclear_norm <= kernel_nuc + 1e-8
    assert task.mse(sol.X, task.test_mask) < 1e-3 * task.mse(np.zeros((15, 15)), task.test_mask)
