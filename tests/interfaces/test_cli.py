"""The command line: formats, JSON output, files, and one-line errors with exit code 2."""

import json
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp


def grokode(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "grokode", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


@pytest.mark.parametrize("fmt", ["text", "latex", "json"])
def test_derive_formats(fmt):
    res = grokode("derive", "diagonal", "--format", fmt)
    assert res.returncode == 0, res.stderr
    if fmt == "json":
        obj = json.loads(res.stdout)
        assert sp.simplify(sp.sympify(obj["flow"]["u"]) - sp.sympify("-2*u*g - lam*u")) == 0
    elif fmt == "latex":
        assert "\\sinh" in res.stdout
    else:
        assert "Closed form" in res.stdout and "sinh" in res.stdout


@pytest.mark.parametrize("args,needle", [
    (["derive", "diagonal", "--depth", "1"], "1"), (["derive", "diagonal", "--depth", "0"], "0"),
    (["derive", "banana"], "banana"), (["derive", "diagonal", "--loss", "hinge"], "hinge"),
    (["integrate", "--alpha", "-3"], "-3"), (["integrate", "--lam", "-1"], "lam"),
    (["integrate", "--task", "nope"], "nope"), (["integrate", "--data", "missing.npz"], "missing.npz"),
    (["integrate", "--method", "Euler"], "Euler"), (["integrate", "--t-eval", "1,x"], "1,x"),
])
def test_bad_input_is_one_line_exit_2(args, needle, tmp_path):
    res = grokode(*args, cwd=tmp_path)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in res.stderr


def test_bad_data_file(tmp_path):
    np.savez(tmp_path / "bad.npz", X=np.array([[1.0, np.nan]]), y=np.array([1.0]))
    res = grokode("integrate", "--data", "bad.npz", cwd=tmp_path)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1


def test_integrate_json_writes_files_and_refuses_overwrite(tmp_path):
    args = ["integrate", "--n", "64", "--d", "300", "--n-test", "100", "--alpha", "100", "--lam", "0.02",
            "--out", "r.npz", "--json"]
    res = grokode(*args, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)  # stdout is exactly one JSON object
    for key in ("t_theory", "t_transition", "transition_width", "test_plateau", "test_final", "train_final",
                "wall_seconds", "rhs_evals", "jac_evals", "status", "out"):
        assert key in summary
    assert (tmp_path / "r.npz").exists() and (tmp_path / "r.png").exists()
    with np.load(tmp_path / "r.npz") as z:
        assert z["w"].shape == (z["t"].shape[0], 300)
        assert json.loads(str(z["meta"]))["options"]["d"] == 300
    again = grokode(*args, cwd=tmp_path)
    assert again.returncode == 2 and "exists" in again.stderr
    forced = grokode(*args, "--force", "--no-plot", cwd=tmp_path)
    assert forced.returncode == 0


def test_default_output_name_never_overwrites(tmp_path):
    args = ["integrate", "--n", "32", "--d", "50", "--n-test", "0", "--alpha", "10", "--lam", "0.1", "--no-plot",
            "--json"]
    first = json.loads(grokode(*args, cwd=tmp_path).stdout)["out"]
    second = json.loads(grokode(*args, cwd=tmp_path).stdout)["out"]
    assert first != second and first.startswith("runs/")


def test_derive_is_cached_and_the_cache_follows_the_sources(tmp_path):
    env = {**__import__("os").environ, "GROKODE_CACHE_DIR": str(tmp_path / "cache")}

    def derive(*extra):
        return subprocess.run([sys.executable, "-X", "importtime", "-m", "grokode", "derive", "diagonal", "--depth",
                               "3", *extra], capture_output=True, text=True, env=env, timeout=600)

    first, second = derive(), derive()
    assert first.returncode == second.returncode == 0 and first.stdout == second.stdout
    assert "sympy" in first.stderr and "sympy" not in second.stderr  # the second call never imports sympy
    (cached,) = (tmp_path / "cache" / "derive").glob("*.txt")
    cached.write_text("stale")  # a different key (another format) is not served this text
    assert derive("--format", "json").stdout.startswith("{")


def test_the_summary_table_lists_the_alpha_axis_keys(tmp_path):
    """A small-α run at λ = 0 (squared loss): its regime, activation, jumps, saddles and the finite-α interpolant's
    distances are rows of the table integrate prints, and of analyze's, each with the value the saved run holds."""
    from grokode import load_run
    from grokode.report import fmt

    res = grokode("integrate", "--alpha", "1e-3", "--lam", "0", "--loss", "squared", "--n", "20", "--d", "40",
                  "--n-test", "50", "--out", "r.npz", "--no-plot", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    summary = load_run(tmp_path / "r.npz").summary
    assert summary["regime"] == "rich"
    analyzed = grokode("analyze", "r.npz", cwd=tmp_path)
    assert analyzed.returncode == 0, analyzed.stderr
    for out in (res.stdout, analyzed.stdout):
        rows = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in out.splitlines()
                if line.count("│") == 3 and line.split("│")[1].strip()}
        assert rows["regime"] == "rich"
        for key in ("t_activation", "dist_implicit_final", "implicit_residual", "implicit_dist_min_l2",
                    "implicit_dist_min_l1", "jump_rel_error"):
            assert rows[key] == fmt(summary[key]), key
        for key in ("jump_times", "jump_times_limit", "saddles"):
            assert len(summary[key]) >= 2 and rows[key].startswith("[" + fmt(summary[key][0]) + ", "), key
