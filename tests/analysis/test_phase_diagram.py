"""The sweep's ``regime`` column and its phase diagram (α × λ or α × n heat maps, one panel per third-axis value)."""

import json
import math

import matplotlib.colors
import numpy as np
import pytest

from grokode.analysis.phase_diagram import BOUNDARY, can_draw, plot_phase_diagram, varied_axes
from grokode.analysis.plots import save_figure
from grokode.analysis.regime import REGIMES
from grokode.errors import InputError
from grokode.pipeline import integrate
from grokode.sweep import COLUMNS, SweepFile, options_key, point_options, run_point

ALPHAS = (1e-4, 1e-1, 1e2, 1e6)
LAMS = (1e-2, 3e-2)
REGIME = {1e-4: "rich", 1e-1: "rich", 1e2: "kernel", 1e6: "grokking"}


def synthetic_rows(ns=(64,)):
    rows = []
    for n in ns:
        for lam in LAMS:
            for alpha in ALPHAS:
                rows.append({"alpha": alpha, "lam": lam, "seed": 0, "status": "ok", "regime": REGIME[alpha],
                             "test_plateau": 0.6, "test_final": 0.95 if alpha > 1e3 else 0.6,
                             "t_transition": (math.log(alpha) + 1.5) / lam if alpha > 1 else None,
                             "options": json.dumps({"model": "diagonal", "n": n, "d": 500})})
    return rows


def panels(fig):
    """(heat-map axes, colour-bar axes) of a figure."""
    maps = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    return maps, bars


def test_regime_column_is_the_runs_regime_and_survives_the_file(tmp_path):
    options = {"n": 32, "d": 100, "n_test": 200}
    key = options_key(point_options(**options))
    row = run_point(1e3, 3e-2, 0, options, key)
    run = integrate(alpha=1e3, lam=3e-2, seed=0, **options)
    assert row["status"] == "ok" and row["regime"] in REGIMES
    assert row["regime"] == run.summary["regime"]
    file = SweepFile(tmp_path / "s.csv")
    file.append(row)
    assert SweepFile(tmp_path / "s.csv").load()[0]["regime"] == row["regime"]
    assert (tmp_path / "s.csv").read_text().splitlines()[0].split(",") == list(COLUMNS)


def test_a_file_written_before_the_regime_column_is_read_and_moved_to_the_new_layout(tmp_path):
    before = [c for c in COLUMNS if c != "regime"]
    cells = {c: "" for c in before}
    cells.update(alpha="100.0", lam="0.01", seed="0", status="ok", options='"{""model"":""diagonal""}"')
    path = tmp_path / "old.csv"
    path.write_text(",".join(before) + "\n" + ",".join(cells[c] for c in before) + "\n")
    rows = SweepFile(path).load()
    assert len(rows) == 1 and rows[0]["regime"] is None and rows[0]["alpha"] == 100.0
    assert path.read_text().splitlines()[0] == ",".join(COLUMNS)


def test_phase_diagram_over_alpha_and_lambda(tmp_path):
    rows = synthetic_rows()
    assert varied_axes(rows) == ["alpha", "lam"] and can_draw(rows)
    fig = plot_phase_diagram(rows, title="diagonal, sparse")
    maps, bars = panels(fig)
    assert len(maps) == 2 and len(bars) == 2  # test-metric change, λt* − ln α; each with its colour bar
    for ax in maps:
        assert ax.get_xlabel().startswith("α") and ax.get_ylabel().startswith("λ")
        assert [t.get_text() for t in ax.get_xticklabels()] == ["1e-4", "0.1", "100", "1e6"]
    assert bars[1].get_ylabel() == "λ·t* − ln α"
    change = maps[0].collections[0].get_array()
    assert change[0, -1] == pytest.approx(0.35) and change[0, 0] == pytest.approx(0.0)  # row λ = 1e-2
    offset = maps[1].collections[0].get_array()
    assert offset.mask[0, 0] and offset[0, -1] == pytest.approx(1.5)  # no t* at α = 1e-4; λt* − ln α = 1.5
    # regimes: rich | kernel | grokking, so two vertical boundaries per row of cells (two λ rows) in each panel
    vertical = [ln for ln in maps[0].get_lines() if ln.get_xdata()[0] == ln.get_xdata()[1]]
    assert sorted({float(ln.get_xdata()[0]) for ln in vertical}) == [1.5, 2.5] and len(vertical) == 4
    texts = [t for ax in fig.axes for t in (*ax.texts, ax.xaxis.label, ax.yaxis.label, ax.title,
                                           *ax.get_xticklabels(), *ax.get_yticklabels()) if t.get_text()]
    assert min(t.get_fontsize() for t in texts) >= 9
    assert {t.get_text().split("\n")[0] for t in maps[0].texts} == {"rich", "kernel", "grokking"}
    path = save_figure(fig, tmp_path / "phase.png")
    assert path.stat().st_size > 10_000


