"""The files of a run: nothing lost, nothing silent.

Default names are taken atomically (two runs started together never share a file), a new file holds the initial
state from the start (a kill -9 leaves a readable run), nothing is overwritten without --force (figures included),
an output is never one of the run's inputs, a sweep's lock follows symbolic links, SIGTERM is handled as Ctrl-C,
and --t-end with --t-eval follows scipy's convention.
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from helpers import TerminalRun

import grokode
from grokode.errors import InputError

TINY = ["--n", "32", "--d", "50", "--n-test", "0", "--lam", "0.1"]
TINY_API = dict(task="sparse", n=32, d=50, n_test=0, lam=0.1, seed=0)
LONG_MLP = ("integrate", "--model", "mlp", "--p", "11", "--width", "32", "--frac", "0.6", "--t-end", "1e5",
            "--method", "gd", "--lr", "0.1", "--no-plot")


def cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "grokode", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


def wait_until(condition, proc, timeout=300.0, what="the condition"):
    """Poll ``condition`` until it holds (a deadline, never a fixed sleep); fail if ``proc`` ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if proc.poll() is not None:
            raise AssertionError(f"the process ended (rc {proc.returncode}) before {what}")
        time.sleep(0.01)
    raise AssertionError(f"no {what} within {timeout} s")


def one_error_line(res, needle):
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1 and needle in lines[0] and "Traceback" not in res.stderr, \
        res.stderr


# ---- default names ---------------------------------------------------------------------------------------


def test_two_runs_started_together_with_one_default_name_write_two_files(tmp_path):
    # α = 100 and α = 120 both print as a1e02: the name does not show the option that differs
    procs = [subprocess.Popen([sys.executable, "-m", "grokode", "integrate", *TINY, "--alpha", alpha, "--json"],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for alpha in ("100", "120")]
    outs = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=600)
        assert p.returncode == 0, stderr
        outs.append(json.loads(stdout))
    paths = [o["out"] for o in outs]
    assert len(set(paths)) == 2 and all("a1e02" in p for p in paths), paths
    assert len({o["plot"] for o in outs}) == 2
    alphas = sorted(grokode.load_run(tmp_path / p).options["alpha"] for p in paths)
    assert alphas == [100.0, 120.0]  # each file holds its own run


def test_a_default_name_is_taken_with_its_content(tmp_path):
    from grokode.outputs import save_new

    class Fake:
        def __init__(self, text):
            self.text, self.path = text, None

        def save(self, path, force=False):
            with open(path, "w") as fh:
                fh.write(self.text)

    target = tmp_path / "runs" / "x.npz"
    first = save_new(Fake("one"), target, numbered=True)
    (tmp_path / "runs" / "x-2.png").write_text("a figure of another run")  # its figure's name is taken
    second = save_new(Fake("two"), target, numbered=True)
    assert (first.name, second.name) == ("x.npz", "x-3.npz")
    assert first.read_text() == "one" and second.read_text() == "two"
    with pytest.raises(InputError, match="exists"):
        save_new(Fake("three"), target, numbered=False)
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["x-2.png", "x-3.npz", "x.npz"]  # no litter


