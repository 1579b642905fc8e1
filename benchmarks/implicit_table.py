"""Print the finite-α accuracy table: a λ = 0 squared-loss run's final w and its ``w_implicit`` against an
independent solve of the finite-α interpolant, for u0 from 10 down to 1e-3, on data drawn from fresh entropy.

Usage: python benchmarks/implicit_table.py [--count 8] [--entropy E] [--u0 10,1,0.1,1e-2,1e-3]

Each data set: Gaussian X (n 16 × d 40) and y = Xw* with a 3-sparse Gaussian teacher, drawn from
``SeedSequence(entropy).spawn(count)`` (fresh entropy unless given; printed). ``grokode.integrate`` runs the depth-2
diagonal net at α = u0·√(2d), λ = 0, the squared loss, to interpolation (the default horizon). The reference is the
primal problem min Σ u0² q(w/u0²) s.t. Xw = y (Woodworth et al.'s q) solved by scipy's trust-exact over the null
space of X. Per u0: the largest relative ℓ2 distance over the data sets of the final w and of w_implicit to it.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import grokode

# the independent primal solve is the test suite's own (one definition of the Woodworth et al. potential's minimizer)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "analysis"))
from test_implicit_bias import primal_interpolant  # noqa: E402

N, D, K = 16, 40, 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--entropy", type=int, default=None)
    parser.add_argument("--u0", default="10,1,0.1,1e-2,1e-3")
    args = parser.parse_args()
    root = np.random.SeedSequence(args.entropy)
    print(f"entropy {root.entropy}, {args.count} data sets (n {N}, d {D}, k {K})")
    print("| u0 | final w to the reference (largest) | w_implicit to it (largest) | status | wall s (largest) |")
    print("|---|---|---|---|---|")
    data = []
    for seed in root.spawn(args.count):
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((N, D))
        teacher = np.zeros(D)
        teacher[rng.choice(D, K, replace=False)] = rng.standard_normal(K)
        data.append((X, X @ teacher))
    with tempfile.TemporaryDirectory() as tmp:
        for u0 in (float(v) for v in args.u0.split(",")):
            final, implicit, walls, statuses = [], [], [], set()
            for i, (X, y) in enumerate(data):
                path = Path(tmp) / f"data{i}.npz"
                np.savez(path, X=X, y=y)
                t0 = time.perf_counter()
                run = grokode.integrate(data=str(path), loss="squared", lam=0.0, alpha=u0 * math.sqrt(2 * D))
                walls.append(time.perf_counter() - t0)
                statuses.add(run.summary["status"])
                ref = primal_interpolant(X, y, u0)
                final.append(float(np.linalg.norm(run.arrays["w"][-1] - ref) / np.linalg.norm(ref)))
                implicit.append(float(np.linalg.norm(run.arrays["w_implicit"] - ref) / np.linalg.norm(ref)))
            print(f"| {u0:g} | {max(final):.1e} | {max(implicit):.1e} | {', '.join(sorted(statuses))} | "
                  f"{max(walls):.1f} |", flush=True)


if __name__ == "__main__":
    main()
