"""`grokode sweep --plot FILE`: with at least 2 values of α and 2 of λ, FILE is the phase diagram and the scaling
figure is beside it (FILE-scaling.png); otherwise FILE is the scaling figure. Checked on what each written figure
draws (axes, panels, colour bars, the outlined regime boundaries), not on pixels.

The sweep itself is replaced by rows with known regimes (the real sweep is tested in test_sweep.py and
tests/analysis/test_phase_diagram.py), so the command's figure rule is tested in-process in a second."""

import json
import math
from pathlib import Path

import pytest

import grokode.sweep as sw
from grokode.cli import main

OPTIONS = {"n": 64, "d": 500}
ARGS = ["--n", "64", "--d", "500", "--out", "s.csv"]
#: the regime of each (α, λ): a kernel cell at λ = 1e-2 becomes grokking at λ = 3e-2, so the outline has a
#: horizontal edge as well as vertical ones
REGIME = {(1e-4, 1e-2): "rich", (1e-1, 1e-2): "rich", (1e2, 1e-2): "kernel", (1e6, 1e-2): "grokking",
          (1e-4, 3e-2): "rich", (1e-1, 3e-2): "rich", (1e2, 3e-2): "grokking", (1e6, 3e-2): "grokking"}


def row(point, key: str) -> dict:
    a, lam = point.alpha, point.lam
    return {"alpha": a, "lam": lam, "seed": point.seed, "status": "ok", "error": "", "options": key,
            "regime": REGIME.get((a, lam), "grokking"), "test_plateau": 0.6, "test_final": 0.95 if a > 10 else 0.6,
            "t_transition": (math.log(a) + 1.5) / lam if a > 1 else None,
            "transition_width": 2.0 / lam if a > 1 else None}


@pytest.fixture
def swept(monkeypatch, tmp_path):
    """The points each sweep was asked for; the rows come from REGIME."""
    monkeypatch.chdir(tmp_path)
    calls = []

    def sweep(points, options, out, **kwargs):
        calls.append(points)
        key = sw.options_key(sw.point_options(**options))
        rows = [row(p, key) for p in points]
        return sw.SweepResult(rows=rows, ran=len(rows), skipped=0, path=Path(out))

    monkeypatch.setattr(sw, "sweep", sweep)
    return calls


def run(capsys, *args) -> dict:
    main(["sweep", *args, "--json"])
    return json.loads(capsys.readouterr().out)


# the edges between cells of different regimes, in cell coordinates (column j = α index, row i = λ index):
# λ = 1e-2: rich | rich | kernel | grokking; λ = 3e-2: rich | rich | grokking | grokking
OUTLINE = sorted([(1.5, 1.5, -0.5, 0.5), (2.5, 2.5, -0.5, 0.5),  # row λ = 1e-2: rich|kernel, kernel|grokking
                  (1.5, 1.5, 0.5, 1.5),  # row λ = 3e-2: rich|grokking
                  (1.5, 2.5, 0.5, 0.5)])  # column α = 1e2: kernel below, grokking above


@pytest.mark.parametrize("plot", [["--plot", "p.png"], []], ids=["--plot", "default"])
def test_two_varied_axes_make_plot_the_phase_diagram(plot, swept, drawn, capsys):
    summary = run(capsys, "--alpha", "1e-4,1e-1,1e2,1e6", "--lam", "1e-2,3e-2", *ARGS, *plot)
    stem = "p" if plot else "s"
    assert summary["plot"] == summary["phase_plot"] == f"{stem}.png"
    assert summary["scaling_plot"] == f"{stem}-scaling.png"
    assert sorted(drawn) == sorted([f"{stem}.png", f"{stem}-scaling.png"])
    assert Path(f"{stem}.png").stat().st_size > 10_000 and not Path(f"{stem}-phase.png").exists()
    phase = drawn[f"{stem}.png"]
    assert phase["panels"] == 2 and phase["colour_bars"] == 2  # the test metric's change, and λ·t* − ln α
    assert all(x.startswith("α") for x in phase["xlabels"]) and all(y.startswith("λ") for y in phase["ylabels"])
    assert phase["xticks"][0] == ["1e-4", "0.1", "100", "1e6"]
    assert phase["cells"][0] == sorted(REGIME.values())  # every cell named by its regime
    assert phase["boundaries"] == [OUTLINE, OUTLINE]
    assert phase["smallest_text"] >= 9
    scaling = drawn[f"{stem}-scaling.png"]
    assert scaling["colour_bars"] == 0 and scaling["xlabels"][0] == "ln α"


def test_one_varied_axis_makes_plot_the_scaling_figure(swept, drawn, capsys):
    summary = run(capsys, "--alpha", "1e2,1e4,1e6", "--lam", "1e-2", *ARGS, "--plot", "p.png")
    assert summary["plot"] == summary["scaling_plot"] == "p.png" and "phase_plot" not in summary
    assert list(drawn) == ["p.png"]
    assert drawn["p.png"]["xlabels"][0] == "ln α" and drawn["p.png"]["colour_bars"] == 0
    assert not Path("p-scaling.png").exists()


def test_a_phase_diagram_without_a_fitted_line_has_no_scaling_figure(swept, drawn, capsys):
    summary = run(capsys, "--alpha", "1e-4,1e-1", "--lam", "1e-2,3e-2", *ARGS, "--plot", "p.png")
    assert summary["plot"] == summary["phase_plot"] == "p.png" and "scaling_plot" not in summary
    assert list(drawn) == ["p.png"] and drawn["p.png"]["boundaries"] == [[], []]  # all rich: nothing to outline


def test_the_figure_beside_plot_is_never_overwritten_without_force(swept, drawn, capsys):
    Path("p-scaling.png").write_bytes(b"precious")
    args = ["--alpha", "1e2,1e6", "--lam", "1e-2,3e-2", *ARGS, "--plot", "p.png"]
    with pytest.raises(SystemExit) as exc:
        main(["sweep", *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(err) == 1 and "p-scaling.png" in err[0] and "--force" in err[0]
    assert not swept and Path("p-scaling.png").read_bytes() == b"precious"  # refused before the sweep
    summary = run(capsys, *args, "--force")
    assert summary["scaling_plot"] == "p-scaling.png" and Path("p-scaling.png").read_bytes() != b"precious"


def test_help_states_the_rule(capsys):
    main(["sweep", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "phase diagram" in text and "FIG-scaling.png" in text
