"""Label-noise SGD on the diagonal net (issue #9, paper App. B.2)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import grokode
from grokode.errors import InputError
from grokode.numeric.gd import DiagonalGD
from grokode.numeric.label_noise import LabelNoiseSGD, effective_decay, noise_generator
from grokode.numeric.linalg import DataMatrix
from grokode.tasks import make_task

# tiny sparse regression: n < d, 3-sparse teacher; α = 8 puts the early phase near the min-ℓ2 interpolant
TINY = dict(task="sparse-regression", n=20, d=50, n_test=0, alpha=8.0, seed=0)


@pytest.fixture(scope="module")
def tiny():
    return make_task("sparse-regression", n=20, d=50, k=3, n_test=0, seed=0)


@pytest.mark.parametrize("as_float", [False, True])
@pytest.mark.parametrize("lam", [0.0, 0.02])
def test_zero_noise_full_batch_is_plain_gd_bit_for_bit(tiny, as_float, lam):
    X = tiny.X.astype(np.float64) if as_float else tiny.X  # float64 and bit-packed ±1 products
    t_eval = np.array([0.3, 1.0, 4.0])
    gd = DiagonalGD(X, tiny.y, alpha=3.0, lam=lam, lr=0.01, loss="squared").run(t_eval)
    ln = LabelNoiseSGD(X, tiny.y, alpha=3.0, lam=lam, lr=0.01, noise=0.0, batch=tiny.n, rng=noise_generator(0))
    sol = ln.run(t_eval)
    assert np.array_equal(sol.weights, gd.weights) and np.array_equal(sol.states, gd.states)
    np.testing.assert_array_equal(sol.t, gd.t)
    assert sol.stats.steps == gd.stats.steps == 400


def test_reproducible_from_seed_whatever_the_chunking(tiny):
    def run(noise_seed, chunk_seconds):
        m = LabelNoiseSGD(tiny.X, tiny.y, alpha=3.0, lam=0.0, lr=0.005, noise=1.0, batch=4,
                          rng=noise_generator(noise_seed))
        return m.run(np.array([1.0, 30.0]), chunk_seconds=chunk_seconds).weights

    a, b, c = run(7, 0.2), run(7, 1e-6), run(8, 0.2)  # 1e-6 s: every call does a few steps
    assert np.array_equal(a, b)
    assert not np.allclose(a[-1], c[-1])


def test_minibatches_are_distinct_samples(tiny):
    m = LabelNoiseSGD(tiny.X, tiny.y, alpha=3.0, lam=0.0, lr=0.01, noise=1.0, batch=5, rng=noise_generator(0))
    idx, noise = m._draw(2000)
    assert idx.shape == (2000, 5) and np.all(np.diff(idx, axis=1) > 0)  # sorted, without replacement
    counts = np.bincount(idx.ravel(), minlength=tiny.n)
    assert counts.min() > 0.8 * 500 and counts.max() < 1.2 * 500  # uniform: each sample in B/n of the batches
    assert abs(noise.std() - 1.0) < 0.03 and abs(noise.mean()) < 0.03


def test_effective_decay_shrinks_uv_as_predicted(tiny):
    """One step multiplies u_j v_j by 1 − 4η²g_j²: over many steps its log falls at rate 2λ_eff (depth 2)."""
    lr, sigma, batch = 0.002, 2.0, 2
    m = LabelNoiseSGD(tiny.X, tiny.y, alpha=3.0, lam=0.0, lr=lr, noise=sigma, batch=batch, rng=noise_generator(1))
    t_end = 40.0
    sol = m.run(np.array([t_end]))
    u, v = sol.states[-1][: tiny.d], sol.states[-1][tiny.d:]
    u0 = 3.0 / np.sqrt(2 * tiny.d)
    rate = -np.mean(np.log(u * v / u0**2)) / (2 * t_end)
    lam_eff = effective_decay(DataMatrix(tiny.X), lr, sigma, batch, 2)
    assert lam_eff == pytest.approx(8 * lr * sigma**2 / batch)
    # the noise part is the prediction; the mean gradient adds a little more decay (E g² ≥ Var g)
    assert lam_eff < rate < 1.25 * lam_eff


@pytest.fixture(scope="module")
def long_run():
    return grokode.integrate(**TINY, lam=0.0, method="label-noise-sgd", noise=1.0, batch=1)


def test_long_run_reaches_kernel_interpolant_then_sparse_solution(long_run):
    s, a = long_run.summary, long_run.arrays
    assert s["status"] == "ok" and s["lam_eff"] == pytest.approx(8 * long_run.meta["options"]["lr"])
    loss = a["test_loss_population"]
    t = a["t"]
    # early (t ≤ 0.1·t_theory): close to the min-ℓ2 interpolant's test loss (the kernel predictor)
    early = (t > 0.02 * s["t_theory"]) & (t < 0.1 * s["t_theory"])
    assert np.all(np.abs(loss[early] / s["kernel_test"] - 1) < 0.35)
    # late: near the sparse teacher (basis pursuit recovers it: rich_test ≈ 0), 1.5 decades below the kernel
    assert loss[-1] < 0.03 * s["kernel_test"] and s["rich_test"] < 1e-8
    assert s["direction"] == -1 and s["t_transition"] is not None
    # the transition is where the implicit decay λ_eff predicts it, ln(α)/λ_eff, within a factor 2
    assert 0.5 < s["t_transition"] / s["t_theory"] < 2.0


def test_transition_matches_the_weight_decay_flow_at_lam_eff(long_run):
    """Second integrator: the reduced flow with weight decay λ = λ_eff, the dynamics label noise imitates."""
    flow = grokode.integrate(**TINY, lam=long_run.summary["lam_eff"])
    ratio = long_run.summary["t_transition"] / flow.summary["t_transition"]
    assert 0.4 < ratio < 1.5, ratio


def test_long_run_is_reproducible_from_meta(long_run):
    o = long_run.meta["options"]
    again = grokode.integrate(task=o["task"], n=o["n"], d=o["d"], n_test=o["n_test"], alpha=o["alpha"], lam=o["lam"],
                              seed=o["seed"], method=o["method"], lr=o["lr"], noise=o["noise"], batch=o["batch"],
                              noise_seed=o["noise_seed"], t_end=o["t_end"])
    assert np.array_equal(again.arrays["w"], long_run.arrays["w"])


@pytest.mark.parametrize("kw,needle", [
    (dict(noise=-1.0), "noise"), (dict(batch=0), "batch"), (dict(batch=21), "batch"),
    (dict(task="sparse", noise=1.0), "regression labels"), (dict(lam=-0.1), "lam"),
    (dict(lr=0.0), "lr"), (dict(noise_seed=-3), "noise_seed"),
])
def test_bad_input(kw, needle):
    args = {**TINY, "lam": 0.0, "method": "label-noise-sgd", **kw}
    with pytest.raises(InputError, match=needle):
        grokode.integrate(**args)


def test_noise_options_need_the_method():
    with pytest.raises(InputError, match="noise"):
        grokode.integrate(**TINY, lam=0.1, noise=1.0)


@pytest.mark.parametrize("extra,needle", [(["--noise", "-1"], "-1"), (["--batch", "0"], "batch"),
                                          (["--batch", "21"], "21"), (["--task", "sparse"], "regression"),
                                          (["--lam", "-1"], "lam")])
def test_cli_bad_input_one_line_exit_2(tmp_path, extra, needle):
    args = ["--task", "sparse-regression", "--n", "20", "--d", "50", "--n-test", "0", "--alpha", "8", "--lam", "0",
            "--method", "label-noise-sgd", "--no-plot", *extra]
    proc = subprocess.run([sys.executable, "-m", "grokode", "integrate", *args], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("grokode: error:") and needle in lines[0]
