"""Runs that keep their reduced states instead of w (LazyWeights), the time split, and the Newton Gram product."""

import json
import os
import resource
import subprocess
import sys

import numpy as np
import pytest

import grokode
from grokode.models import linear
from grokode.numeric import lazy_weights
from grokode.numeric.diagonal import ReducedDiagonalFlow
from grokode.numeric.integrate import integrate_flow
from grokode.numeric.lazy_weights import LazyWeights
from grokode.numeric.linalg import DataMatrix
from grokode.tasks import make_task

SMALL = dict(n=24, d=2500, alpha=1e3, lam=1e-3, n_test=150, seed=3)


def _run(monkeypatch, lazy: bool, **extra):
    monkeypatch.setattr(lazy_weights, "LAZY_FROM", 0 if lazy else 10**18)
    return grokode.integrate(**SMALL, **extra)


def test_a_run_that_keeps_its_states_has_the_same_arrays_and_summary(monkeypatch):
    eager, lazy = _run(monkeypatch, False), _run(monkeypatch, True)
    assert isinstance(lazy.arrays["w"], LazyWeights) and isinstance(eager.arrays["w"], np.ndarray)
    assert sorted(eager.arrays) == sorted(lazy.arrays)
    for key in eager.arrays:  # every row is the flow's own observe of the same state: the same to the last bit
        a, b = np.asarray(eager.arrays[key]), np.asarray(lazy.arrays[key])
        assert a.shape == b.shape and np.array_equal(a, b, equal_nan=True), key
    skip = {"wall_seconds", "time_split"}
    assert {k: v for k, v in eager.summary.items() if k not in skip} == {
        k: v for k, v in lazy.summary.items() if k not in skip}


def test_compact_file_rebuilds_the_runs_w_to_1e_12(monkeypatch, tmp_path):
    monkeypatch.setattr(linear, "COMPACT_FROM", 0)
    run = _run(monkeypatch, True, out=tmp_path / "run.npz")
    W = np.asarray(run.arrays["w"])
    with np.load(tmp_path / "run.npz") as z:
        assert "w" not in z.files and "state" in z.files
    back = grokode.load_run(tmp_path / "run.npz").arrays["w"]
    assert back.shape == W.shape
    assert np.linalg.norm(back - W) <= 1e-12 * np.linalg.norm(W)


def test_lazy_weights_blocks_products_and_indexing(monkeypatch):
    ds = make_task("sparse", n=16, d=300, n_test=0, seed=0)
    flow = ReducedDiagonalFlow(ds.X, ds.y, alpha=10.0, lam=0.05)
    t_eval = np.geomspace(1e-3, 60.0, 40)
    monkeypatch.setattr(lazy_weights, "LAZY_FROM", 10**18)
    eager = integrate_flow(flow, t_eval)
    monkeypatch.setattr(lazy_weights, "LAZY_FROM", 0)
    sol = integrate_flow(ReducedDiagonalFlow(ds.X, ds.y, alpha=10.0, lam=0.05), t_eval)
    W, ref = sol.weights, eager.weights
    assert isinstance(W, LazyWeights) and W.shape == ref.shape
    monkeypatch.setattr(lazy_weights, "BLOCK_BYTES", 7 * 8 * 300)  # read in blocks of 7 rows, nothing kept
    assert W.block_rows() == 7
    v1, v2 = np.linspace(-1, 1, 300), np.cos(np.arange(300.0))
    p1, p2 = W.project([v1, v2])
    np.testing.assert_allclose(p1, ref @ v1, rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(W @ v2, ref @ v2, rtol=1e-13, atol=1e-300)
    l2, l1 = W.row_norms()
    np.testing.assert_array_equal(l2, np.linalg.norm(ref, axis=1))
    np.testing.assert_array_equal(W.param_norm, eager.param_norm)
    assert np.array_equal(W[-1], ref[-1]) and np.array_equal(W[3:9], ref[3:9]) and np.array_equal(W[5, :4], ref[5, :4])
    assert np.array_equal(W[:, 7], ref[:, 7]) and np.array_equal(W[[0, 2]], ref[[0, 2]])
    assert np.array_equal(np.asarray(W), ref)


def test_time_split_accounts_for_the_solver_wall(monkeypatch):
    run = _run(monkeypatch, True)
    split = run.summary["time_split"]
    assert set(split) == set(lazy_weights_keys())
    parts = split["rhs"] + split["jacobian"] + split["integrator"]
    assert split["integrate"] >= parts - 1e-6 and split["rhs"] > 0
    assert split["integrate"] == pytest.approx(run.solution.stats.wall_seconds, abs=1e-5)
    assert all(v is None or v >= 0 for v in split.values())
    assert split["weights_from_states"] > 0
    json.dumps(split)  # strict JSON


def lazy_weights_keys():
    from grokode.numeric.costs import PHASES
    return PHASES


@pytest.mark.parametrize("dtype", [np.int8, np.float64])
def test_newton_gram_is_the_weighted_gram_to_float32_rounding(dtype):
    rng = np.random.default_rng(1)
    X = rng.choice([-1, 1], size=(12, 5000)).astype(dtype) if dtype == np.int8 else rng.normal(size=(12, 5000))
    data = DataMatrix(X)
    for col in (np.exp(rng.normal(size=5000)), rng.normal(size=5000)):  # one sign, both signs
        exact = (np.asarray(X, dtype=np.float64) * col) @ np.asarray(X, dtype=np.float64).T
        approx = data.newton_gram(col, block=1200)
        assert approx.dtype == np.float64 and np.allclose(approx, approx.T, rtol=0, atol=0)
        assert np.abs(approx - exact).max() <= 1e-5 * np.abs(exact).max()


@pytest.mark.slow
def test_n256_d1e6_peaks_below_2_gb(tmp_path):
    """Item 'larger problems': n 256 × d 1e6 runs (default options) within 2 GB of resident memory."""
    cmd = [sys.executable, "-m", "grokode", "integrate", "--n", "256", "--d", "1000000", "--alpha", "1e3", "--lam",
           "1e-3", "--no-plot", "--json", "--out", str(tmp_path / "big.npz")]
    env = dict(os.environ)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3000)
    assert proc.returncode == 0, proc.stderr[-2000:]
    peak = 1024 * resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # bytes (Linux reports KiB)
    assert peak <= 2e9, f"peak {peak / 1e9:.2f} GB"
    assert json.loads(proc.stdout)["status"] == "ok"
    assert (tmp_path / "big.npz").stat().st_size <= 20e6


