"""Print the α-range table: every task at α = 1e3 … 1e300, depths 2 and 3 (issue #15 item 3).

Usage: python benchmarks/alpha_table.py [--depths 2,3]

The problem of ``tests/numerics/test_depth_accuracy.py``'s α-range tests (n = 16, d = 40, 50 test samples, λ = 1e-2, the
default horizon): status, λ·t* − ln α (the offset −c₀ of the ln(α)/λ law), the final training metric, the RHS
evaluations and the wall time of one ``grokode.integrate`` call.
"""

from __future__ import annotations

import argparse
import math
import time

import grokode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", default="2,3")
    depths = [int(v) for v in parser.parse_args().depths.split(",")]
    lam = 1e-2
    print("| task | depth | α | status | λt* − ln α | train final | RHS | wall s |")
    print("|---|---|---|---|---|---|---|---|")
    for task in ("sparse", "margin", "sparse-regression"):
        for depth in depths:
            for alpha in (1e3, 1e30, 1e100, 1e300):
                t0 = time.perf_counter()
                run = grokode.integrate(task=task, n=16, d=40, n_test=50, alpha=alpha, lam=lam, depth=depth)
                wall = time.perf_counter() - t0
                s = run.summary
                t_star = s.get("t_transition")
                offset = "—" if t_star is None else f"{lam * t_star - math.log(alpha):+.2f}"
                print(f"| {task} | {depth} | {alpha:.0e} | {s['status']} | {offset} | {s['train_final']:.3g} | "
                      f"{s.get('rhs_evals')} | {wall:.1f} |", flush=True)


if __name__ == "__main__":
    main()
