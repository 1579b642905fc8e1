"""Figures: layout numbers (time windows, reference lines, legends, styles), saving, and the backend rule.

The figures are built from small synthetic trajectories whose numbers are known, so every check compares
what is drawn with a value computed here independently.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.figure import Figure

from grokode.analysis.plots import plot_run, plot_scaling, plot_trend, save_figure, title_from_options
from grokode.analysis.scaling import fit_scaling
from grokode.errors import InputError
from grokode.models import get_model

ALPHA, LAM = 1e3, 1e-3
T_THEORY = math.log(ALPHA) / LAM


def _logistic(t, t_star, width):
    """0 → 1 with its 10–90 % crossings ``width`` apart (a logistic's 10–90 % span is 2 ln 9 scales)."""
    return 1.0 / (1.0 + np.exp(-(t - t_star) * 2 * math.log(9) / width))


def _diagonal_run():
    t = np.union1d(np.geomspace(1e-3, 2e3, 60), np.linspace(2e3, 2e4, 300))
    t_star, width = 4400.0, 800.0
    s = _logistic(t, t_star, width)
    acc = 0.6 + 0.4 * s
    arrays = {"t": t, "train_acc": np.ones_like(t), "test_acc": acc + 0.005, "test_acc_population": acc,
              "cos_kernel": 1 - 0.7 * s, "cos_rich": 0.3 + 0.7 * s,
              "param_norm": np.maximum(ALPHA * np.exp(-LAM * t), 4.0)}
    summary = {"t_theory": T_THEORY, "T_minus": 0.5 * T_THEORY, "T_plus": 1.5 * T_THEORY, "t_transition": t_star,
               "transition_width": width, "t_bias_switch": t_star, "kernel_test": 0.6, "rich_test": 1.0,
               "status": "ok"}
    return arrays, summary


def _split(fig: Figure):
    """(main, early) axes per row, top to bottom: the main column is the wider one."""
    axes = sorted(fig.axes, key=lambda a: -a.get_position().y0)
    rows: dict[float, list] = {}
    for ax in axes:
        rows.setdefault(round(ax.get_position().y0, 3), []).append(ax)
    out = []
    for group in rows.values():
        group.sort(key=lambda a: -a.get_position().width)
        out.append((group[0], group[1] if len(group) > 1 else None))
    return out


def _lines(ax, prefix: str):
    return [line for line in ax.get_lines() if str(line.get_label()).startswith(prefix)]


def _check_readable(fig: Figure) -> None:
    """Legends ≥ 9 pt, and no two lines of one axis share a (line style, marker) pair (greyscale)."""
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None] + list(fig.legends)
    assert legends
    for legend in legends:
        assert min(text.get_fontsize() for text in legend.get_texts()) >= 9
    for ax in fig.axes:
        styles = [(line.get_linestyle(), line.get_marker()) for line in ax.get_lines()]
        assert len(styles) == len(set(styles)), styles


def test_run_figure_gives_the_transition_a_linear_window_and_the_early_phase_a_log_panel():
    arrays, summary = _diagonal_run()
    fig = plot_run(arrays, summary, title="synthetic", lam=LAM)
    assert isinstance(fig, Figure)
    rows = _split(fig)
    assert len(rows) == 3 and all(early is not None for _, early in rows)
    main, early = rows[0]
    lo, hi = main.get_xlim()
    # the theorem window and the transition ± 2 widths, 5 % padding: [2800, 10362] → [2422, 10740]
    assert main.get_xscale() == "linear" and lo <= summary["T_minus"] and hi >= summary["T_plus"]
    assert lo == pytest.approx(2800 - 0.05 * (10362.3 - 2800), rel=1e-4)
    assert hi == pytest.approx(10362.3 + 0.05 * (10362.3 - 2800), rel=1e-4)
    # the 10–90 % transition takes ≥ 9 % of the main panel's width (on the old log axis from 1e-3: ~1 %)
    assert summary["transition_width"] / (hi - lo) > 0.09
    assert early.get_xscale() == "log" and early.get_xlim() == pytest.approx((arrays["t"][0], lo))
    assert [m.get_ylabel() or e.get_ylabel() for m, e in rows] == ["accuracy", "cosine", "parameter norm"]
    assert rows[-1][0].get_xlabel() == "t (gradient-flow time)"
    # time markers in every main panel, at their times
    for m, _ in rows:
        assert _lines(m, "t* = 4400")[0].get_xdata()[0] == pytest.approx(4400)
        assert _lines(m, "t_theory")[0].get_xdata()[0] == pytest.approx(T_THEORY)
    # reference predictors' own test accuracies as horizontal lines, drawn above the curves
    (kernel,) = _lines(main, "kernel predictor")
    (rich,) = _lines(main, "rich predictor")
    assert kernel.get_ydata()[0] == 0.6 and rich.get_ydata()[0] == 1.0
    train = _lines(main, "train accuracy")[0]
    assert rich.get_zorder() > train.get_zorder()
    # accuracy axis zooms on what is drawn: [0.6, 1.005] padded by 10 %
    assert main.get_ylim() == pytest.approx((0.6 - 0.0405, 1.02))
    # the bias switch is a marker where the cosines cross (cos = 0.65 at t*), not a line hidden under t*
    (switch,) = _lines(rows[1][0], "implicit-bias switch")
    assert switch.get_linestyle() == "None" and switch.get_marker() == "X"
    assert switch.get_xdata()[0] == pytest.approx(4400) and switch.get_ydata()[0] == pytest.approx(0.65, abs=2e-3)
    # weight decay alone: α·e^{−λt}
    decay = _lines(rows[2][0], "α·e^(−λt)")[0]
    t_line = np.asarray(decay.get_xdata())
    np.testing.assert_allclose(decay.get_ydata(), ALPHA * np.exp(-LAM * (t_line - t_line[0])) * math.exp(
        -LAM * t_line[0]), rtol=1e-9)
    _check_readable(fig)