def test_a_run_read_in_blocks_of_rows_has_the_same_metrics_to_rounding(monkeypatch):
    """Weights too large to keep: the metrics come from blocks of rows (±1 data: products from the sign bits)."""
    eager = _run(monkeypatch, False)
    monkeypatch.setattr(lazy_weights, "BLOCK_BYTES", 40 * 8 * SMALL["d"])  # blocks of 40 rows
    lazy = _run(monkeypatch, True)
    assert lazy.arrays["w"].block_rows() == 40 < len(lazy.arrays["w"])
    for key in eager.arrays:
        a, b = np.asarray(eager.arrays[key], dtype=np.float64), np.asarray(lazy.arrays[key], dtype=np.float64)
        np.testing.assert_allclose(b, a, rtol=1e-11, atol=1e-14, err_msg=key)
    for key in ("t_transition", "cos_kernel_at_Tminus", "cos_rich_at_Tplus", "test_final", "t_bias_switch"):
        assert lazy.summary[key] == pytest.approx(eager.summary[key], rel=1e-10), key


def test_a_run_with_its_own_save_times_writes_w_itself(tmp_path):
    """--t-eval: the file is not compact, so the w it stores is the lazy array materialized, row for row."""
    t_eval = np.geomspace(1.0, 9000.0, 240)  # 240 × 2500 saved weights: above LAZY_FROM
    run = grokode.integrate(**SMALL, t_eval=t_eval, out=tmp_path / "own.npz")
    assert isinstance(run.arrays["w"], LazyWeights)
    with np.load(tmp_path / "own.npz") as z:
        assert "w" in z.files and "state" not in z.files
        np.testing.assert_array_equal(z["w"], np.asarray(run.arrays["w"]))


def test_blocks_are_cache_sized_with_a_few_rows_at_least():
    """About 8 MiB of rows per block (10 at d 1e5), at least 4 (the products run a block's rows in parallel), at
    most all of them; the memory estimate counts one block."""
    assert lazy_weights.block_rows((302, 100_000)) == 10
    assert lazy_weights.block_rows((302, 1_000_000)) == 4
    assert lazy_weights.block_rows((3, 1_000_000)) == 3 and lazy_weights.block_rows((302, 100)) == 302
    model = grokode.build(n=256, d=1_000_000, alpha=1e3, lam=1e-3, n_test=0)
    trajectory = model.memory_estimate()[0] - model.data_bytes() - model.solver_bytes()
    assert trajectory == pytest.approx(8.0 * 4 * 1e6 + 8.0 * 400 * 256)


def test_a_pass_over_the_rows_runs_one_blas_thread_and_keeps_nothing(monkeypatch):
    """The rows are numba's parallel kernels; OpenBLAS's threads, spinning after each small product of the pass,
    would hold their cores. The pass computes its rows into one reused buffer: the T×d array is never built."""
    from threadpoolctl import threadpool_info, threadpool_limits

    ds = make_task("sparse", n=16, d=300, n_test=0, seed=0)
    monkeypatch.setattr(lazy_weights, "LAZY_FROM", 0)
    W = integrate_flow(ReducedDiagonalFlow(ds.X, ds.y, alpha=10.0, lam=0.05), np.geomspace(1e-3, 60.0, 40)).weights
    monkeypatch.setattr(lazy_weights, "BLOCK_BYTES", 7 * 8 * 300)  # blocks of 7 rows
    seen, buffers = [], set()

    def probe(block):
        seen.append(max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"))
        buffers.add(block.__array_interface__["data"][0])
        return block.sum(axis=1)

    with threadpool_limits(limits=2, user_api="blas"):
        sums = W.map_rows({"sum": probe})["sum"]
    assert seen == [1] * 6 and len(buffers) == 1 and W._full is None
    np.testing.assert_allclose(sums, np.asarray(W).sum(axis=1), rtol=1e-13)
