"""Study: which defaults make ``grokode integrate --model mlp`` grok within ~2 minutes (issue #15, item 7).

The documented default (p = 31, width 256, 70 % of the pairs, α = 4, λ = 2e-3, GD lr 0.1 to 6·ln(α)/λ = 4159,
41 590 steps) ends at test accuracy 0.86–0.87. This script runs the final candidates through the public API
(``grokode.integrate(model="mlp", method="gd", ...)``) and prints, per run, one row of the table in
``benchmarks/MLP_DEFAULT.md``: GD steps, wall seconds, steps per second, the load average before → after,
t_train_fit (training accuracy first 1), t_test_10 (test accuracy first 10 %), t* (the code's transition time)
and t*/t_theory (t_theory = ln(α)/λ), the first time test accuracy reaches 95 %, the largest test accuracy while
the training set is not yet fitted (the plateau check), test and training accuracy at the end, status/message.

Two checks of the learning rate of the recommended candidate (GD must stay close to the gradient flow):

* ``lr``: the deviation of GD at several lr from GD at a small reference lr over a short horizon (compared at
  the same times: multiples of every lr, since GD saves at the step nearest a requested time), once from
  θ(0) and once from the θ reached at t = ``--mid`` (training set fitted, test accuracy still 0: the late phase,
  where the sharpness differs from the start), as in README's integrator table: max |Δ| of train/test loss and
  accuracy at 20 saved times, and max |Δ‖θ‖|.
* ``steps``: plain GD θ ← θ − lr(∇L̂ + λθ) written here with the model's public ``loss_grad`` (independent of
  the package's GD kernel), over the whole horizon, counting the steps at which the objective
  L̂ + (λ/2)‖θ‖² rose (relative tolerance 1e-10, as the diagonal GD's uphill warning does; the mlp GD of
  the package does not count them), and comparing its final θ with ``run.arrays["theta_final"]``.

Usage (one job at a time on a shared machine; each part prints as it goes)::

    PYTHONPATH=$PWD python benchmarks/mlp_default_study.py --blas-threads 1   # all parts: 6 min at load ≈ 2.3
    PYTHONPATH=$PWD python benchmarks/mlp_default_study.py --parts runs,seeds --candidates recommended --seeds 0,1,2
    PYTHONPATH=$PWD python benchmarks/mlp_default_study.py --parts lr,steps,sharpness --step-lrs 0.1,0.2,0.4

Without ``--blas-threads 1`` (or OPENBLAS_NUM_THREADS=1) OpenBLAS uses 2 threads, and on a machine shared with
other jobs every run is 10–15× slower (``MLP_DEFAULT.md``, "BLAS threads").

``--quick`` shrinks every candidate to p = 11, width 32, t ≤ 300 (seconds; a check of the script, not a result).
Parts: ``runs`` (each ``--candidates`` entry at seed 0), ``seeds`` (the recommended candidate at ``--seeds``,
seed 0 skipped if ``runs`` already ran it), ``lr``, ``steps``, ``sharpness`` (not in the default: the top
Hessian eigenvalue along the recommended run, inside one activation pattern and across kinks).
``--jsonl FILE`` appends every row as JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

import numba
import numpy as np

import grokode
from grokode.analysis.transition import time_to_reach
from grokode.numeric.mlp import MLPGD, ModAddMLP
from grokode.tasks.modadd import make_modadd

#: the configurations compared (t_end None = the package's default horizon 6·ln(α)/λ = 4159 at α = 4, λ = 2e-3)
CANDIDATES = {
    "current": dict(p=31, width=256, frac=0.7, alpha=4.0, lam=2e-3, lr=0.1, t_end=None),
    "horizon-only": dict(p=31, width=256, frac=0.7, alpha=4.0, lam=2e-3, lr=0.2, t_end=8318.0),
    "width128": dict(p=31, width=128, frac=0.8, alpha=4.0, lam=2e-3, lr=0.2, t_end=None),
    "recommended": dict(p=31, width=256, frac=0.8, alpha=4.0, lam=2e-3, lr=0.2, t_end=None),
    "lr0.4": dict(p=31, width=256, frac=0.8, alpha=4.0, lam=2e-3, lr=0.4, t_end=None),
}
RECOMMENDED = "recommended"


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def run_candidate(name: str, cfg: dict, seed: int) -> tuple[dict, np.ndarray]:
    """One ``grokode.integrate`` run of ``cfg`` at ``seed``: the table's numbers and the final θ."""
    load0 = _load()
    cpu0 = time.process_time()
    run = grokode.integrate(model="mlp", method="gd", seed=seed, **cfg)
    cpu = time.process_time() - cpu0
    s, a = run.summary, run.arrays
    t, train, test = a["t"], a["train_acc"], a["test_acc"]
    fit = s["t_train_fit"]
    steps = int(run.solution.stats.steps)
    t_star, t_theory = s["t_transition"], s["t_theory"]
    return {
        "name": name, "seed": seed, **cfg, "t_end": float(t[-1]), "steps": steps,
        "wall_s": s["wall_seconds"], "cpu_s": cpu, "steps_per_s": steps / s["integrate_seconds"],
        "load": f"{load0} → {_load()}", "t_train_fit": fit, "t_test_10": s["t_test_10"], "t_star": t_star,
        "t_star_over_t_theory": None if t_star is None else t_star / t_theory,
        "t_test_95": time_to_reach(t, test, 0.95),
        # t = 0 is excluded: f(θ(0)) = 0 ties all p classes, which counts as accuracy 1/p
        "test_max_unfitted": float(test[(t > 0) & (t < fit)].max()) if fit is not None and np.any(t < fit) else None,
        "test_at_2x_fit": float(np.interp(2 * fit, t, test)) if fit is not None else None,
        "train_min_after_fit": float(train[t >= fit].min()) if fit is not None else None,
        "test_final": s["test_final"], "train_final": s["train_final"], "status": s["status"],
        "message": s["message"],
    }, a["theta_final"]


