"""Case 5: the rows of issue #16 ("Done when"), as a user meets them: the real ``grokode`` commands as subprocesses.

Every *ours* is a whole command (``grokode integrate …``, ``grokode derive …``, ``python -c "import grokode"``)
timed from outside, interpreter start included, with grokode's own thread choice: the thread variables that
run_all.py pins for cases 1–4 (named in ``GROKODE_BENCH_PINNED``) are removed from these subprocesses' environment;
everything else (PYTHONPATH, NUMBA_CACHE_DIR, …) is inherited. Each row prints ours, the baseline, the ratio and
the goal with met / not met. The baselines are either cited ("issue #16, before": the numbers measured before the
work on the issue) or measured in the same run:

* paper scale: the plain-numpy reduced flow with LSODA and the analytic Jacobian (case 1's baseline), run by
  this file in worker mode (``python cases_product.py numpy-reduced …``) as a subprocess with default threads;
  only its solve is timed (data and imports are not), under the run's budget;
* the interpreter start (``python -c pass``) for ``import grokode`` and ``grokode --help``;
* the first ``grokode derive diagonal`` (empty GROKODE_CACHE_DIR) for the second;
* a tiny ``grokode integrate`` with empty NUMBA_CACHE_DIR and GROKODE_CACHE_DIR (the first run after an install)
  against the same command with those caches warm;
* α = 1e3 for α = 1e12.

``--quick`` (the test suite): small sizes, 3 repetitions, and the rows that cost tens of seconds whatever the size
(numba compilation, the matrix and MLP defaults) are listed as not run.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import Config, GoalRow, case

HERE = Path(__file__).resolve().parent
BEFORE = "issue #16, before"


def user_env(**extra: str) -> dict[str, str]:
    """The caller's environment without the thread variables run_all.py pinned, plus ``extra``."""
    env = dict(os.environ)
    for var in env.pop("GROKODE_BENCH_PINNED", "").split(","):
        if var:
            env.pop(var, None)
    env.update(extra)
    return env


def grokode_command() -> list[str]:
    """The ``grokode`` console script of this interpreter's environment (``python -m grokode`` if there is none)."""
    script = Path(sys.executable).with_name("grokode")
    return [str(script)] if script.exists() else [sys.executable, "-m", "grokode"]


def show(cmd: list[str]) -> str:
    """A command as the user types it (the console script by name, the interpreter as ``python``)."""
    words = list(cmd)
    if words[:1] == [sys.executable]:
        words[0] = "python"
        if words[1:3] == ["-m", "grokode"]:
            words[:3] = ["grokode"]
    elif Path(words[0]).name == "grokode":
        words[0] = "grokode"
    return " ".join(f'"{w}"' if " " in w else w for w in words)


class Timed:
    """One subprocess, timed from outside: wall seconds, return code, stdout, the JSON it printed (if any)."""

    def __init__(self, cmd: list[str], env: dict[str, str], cwd: Path, timeout: float):
        self.cmd = cmd
        self.load = os.getloadavg()[0]
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
            self.returncode, self.stdout, self.stderr = proc.returncode, proc.stdout, proc.stderr
        except subprocess.TimeoutExpired:
            self.returncode, self.stdout, self.stderr = None, "", f"stopped after {timeout:g} s"
        self.wall = time.perf_counter() - t0
        self.json: dict | None = None
        if self.returncode == 0:
            try:
                self.json = json.loads(self.stdout)
            except ValueError:
                pass

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def failure(self) -> str:
        last = (self.stderr.strip().splitlines() or ["(no output)"])[-1]
        return f"exit {self.returncode}: {last}" if self.returncode is not None else self.stderr


def repeated(cmd: list[str], env: dict[str, str], cwd: Path, reps: int) -> tuple[float, float, str]:
    """Best and median wall of ``reps`` runs of ``cmd`` (a failure is reported, not timed)."""
    walls = []
    for _ in range(reps):
        t = Timed(cmd, env, cwd, timeout=120)
        if not t.ok:
            return math.nan, math.nan, t.failure()
        walls.append(t.wall)
    return min(walls), statistics.median(walls), ""


def _s(x: float) -> str:
    return f"{x:.3g} s"