def test_run_figure_draws_matrix_reference_lines_from_the_arrays():
    rng = np.random.default_rng(3)
    d, n_t = 6, 120
    t = np.geomspace(1e-3, 2 * T_THEORY, n_t)
    M = rng.normal(size=(d, d))
    M = M + M.T
    test_mask = rng.random((d, d)) < 0.4
    W_kernel = np.where(test_mask, 0.0, M)
    W_rich = M + 1e-16 * rng.normal(size=(d, d))  # test MSE ~1e-32: far below the curves
    s = _logistic(t, 5500.0, 2000.0)
    arrays = {"t": t, "train_loss": 1e-6 + 0 * t, "test_loss": 10 ** (-0.5 - 3 * s),
              "dist_kernel": 1.2 * s, "dist_rich": 0.8 * (1 - s), "param_norm": 100 * np.exp(-LAM * t) + 3,
              "M": M, "test_mask": test_mask, "W_kernel": W_kernel, "W_rich": W_rich}
    summary = {"t_theory": math.log(100) / LAM, "T_minus": 0.5 * math.log(100) / LAM,
               "T_plus": 1.5 * math.log(100) / LAM, "t_transition": 5500.0, "transition_width": 2000.0,
               "t_bias_switch": 5200.0, "kernel_test": None, "rich_test": None}
    fig = plot_run(arrays, summary, lam=LAM, observables=get_model("matrix").declare({}))
    rows = _split(fig)
    main = rows[0][0]
    # reference: the mean of (W_ref − M)² over the test entries, summed entry by entry
    ref = {}
    for name, W in (("kernel", W_kernel), ("rich", W_rich)):
        total, count = 0.0, 0
        for i in range(d):
            for j in range(d):
                if test_mask[i, j]:
                    total += (W[i, j] - M[i, j]) ** 2
                    count += 1
        ref[name] = total / count
    (kernel,) = _lines(main, "kernel predictor's test MSE")
    (rich,) = _lines(main, "rich predictor's test MSE")
    assert kernel.get_ydata()[0] == pytest.approx(ref["kernel"], rel=1e-12)
    assert rich.get_ydata()[0] == pytest.approx(ref["rich"], rel=1e-9)
    assert "off scale" in rich.get_label() and "off scale" not in kernel.get_label()
    assert main.get_yscale() == "log" and main.get_ylim()[0] > ref["rich"]
    assert rows[1][0].get_ylabel() == "" and rows[1][1].get_ylabel() == "relative distance"
    lo, hi = main.get_xlim()
    assert lo <= summary["T_minus"] and hi >= summary["T_plus"]
    # the summary's own values win over the arrays
    fig2 = plot_run(arrays, {**summary, "kernel_test": 0.25}, lam=LAM, observables=get_model("matrix").declare({}))
    assert _lines(_split(fig2)[0][0], "kernel predictor")[0].get_ydata()[0] == 0.25
    _check_readable(fig)


def test_mlp_run_has_no_alignment_row_and_an_early_transition_gets_the_whole_run():
    t = np.linspace(0.1, 3000, 301)
    s = _logistic(t, 1700.0, 1500.0)
    arrays = {"t": t, "train_acc": np.minimum(t / 600, 1), "test_acc": 0.4 * s, "train_loss": 1 / (1 + t),
              "test_loss": 3 - s, "param_norm": 20 + 26 * np.exp(-t / 200)}
    summary = {"t_theory": math.log(4) / 4e-3, "T_minus": None, "T_plus": None, "t_transition": 1700.0,
               "transition_width": 1500.0}
    fig = plot_run(arrays, summary, lam=4e-3, observables=get_model("mlp").declare({}))
    rows = _split(fig)
    assert len(rows) == 2
    main, early = rows[0]
    assert main.get_xlim() == pytest.approx((0.0, 3000.0))  # t* ± 2 widths covers the run: linear from 0
    assert early is not None and early.get_xlim() == pytest.approx((0.1, 300.0))
    assert not _lines(main, "kernel predictor") and _lines(main, "t_theory")
    assert _lines(rows[1][0], "‖θ(0)‖·e^(−λt)")
    _check_readable(fig)


