"""The extension point is real: a user's package adds a model through the ``grokode.models`` entry point.

The package is examples/hadamard_model (w = u ⊙ v, one file, shown in docs/extending.md). It is installed with
pip into a temporary directory, and the installed ``grokode`` command then derives, integrates, analyses and
sweeps it like a built-in model.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import grokode as grokode_package

EXAMPLE = Path(__file__).parents[2] / "examples" / "hadamard_model"


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    build = tmp_path_factory.mktemp("build")
    res = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
                          "--no-index", "--target", str(target), str(EXAMPLE)], capture_output=True, text=True,
                         timeout=300, cwd=build)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert (target / "grokode_hadamard.py").exists() and any(target.glob("grokode_hadamard-*.dist-info"))
    # the plug-in first, then this checkout's grokode (the one the tests import)
    path = os.pathsep.join([str(target), str(Path(grokode_package.__file__).parents[1])])
    return {**os.environ, "PYTHONPATH": path, "NUMBA_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def grokode(env, *args, cwd):
    return subprocess.run([sys.executable, "-m", "grokode", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=600)


def test_the_installed_model_is_derived_integrated_analysed_and_swept(plugin_env, tmp_path):
    derived = grokode(plugin_env, "derive", "hadamard", "--format", "json", cwd=tmp_path)
    assert derived.returncode == 0, derived.stderr
    obj = json.loads(derived.stdout)
    u, v, g, lam = sp.symbols("u v g lam")
    assert obj["homogeneity"] == 2
    assert sp.simplify(sp.sympify(obj["flow"]["u"]) - (-g * v - lam * u)) == 0

    run = grokode(plugin_env, "integrate", "--model", "hadamard", "--out", "h.npz", "--json", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    s = json.loads(run.stdout)
    assert s["status"] == "ok" and s["t_transition"] is not None
    assert s["test_plateau"] < 0.8 and s["test_final"] > 0.99  # it groks
    # the rich predictor is the max ℓ1-margin classifier (a convex solver's): w(T⁺) points along it
    assert s["cos_rich_at_Tplus"] > 0.99 and s["cos_kernel_at_Tminus"] > s["cos_kernel_at_Tplus"]

    report = grokode(plugin_env, "analyze", "h.npz", "--json", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["t_transition"] == pytest.approx(s["t_transition"], rel=1e-12)

    wrong = grokode(plugin_env, "integrate", "--model", "hadamard", "--depth", "3", cwd=tmp_path)
    assert wrong.returncode == 2 and "model 'hadamard' does not take --depth" in wrong.stderr

    swept = grokode(plugin_env, "sweep", "--model", "hadamard", "--alpha", "30,100", "--lam", "0.02", "--workers",
                    "1", "--out", "s.csv", "--json", cwd=tmp_path)
    assert swept.returncode == 0, swept.stderr
    summary = json.loads(swept.stdout)
    assert summary["points"] == 2 and summary["failed"] == 0
    import csv

    rows = {float(r["alpha"]): r for r in csv.DictReader(open(tmp_path / "s.csv"))}
    assert float(rows[100.0]["t_transition"]) == pytest.approx(s["t_transition"], rel=1e-9)
    with np.load(tmp_path / "h.npz") as z:
        assert json.loads(str(z["meta"]))["options"]["model"] == "hadamard"
