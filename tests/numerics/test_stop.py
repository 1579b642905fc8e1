"""Stopping a real CLI run: Ctrl-C (SIGINT), SIGTERM and a second Ctrl-C while the file is written.

Each test waits for an observable event (the progress bar on a pseudo-terminal) before it signals, and then
checks the contract: exit code 130, one line saying what happened, no traceback, and a trajectory file that
`grokode.load_run` reads with what the run finished.
"""

import signal

import numpy as np
import pytest
from helpers import TerminalRun

import grokode

# ~1e6 GD steps of a small net: long enough to be stopped at 5 % on any machine, fast to start
LONG_MLP = ("integrate", "--model", "mlp", "--p", "11", "--width", "32", "--frac", "0.6", "--t-end", "1e5",
            "--method", "gd", "--lr", "0.1", "--no-plot")


def _check_partial(path, rc, terminal):
    assert rc == 130, terminal[-2000:]
    assert "interrupted (what was finished is written)" in terminal and "Traceback" not in terminal
    run = grokode.load_run(path)
    t = run.arrays["t"]
    assert run.summary["status"] == "interrupted"
    assert t.size >= 2 and np.all(np.diff(t) > 0) and t[-1] < 1e5
    assert np.all(np.isfinite(run.arrays["train_loss"])) and run.arrays["train_acc"][-1] > run.arrays["train_acc"][0]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_writes_the_partial_trajectory(signum, tmp_path):
    out = tmp_path / "run.npz"
    term = TerminalRun(*LONG_MLP, "--out", str(out), cwd=tmp_path)
    term.wait_for_progress(5.0)
    term.proc.send_signal(signum)
    rc, _, shown = term.finish()
    _check_partial(out, rc, shown)


def test_a_second_ctrl_c_does_not_lose_the_file(tmp_path):
    out = tmp_path / "run.npz"
    term = TerminalRun(*LONG_MLP, "--out", str(out), cwd=tmp_path)
    term.wait_for_progress(5.0)
    for _ in range(3):  # as an impatient user does: the later ones arrive while the run is being written
        term.proc.send_signal(signal.SIGINT)
    rc, _, shown = term.finish()
    _check_partial(out, rc, shown)