def test_run_without_weight_decay_is_drawn_against_ln_t():
    t = np.geomspace(1e-6, 1e300, 400)
    s = _logistic(np.log(t), 20.0, 100.0)
    arrays = {"t": t, "train_acc": np.ones_like(t), "test_acc_population": 0.67 + 0.33 * s,
              "cos_kernel": 0.9 - 0.3 * s, "cos_rich": 0.45 + 0.54 * s, "param_norm": 10 + np.log1p(t) / 20}
    summary = {"t_theory": None, "T_minus": None, "T_plus": None, "t_transition": math.exp(20.0),
               "t_bias_switch": math.exp(25.0), "kernel_test": 0.675, "rich_test": 1.0}
    fig = plot_run(arrays, summary, lam=0.0)
    rows = _split(fig)
    assert len(rows) == 3 and all(early is None for _, early in rows)
    main = rows[0][0]
    assert main.get_xlim() == pytest.approx((math.log(1e-6), math.log(1e300)))
    assert "ln t" in rows[-1][0].get_xlabel()
    (t_star,) = _lines(main, "t* =")
    assert t_star.get_xdata()[0] == pytest.approx(20.0) and "ln t* = 20" in t_star.get_label()
    assert not _lines(rows[2][0], "‖θ(0)‖")  # no decay law at λ = 0
    _check_readable(fig)


def test_run_figure_input_errors_and_a_run_with_nothing_to_draw():
    arrays, summary = _diagonal_run()
    with pytest.raises(InputError, match="'cnn'"):
        plot_run(arrays, summary, observables="cnn")
    with pytest.raises(InputError, match="param_norm"):
        plot_run({"t": arrays["t"]}, summary)
    fig = plot_run({"t": np.array([0.0]), "param_norm": np.array([1.0])}, {}, title="interrupted")
    assert "nothing to plot" in fig.axes[0].texts[0].get_text()


def test_trend_figure():
    alphas = [1e2, 1e4, 1e6]
    fig = plot_trend(alphas, {"kernel at T⁻": [1e-2, 1e-3, None], "rich at T⁺": [0.05, 0.04, 0.035]},
                     title="theorem check")
    (ax,) = fig.axes
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log" and ax.get_ylabel() == "1 − cos"
    kernel, rich = ax.get_lines()
    assert list(kernel.get_xdata()) == [1e2, 1e4] and list(kernel.get_ydata()) == [1e-2, 1e-3]
    assert list(rich.get_ydata()) == [0.05, 0.04, 0.035]
    assert "1 value(s)" in ax.texts[0].get_text()
    _check_readable(fig)
    with pytest.raises(InputError, match="'rich'"):
        plot_trend(alphas, {"rich": [0.1, 0.2]})


def _law_rows(options: dict) -> list[dict]:
    rows = []
    for lam, c0, alphas in ((1e-3, 2.5, (1e3, 1e4, 1e6, 1e8)), (1e-2, 1.5, (1e3, 1e5))):
        for a in alphas:
            rows.append({"alpha": a, "lam": lam, "status": "ok", "t_transition": (math.log(a) - c0) / lam,
                         "transition_width": (0.8 + 0.01 * math.log(a)) / lam, "options": json.dumps(options)})
    rows.append({"alpha": 1e2, "lam": 1e-3, "status": "ok", "t_transition": None, "transition_width": None,
                 "options": json.dumps(options)})
    return rows


def test_two_point_fit_is_flagged():
    fits = fit_scaling(_law_rows({}))
    four, two = fits
    assert (four.lam, four.n_points, four.underdetermined) == (1e-3, 4, False)
    assert (two.lam, two.n_points, two.underdetermined) == (1e-2, 2, True)
    assert two.r2 == pytest.approx(1.0)  # exact by construction: that is why it is flagged
    keys = set(two.as_dict())
    assert keys >= {"lam", "n_points", "slope", "intercept", "r2", "c0_mean", "c0_std", "lam_width_mean",
                    "lam_width_slope", "underdetermined"}
    # three runs at two distinct α are still an exact fit
    rows = [{"alpha": a, "lam": 0.1, "t_transition": (math.log(a) - 1) / 0.1 + e, "transition_width": 1.0}
            for a, e in ((1e2, 0.0), (1e2, 0.5), (1e4, 0.0))]
    assert fit_scaling(rows)[0].underdetermined


