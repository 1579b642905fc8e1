"""Benchmark cases 1, 2 and 4: the diagonal net on the sparse task (docs/math.md#diagonal, §5).

Ours is ``grokode.integrate`` with its defaults (reduced flow in log-time, LSODA with the analytic
Jacobian), timed as a whole call: data generation, integration, metrics and transition detection.
Baselines, run in the same process right after it:

* GD (``grokode.numeric.gd``, numba, bit-packed data) at lr 0.01 (halved while it diverges), timed over
  ``cfg.gd_steps`` steps and extrapolated to the horizon;
* ``solve_ivp`` on the full 2d-dimensional (u, v) flow written with numpy (float64 X, BLAS), RK45 and LSODA
  with its finite-difference Jacobian, same rtol/atol as ours, under a wall-clock budget;
* the plain-numpy reduced flow with the analytic Jacobian and LSODA (what a user who read docs/math.md#diagonal would
  write; formerly ``bench_integrate.py``);
* optionally diffrax (``Tsit5`` + PID controller, explicit, no Jacobian) on the full flow, when jax and diffrax
  are importable; Kvaerno5 (dense Jacobian, or Newton–GMRES) is in diffrax_worker.py but not in the table:
  docs/benchmarks.md#diffrax gives the measurements that dropped it.

Case 4 (7 α values) times ours twice: a plain loop over ``grokode.integrate`` and ``grokode.sweep`` on a
Dask LocalCluster of 2 worker processes (cluster start included), so the table shows what the sweep buys.
"""

from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import Config, Row, budgeted_solve_ivp, case, extrapolated_gd, rel_diff

import grokode
from grokode.models.base import default_t_end
from grokode.numeric.gd import DiagonalGD

LR_PAPER = 0.01  # the authors' learning rate for the diagonal net
# diffrax solvers in the table. "kvaerno5" (dense Jacobian: > 60 s at d = 2000, infeasible above d ≈ 8000) and
# "kvaerno5-gmres" (111 s at d = 1e4, α = 1e3; over the budget at α = 1e12) can be added back here; see
# docs/benchmarks.md#diffrax.
DIFFRAX_SOLVERS = ("tsit5",)


def _ours(n: int, d: int, alpha: float, lam: float, cfg: Config):
    kw = dict(task="sparse", n=n, d=d, n_test=0, seed=0, alpha=alpha, lam=lam)
    grokode.integrate(**kw, t_eval=np.array([1.0, 2.0]))  # numba compilation/cache load, not timed
    t0 = time.perf_counter()
    run = grokode.integrate(**kw, rtol=cfg.rtol, atol=cfg.atol)
    return run, time.perf_counter() - t0


def full_flow_rhs(X: np.ndarray, y: np.ndarray, lam: float):
    """du/dt = −2u⊙g − λu, dv/dt = 2v⊙g − λv, g = Xᵀr/n: the depth-2 flow as a user writes it in numpy."""
    n, d = X.shape

    def rhs(t, th):
        u, v = th[:d], th[d:]
        f = X @ (u * u - v * v)
        r = -y / (1.0 + np.exp(y * f))
        g = X.T @ r / n
        return np.concatenate([-2.0 * u * g - lam * u, 2.0 * v * g - lam * v])

    return rhs


def reduced_numpy(X: np.ndarray, y: np.ndarray, alpha: float, lam: float):
    """The reduced flow dS/dt = r(f), w = −2u0²e^{−2λt} sinh(4XᵀS/n), with its analytic Jacobian.

    docs/math.md#reduction-depth-2."""
    n, d = X.shape
    u0sq = alpha**2 / (2 * d)

    def w_of(S, t):
        G = X.T @ S / n
        return -2 * u0sq * math.exp(-2 * lam * t) * np.sinh(4 * G), G

    def rhs(t, S):
        w, _ = w_of(S, t)
        return -y / (1 + np.exp(y * (X @ w)))

    def jac(t, S):
        w, G = w_of(S, t)
        m = y * (X @ w)
        curv = 1 / (1 + np.exp(m)) / (1 + np.exp(-m))
        dw = -8 * u0sq * math.exp(-2 * lam * t) * np.cosh(4 * G)
        return curv[:, None] * ((X * dw) @ X.T) / n

    return rhs, jac, w_of