def _faster(baseline: float, ours: float, bound: str = "") -> str:
    r = baseline / ours
    return f"{bound}{r:.3g}× faster" if r >= 1 else f"{bound}{1 / r:.3g}× slower"


def _fail_row(label: str, row: str, t: Timed, baseline: str, goal: str) -> GoalRow:
    return GoalRow(label, row, show(t.cmd), "failed", baseline, "—", goal, False, t.failure())


# ----------------------------------------------------------------------------------------------------------
# rows
# ----------------------------------------------------------------------------------------------------------

def paper_scale_rows(label: str, n: int, d: int, cfg: Config, tmp: Path) -> list[GoalRow]:
    """The paper-scale command, its file, the w rebuilt from it, against 18.2 s / 243 MB and the numpy flow."""
    cmd = grokode_command() + ["integrate", "--n", str(n), "--d", str(d), "--alpha", "1e3", "--lam", "1e-3",
                               "--no-plot", "--json"]
    t = Timed(cmd, user_env(), tmp, timeout=max(600.0, 5 * cfg.budget))
    if not t.ok or t.json is None:
        return [_fail_row(label, "paper-scale integrate, whole CLI call", t, "18.2 s", "≤ 5 s")]
    s = t.json
    base = Timed([sys.executable, str(Path(__file__)), "numpy-reduced", str(n), str(d), "1e3", "1e-3",
                  repr(cfg.rtol), repr(cfg.atol * 1e-3), repr(cfg.budget)], user_env(), tmp,
                 timeout=cfg.budget + 300)
    info = (f"{s['rhs_evals']} RHS + {s['jac_evals']} jac; in-process wall {s['wall_seconds']:.3g} s; test acc "
            f"{s['test_plateau']:.3f} → {s['test_final']:.3f}; status {s['status']}; load {t.load:.2f}")
    rows = [GoalRow(label, "paper-scale integrate, whole CLI call", show(cmd), _s(t.wall), f"18.2 s ({BEFORE})",
                    _faster(18.2, t.wall), "≤ 5 s", t.wall <= 5.0, info)]
    name = "paper-scale integrate against the numpy reduced flow"
    if base.ok and base.json is not None:
        b = base.json
        lower = b["status"] == "budget"
        ratio = b["wall"] / t.wall
        rows.append(GoalRow(label, name, show(cmd), _s(t.wall),
                            f"{'> ' if lower else ''}{b['wall']:.3g} s (numpy reduced flow, LSODA + analytic "
                            "Jacobian, this run)", _faster(b["wall"], t.wall, "> " if lower else ""), "≥ 5×",
                            ratio >= 5.0 if (not lower or ratio >= 5.0) else None,
                            f"baseline: {b['nfev']} RHS, its solve alone timed (subprocess, default threads); "
                            f"{b['note']}; load {base.load:.2f}"))
    else:
        rows.append(GoalRow(label, name, show(cmd), _s(t.wall), "failed", "—", "≥ 5×", None, base.failure()))

    path = Path(s["out"]) if Path(s["out"]).is_absolute() else tmp / s["out"]
    mb = path.stat().st_size / 1e6
    full_mb = 8.0 * len(_load_t(path)) * d / 1e6  # w as T × d float64, what the file held before
    rows.append(GoalRow(label, "trajectory file (.npz the command writes)", show(cmd), f"{mb:.3g} MB",
                        f"243 MB ({BEFORE}: w stored, T × d float64; here {full_mb:.3g} MB)",
                        f"{243 / mb:.3g}× smaller", "≤ 5 MB", mb <= 5.0, f"{path.name}"))
    # the check: cos(w, w_rich) and cos(w, w_kernel) from the w read back against those the run saved from its w
    code = ("import sys, time; t0 = time.perf_counter(); import grokode; run = grokode.load_run(sys.argv[1]); "
            "t1 = time.perf_counter(); w = run.arrays['w']; t2 = time.perf_counter(); import numpy as np; "
            "a = run.arrays; "
            "err = max(float(np.nanmax(np.abs(w @ a[r] / (np.linalg.norm(w, axis=1) * np.linalg.norm(a[r])) - a[c]))) "
            "for r, c in (('w_rich', 'cos_rich'), ('w_kernel', 'cos_kernel'))); "
            "print(t1 - t0, t2 - t1, *w.shape, bool(np.isfinite(w).all()), err)")
    r = Timed([sys.executable, "-c", code, str(path)], user_env(), tmp, timeout=600)
    import numpy as np
    with np.load(path) as z:
        how = "read (stored in the file: a small run)" if "w" in z.files else "rebuilt from the stored states"
    cmd_w = f"python -c \"run = grokode.load_run('{path.name}'); run.arrays['w']\""
    if r.ok:
        t_load, t_w, rows_w, cols_w, finite, err = r.stdout.split()
        good = int(rows_w) == len(_load_t(path)) and int(cols_w) == d and finite == "True" and float(err) <= 1e-12
        rows.append(GoalRow(label, "w rebuilt from the file (load_run, arrays['w'])", cmd_w,
                            f"{float(t_load) + float(t_w):.3g} s", "— (w was read from the file)", "—",
                            "w available (T × d, the run's w)", good,
                            f"load_run {float(t_load):.3g} s (import included); w ({rows_w} × {cols_w}) {how} "
                            f"in {float(t_w):.3g} s; cos(w, w_rich), cos(w, w_kernel) from it differ from the "
                            f"run's saved values by {float(err):.2g}"))
    else:
        rows.append(GoalRow(label, "w rebuilt from the file", cmd_w, "failed", "—", "—", "w available", False,
                            r.failure()))
    return rows


