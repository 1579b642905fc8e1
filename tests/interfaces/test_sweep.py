"""`grokode sweep`: grids, the row file, the scaling fit, and real Dask sweeps (local, remote, resumed, failing)."""

import csv
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from distributed.diagnostics.plugin import WorkerPlugin
from scipy import stats

from grokode.analysis.scaling import fit_scaling, line_fit
from grokode.errors import InputError
from grokode.pipeline import integrate
from grokode.sweep import COLUMNS, SweepFile, grid_points, parse_grid, parse_seeds, point_options

TINY = ["--n", "64", "--d", "500", "--n-test", "200"]
TINY_OPTIONS = {"n": 64, "d": 500, "n_test": 200}
SINGLE = {**os.environ, "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def grokode(*args, cwd):
    return subprocess.run([sys.executable, "-m", "grokode", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300, env=SINGLE)


def read_rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


# ---- grids -----------------------------------------------------------------------------------------


def test_grid_parsing():
    assert parse_grid("alpha", "1e2:1e8:7") == [1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8]
    assert parse_grid("lam", "1e-3, 1e-4") == [1e-3, 1e-4]
    assert parse_grid("lam", "0.001:0.1:3") == [0.001, 0.01, 0.1]
    assert parse_grid("alpha", "5:5:1") == [5.0]
    assert parse_grid("lam", "0,-1e-3") == [0.0, -1e-3]  # values integrate rejects fail per point, not here
    assert parse_seeds("0") == [0] and parse_seeds("3,1") == [3, 1] and parse_seeds("2:5") == [2, 3, 4, 5]


@pytest.mark.parametrize("name,text", [("alpha", "1e2:1e8"), ("alpha", "1e2:x:3"), ("alpha", "0:1e3:3"),
                                       ("alpha", "1e2:1e3:0"), ("alpha", "1e2:1e3:1"), ("lam", "abc"),
                                       ("lam", "1e-3,nan"), ("alpha", "1e3,1e3"), ("alpha", "")])
def test_bad_grid(name, text):
    with pytest.raises(InputError, match=f"--{name}"):
        parse_grid(name, text)


@pytest.mark.parametrize("text", ["-1", "a", "1,1", "3:x"])
def test_bad_seeds(text):
    with pytest.raises(InputError, match="--seeds"):
        parse_seeds(text)


def test_options_are_normalised_and_checked():
    assert point_options(d=1e4) == point_options(d=10_000) == point_options()
    assert point_options(task="margin", gamma=5) == point_options(task="margin", gamma=5.0)
    assert point_options()["task"] == "sparse" and point_options()["d"] == 10_000
    assert point_options(model="matrix")["task"] == "multiplication" and point_options(model="matrix")["d"] == 30
    with pytest.raises(InputError, match="sparse"):
        point_options(model="matrix", task="sparse")  # a diagonal task for the matrix model
    for bad in ({"method": "Euler"}, {"task": "nope"}, {"d": 0}, {"rtol": -1.0}, {"alpha": 3.0}, {"gamma": 5.0},
                {"model": "matrix", "lr": 0.1}):
        with pytest.raises(InputError):
            point_options(**bad)


# ---- the scaling fit ----------------------------------------------------------------------------------


def test_line_fit_matches_scipy_linregress():
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 20, 12)
    y = 0.97 * x - 2.3 + rng.normal(0, 0.3, 12)
    slope, intercept, r2 = line_fit(x, y)
    ref = stats.linregress(x, y)
    assert slope == pytest.approx(ref.slope, rel=1e-12) and intercept == pytest.approx(ref.intercept, rel=1e-12)
    assert r2 == pytest.approx(ref.rvalue**2, rel=1e-12)
    assert all(math.isnan(v) for v in line_fit(np.ones(3), np.arange(3.0)))


def test_fit_scaling_recovers_the_law_and_skips_rows_without_transition():
    rows = []
    for lam, c0 in ((1e-3, 2.5), (1e-4, 2.7)):
        for a in (1e3, 1e4, 1e6, 1e8):
            rows.append({"alpha": a, "lam": lam, "status": "ok", "t_transition": (math.log(a) - c0) / lam,
                         "transition_width": 0.8 / lam})
        rows.append({"alpha": 1e2, "lam": lam, "status": "ok", "t_transition": None, "transition_width": None})
        rows.append({"alpha": 1e5, "lam": lam, "status": "error", "t_transition": None, "transition_width": None})
        rows.append({"alpha": 1e-4, "lam": lam, "status": "ok", "t_transition": 30.0, "transition_width": 5.0})
    fits = fit_scaling(rows)
    assert [f.lam for f in fits] == [1e-4, 1e-3] and [f.n_points for f in fits] == [4, 4]
    for f, c0 in zip(fits, (2.7, 2.5), strict=True):
        assert f.slope == pytest.approx(1.0, abs=1e-12) and f.intercept == pytest.approx(-c0, abs=1e-10)
        assert f.c0_mean == pytest.approx(c0, abs=1e-10) and f.r2 == pytest.approx(1.0, abs=1e-12)
        assert f.lam_width_mean == pytest.approx(0.8) and f.lam_width_slope == pytest.approx(0.0, abs=1e-12)


# ---- the row file -------------------------------------------------------------------------------------


def _row(alpha, **kw):
    row = dict.fromkeys(COLUMNS)
    row.update({"alpha": alpha, "lam": 1e-3, "seed": 0, "status": "ok", "error": "", "options": "{}",
                "t_transition": 1 / 3, **kw})
    return row


def test_row_file_round_trips_and_drops_a_torn_line(tmp_path):
    path = tmp_path / "s.csv"
    f = SweepFile(path)
    f.rewrite([])
    f.append(_row(0.1 + 0.2))
    f.append(_row(1e300, error='bad, "quoted"'))
    with open(path, "a") as fh:  # a write cut short by a crash: no newline
        fh.write("5.0,0.001,0,1.0,2.")
    with pytest.warns(UserWarning, match="line 4 was cut short"):
        rows = SweepFile(path).load()
    assert [r["alpha"] for r in rows] == [0.1 + 0.2, 1e300]  # exact floats: resume keys must compare equal
    assert rows[0]["t_transition"] == 1 / 3 and rows[1]["error"] == 'bad, "quoted"' and rows[0]["test_final"] is None
    assert path.read_text().endswith("\n") and len(path.read_text().splitlines()) == 3
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="not a grokode sweep file"):
        SweepFile(tmp_path / "other.csv").load()
    with pytest.raises(InputError, match="must end in .csv or .parquet"):
        SweepFile(tmp_path / "s.txt")


