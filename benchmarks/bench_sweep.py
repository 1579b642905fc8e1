"""Benchmark: the issue-#6 sweep (7 α × 2 λ at d = 10⁴) on a local Dask cluster, against the same points in series.

Prints the sweep's wall time (cluster start included), the serial time of the same 14 integrations in this
process (one thread, compiled kernels warm), their ratio (ideal: the number of cores), the load average
around each measurement (other processes on the machine inflate both), and the fitted scaling law.
Usage: python benchmarks/bench_sweep.py [--quick] [--workers N] [--no-serial]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")  # the serial reference runs single-threaded, like each worker

from grokode.analysis.scaling import fit_scaling  # noqa: E402
from grokode.pipeline import integrate  # noqa: E402
from grokode.sweep import grid_points, parse_grid, sweep  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="d = 2000 instead of 10⁴")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--no-serial", action="store_true", help="skip the serial reference")
    args = parser.parse_args()
    options = {"d": 2000 if args.quick else 10_000}
    points = grid_points(parse_grid("alpha", "1e2:1e8:7"), parse_grid("lam", "1e-3,1e-4"), [0])
    print(f"cores {os.cpu_count()}, points {len(points)}, d = {options['d']}")

    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = sweep(points, options, os.path.join(tmp, "sweep.csv"), workers=args.workers, resume=False)
        wall = time.perf_counter() - t0
    print(f"sweep wall {wall:.1f} s (cluster start included; load average {load0:.2f} → {os.getloadavg()[0]:.2f}); "
          f"sum of point walls {sum(r['wall_seconds'] for r in result.rows):.1f} s")
    if not args.no_serial:
        integrate(**options, alpha=1e2, lam=1e-2)  # compile / load the kernels first
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        for p in points:
            integrate(**options, alpha=p.alpha, lam=p.lam, seed=p.seed)
        serial = time.perf_counter() - t0
        print(f"serial {serial:.1f} s (load average {load0:.2f} → {os.getloadavg()[0]:.2f}); "
              f"serial / sweep = {serial / wall:.2f}")
    print(f"{'lam':>8} {'points':>6} {'slope':>8} {'intercept':>9} {'R2':>9} {'c0 mean':>8} {'c0 sd':>7} "
          f"{'lam*width':>9}")
    for f in fit_scaling(result.rows):
        print(f"{f.lam:8.0e} {f.n_points:6d} {f.slope:8.4f} {f.intercept:9.3f} {f.r2:9.5f} {f.c0_mean:8.3f} "
              f"{f.c0_std:7.3f} {f.lam_width_mean:9.3f}")


if __name__ == "__main__":
    main()