def _load_t(path: Path):
    import numpy as np
    with np.load(path) as z:
        return z["t"]


def startup_rows(label: str, reps: int, tmp: Path) -> list[GoalRow]:
    """``import grokode`` and ``grokode --help`` against ``python -c pass``: best and median of ``reps``."""
    env = user_env()
    b_best, b_med, err = repeated([sys.executable, "-c", "pass"], env, tmp, reps)
    if err:
        raise RuntimeError(f"python -c pass failed: {err}")
    rows = []
    for name, cmd in (("import grokode", [sys.executable, "-c", "import grokode"]),
                      ("grokode --help", grokode_command() + ["--help"])):
        best, med, err = repeated(cmd, env, tmp, reps)
        if err:
            rows.append(GoalRow(label, name, show(cmd), "failed", "—", "—", "≤ 0.5 s", False, err))
            continue
        rows.append(GoalRow(label, name, show(cmd), f"median {med:.3g} s, best {best:.3g} s",
                            f"median {b_med:.3g} s, best {b_best:.3g} s (python -c pass)",
                            f"{med / b_med:.3g}× the interpreter start", "≤ 0.5 s (median)", med <= 0.5,
                            f"{reps} runs each; load {os.getloadavg()[0]:.2f}"))
    return rows


def derive_row(label: str, tmp: Path) -> GoalRow:
    """``grokode derive diagonal`` twice with a fresh GROKODE_CACHE_DIR: the second is served from the cache."""
    cmd = grokode_command() + ["derive", "diagonal"]
    env = user_env(GROKODE_CACHE_DIR=str(tmp / "derive-cache"))
    first = Timed(cmd, env, tmp, timeout=600)
    second = Timed(cmd, env, tmp, timeout=600)
    if not (first.ok and second.ok):
        return _fail_row(label, "derive, second call (cached)", first if not first.ok else second, "—", "≤ 1 s")
    same = first.stdout == second.stdout
    return GoalRow(label, "derive, second call (cached)", show(cmd) + " (fresh GROKODE_CACHE_DIR)",
                   _s(second.wall), f"{_s(first.wall)} (first call, this run)", _faster(first.wall, second.wall),
                   "second ≤ 1 s", second.wall <= 1.0 and same,
                   f"same output both times: {same}; load {first.load:.2f}")