def test_damaged_lines_are_dropped_with_a_warning_and_the_file_repaired(tmp_path):
    from grokode.errors import GrokodeWarning

    path = tmp_path / "s.csv"
    f = SweepFile(path)
    f.rewrite([])
    for alpha in (10.0, 20.0, 30.0, 40.0):
        f.append(_row(alpha))
    lines = path.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1][:25] + b"\n"  # a torn line that still ends in a newline
    lines[2] = lines[2].replace(b"20.0", b"2\xff0.0", 1)  # a byte that is not UTF-8
    lines[3] = lines[3].replace(b"30.0", b"thirty", 1)  # a cell that is not a number
    path.write_bytes(b"".join(lines))
    with pytest.warns(GrokodeWarning) as caught:
        rows = SweepFile(path).load()
    assert [r["alpha"] for r in rows] == [40.0]  # the three damaged points will be computed again
    assert sorted(int(str(w.message).split("line ")[1].split()[0]) for w in caught) == [2, 3, 4]
    assert [r["alpha"] for r in SweepFile(path).load()] == [40.0]  # repaired on disk: no warning the second time


def test_an_empty_or_headerless_file_gets_its_header(tmp_path):
    from grokode.errors import GrokodeWarning

    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert SweepFile(empty).load() == [] and empty.read_text() == ",".join(COLUMNS) + "\n"
    headerless = tmp_path / "rows.csv"
    f = SweepFile(headerless)
    f.rewrite([_row(5.0)])
    headerless.write_text(headerless.read_text().split("\n", 1)[1])  # the header line lost
    with pytest.warns(GrokodeWarning, match="no header"):
        assert [r["alpha"] for r in SweepFile(headerless).load()] == [5.0]
    assert headerless.read_text().splitlines()[0] == ",".join(COLUMNS)


