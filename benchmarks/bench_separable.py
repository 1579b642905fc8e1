"""Benchmark: the separable model φ = u² − v² against the built-in diagonal net on the same problem (issue #18).

Both describe the same flow (the diagonal net is φ = u² − v², θ̂ = (1, 1)); the separable model evaluates w from
the tabulated profile F₁ (docs/math.md#separable) where the diagonal net uses its closed form. In one process,
alternating, ``--repeat`` times each (the first pair also compiles and tabulates, and is reported apart):

* ``dynamics``: :func:`grokode.numeric.integrate.integrate_flow` of the two reduced flows on the same data and
  saved times (the pipeline's default horizon (2 ln α + 5)/λ and ~300 times), under the pipeline's thread
  limits, with the RHS and Jacobian counts;
* ``run``: the whole :func:`grokode.integrate` (data, dynamics, metrics, reference predictors).

The goal is ratio (separable / diagonal) ≤ 2 in wall time. The load average is printed: on a shared machine the
timings are indicative only, the RHS counts are not.

Usage: python benchmarks/bench_separable.py [--n 256] [--d 10000] [--alpha 1e3] [--lam 1e-3] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

import grokode
from grokode.analytic.separable import SeparableModel as Symbolic
from grokode.numeric.diagonal import ReducedDiagonalFlow
from grokode.numeric.integrate import integrate_flow
from grokode.numeric.separable import ReducedSeparableFlow
from grokode.threads import compute_threads


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--d", type=int, default=10_000)
    ap.add_argument("--alpha", type=float, default=1e3)
    ap.add_argument("--lam", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-run", action="store_true", help="time the dynamics only (skip the whole-pipeline rows)")
    args = ap.parse_args()
    opts = dict(task="sparse", n=args.n, d=args.d, n_test=1000, alpha=args.alpha, lam=args.lam, seed=args.seed)
    sep_opts = dict(model="separable", phi="u**2 - v**2", init="u=1, v=1")
    print(f"n={args.n} d={args.d} alpha={args.alpha:g} lam={args.lam:g} sparse, seed {args.seed}; load {load()}")

    # whole runs (first pair: compile + profile tabulation)
    run_rows = {"diagonal": [], "separable": []}
    ref = None
    for i in range(0 if args.no_run else args.repeat + 1):
        for name, extra in (("diagonal", {"model": "diagonal"}), ("separable", sep_opts)):
            t0 = time.perf_counter()
            run = grokode.integrate(**extra, **opts)
            wall = time.perf_counter() - t0
            assert run.summary["status"] == "ok", run.summary["message"]
            if i:
                run_rows[name].append((wall, run.summary["rhs_evals"], run.summary["jac_evals"]))
            if name == "diagonal":
                ref = run
            else:
                W, Wd = run.arrays["w"][1:], ref.arrays["w"][1:]
                err = float(np.max(np.linalg.norm(W - Wd, axis=1) / np.linalg.norm(Wd, axis=1)))
                print(f"  run {i} {name}: {wall:.2f} s, max rel |Δw| vs diagonal {err:.1e}; load {load()}", flush=True)
                continue
            print(f"  run {i} {name}: {wall:.2f} s; load {load()}", flush=True)

    # the dynamics alone, on the same data and saved times
    if ref is None:
        ref = grokode.integrate(model="diagonal", **opts)
    t_eval = ref.arrays["t"]
    from grokode.tasks import make_task

    ds = make_task("sparse", n=args.n, d=args.d, n_test=0, seed=args.seed)
    sym = Symbolic("u**2 - v**2", "u=1, v=1")
    dyn_rows = {"diagonal": [], "separable": []}
    for i in range(args.repeat + 1):
        for name in ("diagonal", "separable"):
            if name == "diagonal":
                flow = ReducedDiagonalFlow(ds.X, ds.y, alpha=args.alpha, lam=args.lam, depth=2)
            else:
                flow = ReducedSeparableFlow(ds.X, ds.y, model=sym, alpha=args.alpha, lam=args.lam)
            with compute_threads():  # as the pipeline runs the dynamics (BLAS on one thread)
                t0 = time.perf_counter()
                sol = integrate_flow(flow, t_eval)
                wall = time.perf_counter() - t0
            assert sol.status == "ok", sol.message
            if i:
                dyn_rows[name].append((wall, flow.nfev, flow.njev))
            print(f"  dynamics {i} {name}: {wall:.2f} s, {flow.nfev} rhs, {flow.njev} jac; load {load()}", flush=True)

    print("\n| what | diagonal wall s (median) | separable wall s (median) | ratio | rhs evals diag / sep | "
          "jac evals diag / sep |")
    print("|---|---|---|---|---|---|")
    for what, rows in (("dynamics", dyn_rows), ("run", run_rows)):
        if not rows["diagonal"]:
            continue
        wd = statistics.median(r[0] for r in rows["diagonal"])
        ws = statistics.median(r[0] for r in rows["separable"])
        print(f"| {what} | {wd:.2f} | {ws:.2f} | {ws / wd:.2f} | {rows['diagonal'][0][1]} / {rows['separable'][0][1]} "
              f"| {rows['diagonal'][0][2]} / {rows['separable'][0][2]} |")
    print(f"load at the end: {load()}")


if __name__ == "__main__":
    main()