def test_a_third_axis_gives_one_panel_per_value():
    rows = synthetic_rows(ns=(32, 64, 128))
    assert varied_axes(rows) == ["alpha", "lam", "n"]
    maps, bars = panels(plot_phase_diagram(rows))
    assert len(maps) == 6 and len(bars) == 2  # one colour bar per row: its panels share the scale
    assert [ax.get_title() for ax in maps[:3]] == [f"n = {n}: test metric change" for n in (32, 64, 128)]
    # over (α, n) when λ is fixed
    rows = [r for r in rows if r["lam"] == LAMS[0]]
    maps, _ = panels(plot_phase_diagram(rows))
    assert len(maps) == 2 and maps[0].get_ylabel().startswith("n")


def test_seeds_are_averaged_and_a_failed_point_is_shown_as_failed():
    rows = synthetic_rows()
    twin = dict(rows[-1], seed=1, test_final=0.85)
    rows[0] = dict(rows[0], status="failed", regime=None)
    maps, _ = panels(plot_phase_diagram([*rows, twin]))
    change = maps[0].collections[0].get_array()
    assert change[-1, -1] == pytest.approx(0.3) and change.mask[0, 0]  # mean of 0.35 and 0.25; the failed cell blank
    assert maps[0].texts[0].get_text() == "failed"


def test_no_phase_diagram_without_two_varied_axes():
    rows = [r for r in synthetic_rows() if r["lam"] == LAMS[0]]
    assert not can_draw(rows)
    with pytest.raises(InputError, match="at least 2 values of α and 2 of a second axis"):
        plot_phase_diagram(rows)
    assert matplotlib.colors.is_color_like("0.9")  # the blank-cell colour


def test_sweep_command_writes_the_regime_column_and_the_phase_diagram(tmp_path):
    import csv
    import subprocess
    import sys

    out = tmp_path / "s.csv"
    done = subprocess.run([sys.executable, "-m", "grokode", "sweep", "--alpha", "1e-1,1e3", "--lam", "1e-2,3e-2",
                           "--n", "32", "--d", "100", "--n-test", "200", "--workers", "1", "--out", str(out),
                           "--plot", str(tmp_path / "fig.png"), "--json"], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    # two axes with 2 values each: --plot is the phase diagram, the scaling figure is beside it
    assert summary["plot"] == summary["phase_plot"] == str(tmp_path / "fig.png")
    assert summary["scaling_plot"] == str(tmp_path / "fig-scaling.png")
    assert (tmp_path / "fig.png").stat().st_size and (tmp_path / "fig-scaling.png").stat().st_size
    assert not (tmp_path / "fig-phase.png").exists()
    with open(out, newline="") as fh:
        regimes = {float(r["alpha"]): r["regime"] for r in csv.DictReader(fh)}
    assert set(regimes) == {1e-1, 1e3} and all(v in REGIMES for v in regimes.values())
    assert regimes[1e-1] == "rich"  # a small initialisation has no kernel plateau


def test_the_squared_loss_is_drawn_as_decades_of_test_loss():
    """With --loss squared the test metric is the test loss: its change is log10(final / plateau), negative when
    the run got better, whatever the task's name."""
    rows = [dict(r, options=json.dumps({**json.loads(r["options"]), "task": "sparse", "loss": "squared"}),
                 test_plateau=1.0, test_final=0.01 if r["alpha"] > 1e3 else 1.0) for r in synthetic_rows()]
    maps, bars = panels(plot_phase_diagram(rows))
    assert bars[0].get_ylabel() == "test loss change: log10(final / plateau)"
    change = maps[0].collections[0].get_array()
    assert change[0, -1] == pytest.approx(-2.0) and change[0, 0] == pytest.approx(0.0)


def test_a_large_grid_stays_drawable_and_outlined():
    """200 α × 30 λ: the figure's size is bounded, cells are not labelled, at most 16 ticks per axis, and the
    boundary between the two regimes (α below / above 1e3) is outlined on every λ row."""
    alphas = [float(f"{a:.6g}") for a in np.logspace(-4, 8, 200)]
    lams = [float(f"{v:.6g}") for v in np.logspace(-3, -1, 30)]
    rows = [{"alpha": a, "lam": lam, "seed": 0, "status": "ok", "regime": "grokking" if a > 1e3 else "rich",
             "test_plateau": 0.6, "test_final": 0.95, "t_transition": None, "options": "{}"}
            for lam in lams for a in alphas]
    fig = plot_phase_diagram(rows)
    width, height = fig.get_size_inches()
    assert width < 40 and height < 30
    maps, _ = panels(fig)
    assert not maps[0].texts and len(maps[0].get_xticklabels()) <= 16 and len(maps[0].get_yticklabels()) <= 16
    boundary = sum(a <= 1e3 for a in alphas) - 0.5  # the edge between the last rich and the first grokking column
    edges = [ln.get_xdata()[0] for ln in maps[0].get_lines() if ln.get_gid() == BOUNDARY]
    assert len(edges) == len(lams) and set(edges) == {boundary}
