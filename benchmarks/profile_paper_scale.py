"""Profile one paper-scale diagonal run, ``grokode.integrate(n=256, d=1e5, α=1e3, λ=1e-3)``, by phase.

Prints the wall time of the whole call (after a warm-up call that loads the numba caches) and the
cProfile cumulative time of each phase: RHS, Jacobian (its weighted Gram matrix), saved points
(``observe``), training metrics, reference predictors and alignment, analysis. ``--save PATH`` writes the
trajectory arrays, so that two versions of the code can be compared:

    NUMBA_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/profile_paper_scale.py --save after.npz
    PYTHONPATH=/path/to/old/checkout python benchmarks/profile_paper_scale.py --save before.npz
    python benchmarks/profile_paper_scale.py --compare before.npz after.npz

Options: ``--d``, ``--n-test`` (default 0, as in the benchmark suite's case 1), ``--repeat`` (untimed
repeats of the whole call, no profiler: their walls are printed too), ``--unit-costs`` (one RHS, saved
point and Jacobian of this problem in units of one GD step, timed in this process).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time

for _var in ("NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

PHASES = (  # (label, (file fragment, function name)); cumulative times, so nested phases overlap
    ("integrate_flow (solver + saved points)", ("numeric/integrate.py", "integrate_flow")),
    ("  RHS", ("numeric/reduced.py", "rhs")),
    ("  Jacobian", ("numeric/reduced.py", "jac")),
    ("    weighted Gram X·diag(c)·Xᵀ", ("numeric/linalg.py", "weighted_gram")),
    ("    its float32 Newton approximation", ("numeric/linalg.py", "newton_gram")),
    ("  saved points (observe)", ("numeric/diagonal.py", "observe")),
    ("task generation", ("models/linear.py", "dataset")),
    ("  ±1 entries unpacked from the random bytes", ("numeric/sign_bits.py", "unpack_signs")),
    ("DataMatrix sign check and bit packing", ("numeric/sign_bits.py", "sign_columns")),
    ("outputs W·Xᵀ (metrics, margins)", ("tasks/metrics.py", "outputs")),
    ("BLAS blocks of a timed thread count (outputs, Newton Gram)", ("numeric/blas_threads.py", "__call__")),
    ("empirical metrics", ("tasks/metrics.py", "empirical_metrics")),
    ("population accuracy", ("tasks/datasets.py", "population_accuracy")),
    ("reference predictors + alignment", ("analysis/analyze.py", "reference_arrays")),
    ("  reference predictors", ("analysis/predictors/__init__.py", "predictor_pair")),
    ("transition", ("analysis/transition.py", "find_transition")),
    ("analysis", ("analysis/analyze.py", "analyze")),
)


def phase_times(stats: pstats.Stats) -> dict[str, float]:
    out = {}
    for label, (frag, name) in PHASES:
        total = 0.0
        for (path, _, func), (_, _, _, cum, _) in stats.stats.items():
            if func == name and path.endswith(frag):
                total += cum
        out[label] = total
    return out


def unit_costs(run, kw: dict, repeats: int = 50) -> None:
    """Cost of one RHS evaluation, saved point and Jacobian in GD steps, measured here, interleaved 3 times."""
    from grokode.numeric.diagonal import ReducedDiagonalFlow
    from grokode.numeric.gd import DiagonalGD

    ds = run.dataset
    flow = ReducedDiagonalFlow(ds.X, ds.y, alpha=kw["alpha"], lam=kw["lam"])
    k = run.solution.states.shape[0] // 2  # a state from the middle of the run
    tau, state = float(np.log(run.arrays["t"][k])), run.solution.states[k]
    # the frame the state was integrated in: its scale e^c (and, at depth ≥ 3, its anchor)
    flow.c, flow.anchor = next(p.frame for p in run.solution.pieces if p.lo <= tau <= p.hi)
    gd = DiagonalGD(ds.X, ds.y, alpha=kw["alpha"], lam=kw["lam"], lr=0.01)
    gd.run(np.array([0.02]))
    flow.rhs(tau, state), flow.observe(tau, state), flow.jac(tau, state)
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(repeats):
            flow.rhs(tau, state)
        rhs = (time.perf_counter() - t0) / repeats
        t0 = time.perf_counter()
        for _ in range(repeats):
            flow.observe(tau, state)
        obs = (time.perf_counter() - t0) / repeats
        t0 = time.perf_counter()
        flow.jac(tau, state)
        jac = time.perf_counter() - t0
        step = gd.run(np.array([300 * 0.01])).stats.wall_seconds / 300
        print(f"unit costs: RHS {1e3 * rhs:.2f} ms = {rhs / step:.2f} GD steps, saved point {1e3 * obs:.2f} ms = "
              f"{obs / step:.2f}, Jacobian {1e3 * jac:.0f} ms = {jac / step:.0f}; GD step {1e3 * step:.2f} ms "
              f"(load average {os.getloadavg()[0]:.1f})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--d", type=int, default=100_000)
    ap.add_argument("--n-test", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=0)
    ap.add_argument("--save", default=None)
    ap.add_argument("--unit-costs", action="store_true",
                    help="also time one RHS, one saved point, one Jacobian and one GD step (lr 0.01) of this problem")
    ap.add_argument("--compare", nargs=2, default=None, metavar=("BEFORE", "AFTER"))
    args = ap.parse_args(argv)
    if args.compare:
        a, b = (np.load(p) for p in args.compare)
        for key in sorted(set(a.files) & set(b.files)):
            x, y = a[key].astype(np.float64), b[key].astype(np.float64)
            same = np.array_equal(x, y, equal_nan=True)
            scale = np.nanmax(np.abs(x)) if x.size else 0.0
            diff = np.nanmax(np.abs(x - y)) / scale if x.size and scale > 0 else 0.0
            print(f"{key:<22} {'identical' if same else f'max |Δ|/max|x| = {diff:.2e}'}")
        return 0
    import grokode

    kw = dict(n=256, d=args.d, alpha=1e3, lam=1e-3, n_test=args.n_test, seed=0)
    grokode.integrate(**kw, t_eval=np.array([1.0, 2.0]))  # numba caches, imports
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    run = grokode.integrate(**kw)
    prof.disable()
    wall = time.perf_counter() - t0
    s = run.summary
    print(f"grokode {grokode.__file__}")
    print(f"wall {wall:.2f} s (under cProfile); solver {run.solution.stats.wall_seconds:.2f} s; "
          f"{s['rhs_evals']} RHS + {s['jac_evals']} jac; {run.arrays['t'].size} saved points; "
          f"load average {os.getloadavg()[0]:.1f}")
    for label, seconds in phase_times(pstats.Stats(prof)).items():
        print(f"  {label:<42} {seconds:7.2f} s")
    print("summary time_split (s): " + ", ".join(f"{k} {v:.2f}" for k, v in s.get("time_split", {}).items()
                                                  if v is not None))
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        grokode.integrate(**kw)
        print(f"repeat without profiler: {time.perf_counter() - t0:.2f} s (load average {os.getloadavg()[0]:.1f})")
    if args.unit_costs:
        unit_costs(run, kw)
    if args.save:
        np.savez(args.save, **{k: v for k, v in run.arrays.items() if isinstance(v, np.ndarray)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
