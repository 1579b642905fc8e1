"""The command's process freezes its objects at exit (no shutdown traversal) and still writes everything: a CLI
run's JSON and file are complete. A program that only imports grokode keeps Python's normal shutdown."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def _freeze_counts(statement: str) -> list[str]:
    # atexit runs its handlers last-registered first: this one, registered before grokode's, runs after it
    code = ("import atexit, gc\n"
            "atexit.register(lambda: print('frozen at exit', gc.get_freeze_count()))\n"
            f"{statement}\n"
            "print('frozen before exit', gc.get_freeze_count())\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=120,
                          check=True).stdout.split("\n")


def test_the_command_freezes_its_objects_when_the_interpreter_exits():
    out = _freeze_counts("from grokode.cli import main\n"
                         "import contextlib\n"
                         "with contextlib.suppress(SystemExit): main(['--version'])")
    assert out[-3] == "frozen before exit 0"
    assert int(out[-2].split()[-1]) > 1000


def test_a_library_user_keeps_the_normal_shutdown():
    out = _freeze_counts("import grokode, grokode.numeric, grokode.numeric.diagonal")
    assert out[0] == "frozen before exit 0"
    assert out[1] == "frozen at exit 0"


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