DIFFRAX_NAMES = {
    "tsit5": "diffrax Tsit5 + PID (full flow)",
    "kvaerno5": "diffrax Kvaerno5 + PID, dense Jacobian (full flow)",
    "kvaerno5-gmres": "diffrax Kvaerno5 + PID, Newton–GMRES (full flow)",
}
DIFFRAX_COMPILE_SECONDS = 180.0  # JAX tracing and XLA compilation get their own budget, outside the run's


def _diffrax_full_flow(X, y, alpha, lam, t_end, cfg: Config, w_ours, label, solver: str = "tsit5") -> Row:
    """diffrax on the full (u, v) flow in a subprocess (diffrax_worker.py), one XLA thread, under the budget.

    The budget starts when the worker has compiled (its marker file appears); the compiled solve is timed by the
    worker itself, so neither JAX's import nor its compilation is in the wall time (both are in the note).
    """
    name = DIFFRAX_NAMES[solver]
    if importlib.util.find_spec("diffrax") is None or importlib.util.find_spec("jax") is None:
        return Row(label, name, "unavailable", note="jax/diffrax not installed (pip install '.[bench]')")
    n, d = X.shape
    if solver == "kvaerno5" and (2 * d) ** 2 * 8 > cfg.jac_memory_gb * 2**30:
        return Row(label, name, "infeasible",
                   note=f"its Newton solve forms a dense {2 * d}×{2 * d} Jacobian ({(2 * d) ** 2 * 8 / 2**30:.3g} GB)")
    env = dict(os.environ)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false "
                        "intra_op_parallelism_threads=1").strip()
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        np.savez(src, X=X, y=y, alpha=alpha, lam=lam, t_end=t_end, rtol=cfg.rtol, atol=cfg.atol,
                 max_steps=1_000_000, solver=solver)
        marker = Path(tmp) / "compiled"
        proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("diffrax_worker.py")), src, dst, marker],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        t0 = time.perf_counter()
        started = None
        while proc.poll() is None:
            now = time.perf_counter()
            if started is None and marker.exists():
                started = now
            if (started is None and now - t0 > DIFFRAX_COMPILE_SECONDS) or (
                    started is not None and now - started > cfg.budget):
                proc.kill()
                proc.communicate()
                if started is None:
                    return Row(label, name, "failed",
                               note=f"JAX import and compilation took > {DIFFRAX_COMPILE_SECONDS:g} s")
                return Row(label, name, "budget", now - started,
                           note=f"stopped at the budget (JAX import and compilation, {started - t0:.3g} s, "
                                "excluded)")
            time.sleep(0.05)
        err = proc.communicate()[1].decode(errors="replace").strip().splitlines()
        if proc.returncode != 0 or not dst.exists():
            return Row(label, name, "failed", note=f"worker exited {proc.returncode}: {err[-1] if err else ''}")
        z = np.load(dst)
        th, wall, steps, rejected = z["th"], float(z["wall"]), int(z["steps"]), int(z["rejected"])
        evals = f"{steps} steps + {rejected} rejected"
        note = f"JAX compilation {float(z['compile_seconds']):.3g} s, excluded"
        if not bool(z["ok"]):
            return Row(label, name, "failed", wall, evals, note=f"diffrax did not finish (max_steps); {note}")
    return Row(label, name, "ok", wall, evals, rel_diff(th[:d] ** 2 - th[d:] ** 2, w_ours), note)


def _gd_runner(ds, alpha, lam):
    def run_steps(lr, steps):
        gd = DiagonalGD(ds.X, ds.y, alpha=alpha, lam=lam, lr=lr)
        sol = gd.run(np.array([steps * lr]))
        return sol.stats.wall_seconds, sol.status
    return run_steps


