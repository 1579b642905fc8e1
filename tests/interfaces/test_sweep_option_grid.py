"""`grokode sweep --n 16,24`: a numeric model option given as a list is a grid axis. Its grid, its column in the
sweep file, resuming (a point's identity includes n), the bad values refused at entry, and the (α, n) phase diagram
(checked on what the figure draws: the ``drawn`` fixture of conftest.py)."""

import csv
import json
import math
from pathlib import Path

import pytest

import grokode.sweep as sw
from grokode.cli import main
from grokode.errors import InputError
from grokode.sweep import COLUMNS, SweepFile, grid_points, option_grids, parse_int_grid

SMALL = ["--d", "100", "--n-test", "200"]


def read_rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


# ---- the grid ------------------------------------------------------------------------------------------------


def test_a_numeric_model_option_given_as_a_list_is_a_grid_axis():
    fixed, grids = option_grids({"model": "diagonal", "n": "16,24", "d": "100", "t_eval": "1,2", "loss": "squared"})
    assert grids == {"n": [16, 24]} and all(isinstance(v, int) for v in grids["n"])
    assert fixed == {"model": "diagonal", "d": "100", "t_eval": "1,2", "loss": "squared"}  # "times" is one value
    assert option_grids({"model": "diagonal", "n": "16:64:3"})[1] == {"n": [16, 32, 64]}
    assert option_grids({"model": "matrix", "frac": "0.2,0.5", "d": "8,12"})[1] == {"d": [8, 12], "frac": [0.2, 0.5]}
    assert option_grids({"model": "matrix", "frac": "0.1:0.4:3"})[1]["frac"] == pytest.approx([0.1, 0.2, 0.4], 1e-3)
    # an option the model does not declare stays as given: the model refuses it when the sweep starts
    assert option_grids({"model": "diagonal", "frac": "0.2,0.5"}) == ({"model": "diagonal", "frac": "0.2,0.5"}, {})


@pytest.mark.parametrize("text,needle", [("16,x", "'x' is not an integer"), ("16,16", "twice"),
                                         ("16:18:9", "twice"), ("1:2", "a:b:n"), ("", "empty")])
def test_bad_integer_grids(text, needle):
    with pytest.raises(InputError, match=needle) as exc:
        parse_int_grid("n", text)
    assert "--n" in str(exc.value)


def test_points_carry_their_option_values_and_the_order_is_options_then_lam_then_alpha():
    points = grid_points([1.0, 10.0], [1e-2], [0], {"n": [16, 24]})
    assert [(p.alpha, p.varied) for p in points] == [(1.0, (("n", 16),)), (10.0, (("n", 16),)),
                                                       (1.0, (("n", 24),)), (10.0, (("n", 24),))]
    assert grid_points([1.0], [1e-2], [0])[0].varied == ()
    with pytest.raises(InputError, match="more than the 100000 points"):
        grid_points([1.0] * 100, [1e-2] * 100, [0], {"n": list(range(1, 12))})
    for bad in ({"n": []}, {"n": "16"}, {"alpha": [1.0, 2.0]}):
        with pytest.raises(InputError):
            grid_points([1.0], [1e-2], [0], bad)