def test_a_second_sweep_on_the_same_file_is_refused(tmp_path):
    from grokode.sweep import sweep
    from grokode.sweep.storage import sweep_lock

    out = tmp_path / "s.csv"
    with sweep_lock(out):  # as a first sweep holds it
        with pytest.raises(InputError, match="another sweep is writing"):
            sweep(grid_points([1e2], [1e-2], [0]), dict(TINY_OPTIONS), out, workers=1)
    assert not out.exists()  # refused before anything was computed or written


def test_a_file_from_before_train_final_is_read_and_moved_to_the_new_layout(tmp_path):
    from grokode.sweep import OLD_COLUMNS

    path = tmp_path / "old.csv"
    old = dict(zip(OLD_COLUMNS, ["4.0", "0.002", "0", "693.1", "2280.5", "1781.9", "-3.17", "0.0", "0.913", "177.9",
                                 "ok", "", "{}"], strict=True))
    path.write_text(",".join(OLD_COLUMNS) + "\n" + ",".join(old.values()) + "\n")
    rows = SweepFile(path).load()
    assert rows[0]["t_transition"] == 2280.5 and rows[0]["test_final"] == 0.913 and rows[0]["train_final"] is None
    assert path.read_text().splitlines()[0] == ",".join(COLUMNS)  # rewritten, so appended rows line up
    assert SweepFile(path).load() == rows


def test_parquet_needs_pyarrow(tmp_path):
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        with pytest.raises(InputError, match="s.parquet.*pyarrow"):
            SweepFile(tmp_path / "s.parquet")
        return
    f = SweepFile(tmp_path / "s.parquet")
    f.append(_row(10.0))
    f.append(_row(20.0))
    assert [r["alpha"] for r in SweepFile(tmp_path / "s.parquet").load()] == [10.0, 20.0]


# ---- the command ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("args,needle", [
    (["--alpha", "1e2:1e8"], "1e2:1e8"), (["--lam", "x"], "'x'"), (["--seeds", "-2"], "-2"),
    (["--alpha", "1,1"], "twice"), (["--out", "s.txt"], "s.txt"), (["--method", "Euler"], "Euler"),
    (["--workers", "0"], "workers"),
])
def test_bad_sweep_input_is_one_line_exit_2(args, needle, tmp_path, monkeypatch, capsys):
    from grokode.cli import main

    monkeypatch.chdir(tmp_path)  # in-process: the same main() as the installed command, without a process start
    with pytest.raises(SystemExit) as exc:
        main(["sweep", *args])
    assert exc.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in lines[0]
    assert not (tmp_path / "sweep.csv").exists()