def diagonal_rows(label: str, n: int, d: int, alpha: float, lam: float, cfg: Config,
                  reduced_baseline: bool = True) -> list[Row]:
    """Ours and every baseline on one diagonal problem; the first row is ours."""
    t_end = default_t_end(alpha, lam)
    run, ours_wall = _ours(n, d, alpha, lam, cfg)
    w_ours = run.arrays["w"][-1]
    s = run.summary
    rows = [Row(label, "grokode (reduced, LSODA)", "ours", ours_wall, f"{s['rhs_evals']} RHS + {s['jac_evals']} jac",
                note=f"solver {run.solution.stats.wall_seconds:.3g} s; test acc {s['test_plateau']:.3f} → "
                     f"{s['test_final']:.3f}; status {s['status']}")]
    ds = run.dataset
    gd = extrapolated_gd(_gd_runner(ds, alpha, lam), LR_PAPER, t_end, cfg)
    rows.append(Row(label, f"GD lr={gd.lr:g} (numba)", "extrapolated", gd.seconds_per_step * gd.steps_total,
                    f"{gd.steps_total:,} grad", note=gd.note))
    X = np.asarray(ds.X, dtype=np.float64)
    rhs = full_flow_rhs(X, ds.y, lam)
    th0 = np.full(2 * d, alpha / math.sqrt(2 * d))
    for method, dense in (("RK45", False), ("LSODA", True)):
        res = budgeted_solve_ivp(rhs, th0, t_end, method, cfg, dense_jacobian=dense)
        w = None if res.y_end is None else res.y_end[:d] ** 2 - res.y_end[d:] ** 2
        name = "solve_ivp RK45 (full flow)" if method == "RK45" else "solve_ivp LSODA, FD Jacobian (full flow)"
        rows.append(Row(label, name, res.status, res.wall if res.status != "infeasible" else None,
                        f"{res.nfev} RHS" if res.nfev else "—", rel_diff(w, w_ours), res.note))
    if reduced_baseline:
        rhs_r, jac_r, w_of = reduced_numpy(X, ds.y, alpha, lam)
        res = budgeted_solve_ivp(rhs_r, np.zeros(n), t_end, "LSODA", cfg, jac=jac_r, atol=cfg.atol * 1e-3)
        w = None if res.y_end is None else w_of(res.y_end, t_end)[0]
        rows.append(Row(label, "numpy reduced flow, LSODA + analytic Jacobian", res.status, res.wall,
                        f"{res.nfev} RHS", rel_diff(w, w_ours), res.note))
    for solver in DIFFRAX_SOLVERS:
        rows.append(_diffrax_full_flow(X, ds.y, alpha, lam, t_end, cfg, w_ours, label, solver))
    for r in rows:
        r.ours_wall = ours_wall
    return rows


@case("1", "diagonal, sparse task, paper scale (n=256, d=1e5, α=1e3, λ=1e-3)")
def paper_scale(cfg: Config) -> list[Row]:
    d = 2000 if cfg.quick else 100_000
    return diagonal_rows(f"1 diag n=256 d={d:g} α=1e3", 256, d, 1e3, 1e-3, cfg)


@case("2", "diagonal, default size (d=1e4), α ∈ {1e3, 1e12}")
def default_size(cfg: Config) -> list[Row]:
    d = 1000 if cfg.quick else 10_000
    rows = []
    for alpha in (1e3, 1e12):
        rows += diagonal_rows(f"2 diag d={d:g} α={alpha:.0e}", 256, d, alpha, 1e-3, cfg)
    return rows


SWEEP_ALPHAS = (1e2, 1e3, 1e4, 1e6, 1e8, 1e10, 1e12)
SWEEP_WORKERS = 2


