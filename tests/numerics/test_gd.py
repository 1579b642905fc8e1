"""Gradient descent (`--method gd`): against plain numpy GD, first-order convergence to the flow, divergence."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest

import grokode
from grokode.numeric.diagonal import FullDiagonalFlow
from grokode.numeric.gd import DiagonalGD, run_gd
from grokode.numeric.integrate import integrate_flow


def _data(n=16, d=40, seed=0, dense=False, regression=False):
    rng = np.random.default_rng(seed)
    X = (rng.integers(0, 2, (n, d)) * 2 - 1).astype(np.int8)
    y = X[:, :3].sum(1).astype(float) if regression else np.sign(X[:, 0] + X[:, 1] + X[:, 2]).astype(float)
    if dense:  # not ±1: exercises the float64 products instead of the bit-packed ones
        X = X * rng.uniform(0.5, 1.5, X.shape)
    return X, y


def numpy_gd(X, y, alpha, lam, lr, steps, depth=2, loss="logistic"):
    """PyTorch SGD(lr, weight_decay=λ) written out: p ← p − lr·(∂L̂/∂p + λp). Returns w and the objective per step."""
    X = np.asarray(X, dtype=float)
    n, d = X.shape
    u = np.full(d, alpha / math.sqrt(2 * d))
    v = u.copy()
    ws, objs = [], []
    for _ in range(steps + 1):
        w = u**depth - v**depth
        f = X @ w
        if loss == "logistic":
            value, r = np.logaddexp(0, -y * f), -y / (1 + np.exp(y * f))
        elif loss == "exponential":
            value, r = np.exp(-y * f), -y * np.exp(-y * f)
        else:
            value, r = (f - y) ** 2, 2 * (f - y)
        ws.append(w)
        objs.append(value.mean() + 0.5 * lam * (u @ u + v @ v))
        g = X.T @ r / n
        grad_u, grad_v = depth * u ** (depth - 1) * g, -depth * v ** (depth - 1) * g
        u, v = u - lr * (grad_u + lam * u), v - lr * (grad_v + lam * v)
    return np.array(ws), np.array(objs)


@pytest.mark.parametrize("depth,loss,dense", [(2, "logistic", False), (2, "logistic", True), (3, "exponential", False),
                                              (2, "squared", True)])
def test_matches_plain_numpy_gd(depth, loss, dense):
    X, y = _data(dense=dense, regression=loss == "squared")
    alpha, lam, lr = 2.0, 0.05, 0.01
    steps = np.array([0, 1, 7, 250, 600])
    sol = run_gd(X, y, steps * lr, alpha=alpha, lam=lam, lr=lr, depth=depth, loss=loss)
    ref_w, ref_obj = numpy_gd(X, y, alpha, lam, lr, int(steps[-1]), depth, loss)
    assert sol.status == "ok", sol.message
    assert sol.stats.nfev == steps[-1] and np.allclose(sol.t, steps * lr, rtol=0, atol=1e-15)
    scale = np.abs(ref_w).max()
    for k, s in enumerate(steps):
        assert np.abs(sol.weights[k] - ref_w[s]).max() <= 1e-12 * scale
        assert sol.objective[k] == pytest.approx(ref_obj[s], rel=1e-12)
    # ‖θ‖ at the last save, recomputed from the saved (u, v)
    d = X.shape[1]
    th = sol.states[-1]
    assert sol.param_norm[-1] == pytest.approx(np.linalg.norm(th), rel=1e-13)
    assert np.allclose(th[:d] ** depth - th[d:] ** depth, sol.weights[-1], rtol=0, atol=1e-14 * scale)


@pytest.mark.parametrize("depth", [2, 3])
def test_first_order_convergence_to_the_flow(depth):
    """Explicit Euler: at fixed t the error is C·η + O(η²), so halving η halves it."""
    X, y = _data(seed=1)
    alpha, lam = 2.0, 0.05
    times = np.array([2.0, 10.0])
    ref = integrate_flow(FullDiagonalFlow(X, y, alpha=alpha, lam=lam, depth=depth), times, method="Radau",
                         rtol=1e-12, atol=1e-14)
    errs = []
    for lr in (0.02, 0.01, 0.005):
        sol = run_gd(X, y, times, alpha=alpha, lam=lam, lr=lr, depth=depth)
        errs.append([np.linalg.norm(sol.weights[k] - ref.weights[k]) / np.linalg.norm(ref.weights[k])
                     for k in range(len(times))])
    errs = np.array(errs)
    assert np.all(errs[-1] > 1e-6)  # far above the reference's own error: the ratio measures GD, not Radau
    assert np.all(errs[0] < 0.1)
    ratios = errs[:-1] / errs[1:]
    assert np.all(np.abs(ratios - 2.0) < 0.1), ratios  # 2 + O(η): within 5% at these step sizes


def test_divergence_is_reported_with_its_step():
    X, y = _data(seed=2)
    alpha, lam, lr = 30.0, 0.05, 5.0
    sol = run_gd(X, y, np.array([1e4]), alpha=alpha, lam=lam, lr=lr)
    assert sol.status == "diverged"
    _, objs = numpy_gd(X, y, alpha, lam, lr, sol.steps_done)
    k_min = int(np.argmin(objs))
    assert sol.diverged_step == k_min + 1 and sol.t_fail == pytest.approx((k_min + 1) * lr)
    assert objs[sol.steps_done] > 2 * objs[k_min] and np.all(objs[:sol.steps_done] <= 2 * objs[k_min])
    assert f"began at step {k_min + 1}" in sol.message and f"step {sol.steps_done}" in sol.message
    assert sol.t.tolist() == [0.0]  # the only requested time was never reached: the initial state is kept


def test_non_finite_is_divergence():
    X, y = _data(seed=3)
    with np.errstate(all="ignore"):
        sol = run_gd(X, y, np.array([1.0, 1e6]), alpha=1e3, lam=1e-3, lr=100.0, depth=3, loss="exponential")
    assert sol.status == "diverged" and sol.diverged_step >= 1
    assert np.all(np.isfinite(sol.weights))  # nothing non-finite is saved


def test_uphill_steps_are_reported_as_a_warning():
    X, y = _data(seed=4)
    good = run_gd(X, y, np.array([20.0]), alpha=2.0, lam=0.05, lr=0.01)
    assert good.status == "ok" and good.message == ""
    # far too large for the kernel phase (curvature ~ α²/n), but the logistic loss saturates instead of diverging
    coarse = run_gd(X, y, np.array([20.0]), alpha=30.0, lam=0.05, lr=2.0)
    _, objs = numpy_gd(X, y, 30.0, 0.05, 2.0, 10)
    rises = np.flatnonzero(objs[1:] > objs[:-1] * (1 + 1e-10)) + 1
    assert coarse.status == "ok" and rises.size > 0
    assert f"increased at {rises.size} of 10 steps (first at step {rises[0]})" in coarse.message


def test_interrupt_keeps_what_finished():
    X, y = _data(seed=5)
    gd = DiagonalGD(X, y, alpha=2.0, lam=0.05, lr=0.01)
    calls = []

    def progress(frac):
        calls.append(frac)
        if frac >= 0.5:
            raise KeyboardInterrupt

    sol = gd.run(np.array([1.0, 2.0, 3.0, 10.0, 20.0]), progress=progress, chunk_seconds=1e-9)
    assert sol.status == "interrupted" and 0 < sol.t.size < 5 and sol.t_reached < 20.0
    ref_w, _ = numpy_gd(X, y, 2.0, 0.05, 0.01, 300)
    assert np.allclose(sol.weights[2], ref_w[300], rtol=1e-12, atol=0)


def test_weight_at_interpolates_between_saved_steps():
    X, y = _data(seed=6)
    sol = run_gd(X, y, np.array([1.0, 2.0]), alpha=2.0, lam=0.05, lr=0.01)
    assert np.allclose(sol.weight_at(1.25), 0.75 * sol.weights[0] + 0.25 * sol.weights[1])
    with pytest.raises(grokode.InputError):
        sol.weight_at(3.0)


def test_run_integrate_gd_matches_flow_outputs():
    kw = dict(task="sparse", n=32, d=200, n_test=50, alpha=3.0, lam=0.05, t_eval=np.array([0.0, 5.0, 40.0]))
    gd = grokode.integrate(method="gd", lr=0.002, **kw)
    flow = grokode.integrate(formulation="full", method="Radau", rtol=1e-10, atol=1e-12, **kw)
    assert set(gd.arrays) == set(flow.arrays) and gd.summary["status"] == "ok"
    assert gd.meta["options"]["lr"] == 0.002 and gd.summary["rhs_evals"] == 20_000
    np.testing.assert_allclose(gd.arrays["t"], [0.0, 5.0, 40.0])
    rel = np.linalg.norm(gd.arrays["w"][-1] - flow.arrays["w"][-1]) / np.linalg.norm(flow.arrays["w"][-1])
    assert 1e-6 < rel < 0.05  # close, and not identical (GD is O(η) away)
    assert gd.arrays["param_norm"][0] == pytest.approx(3.0)


@pytest.mark.parametrize("kw,needle", [(dict(method="gd", lr=-1.0), "lr"), (dict(method="gd", lr=float("nan")), "lr"),
                                       (dict(lr=0.1), "--lr does not apply to model 'diagonal' with --method auto")])
def test_bad_lr_raises(kw, needle):
    with pytest.raises(grokode.InputError, match=needle):
        grokode.integrate(n=16, d=20, n_test=0, alpha=2.0, lam=0.1, t_end=1.0, **kw)


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "grokode", "integrate", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=600)


@pytest.mark.parametrize("args,needle", [(["--method", "gd", "--lr", "-1"], "-1"),
                                         (["--method", "gd", "--lr", "0"], "0"),
                                         (["--lr", "0.01"], "does not apply")])
def test_cli_bad_lr_exits_2(args, needle, tmp_path):
    res = _cli("--n", "16", "--d", "20", *args, cwd=tmp_path)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1 and "lr" in lines[0] and needle in lines[0]


def test_cli_gd_runs_and_divergence_exits_1(tmp_path):
    base = ["--n", "64", "--d", "300", "--n-test", "0", "--alpha", "30", "--lam", "0.05", "--method", "gd", "--no-plot",
            "--json"]
    ok = _cli(*base, "--lr", "0.01", "--t-end", "5", "--out", "ok.npz", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["rhs_evals"] == 500
    X, y = _data(seed=4)  # the data of test_uphill_steps_are_reported_as_a_warning
    np.savez(tmp_path / "d.npz", X=X, y=y)
    on_data = [a for k, a in enumerate(base) if a not in ("--n", "--d", "--n-test") and base[k - 1] not in (
        "--n", "--d", "--n-test")]
    uphill = _cli(*on_data, "--data", "d.npz", "--lr", "2", "--t-end", "20", "--out", "up.npz", cwd=tmp_path)
    assert uphill.returncode == 0 and "warning: the objective increased" in uphill.stderr
    bad = _cli(*base, "--lr", "5", "--out", "bad.npz", cwd=tmp_path)
    assert bad.returncode == 1 and "diverged" in bad.stderr and (tmp_path / "bad.npz").exists()
    assert json.loads(bad.stdout)["status"] == "diverged"