def test_local_sweep_fits_the_law_and_records_a_failing_point(tmp_path):
    """A LocalCluster sweep: 5 α × (a good λ, λ = −1 which integrate rejects); the bad points do not stop the rest."""
    res = grokode("sweep", "--alpha", "1e3:1e7:5", "--lam", "0.01,-1", "--workers", "2", *TINY, "--json",
                  "--keep-runs", "runs", cwd=tmp_path)
    assert res.returncode == 1, res.stderr  # some points failed
    summary = json.loads(res.stdout)
    assert summary["points"] == 10 and summary["ran"] == 10 and summary["failed"] == 5
    rows = read_rows(tmp_path / "sweep.csv")
    assert len(rows) == 10 and list(rows[0]) == list(COLUMNS)
    bad = [r for r in rows if float(r["lam"]) == -1]
    good = [r for r in rows if float(r["lam"]) == 0.01]
    assert all(r["status"] == "error" and "lam" in r["error"] for r in bad)
    assert all(r["status"] == "ok" and r["error"] == "" for r in good)
    assert all(0.0 <= float(r["train_final"]) <= 1.0 for r in good) and all(r["train_final"] == "" for r in bad)
    fit = next(f for f in summary["fits"] if f["lam"] == 0.01)
    assert fit["n_points"] == 5 and 0.9 <= fit["slope"] <= 1.1 and fit["r2"] > 0.99
    # the worker regenerated the data from the seed: same numbers as an integrate in this process
    row = next(r for r in good if float(r["alpha"]) == 1e5)
    ref = integrate(**TINY_OPTIONS, alpha=1e5, lam=0.01, seed=0).summary
    assert float(row["t_transition"]) == pytest.approx(ref["t_transition"], rel=1e-12)
    assert float(row["offset_c0"]) == pytest.approx(math.log(1e5) - 0.01 * ref["t_transition"], rel=1e-12)
    assert (tmp_path / "sweep.png").stat().st_size > 0
    kept = sorted((tmp_path / "runs").glob("*.npz"))
    assert len(kept) == 5 and all("lam0.01" in p.name for p in kept)
    assert res.stderr.count("λ=-1 seed=0: error: InputError") == 5


def _kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def test_resume_after_kill(tmp_path):
    """Kill the command mid-sweep (SIGKILL: no cleanup), re-run it: every point present exactly once."""
    args = [sys.executable, "-m", "grokode", "sweep", "--alpha", "1e2:1e9:8", "--lam", "0.01,0.02", "--workers", "1",
            *TINY, "--no-plot"]
    proc = subprocess.Popen(args, cwd=tmp_path, env=SINGLE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    out = tmp_path / "sweep.csv"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if out.exists() and len(out.read_text().splitlines()) >= 3:  # header + 2 rows
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        _kill_group(proc)  # the workers of its local cluster
    before = read_rows(out)
    assert 2 <= len(before) < 16, "the sweep finished before it was killed: nothing to resume"
    res = grokode("sweep", "--alpha", "1e2:1e9:8", "--lam", "0.01,0.02", "--workers", "1", *TINY, "--no-plot",
                  "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["skipped"] == len(before) and summary["ran"] == 16 - len(before)
    after = read_rows(out)
    keys = [(float(r["alpha"]), float(r["lam"]), int(r["seed"])) for r in after]
    assert len(keys) == 16 and len(set(keys)) == 16
    assert after[: len(before)] == before  # rows written before the kill are kept as they were


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dask_cluster(tmp_path):
    """`dask scheduler` and two `dask worker` processes on 127.0.0.1; yields the scheduler address."""
    from distributed import Client

    dask = str(Path(sys.executable).parent / "dask")
    address = f"tcp://127.0.0.1:{_free_port()}"
    procs = []
    try:
        # a task whose worker dies is tried twice (once more than the default one) before it is marked failed
        env = {**SINGLE, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1"}
        procs.append(subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                                       "--no-dashboard"], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, start_new_session=True))
        for _ in range(2):
            procs.append(subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--host", "127.0.0.1",
                                           "--no-dashboard"], cwd=tmp_path, env=SINGLE, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL, start_new_session=True))
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for p in reversed(procs):  # workers first: a worker whose scheduler is gone waits for it
            p.terminate()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            _kill_group(p)


