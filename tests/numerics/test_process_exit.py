"""A process that imports grokode's numerics freezes its objects at exit (no shutdown traversal), and still
writes everything: a CLI run's JSON and file are complete."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def test_objects_are_frozen_when_the_interpreter_exits():
    # atexit runs its handlers last-registered first: this one, registered before grokode's, runs after it
    code = ("import atexit, gc\n"
            "atexit.register(lambda: print('frozen at exit', gc.get_freeze_count()))\n"
            "import grokode.numeric\n"
            "print('frozen before exit', gc.get_freeze_count())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=120,
                         check=True).stdout.split("\n")
    assert out[0] == "frozen before exit 0"
    assert int(out[1].split()[-1]) > 1000


def test_a_cli_run_is_complete_after_a_frozen_exit(tmp_path):
    out = tmp_path / "run.npz"
    proc = subprocess.run([sys.executable, "-m", "grokode", "integrate", "--n", "16", "--d", "40", "--alpha", "10",
                           "--lam", "1e-2", "--no-plot", "--json", "--out", str(out)], capture_output=True,
                          text=True, env=ENV, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["status"] == "ok" and summary["out"] == str(out)
    with np.load(out, allow_pickle=False) as saved:
        t = saved["t"]
    assert t.size > 10 and np.all(np.isfinite(t))