def _fmt(x, spec: str = ".0f") -> str:
    return "—" if x is None else format(x, spec)


def print_row(r: dict) -> None:
    print(f"| {r['name']} s{r['seed']} | p={r['p']} m={r['width']} frac={r['frac']} α={r['alpha']:g} "
          f"λ={r['lam']:g} lr={r['lr']:g} T={r['t_end']:.0f} | {r['steps']} | {r['wall_s']:.1f} "
          f"| {r['steps_per_s']:.0f} | {r['load']} | {_fmt(r['t_train_fit'])} | {_fmt(r['t_test_10'])} "
          f"| {_fmt(r['t_star'])} ({_fmt(r['t_star_over_t_theory'], '.2f')}×) | {_fmt(r['t_test_95'])} "
          f"| {_fmt(r['test_max_unfitted'], '.3f')} | {r['test_final']:.3f} | {r['train_final']:.3f} "
          f"| {r['status']} {r['message']} |", flush=True)


ROW_HEADER = ("| run | config | steps | wall s | steps/s | load 1/5/15 min before → after | t_train_fit | t_test_10 "
              "| t* (/ t_theory) | t(test ≥ 0.95) | max test acc before fit | test acc end | train acc end | status |\n"
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")


def _net(cfg: dict, seed: int) -> ModAddMLP:
    task = make_modadd(cfg["p"], cfg["frac"], seed)
    return ModAddMLP(cfg["p"], cfg["width"], task.tokens("train"), task.labels("train"), task.tokens("test"),
                     task.labels("test"), alpha=cfg["alpha"], seed=seed)


def lr_check(cfg: dict, lrs: list[float], start: float, horizon: float, seed: int = 0) -> list[dict]:
    """Deviation of GD at each lr from GD at min(lrs), from θ(start) over [start, start + horizon].

    θ(start) is reached by GD at ``cfg["lr"]`` (start = 0: θ(0)); the net's ``theta0`` is then set to it, so every
    lr starts from the same point. Returns one dict per lr.
    """
    net = _net(cfg, seed)
    if start > 0:
        gd = MLPGD(net, lam=cfg["lam"], lr=cfg["lr"])
        sol = gd.run(np.array([start]))
        net.theta0 = np.array(gd.last_state)  # every lr below starts from θ(start)
        print(f"θ({start:g}) by GD at lr {cfg['lr']:g}: train acc {sol.weights[-1, 1]:.3f}, "
              f"test acc {sol.weights[-1, 3]:.3f}, ‖θ‖ {sol.param_norm[-1]:.2f}", flush=True)
    t_eval = np.arange(1, 21) * (horizon / 20)
    sols, rows = {}, []
    for lr in sorted(lrs, reverse=True):
        load0 = _load()
        t0 = time.perf_counter()
        sols[lr] = MLPGD(net, lam=cfg["lam"], lr=lr).run(t_eval)
        rows.append({"lr": lr, "start": start, "horizon": horizon, "wall_s": time.perf_counter() - t0,
                     "load": f"{load0} → {_load()}", "status": sols[lr].status})
    ref = sols[min(lrs)]
    for row in rows:
        sol = sols[row["lr"]]
        k = min(sol.t.size, ref.t.size)
        # GD saves at the step nearest each time: a time that is not a multiple of lr would be compared with a
        # different time of the reference (an error of |Δt|·|dL̂/dt|, larger than the lr effect itself)
        if not np.allclose(sol.t[:k], ref.t[:k], rtol=1e-12, atol=1e-9):
            raise ValueError(f"lr={row['lr']:g} saved at t={sol.t[:k]}, the reference at {ref.t[:k]}: choose a "
                             "horizon whose twentieths are multiples of every lr")
        d = np.abs(sol.weights[:k] - ref.weights[:k]).max(axis=0)
        row.update(d_train_loss=float(d[0]), d_train_acc=float(d[1]), d_test_loss=float(d[2]),
                   d_test_acc=float(d[3]), d_norm=float(np.abs(sol.param_norm[:k] - ref.param_norm[:k]).max()),
                   objective_monotone_at_saves=bool(np.all(np.diff(sol.objective) <= 0)))
        print(f"| t ∈ [{start:g}, {start + horizon:g}] | {row['lr']:g} | {row['wall_s']:.1f} | {row['load']} "
              f"| {row['d_train_loss']:.2e} / {row['d_test_loss']:.2e} | {row['d_train_acc']:.3f} / "
              f"{row['d_test_acc']:.3f} | {row['d_norm']:.2e} | {row['status']} |", flush=True)
    return rows


def step_check(cfg: dict, lr: float, seed: int = 0, theta_final: np.ndarray | None = None) -> dict:
    """GD at ``lr`` over the whole horizon by hand, counting the steps at which L̂ + (λ/2)‖θ‖² rose (rel. tol 1e-10).

    ``theta_final`` (the package's final θ of the same run) is compared with the hand-written loop's.
    """
    net = _net(cfg, seed)
    lam = cfg["lam"]
    t_end = cfg["t_end"] if cfg["t_end"] is not None else 6.0 * max(math.log(cfg["alpha"]), 1.0) / lam
    steps = int(round(t_end / lr))
    theta = net.theta0.copy()
    grad = np.empty(net.size)
    prev, rises, first, worst = math.inf, 0, None, 0.0
    load0 = _load()
    t0 = time.perf_counter()
    for k in range(steps + 1):
        loss, _, _ = net.loss_grad(theta, grad)
        obj = loss + 0.5 * lam * float(theta @ theta)
        if not math.isfinite(obj):
            raise RuntimeError(f"objective not finite at step {k}")
        if obj > prev * (1.0 + 1e-10):
            rises += 1
            first = k if first is None else first
            worst = max(worst, obj / prev - 1.0)
        prev = obj
        if k < steps:
            theta -= lr * (grad + lam * theta)
    out = {"lr": lr, "steps": steps, "rises": rises, "first_rise_step": first, "largest_relative_rise": worst,
           "wall_s": time.perf_counter() - t0, "load": f"{load0} → {_load()}", "final_objective": prev}
    if theta_final is not None:
        out["max_abs_diff_theta_final"] = float(np.abs(theta - theta_final).max())
    print(json.dumps(out), flush=True)
    return out


def sharpness(cfg: dict, times: list[float], eps_rel: tuple[float, ...] = (1e-9, 1e-5), iters: int = 40,
              seed: int = 0) -> list[dict]:
    """Top Hessian eigenvalue of L̂ along GD at ``cfg["lr"]``, by power iteration on central-difference
    Hessian-vector products (∇L̂(θ + εv) − ∇L̂(θ − εv))/2ε with ε = eps_rel·‖θ‖.

    A tiny ε stays inside one ReLU activation pattern (the smooth part's curvature, to compare with 2/lr); a
    larger one crosses pre-activations that sit at 0, and the quotient then measures the kinks.
    """
    net = _net(cfg, seed)
    lam, lr = cfg["lam"], cfg["lr"]
    theta, grad, gp, gm = net.theta0.copy(), np.empty(net.size), np.empty(net.size), np.empty(net.size)
    rng = np.random.default_rng(0)
    rows, k = [], 0
    for t in times:
        while k < int(round(t / lr)):
            net.loss_grad(theta, grad)
            theta -= lr * (grad + lam * theta)
            k += 1
        row = {"t": k * lr, "test_acc": float(net.metrics(theta)[3]), "two_over_lr": 2.0 / lr}
        for e in eps_rel:
            eps = e * float(np.linalg.norm(theta))
            v = rng.standard_normal(net.size)
            v /= np.linalg.norm(v)
            top = 0.0
            for _ in range(iters):
                net.loss_grad(theta + eps * v, gp)
                net.loss_grad(theta - eps * v, gm)
                hv = (gp - gm) / (2 * eps)
                top = float(v @ hv)
                v = hv / np.linalg.norm(hv)
            row[f"top_eig_eps{e:g}"] = top
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="runs,seeds,lr,steps")
    ap.add_argument("--candidates", default=",".join(CANDIDATES))
    ap.add_argument("--seeds", default="0,1,2", help="seeds of the recommended candidate (part seeds)")
    ap.add_argument("--lrs", default="0.4,0.3,0.2,0.1,0.02", help="lr of part lr (the smallest is the reference)")
    ap.add_argument("--step-lrs", default="0.2", help="lr of part steps (the recommended lr is compared with its run)")
    ap.add_argument("--mid", type=float, default=1000.0, help="second start time of part lr")
    ap.add_argument("--horizon", type=float, default=48.0,
                    help="horizon of part lr (saved at its twentieths: multiples of every lr)")
    ap.add_argument("--blas-threads", type=int, default=None,
                    help="limit BLAS to this many threads (threadpoolctl; default: as the environment says)")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (p = 11, width 32, t ≤ 300): checks the script")
    ap.add_argument("--jsonl", default=None, help="append every row as one JSON line to this file")
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    if args.quick:
        for cfg in CANDIDATES.values():
            cfg.update(p=11, width=32, t_end=300.0)
        args.mid, args.horizon = 100.0, 12.0
    blas = "BLAS threads as the environment says"
    if args.blas_threads is not None:
        from threadpoolctl import threadpool_limits  # installed with scipy's usual stack; else set OPENBLAS_NUM_THREADS

        threadpool_limits(args.blas_threads, user_api="blas")
        blas = f"BLAS limited to {args.blas_threads} thread(s)"
    print(f"grokode {grokode.__version__}; numba threads {numba.get_num_threads()} "
          f"(NUMBA_NUM_THREADS={os.environ.get('NUMBA_NUM_THREADS', 'unset')}); {blas} "
          f"(OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}); cores {os.cpu_count()}; "
          f"load {_load()}", flush=True)
    rows: list[dict] = []

    def keep(kind: str, row: dict) -> None:
        rows.append(row)
        if args.jsonl:
            with open(args.jsonl, "a") as f:
                f.write(json.dumps({"kind": kind, **row}) + "\n")

    theta_final = None
    done_seed0 = False
    if parts & {"runs", "seeds"}:
        print(ROW_HEADER, flush=True)
    if "runs" in parts:
        for name in args.candidates.split(","):
            row, theta = run_candidate(name, CANDIDATES[name], 0)
            keep("run", row)
            print_row(row)
            if name == RECOMMENDED:
                done_seed0, theta_final = True, theta
    if "seeds" in parts:
        for seed in (int(s) for s in args.seeds.split(",")):
            if seed == 0 and done_seed0:
                continue
            row, theta = run_candidate(RECOMMENDED, CANDIDATES[RECOMMENDED], seed)
            keep("run", row)
            print_row(row)
            if seed == 0:
                theta_final = theta
    cfg = CANDIDATES[RECOMMENDED]
    if "lr" in parts:
        print("| phase | lr | wall s | load before → after | max|Δ loss| train / test | max|Δ acc| train / test "
              "| max|Δ‖θ‖| | status |\n|---|---|---|---|---|---|---|---|", flush=True)
        lrs = [float(x) for x in args.lrs.split(",")]
        for start in (0.0, args.mid):
            for row in lr_check(cfg, lrs, start, args.horizon):
                keep("lr", row)
    if "sharpness" in parts:
        for row in sharpness(cfg, [0.0, 200.0, 500.0, 1000.0, 1300.0, 2000.0]):
            keep("sharpness", row)
    if "steps" in parts:
        for lr in (float(x) for x in args.step_lrs.split(",")):
            keep("steps", step_check(cfg, lr, 0, theta_final if lr == cfg["lr"] else None))


if __name__ == "__main__":
    main()