def test_sweep_through_a_running_scheduler(dask_cluster, tmp_path):
    res = grokode("sweep", "--scheduler", dask_cluster, "--alpha", "1e3,1e5", "--lam", "0.01", "--seeds", "0,1",
                  *TINY, "--no-plot", "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    rows = read_rows(tmp_path / "sweep.csv")
    assert sorted((float(r["alpha"]), int(r["seed"])) for r in rows) == [(1e3, 0), (1e3, 1), (1e5, 0), (1e5, 1)]
    assert all(r["status"] == "ok" for r in rows)
    row = next(r for r in rows if float(r["alpha"]) == 1e5 and r["seed"] == "1")
    ref = integrate(**TINY_OPTIONS, alpha=1e5, lam=0.01, seed=1).summary
    assert float(row["t_transition"]) == pytest.approx(ref["t_transition"], rel=1e-12)


class _KillWorker(WorkerPlugin):
    """Worker plugin: the point α = 1e3 kills its worker process on its first attempt, α = 1e5 on every attempt."""

    name = "grokode-test-kill-worker"

    def __init__(self, log_dir):
        self.log_dir = log_dir

    def setup(self, worker):
        import grokode.sweep.orchestrate as sw

        original, log_dir = getattr(sw.run_point, "original", sw.run_point), self.log_dir

        def run_point(alpha, lam, seed, options, key, keep_runs=None):
            if alpha in (1e3, 1e5):
                log = Path(log_dir) / f"attempts-{alpha:g}"
                with open(log, "a") as fh:
                    fh.write("attempt\n")
                if alpha == 1e5 or len(log.read_text().splitlines()) == 1:
                    os._exit(1)  # the worker process dies mid-task, as on an out-of-memory kill
            return original(alpha, lam, seed, options, key, keep_runs)

        run_point.original = original
        sw.run_point = run_point  # tasks name grokode.sweep.orchestrate.run_point, resolved on the worker


def test_a_dead_worker_has_its_point_retried_then_recorded(dask_cluster, tmp_path):
    import cloudpickle
    from distributed import Client

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test module
    try:
        with Client(dask_cluster) as client:
            client.register_plugin(_KillWorker(str(tmp_path)))
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    # one at a time: a task queued on a worker that dies also counts that death against its allowed failures
    res = grokode("sweep", "--scheduler", dask_cluster, "--alpha", "1e3,1e7", "--lam", "0.01", *TINY, "--no-plot",
                  cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    res = grokode("sweep", "--scheduler", dask_cluster, "--alpha", "1e5", "--lam", "0.01", *TINY, "--no-plot",
                  cwd=tmp_path)
    assert res.returncode == 1 and "KilledWorker" in res.stderr
    rows = {float(r["alpha"]): r for r in read_rows(tmp_path / "sweep.csv")}
    assert sorted(rows) == [1e3, 1e5, 1e7]
    assert rows[1e3]["status"] == "ok" and rows[1e7]["status"] == "ok"
    assert rows[1e5]["status"] == "error" and "KilledWorker" in rows[1e5]["error"]
    assert (tmp_path / "attempts-1000").read_text().count("attempt") == 2  # died once, then succeeded
    assert (tmp_path / "attempts-100000").read_text().count("attempt") == 2  # allowed-failures = 1: two tries


def test_unreachable_scheduler_is_exit_2(tmp_path, monkeypatch):
    monkeypatch.setitem(SINGLE, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT", "2s")
    res = grokode("sweep", "--scheduler", f"tcp://127.0.0.1:{_free_port()}", "--alpha", "1e3", "--lam", "0.01",
                  *TINY, cwd=tmp_path)
    assert res.returncode == 2 and "scheduler" in res.stderr and "Traceback" not in res.stderr


def test_matrix_model_sweeps_and_follows_the_law(tmp_path):
    res = grokode("sweep", "--model", "matrix", "--alpha", "10:1000:3", "--lam", "1e-2", "--d", "12", "--frac", "0.5",
                  "--workers", "1", "--out", "m.csv", "--no-plot", "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    rows = read_rows(tmp_path / "m.csv")
    assert len(rows) == 3 and all(r["status"] == "ok" for r in rows)
    assert all(json.loads(r["options"])["task"] == "multiplication" for r in rows)
    (fit,) = fit_scaling([{**r, "alpha": float(r["alpha"]), "lam": float(r["lam"]),
                           "t_transition": float(r["t_transition"]), "transition_width": float(r["transition_width"])}
                          for r in rows])
    assert 0.95 < fit.slope < 1.05  # the ln(α)/λ law holds for matrix completion too
