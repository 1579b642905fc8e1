"""``integrate`` and ``analyze`` of the same file report the same switch time, and it is a real crossing."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_bad_inputs import call_main

import grokode
from grokode.analysis.analyze import analyze


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_the_switch_time_is_the_same_in_integrate_and_analyze(tmp_path, monkeypatch, capsys):
    run = grokode.integrate(alpha=100.0, lam=0.01, n=32, d=50, out=tmp_path / "b.npz")
    recorded = run.summary["t_bias_switch"]
    assert recorded is not None
    # a real crossing of the two cosines on the run's dense output (independent of how it was located)
    w = run.solution.weight_at(recorded)
    assert _cos(w, run.arrays["w_rich"]) == pytest.approx(_cos(w, run.arrays["w_kernel"]), abs=1e-6)
    monkeypatch.chdir(tmp_path)
    assert call_main(["analyze", "b.npz", "--json"]) == (0, None)
    assert json.loads(capsys.readouterr().out)["t_bias_switch"] == recorded
    # without the recorded value, the saved grid places it by interpolation: close, not equal
    loaded = grokode.load_run(tmp_path / "b.npz")
    summary = {k: v for k, v in loaded.summary.items() if k != "t_bias_switch"}
    grid = analyze(loaded.arrays, {**loaded.meta, "summary": summary}).t_bias_switch
    t = loaded.arrays["t"]
    k = int(np.searchsorted(t, recorded))
    assert grid != recorded and abs(grid - recorded) < t[k] - t[k - 1]