@pytest.mark.parametrize("args,needle", [
    (["--n", "16,0"], "--n 0: n must be"), (["--n", "16,x"], "--n '16,x'"), (["--n", "16,16"], "twice"),
    (["--frac", "0.2,0.5"], "does not take --frac"), (["--model", "matrix", "--d", "4,1"], "--d 1: d must be"),
])
def test_bad_option_grids_are_one_line_exit_2(args, needle, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(["sweep", "--alpha", "1,10", *args])
    lines = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(lines) == 1 and needle in lines[0], lines
    assert not (tmp_path / "sweep.csv").exists()


# ---- the file, and resuming ----------------------------------------------------------------------------------


def test_the_varied_option_is_a_column_and_resume_skips_the_points_done(tmp_path, monkeypatch, capsys):
    """A sweep at n = 16, then the same grid over n = 16, 24: the n = 16 points are the same points (their
    identity, the options key, holds n), so only the n = 24 ones run; the file gets an ``n`` column."""
    monkeypatch.chdir(tmp_path)
    grid = ["--alpha", "1e-2,10", "--lam", "3e-2", *SMALL, "--workers", "1", "--no-plot", "--json"]
    main(["sweep", *grid, "--n", "16"])
    first = json.loads(capsys.readouterr().out)
    assert first["ran"] == 2 and first["failed"] == 0
    assert list(read_rows("sweep.csv")[0]) == list(COLUMNS)  # no varied option: the plain layout
    main(["sweep", *grid, "--n", "16,24"])
    second = json.loads(capsys.readouterr().out)
    assert second["points"] == 4 and second["skipped"] == 2 and second["ran"] == 2 and second["failed"] == 0
    rows = read_rows("sweep.csv")
    assert list(rows[0]) == [*COLUMNS, "n"] and len(rows) == 4
    for r in rows:
        assert r["status"] == "ok" and int(r["n"]) == json.loads(r["options"])["n"]
    assert sorted((float(r["alpha"]), int(r["n"])) for r in rows) == [(1e-2, 16), (1e-2, 24), (10.0, 16), (10.0, 24)]
    assert {f["options"]["n"] for f in second["fits"]} == {16, 24}  # one fit per λ and n
    loaded = SweepFile("sweep.csv").load()
    assert sorted(r["n"] for r in loaded) == [16, 16, 24, 24]
    main(["sweep", *grid, "--n", "16,24"])  # everything done: nothing runs
    assert json.loads(capsys.readouterr().out)["ran"] == 0 and len(read_rows("sweep.csv")) == 4


def test_grid_columns_round_trip_through_parquet(tmp_path):
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        with pytest.raises(InputError, match="pyarrow"):
            SweepFile(tmp_path / "s.parquet")
        return
    rows = []
    for n in (16, 24):
        row = dict.fromkeys(COLUMNS)
        row.update(alpha=10.0, lam=1e-2, seed=0, status="ok", error="", options=json.dumps({"model": "diagonal",
                                                                                             "n": n}))
        rows.append(row)
    file = SweepFile(tmp_path / "s.parquet")
    file.start({r["options"] for r in rows}, grid_columns=["n"])
    for r in rows:
        file.append(r)
    again = SweepFile(tmp_path / "s.parquet")
    assert [r["n"] for r in again.load()] == [16, 24] and again.columns == (*COLUMNS, "n")


# ---- the figure ----------------------------------------------------------------------------------------------


@pytest.fixture
def swept(monkeypatch, tmp_path):
    """The sweep replaced by rows whose regime depends on α and n: rich below α = 1, kernel at n = 16 and α > 1,
    grokking at n = 24 and α > 1 (so the outline has a horizontal edge)."""
    monkeypatch.chdir(tmp_path)
    calls = []

    def sweep(points, options, out, **kwargs):
        calls.append(points)
        keys, _ = sw.grid.point_keys(dict(options), points)
        rows = []
        for p in points:
            n = dict(p.varied).get("n", 16)
            big = p.alpha > 1
            regime = "rich" if not big else "kernel" if n == 16 else "grokking"
            rows.append({"alpha": p.alpha, "lam": p.lam, "seed": p.seed, "status": "ok", "error": "",
                         "options": keys[p.varied], "regime": regime,
                         "test_plateau": 0.6, "test_final": 0.95 if p.alpha < 1 or n > 16 else 0.6,
                         "t_transition": (math.log(p.alpha) + 1.5) / p.lam if big else None,
                         "transition_width": 2.0 / p.lam if big else None})
        return sw.SweepResult(rows=rows, ran=len(rows), skipped=0, path=Path(out))

    monkeypatch.setattr(sw, "sweep", sweep)
    return calls


def test_alpha_and_n_make_the_phase_diagram_over_alpha_and_n(swept, drawn, capsys):
    main(["sweep", "--alpha", "1e-2,1e2,1e4", "--lam", "1e-2", "--n", "16,24", *SMALL, "--plot", "p.png", "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert summary["phase_plot"] == "p.png" and summary["scaling_plot"] == "p-scaling.png"
    assert [sorted(set(dict(p.varied)["n"] for p in swept[0]))] == [[16, 24]] and len(swept[0]) == 6
    fig = drawn["p.png"]
    assert fig["panels"] == 2 and fig["colour_bars"] == 2  # change and λt* − ln α, each with its colour bar
    assert all(x.startswith("α") for x in fig["xlabels"])
    assert all(y.startswith("n (training samples)") for y in fig["ylabels"])
    assert fig["xticks"] == [["0.01", "100", "1e4"]] * 2 and fig["yticks"] == [["16", "24"]] * 2
    assert fig["cells"] == [["grokking", "grokking", "kernel", "kernel", "rich", "rich"]] * 2
    assert "n=" not in fig["suptitle"] and "d=100" in fig["suptitle"]  # the shared options, not the axis
    assert fig["smallest_text"] >= 9
    legend = drawn["p-scaling.png"]["legend"]
    assert any(s.startswith("λ = 0.01, n = 16") for s in legend) and any(", n = 24" in s for s in legend)


def test_a_third_varied_axis_gives_one_panel_per_value(swept, drawn, capsys):
    main(["sweep", "--alpha", "1e-2,1e2", "--lam", "1e-2,3e-2", "--n", "16,24", *SMALL, "--plot", "p.png", "--json"])
    json.loads(capsys.readouterr().out)
    fig = drawn["p.png"]
    assert fig["panels"] == 4 and fig["colour_bars"] == 2  # two quantities × the two values of the third axis
    assert {y.split(" ")[0] for y in fig["ylabels"]} == {"λ"}
    assert sorted({t.split(":")[0] for t in fig["titles"]}) == ["n = 16", "n = 24"]
    assert fig["smallest_text"] >= 9


def test_alpha_alone_with_one_n_is_no_phase_diagram(swept, drawn, capsys):
    main(["sweep", "--alpha", "1e2,1e4", "--lam", "1e-2", "--n", "16", *SMALL, "--plot", "p.png", "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert summary["plot"] == summary["scaling_plot"] == "p.png" and "phase_plot" not in summary


def test_a_file_with_option_columns_is_read_repaired_and_kept_in_its_layout(tmp_path):
    from grokode.errors import GrokodeWarning

    path = tmp_path / "s.csv"
    file = SweepFile(path)
    keys = [json.dumps({"model": "diagonal", "n": n}) for n in (16, 24)]
    file.start(set(keys), grid_columns=["n"])
    for alpha, key in ((10.0, keys[0]), (10.0, keys[1])):
        row = dict.fromkeys(COLUMNS)
        row.update(alpha=alpha, lam=1e-2, seed=0, status="ok", error="", options=key)
        file.append(row)
    with open(path, "a") as fh:
        fh.write("not,a,row\n")
    with pytest.warns(GrokodeWarning, match="line 4"):
        rows = SweepFile(path).load()
    assert [r["n"] for r in rows] == [16, 24]
    assert path.read_text().splitlines()[0].endswith(",regime,n") and len(path.read_text().splitlines()) == 3
    # a later sweep that varies nothing keeps the column; one that varies d adds its own
    again = SweepFile(path)
    assert set(again.start(set(keys))) == {(10.0, 1e-2, 0, k) for k in keys} and again.columns == (*COLUMNS, "n")
    again.start(set(keys), grid_columns=["d"])
    assert read_rows(path)[0]["d"] == "" and list(read_rows(path)[0])[-2:] == ["d", "n"]
    path.write_text(",".join([*COLUMNS, "Not An Option"]) + "\n")
    with pytest.raises(InputError, match="not a grokode sweep file"):
        SweepFile(path).load()