def _dask_sweep_row(label: str, n: int, d: int, lam: float, cfg: Config, ts_loop: dict) -> Row:
    """``grokode.sweep`` of the same 7 points on a fresh LocalCluster (start-up and the workers' numba cache
    loads included: what ``grokode sweep`` costs), against the loop's transition times."""
    name = f"grokode.sweep (Dask LocalCluster, {SWEEP_WORKERS} workers)"
    try:
        from grokode.sweep import grid_points, sweep
    except ImportError as exc:
        return Row(label, name, "unavailable", note=f"grokode.sweep not importable: {exc}")
    points = grid_points(list(SWEEP_ALPHAS), [lam], [0])
    options = {"n": n, "d": d, "n_test": 0, "rtol": cfg.rtol, "atol": cfg.atol}
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = sweep(points, options, Path(tmp) / "sweep.csv", workers=SWEEP_WORKERS, resume=False)
        wall = time.perf_counter() - t0
    load1 = os.getloadavg()[0]
    bad = [r for r in result.rows if r["status"] != "ok"]
    same = sum(1 for r in result.rows
               if r["t_transition"] is not None and ts_loop.get(r["alpha"]) is not None
               and abs(r["t_transition"] - ts_loop[r["alpha"]]) <= 1e-9 * ts_loop[r["alpha"]])
    point_walls = sum(r["wall_seconds"] or 0.0 for r in result.rows)
    note = (f"cluster start included; Σ point walls {point_walls:.3g} s; t_transition equal to the loop's at "
            f"{same}/{len(points)} α; load average {load0:.1f} → {load1:.1f}")
    if bad:
        note += f"; {len(bad)} point(s) failed: {bad[0]['error']}"
    return Row(label, name, "failed" if bad else "ok", wall, "—", note=note)


@case("4", "a sweep of 7 α values (diagonal, sparse task)")
def sweep(cfg: Config) -> list[Row]:
    d = 500 if cfg.quick else 10_000
    n, lam = 256, 1e-3
    label = f"4 sweep d={d:g} α=1e2…1e12 (7)"
    ours, w_ours, datasets, ts_loop, evals = 0.0, {}, {}, {}, [0, 0]
    for alpha in SWEEP_ALPHAS:  # a plain loop over grokode.integrate, one process
        run, wall = _ours(n, d, alpha, lam, cfg)
        ours += wall
        w_ours[alpha], datasets[alpha] = run.arrays["w"][-1], run.dataset
        ts_loop[alpha] = run.summary["t_transition"]
        evals[0] += run.summary["rhs_evals"]
        evals[1] += run.summary["jac_evals"]
    rows = [Row(label, "grokode (reduced, LSODA), loop", "ours", ours, f"{evals[0]} RHS + {evals[1]} jac",
                note="a Python loop over grokode.integrate in this process, one thread")]
    rows.append(_dask_sweep_row(label, n, d, lam, cfg, ts_loop))
    gd_total, gd_steps, lrs = 0.0, 0, []
    for alpha in SWEEP_ALPHAS:
        gd = extrapolated_gd(_gd_runner(datasets[alpha], alpha, lam), LR_PAPER, default_t_end(alpha, lam), cfg)
        gd_total += gd.seconds_per_step * gd.steps_total
        gd_steps += gd.steps_total
        lrs.append(gd.lr)
    rows.append(Row(label, "GD (numba)", "extrapolated", gd_total, f"{gd_steps:,} grad",
                    note="lr " + ", ".join(f"{lr:g}" for lr in lrs)))
    spent, nfev, worst, done = 0.0, 0, 0.0, 0
    status, note = "ok", ""
    for alpha in SWEEP_ALPHAS:  # one budget for the whole sweep
        ds = datasets[alpha]
        left = Config(**{**cfg.__dict__, "budget": cfg.budget - spent})
        res = budgeted_solve_ivp(full_flow_rhs(np.asarray(ds.X, np.float64), ds.y, lam),
                                 np.full(2 * d, alpha / math.sqrt(2 * d)), default_t_end(alpha, lam), "RK45", left)
        spent += res.wall
        nfev += res.nfev
        if res.status != "ok":
            status, note = ("budget" if res.status == "budget" else "failed"), f"α={alpha:g}: {res.note}"
            break
        worst = max(worst, rel_diff(res.y_end[:d] ** 2 - res.y_end[d:] ** 2, w_ours[alpha]))
        done += 1
    rows.append(Row(label, "solve_ivp RK45 (full flow), loop", status, spent, f"{nfev} RHS",
                    worst if status == "ok" else None, f"{done}/7 α done; " + note if note else f"{done}/7 α done"))
    for r in rows:
        r.ours_wall = ours
    return rows
