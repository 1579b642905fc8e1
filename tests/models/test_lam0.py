"""No weight decay (λ = 0, paper App. B.1): the log-time flow, normalized-lr GD, the ln-t transition."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

import grokode
from grokode.analysis.analyze import analyze
from grokode.analysis.plots import plot_run, save_figure
from grokode.analysis.transition import find_transition
from grokode.errors import InputError
from grokode.numeric.diagonal import FullDiagonalFlow, ReducedDiagonalFlow
from grokode.numeric.integrate import integrate_flow
from grokode.numeric.normalized_gd import NormalizedGD
from grokode.tasks import make_task
from grokode.tasks.metrics import empirical_metrics


@pytest.fixture(scope="module")
def tiny():
    return make_task("sparse", n=16, d=40, k=3, n_test=0, seed=0)


@pytest.fixture(scope="module")
def far(tiny):
    flow = ReducedDiagonalFlow(tiny.X, tiny.y, alpha=5.0, lam=0.0)
    return integrate_flow(flow, np.geomspace(1e-3, 1e300, 300))


def test_flow_runs_to_the_end_of_float64_time_with_finite_outputs(far):
    assert far.status == "ok" and far.t_reached >= 1e299 and far.t[-1] == pytest.approx(1e300)
    assert np.all(np.isfinite(far.weights)) and np.all(np.isfinite(far.param_norm))
    assert far.stats.steps < 3000  # log time: ~ln(t_end) steps, not ~t_end


def test_late_loss_follows_the_margin_maximization_rate(tiny, far):
    """Lyu & Li (2020): L̂ = Θ(1/(t (ln t)^{2−2/L})) for L-homogeneous nets; L = 2 gives L̂·t·ln t → const."""
    loss, _ = empirical_metrics(tiny.X, tiny.y, far.weights, "logistic")
    lt = np.log(far.t)
    i300, i600 = np.searchsorted(lt, 300.0), np.searchsorted(lt, 600.0)
    c300, c600 = loss[i300] * far.t[i300] * lt[i300], loss[i600] * far.t[i600] * lt[i600]
    assert c600 == pytest.approx(c300, rel=0.02)
    slope = (math.log(loss[i600]) - math.log(loss[i300])) / (lt[i600] - lt[i300])
    assert -1.01 < slope < -1.0  # 1/t up to the slowly varying 1/ln t


def test_reduced_flow_matches_full_flow_at_lam0(tiny):
    t_eval = np.array([1.0, 10.0, 200.0])
    full = integrate_flow(FullDiagonalFlow(tiny.X, tiny.y, alpha=5.0, lam=0.0), t_eval, method="Radau", rtol=1e-10,
                          atol=1e-12)
    red = integrate_flow(ReducedDiagonalFlow(tiny.X, tiny.y, alpha=5.0, lam=0.0), t_eval, rtol=1e-10, atol=1e-12)
    assert np.abs(full.weights - red.weights).max() < 1e-8 * np.abs(full.weights).max()


def test_normalized_gd_follows_the_flow_with_error_of_order_eta(tiny, far):
    errors = {}
    for eta in (1e-2, 1e-3):
        gd = NormalizedGD(tiny.X, tiny.y, alpha=5.0, lam=0.0, lr=eta).run(np.array([0.5, 2.0, 10.0, 100.0]))
        assert gd.status == "ok" and gd.t_reached == pytest.approx(gd.t[-1])
        # saved at the first step past each requested time: t overshoots by at most one step η/L̂
        assert np.all(gd.t >= [0.5, 2.0, 10.0, 100.0]) and np.all(gd.t < 1.1 * np.array([0.5, 2.0, 10.0, 100.0]))
        errors[eta] = [np.linalg.norm(w - far.weight_at(t)) / np.linalg.norm(far.weight_at(t))
                       for t, w in zip(gd.t, gd.weights, strict=True)]
    assert max(errors[1e-3]) < 2e-3
    ratio = np.array(errors[1e-2]) / np.array(errors[1e-3])
    assert np.all((ratio > 7) & (ratio < 13))  # first order in η


def test_normalized_gd_reaches_log_time_horizons_in_few_steps(tiny):
    gd = NormalizedGD(tiny.X, tiny.y, alpha=5.0, lam=0.0, lr=1e-3).run(np.array([1e12]))
    assert gd.status == "ok" and gd.t_reached >= 1e12 and np.all(np.isfinite(gd.weights))
    assert gd.stats.steps < 1e5  # plain GD at the same first step (~1.4e-3) would need ~1e15


def test_normalized_gd_reports_divergence_when_eta_is_too_large(tiny):
    gd = NormalizedGD(tiny.X, tiny.y, alpha=5.0, lam=0.0, lr=0.5).run(np.array([1e-3, 1e300]))
    assert gd.status == "diverged" and "normalized GD diverged" in gd.message and gd.t.size >= 1


def test_find_transition_in_log_time():
    t = np.geomspace(1e-2, 1e100, 400)
    curve = 0.6 + 0.4 / (1 + np.exp(-(np.log(t) - 50.0) / 10.0))  # logistic in ln t, centre 50, scale 10
    tr = find_transition(t, curve, None, min_change=0.05, t_start=1.0)
    assert math.log(tr.t_transition) == pytest.approx(50.0, abs=0.2)
    # 10–90 % of the rise from the value at ln t = 0 to the last one: 2·10·ln 9 for a symmetric logistic
    assert tr.width_log == pytest.approx(2 * 10 * math.log(9), rel=0.03)
    with pytest.raises(ValueError, match="t_start"):
        find_transition(t, curve, None, min_change=0.05)


@pytest.fixture(scope="module")
def runs():
    kw = dict(task="sparse", n=64, d=200, n_test=0, alpha=10.0, seed=0)
    return grokode.integrate(**kw, lam=0.0), grokode.integrate(**kw, lam=1e-2)


def test_lam0_run_groks_slowly_in_log_time(runs, tmp_path):
    free, decayed = runs
    s = free.summary
    assert s["status"] == "ok" and s["t_theory"] is None and s["t_reached"] >= 1e299
    assert s["T_minus"] is None and s["cos_rich_at_Tplus"] is None and s["offset_c0"] is None
    # test accuracy still rises to the sparse teacher, from the kernel predictor's level
    assert s["test_plateau"] == pytest.approx(s["kernel_test"], abs=0.03) and s["test_final"] > 0.99
    # but over ~100 units of ln t, where weight decay takes < 1
    assert s["transition_width_log"] > 50
    assert decayed.summary["transition_width_log"] < 1
    assert s["transition_width_log"] > 50 * decayed.summary["transition_width_log"]
    assert math.log(s["t_transition"]) == pytest.approx(s["log_t_transition"])
    report = analyze(free.arrays, free.meta)
    assert report.t_theory is None and report.T_plus is None and report.cos_kernel_at_Tminus is None
    assert save_figure(plot_run(free.arrays, s, lam=0.0), tmp_path / "free.png").stat().st_size > 0


@pytest.mark.parametrize("kw,needle", [
    (dict(task="sparse-regression", method="gd", normalized_lr=True), "normalized GD's steps"),
    (dict(method="gd", lr=0.01), "plain GD cannot reach"),
    (dict(normalized_lr=True), "it is a variant of gd"),
])
def test_bad_lam0_input(kw, needle):
    with pytest.raises(InputError, match=needle):
        grokode.integrate(n=8, d=10, n_test=0, alpha=3.0, lam=0.0, **kw)


def test_plain_gd_at_lam0_with_a_horizon_runs():
    run = grokode.integrate(n=8, d=10, n_test=0, alpha=3.0, lam=0.0, method="gd", lr=0.01, t_end=5.0)
    assert run.summary["status"] == "ok" and run.summary["t_theory"] is None


def _cli(args, cwd):
    return subprocess.run([sys.executable, "-m", "grokode", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_cli_lam0_normalized_gd_and_analyze(tmp_path):
    out = tmp_path / "free.npz"
    proc = _cli(["integrate", "--n", "64", "--d", "200", "--n-test", "0", "--alpha", "10", "--lam", "0", "--method",
                 "gd", "--normalized-lr", "--lr", "0.002", "--out", str(out), "--json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    s = json.loads(proc.stdout)
    assert s["t_theory"] is None and s["t_reached"] >= 1e300 and s["status"] == "ok"
    assert s["test_final"] > 0.99 and s["transition_width_log"] > 50
    proc = _cli(["analyze", str(out), "--json", "--plot", str(tmp_path / "a.png")], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["T_minus"] is None


@pytest.mark.parametrize("args,needle", [(["--task", "sparse-regression", "--lam", "0", "--formulation", "full"],
                                          "lam=0.0"),
                                         (["--lam", "-0.5"], "-0.5"), (["--lam", "0", "--method", "gd"], "GD")])
def test_cli_bad_lam_one_line_exit_2(tmp_path, args, needle):
    proc = _cli(["integrate", "--n", "8", "--d", "10", "--n-test", "0", "--no-plot", *args], tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("grokode: error:") and needle in lines[0]