def test_a_killed_run_leaves_its_initial_state(tmp_path):
    """kill -9 right after the file appears: the file is complete and holds t = 0."""
    proc = subprocess.Popen([sys.executable, "-m", "grokode", *LONG_MLP], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    runs = tmp_path / "runs"
    try:
        wait_until(lambda: runs.exists() and any(_is_run(p) for p in runs.iterdir()), proc, what="the run's file")
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    (path,) = [p for p in runs.iterdir() if _is_run(p)]
    run = grokode.load_run(path)
    assert run.arrays["t"][0] == 0.0 and str(run.status) == "interrupted"
    assert run.arrays["train_acc"].shape == run.arrays["t"].shape
    res = cli("analyze", str(path), "--json", cwd=tmp_path)  # the run's own report works on it
    assert res.returncode == 0, res.stderr
    run.plot(tmp_path / "partial.png")
    assert (tmp_path / "partial.png").stat().st_size > 0


def _is_run(path):
    return path.suffix == ".npz" and not path.name.startswith(".")  # not a temporary file being written


# ---- never overwrite, never write onto an input ----------------------------------------------------------


def test_run_plot_refuses_to_overwrite_like_save(tmp_path):
    run = grokode.integrate(alpha=10.0, **TINY_API)
    figure = tmp_path / "f.png"
    run.plot(figure)
    before = figure.read_bytes()
    with pytest.raises(InputError, match="exists"):
        run.plot(figure)
    assert figure.read_bytes() == before
    run.plot(figure, force=True)
    assert figure.read_bytes() != before or figure.stat().st_size > 0


def _data_file(tmp_path):
    ds = grokode.make_task("sparse", n=24, d=40, k=3, n_test=0, seed=0)
    path = tmp_path / "data.npz"
    np.savez(path, X=ds.X, y=ds.y)
    return path


@pytest.mark.parametrize("how", ["same", "symlink", "hardlink", "dotted"])
def test_the_output_is_never_the_input_data(how, tmp_path):
    data = _data_file(tmp_path)
    before = data.read_bytes()
    out = {"same": "data.npz", "symlink": "link.npz", "hardlink": "hard.npz", "dotted": "./sub/../data.npz"}[how]
    (tmp_path / "sub").mkdir()
    if how == "symlink":
        (tmp_path / "link.npz").symlink_to(data)
    elif how == "hardlink":
        os.link(data, tmp_path / "hard.npz")
    res = cli("integrate", "--data", "data.npz", "--alpha", "10", "--lam", "0.1", "--out", out, "--force",
              "--no-plot", cwd=tmp_path)
    one_error_line(res, "input --data")
    assert data.read_bytes() == before
    with pytest.raises(InputError, match="input --data"):
        grokode.integrate(data=str(data), alpha=10.0, lam=0.1, out=tmp_path / out, force=True)
    assert data.read_bytes() == before


def test_a_sweep_never_overwrites_a_figure_without_force(tmp_path, monkeypatch, capsys):
    from grokode.cli import main

    monkeypatch.chdir(tmp_path)
    for args, existing in ((["--plot", "mine.png"], "mine.png"), ([], "sweep.png")):
        (tmp_path / existing).write_bytes(b"precious")
        with pytest.raises(SystemExit) as exc:
            main(["sweep", "--alpha", "10", "--lam", "0.1", *TINY[:6], *args])
        assert exc.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "exists (use --force" in err[0], err
        assert (tmp_path / existing).read_bytes() == b"precious" and not (tmp_path / "sweep.csv").exists()


def test_the_sweep_lock_is_taken_on_the_resolved_file(tmp_path):
    from grokode.sweep import grid_points, sweep
    from grokode.sweep.storage import sweep_lock

    real = tmp_path / "s.csv"
    link = tmp_path / "alias.csv"
    link.symlink_to(real)
    with sweep_lock(real):  # a first sweep writes the real file
        with pytest.raises(InputError, match="another sweep is writing"):
            sweep(grid_points([1e2], [1e-2], [0]), dict(task="sparse", n=32, d=50, n_test=0), link, workers=1)
    assert not real.exists() and link.is_symlink()


def test_a_symlink_loop_in_keep_runs_is_one_line(tmp_path):
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    res = cli("sweep", "--alpha", "10", "--lam", "0.1", *TINY[:6], "--keep-runs", "loop", "--no-plot", cwd=tmp_path)
    one_error_line(res, "--keep-runs")
    assert not (tmp_path / "sweep.csv").exists()


# ---- signals -------------------------------------------------------------------------------------------


def test_sigterm_stops_a_sweep_like_ctrl_c(tmp_path):
    """SIGTERM once the sweep has recorded a point: exit 130 with the line, the rows kept."""
    args = [sys.executable, "-m", "grokode", "sweep", "--alpha", "1e2:1e9:8", "--lam", "0.01,0.02", "--workers", "1",
            *TINY[:6], "--no-plot"]
    proc = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    out = tmp_path / "sweep.csv"
    try:
        wait_until(lambda: out.exists() and len(out.read_text().splitlines()) >= 2, proc, what="a recorded point")
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=120)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the workers of its local cluster, if any are left
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)
    assert proc.returncode == 130, stderr
    assert "grokode: interrupted; finished points are in 'sweep.csv'" in stderr and "Traceback" not in stderr
    assert len(out.read_text().splitlines()) >= 2


def _interrupted(path, rc, shown):
    assert rc == 130, shown[-2000:]
    assert "interrupted (what was finished is written)" in shown and "Traceback" not in shown
    run = grokode.load_run(path)
    assert str(run.status) == "interrupted" and run.arrays["t"].size >= 1
    return run


def test_sigterm_in_the_first_seconds_writes_the_initial_state(tmp_path):
    out = tmp_path / "r.npz"
    term = TerminalRun(*LONG_MLP, "--out", str(out), cwd=tmp_path)
    deadline = time.monotonic() + 300
    while not out.exists() and time.monotonic() < deadline and term.proc.poll() is None:
        term._read(0.01)
    term.proc.send_signal(signal.SIGTERM)
    rc, _, shown = term.finish()
    run = _interrupted(out, rc, shown)
    assert run.arrays["t"][0] == 0.0


def test_ctrl_c_during_a_matrix_run_writes_what_it_finished(tmp_path):
    out = tmp_path / "m.npz"
    # α = 1e4 with plain RKC (many stages per step on the kernel plateau): ~10 s of CPU to the horizon, so the
    # signal lands mid-way (auto, rkc-ros2, takes well under a second)
    term = TerminalRun("integrate", "--model", "matrix", "--d", "16", "--alpha", "1e4", "--lam", "0.001",
                       "--method", "rkc", "--out", str(out), "--no-plot", cwd=tmp_path)
    term.wait_for_progress(5.0)
    term.proc.send_signal(signal.SIGINT)
    rc, _, shown = term.finish()
    run = _interrupted(out, rc, shown)
    assert run.arrays["W"].shape == (run.arrays["t"].size, 16, 16) and run.arrays["t"].size >= 2
    assert np.all(np.diff(run.arrays["t"]) > 0)


# ---- consistent times --------------------------------------------------------------------------------------


def test_t_end_with_t_eval_follows_scipy():
    agree = grokode.integrate(alpha=10.0, t_eval="1,5,20", t_end=20.0, **TINY_API)
    assert np.array_equal(agree.arrays["t"], [1.0, 5.0, 20.0])
    beyond = grokode.integrate(alpha=10.0, t_eval="1,5,20", t_end=30.0, **TINY_API)
    assert np.array_equal(beyond.arrays["t"], [1.0, 5.0, 20.0, 30.0])  # the horizon is saved too
    assert beyond.meta["options"]["t_end"] == 30.0
    with pytest.raises(InputError, match="after the horizon"):
        grokode.integrate(alpha=10.0, t_eval="1,5,20", t_end=10.0, **TINY_API)


def test_t_end_with_t_eval_on_the_command_line(tmp_path):
    res = cli("integrate", *TINY, "--alpha", "10", "--t-eval", "1,5,20", "--t-end", "20", "--out", "r.npz",
              "--no-plot", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert np.array_equal(grokode.load_run(tmp_path / "r.npz").arrays["t"], [1.0, 5.0, 20.0])