def numba_cold_row(label: str, tmp: Path) -> GoalRow:
    """A tiny integrate with empty numba and grokode caches (the first run after install), then warm."""
    cmd = grokode_command() + ["integrate", "--n", "64", "--d", "200", "--no-plot", "--json"]
    env = user_env(NUMBA_CACHE_DIR=str(tmp / "numba-cold"), GROKODE_CACHE_DIR=str(tmp / "grokode-cold"))
    cold = Timed(cmd, env, tmp, timeout=900)
    warm = Timed(cmd, env, tmp, timeout=300)
    if not (cold.ok and warm.ok):
        return _fail_row(label, "first run after install (numba compilation)", cold if not cold.ok else warm,
                         "—", "measure it")
    return GoalRow(label, "first run after install (numba compilation)",
                   show(cmd) + " (empty NUMBA_CACHE_DIR, GROKODE_CACHE_DIR)", f"{_s(cold.wall)} cold",
                   f"{_s(warm.wall)} (same command, caches warm)", f"{cold.wall / warm.wall:.3g}× the warm run",
                   "— (measure it)", None,
                   f"compilation and cache writing ≈ {cold.wall - warm.wall:.3g} s; load {cold.load:.2f}")


def alpha_row(label: str, n: int, d: int, tmp: Path) -> GoalRow:
    """α = 1e12 against α = 1e3 (whole integrate calls): large α must not cost more than twice."""
    base = grokode_command() + ["integrate", "--n", str(n), "--d", str(d), "--lam", "1e-3", "--no-plot", "--json"]
    runs = {a: Timed(base + ["--alpha", a], user_env(), tmp, timeout=600) for a in ("1e3", "1e12")}
    for t in runs.values():
        if not t.ok or t.json is None:
            return _fail_row(label, "α = 1e12 against α = 1e3", t, "—", "≤ 2×")
    lo, hi = runs["1e3"], runs["1e12"]
    ratio = hi.wall / lo.wall
    return GoalRow(label, "α = 1e12 against α = 1e3", show(base + ["--alpha", "1e12"]), _s(hi.wall),
                   f"{_s(lo.wall)} (α = 1e3, this run)", f"{ratio:.3g}× the α = 1e3 call", "≤ 2×", ratio <= 2.0,
                   f"RHS evals {lo.json['rhs_evals']} (α = 1e3) → {hi.json['rhs_evals']} (α = 1e12); jac "
                   f"{lo.json['jac_evals']} → {hi.json['jac_evals']}; status {lo.json['status']}, "
                   f"{hi.json['status']}; load {lo.load:.2f}")


def matrix_row(label: str, tmp: Path) -> GoalRow:
    cmd = grokode_command() + ["integrate", "--model", "matrix", "--d", "97", "--alpha", "1e3", "--lam", "1e-3",
                               "--frac", "0.2", "--json"]
    t = Timed(cmd, user_env(), tmp, timeout=600)
    if not t.ok or t.json is None:
        return _fail_row(label, "matrix d = 97, whole CLI call", t, "13.7 s", "≤ 3 s")
    s = t.json
    return GoalRow(label, "matrix d = 97, whole CLI call", show(cmd), _s(t.wall), f"13.7 s ({BEFORE})",
                   _faster(13.7, t.wall), "≤ 3 s", t.wall <= 3.0,
                   f"figure written; {s['rhs_evals']} RHS; in-process wall {s.get('wall_seconds', math.nan):.3g} s, "
                   f"flow {s.get('integrate_seconds', math.nan):.3g} s, "
                   f"nuclear-norm SDP {s.get('nuclear_seconds', math.nan):.3g} s; status {s['status']}; "
                   f"load {t.load:.2f}")


def mlp_row(label: str, tmp: Path) -> GoalRow:
    cmd = grokode_command() + ["integrate", "--model", "mlp", "--json"]
    t = Timed(cmd, user_env(), tmp, timeout=900)
    if not t.ok or t.json is None:
        return _fail_row(label, "default modular-addition run", t, "117 s on CI, 68 s idle", "≥ 0.95 in ≤ 120 s")
    s = t.json
    acc = s["test_final"]
    return GoalRow(label, "default modular-addition run", show(cmd), f"{_s(t.wall)}, test acc {acc:.3f}",
                   f"117 s on CI, 68 s idle ({BEFORE})", _faster(68, t.wall) + " than 68 s",
                   "test acc ≥ 0.95 within ≤ 120 s", acc >= 0.95 and t.wall <= 120.0,
                   f"figure written; {s['rhs_evals']} GD steps; in-process wall {s.get('wall_seconds', math.nan):.3g} "
                   f"s; train fitted at t = {s.get('t_train_fit')}; "
                   f"status {s['status']}; load {t.load:.2f}")