def test_sweep_figure_states_fit_and_offsets_and_collapses_the_width():
    options = {"model": "diagonal", "depth": 2, "task": "sparse", "n": 64, "d": 500, "loss": None}
    rows = _law_rows(options)
    fits = fit_scaling(rows)
    fig = plot_scaling(rows, fits)
    ax, bx = fig.axes
    assert fig._suptitle.get_text() == "diagonal L=2, sparse, n=64, d=500"
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert "slope 1.000" in labels[0] and "intercept −2.50" in labels[0] and "R² = 1.0000" in labels[0]
    assert "c₀ = ln α − λt*: 2.50 ± 0 (mean ± sd)" in labels[0].replace("± 0.0", "± 0")
    assert "R² n/a (2 points)" in labels[1] and "c₀ = ln α − λt*: 1.50" in labels[1]
    # points: λ·t* = ln α − c₀
    points = [line for line in ax.get_lines() if line.get_linestyle() == "None"]
    np.testing.assert_allclose(points[0].get_ydata(), np.log([1e3, 1e4, 1e6, 1e8]) - 2.5, rtol=1e-12)
    # the width panel shows λ·width against α (log α axis)
    assert bx.get_xscale() == "log" and bx.get_ylabel().startswith("λ · width")
    w = bx.get_lines()[0]
    np.testing.assert_allclose(w.get_ydata(), 0.8 + 0.01 * np.log(w.get_xdata()), rtol=1e-12)
    _check_readable(fig)


def test_titles_leave_out_unset_values():
    assert title_from_options({"model": "diagonal", "depth": 2, "task": None, "n": 256, "d": None}) == \
        "diagonal L=2, n=256"
    assert title_from_options({"model": "mlp", "depth": 2, "n": 672, "d": 62, "p": 31, "width": 256, "frac": 0.7}) == \
        "mlp, p=31, width=256, frac=0.7"
    rows = _law_rows({"model": "diagonal", "depth": 2, "task": None, "n": 64, "d": 500})
    assert fig_title(plot_scaling(rows, fit_scaling(rows))) == "diagonal L=2, n=64, d=500"


def fig_title(fig: Figure) -> str:
    return fig._suptitle.get_text() if fig._suptitle is not None else ""


def _small_figure() -> Figure:
    fig = Figure(figsize=(2, 1.5))
    fig.add_subplot().plot([0, 1], [0, 1])
    return fig


@pytest.mark.parametrize("suffix,magic", [(".png", b"\x89PNG"), (".pdf", b"%PDF"), (".svg", b"<?xml")])
def test_save_figure_writes_by_suffix_atomically_with_umask_permissions(tmp_path, suffix, magic):
    target = tmp_path / "new" / "dir" / f"fig{suffix.upper() if suffix == '.pdf' else suffix}"
    old = os.umask(0o027)
    try:
        fig = _small_figure()
        assert save_figure(fig, target) == target
    finally:
        os.umask(old)
    assert target.read_bytes()[:len(magic)] == magic
    assert (target.stat().st_mode & 0o777) == 0o666 & ~0o027  # mkstemp's 0600 widened to what open() gives
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]  # no temporary file left
    assert fig.axes == []  # released


def test_save_figure_refuses_other_suffixes_and_keeps_the_old_file_on_failure(tmp_path):
    with pytest.raises(InputError, match=r"'.*fig\.jpg'.*\.png, \.pdf, \.svg"):
        save_figure(_small_figure(), tmp_path / "fig.jpg")
    assert list(tmp_path.iterdir()) == []
    target = tmp_path / "fig.png"
    target.write_bytes(b"old")
    fig = _small_figure()

    def broken(fh, **kw):
        fh.write(b"half a figure")
        raise RuntimeError("renderer died")

    fig.savefig = broken
    with pytest.raises(RuntimeError, match="renderer died"):
        save_figure(fig, target)
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["fig.png"]


def test_import_neither_selects_a_backend_nor_loads_matplotlib(tmp_path):
    code = """
import sys
import grokode.analysis.plots as plots
assert "matplotlib" not in sys.modules, "importing plots loaded matplotlib"
import matplotlib
matplotlib.use("svg")
import numpy as np
from grokode.analysis.plots import plot_trend, save_figure
save_figure(plot_trend([1.0, 10.0], {"x": [0.1, 0.01]}), sys.argv[1])
assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
assert "matplotlib.pyplot" not in sys.modules, "pyplot was imported"
print("ok")
"""
    env = {**os.environ, "MPLBACKEND": "svg"}
    res = subprocess.run([sys.executable, "-c", code, str(tmp_path / "t.png")], capture_output=True, text=True,
                         env=env, timeout=300)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr
    assert (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"
