"""Analysis layer: alignment, bias-switch time, transition crossings, the theorem check, `grokode analyze`."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest

import grokode
from grokode.analysis.alignment import bias_switch_time, cosine, normalized_margins
from grokode.analysis.analyze import Analysis, analyze, theorem_times, theorem_trend
from grokode.analysis.transition import find_transition, time_to_reach
from grokode.errors import InputError

SMALL = dict(task="sparse", n=128, d=600, n_test=300, seed=1, lam=1e-2)


def test_cosine_and_margins_by_hand():
    W = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0], [-1.0, 0.0, 0.0]])
    c = cosine(W, np.array([1.0, 0.0, 0.0]))
    assert c[0] == pytest.approx(0.6, abs=1e-15) and math.isnan(c[1]) and c[2] == -1.0
    X = np.array([[1, 1, 0], [1, -1, 1]], dtype=np.int8)
    y = np.array([1.0, -1.0])
    l2, l1 = normalized_margins(X, y, W)
    # row 0: outputs (7, -1) → y·f = (7, 1), worst 1; ‖w‖₂ = 5, ‖w‖₁ = 7
    assert l2[0] == pytest.approx(1 / 5, abs=1e-15) and l1[0] == pytest.approx(1 / 7, abs=1e-15)
    assert math.isnan(l2[1]) and math.isnan(l1[1])
    # row 2: outputs (−1, −1) → y·f = (−1, 1): negative margin, the data are misclassified
    assert l2[2] == -1.0 and l1[2] == -1.0


def test_bias_switch_time_is_exact_on_a_dense_curve():
    t0 = 777.7

    def kernel(s):
        return 1.0 - 0.6 / (1 + math.exp(-(s - t0) / 30))

    def rich(s):
        return 0.4 + 0.6 / (1 + math.exp(-(s - t0) / 30))

    t = np.geomspace(1e-3, 3000, 50)
    ck, cr = np.array([kernel(s) for s in t]), np.array([rich(s) for s in t])
    exact = bias_switch_time(t, ck, cr, lambda s: rich(s) - kernel(s))
    assert abs(exact - t0) <= 1e-6 * t0
    assert abs(bias_switch_time(t, ck, cr) - t0) < 0.05 * t0  # grid interpolation: close, not exact
    assert bias_switch_time(t, ck, np.minimum(cr, ck - 1e-3)) is None  # never overtakes
    assert bias_switch_time(t, cr, ck) is None  # overtaken at first, the kernel wins at the end
    assert bias_switch_time(t, ck - 1.0, cr) is None  # rich ahead from the first time: no switch observed


def test_time_to_reach_is_the_first_interpolated_crossing():
    t = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    v = np.array([0.0, 0.05, 0.25, 0.05, 0.5])  # crosses 0.1 at t = 1.25, falls back, crosses again later
    assert time_to_reach(t, v, 0.1) == pytest.approx(1.25, abs=1e-15)
    assert time_to_reach(t, v, 0.5) == 4.0 and time_to_reach(t, v, 0.0) == 0.0 and time_to_reach(t, v, 0.6) is None
    assert time_to_reach(t, np.array([np.nan, 0.0, 0.2, 0.2, 0.2]), 0.1) == pytest.approx(1.5)
    with pytest.raises(ValueError, match="shapes"):
        time_to_reach(t, v[:3], 0.1)


def test_transition_crossings_are_exact_on_a_logistic_curve():
    center, s = 1500.0, 40.0

    def curve(x):
        return 0.55 + 0.45 / (1 + math.exp(-(x - center) / s))

    t = np.linspace(10, 4000, 30)
    tr = find_transition(t, np.array([curve(x) for x in t]), 1000.0, min_change=0.05, metric=curve)
    # plateau and final are the curve's own values at 0.5·t_theory and at the horizon (tails ~1e-11)
    assert abs(tr.t_transition - center) <= 1e-4 * center
    assert abs(tr.t10 - (center - s * math.log(9))) <= 1e-4 * center
    assert abs(tr.t90 - (center + s * math.log(9))) <= 1e-4 * center


def test_theorem_times_and_bad_c():
    assert theorem_times(100.0, 0.25) == (75.0, 125.0)
    for c in (0.0, 1.0, -0.5):
        with pytest.raises(InputError, match=str(c)):
            theorem_times(100.0, c)


def _fake(alpha, kernel, rich):
    return Analysis(alpha, 1e-2, 1.0, None, None, None, None, 1, 0.5, 0.5, 1.5, kernel, None, None, rich, {})


def test_theorem_trend_verdicts():
    good = theorem_trend([_fake(1e6, 0.9999, 0.9998), _fake(1e2, 0.95, 0.9997), _fake(1e4, 0.997, 0.9998)])
    assert good.alphas == [1e2, 1e4, 1e6] and good.kernel_converges and good.rich_converges
    bad = theorem_trend([_fake(1e2, 0.999, 0.99), _fake(1e4, 0.99, 0.9), _fake(1e6, 0.95, 0.999)])
    assert not bad.kernel_converges and not bad.rich_converges
    with pytest.raises(InputError, match="2 values"):
        theorem_trend([_fake(1e2, 0.9, 0.9)])
    with pytest.raises(InputError, match="distinct"):
        theorem_trend([_fake(1e2, 0.9, 0.9), _fake(1e2, 0.9, 0.9)])


@pytest.fixture(scope="module")
def alpha_runs():
    return {alpha: grokode.integrate(alpha=alpha, **SMALL) for alpha in (1e2, 1e4, 1e6)}


def test_run_carries_alignment_arrays_and_analysis(alpha_runs):
    run = alpha_runs[1e4]
    a, s = run.arrays, run.summary
    T = a["t"].shape[0]
    for key in ("cos_kernel", "cos_rich", "margin_l2", "margin_l1"):
        assert a[key].shape == (T,)
    # recomputed independently from the saved weights and the reference predictors
    w = a["w"][-1]
    assert a["cos_rich"][-1] == pytest.approx(w @ a["w_rich"] / np.linalg.norm(w) / np.linalg.norm(a["w_rich"]))
    # T∓ are saved exactly, so the summary's cosines are grid values
    k = int(np.flatnonzero(a["t"] == s["T_minus"])[0])
    assert s["cos_kernel_at_Tminus"] == pytest.approx(a["cos_kernel"][k], rel=1e-12)
    assert s["offset_c0"] == pytest.approx(math.log(1e4) - 1e-2 * s["t_transition"], rel=1e-12)
    # the switch from the kernel to the rich predictor is the test-accuracy jump (within its width)
    assert abs(s["t_bias_switch"] - s["t_transition"]) < s["transition_width"]
    # the ℓ1 margin of w approaches the rich predictor's, the ℓ2 margin never beats the kernel's
    refs = run.meta["references"]
    # (measured 0.3186 vs 0.3333: at finite λ the late phase sits at the weight-decayed optimum, ~5 % short)
    assert a["margin_l1"][-1] == pytest.approx(refs["rich"]["margin"], rel=6e-2)
    assert a["margin_l1"][-1] > 2 * a["margin_l1"][k]
    assert np.nanmax(a["margin_l2"]) <= refs["kernel"]["margin"] * (1 + 1e-9)
    assert refs["rich"]["test_value"] > 0.95 > 0.7 > refs["kernel"]["test_value"]


def test_theorem_trend_on_a_small_problem(alpha_runs):
    trend = theorem_trend([run.analysis for run in alpha_runs.values()])
    kernel, rich = trend.kernel_at_Tminus, trend.rich_at_Tplus
    # measured: kernel 0.9549, 0.9973, 0.9986; rich 0.99975, 0.99984, 0.99985
    assert kernel[0] < kernel[1] < kernel[2] and kernel[2] > 0.998
    assert min(rich) > 0.999
    assert trend.measure == "cos" and trend.kernel_converges and trend.rich_converges


def test_analysis_of_a_saved_file_matches_the_run(alpha_runs, tmp_path):
    run = alpha_runs[1e2]
    path = run.save(tmp_path / "r.npz")
    loaded = grokode.load_run(path)
    arrays, meta = loaded.arrays, loaded.meta
    from_file = analyze(arrays, meta)
    live = run.analysis
    assert from_file.cos_kernel_at_Tminus == pytest.approx(live.cos_kernel_at_Tminus, rel=1e-12)
    assert from_file.cos_rich_at_Tplus == pytest.approx(live.cos_rich_at_Tplus, rel=1e-12)
    assert abs(from_file.t_bias_switch - live.t_bias_switch) < 0.01 * live.t_bias_switch
    other_c = analyze(arrays, meta, c=0.3)  # T∓ not saved: interpolated on the grid
    assert other_c.T_minus == pytest.approx(0.7 * live.t_theory)
    assert other_c.cos_kernel_at_Tminus == pytest.approx(np.interp(other_c.T_minus, arrays["t"], arrays["cos_kernel"]))


def test_regression_run_aligns_with_the_min_norm_interpolants():
    run = grokode.integrate(task="sparse-regression", alpha=1e4, lam=1e-2, n=64, d=200, n_test=100, seed=0)
    s = run.summary
    assert run.meta["references"]["kernel"]["kind"] == "min_l2_interpolant"
    assert s["cos_kernel_at_Tminus"] > 0.99 and s["cos_rich_at_Tplus"] > 0.99
    assert "margin_l2" not in run.arrays


def grokode_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "grokode", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


def test_analyze_command(alpha_runs, tmp_path):
    for alpha, run in alpha_runs.items():
        run.save(tmp_path / f"a{alpha:.0e}.npz")
    one = grokode_cli("analyze", "a1e+02.npz", "--json", "--plot", "one.png", cwd=tmp_path)
    assert one.returncode == 0, one.stderr
    obj = json.loads(one.stdout)
    for key in ("t_theory", "t_transition", "transition_width", "offset_c0", "t_bias_switch",
                "cos_kernel_at_Tminus", "cos_rich_at_Tplus"):
        assert obj[key] is not None
    assert obj["cos_kernel_at_Tminus"] == pytest.approx(alpha_runs[1e2].summary["cos_kernel_at_Tminus"])
    assert (tmp_path / "one.png").stat().st_size > 10_000
    many = grokode_cli("analyze", "a1e+02.npz", "a1e+04.npz", "a1e+06.npz", "--plot", "trend.png", cwd=tmp_path)
    assert many.returncode == 0, many.stderr
    assert "tends to 1 as α grows: yes; to the rich predictor at T⁺: yes" in " ".join(many.stdout.split())
    assert (tmp_path / "trend.png").exists()


@pytest.mark.parametrize("args,needle", [
    (["analyze", "missing.npz"], "missing.npz"), (["analyze", "r.npz", "--c", "1.5"], "1.5"),
    (["analyze", "r.npz", "--plot", "x.jpg"], "x.jpg"), (["analyze", "old.npz"], "meta"),
])
def test_analyze_bad_input_is_one_line_exit_2(args, needle, tmp_path):
    np.savez(tmp_path / "old.npz", t=np.ones(3), w=np.ones((3, 2)), meta=np.array(json.dumps({})))
    np.savez(tmp_path / "r.npz", t=np.ones(3))
    res = grokode_cli(*args, cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0]


def test_matrix_runs_are_analyzed_by_distance(tmp_path):
    runs = [grokode.integrate(model="matrix", d=12, frac=0.5, alpha=alpha, lam=1e-2, seed=0) for alpha in (10.0, 100.0)]
    for run in runs:
        a = run.analysis
        assert a.measure == "dist" and a.cos_kernel_at_Tminus is None
        # T∓ are saved exactly: the summary's distances are grid values of dist_kernel / dist_rich
        k = int(np.flatnonzero(run.arrays["t"] == a.T_minus)[0])
        assert a.dist_kernel_at_Tminus == run.arrays["dist_kernel"][k]
        assert run.summary["dist_rich_at_Tplus"] == a.dist_rich_at_Tplus
        # W(T⁻) is the zero-filled kernel predictor, W(T⁺) the nuclear-norm completion, to within their distances
        W = run.arrays["W"][k]
        assert np.linalg.norm(W - run.arrays["W_kernel"]) == pytest.approx(
            a.dist_kernel_at_Tminus * np.linalg.norm(run.arrays["W_kernel"]), rel=1e-9)
    trend = theorem_trend([r.analysis for r in runs])
    assert trend.measure == "dist" and trend.kernel_converges
    assert trend.kernel_at_Tminus[1] < 0.2 * trend.kernel_at_Tminus[0]  # ~1/α
    runs[1].save(tmp_path / "m.npz")
    res = grokode_cli("analyze", "m.npz", "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["dist_kernel_at_Tminus"] == pytest.approx(runs[1].analysis.dist_kernel_at_Tminus)


def test_row_norms_equal_numpy_norms_bit_for_bit():
    from grokode.analysis.alignment import row_norms

    W = np.random.default_rng(9).standard_normal((37, 1001))
    l2, l1 = row_norms(W)
    assert np.array_equal(l2, np.linalg.norm(W, axis=1)) and np.array_equal(l1, np.abs(W).sum(axis=1))