def _not_run(label: str, row: str, goal: str, why: str) -> GoalRow:
    return GoalRow(label, row, "—", "not run (--quick)", "—", "—", goal, None, why)


def _warm_up(tmp: Path) -> None:
    """One tiny call per model, so the timed rows load numba's cache instead of compiling (not timed)."""
    g = grokode_command()
    for args in (["--n", "32", "--d", "50"], ["--model", "matrix", "--d", "6", "--t-end", "1"],
                 ["--model", "mlp", "--p", "5", "--width", "8", "--t-end", "1"]):
        Timed(g + ["integrate", *args, "--no-plot", "--json", "--out", str(tmp / "warm.npz"), "--force"],
              user_env(), tmp, timeout=900)


@case("5", "issue #16 rows: the CLI as a user runs it (subprocesses, grokode's default threads)")
def issue16(cfg: Config) -> list[GoalRow]:
    label = "5 issue #16"
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        if cfg.quick:  # the goals are for the full sizes: at the quick ones they are not judged
            rows = paper_scale_rows(label + " (quick: n=64, d=1000)", 64, 1000, cfg, tmp)
            for r in rows[:3]:  # time, ratio, size; the w row's goal holds at any size
                r.met, r.note = None, "quick size, goal not judged; " + r.note
            rows += startup_rows(label, 3, tmp)
            rows.append(derive_row(label, tmp))
            rows.append(_not_run(label, "first run after install (numba compilation)", "— (measure it)",
                                 "compiling every kernel takes tens of seconds"))
            rows.append(_not_run(label, "α = 1e12 against α = 1e3", "≤ 2×", "two more integrate processes"))
            rows.append(_not_run(label, "matrix d = 97, whole CLI call", "≤ 3 s", "seconds even at small d"))
            rows.append(_not_run(label, "default modular-addition run", "test acc ≥ 0.95 within ≤ 120 s",
                                 "tens of seconds"))
            return rows
        _warm_up(tmp)
        rows = paper_scale_rows(label, 256, 100_000, cfg, tmp)
        rows += startup_rows(label, 5, tmp)
        rows.append(derive_row(label, tmp))
        rows.append(numba_cold_row(label, tmp))
        rows.append(alpha_row(label + " (n=256, d=1e4)", 256, 10_000, tmp))
        rows.append(matrix_row(label, tmp))
        rows.append(mlp_row(label, tmp))
        return rows


# ----------------------------------------------------------------------------------------------------------
# worker mode: the numpy reduced flow as its own process (default threads), for the paper-scale row
# ----------------------------------------------------------------------------------------------------------

def _numpy_reduced(n: int, d: int, alpha: float, lam: float, rtol: float, atol: float, budget: float) -> dict:
    import numpy as np
    from cases_diagonal import reduced_numpy
    from common import budgeted_solve_ivp

    from grokode.models.base import default_t_end
    from grokode.tasks.datasets import make_task

    ds = make_task("sparse", n=n, d=d, n_test=0, seed=0)
    X = np.asarray(ds.X, dtype=np.float64)
    rhs, jac, _ = reduced_numpy(X, np.asarray(ds.y, dtype=np.float64), alpha, lam)
    cfg = Config(quick=False, budget=budget, rtol=rtol)
    res = budgeted_solve_ivp(rhs, np.zeros(n), default_t_end(alpha, lam), "LSODA", cfg, jac=jac, atol=atol)
    return {"status": res.status, "wall": res.wall, "nfev": res.nfev, "note": res.note or "finished"}


if __name__ == "__main__":
    if len(sys.argv) == 9 and sys.argv[1] == "numpy-reduced":
        a = sys.argv[2:]
        print(json.dumps(_numpy_reduced(int(a[0]), int(a[1]), *map(float, a[2:]))))
    else:
        sys.exit("usage: cases_product.py numpy-reduced N D ALPHA LAM RTOL ATOL BUDGET")
