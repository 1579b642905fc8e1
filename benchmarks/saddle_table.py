"""Print the small-α table: measured against predicted jump times as u0 → 0 (docs/models/diagonal.md).

Usage: python benchmarks/saddle_table.py [--seed 2] [--k 4] [--u0 1e-2,1e-4,1e-8,1e-12,1e-16]

Gaussian data X (n 20 × d 40) and y = Xw* with a k-sparse Gaussian teacher (the generator of
``tests/analysis/test_saddles.py``), written to a temporary .npz and run by ``grokode.integrate`` with the diagonal net
(depth 2), λ = 0, the squared loss and the default horizon (to interpolation) at α = u0·√(2d). For each coordinate's
first activation (|w_j| rising through 0.05 and reaching 0.1, located on the dense output): the measured time, the
α → 0 limit's jump time t = ln(1/u0)·τ at which that coordinate enters (``jump_times_limit_leading``) and the
same jump with its first-order term (``jump_times_limit``), with their relative differences; then the summary's
``jump_rel_error_leading`` and ``jump_rel_error`` (every measured activation against the nearest of each). The
default method is used, and BDF where it fails (LSODA stops on a non-finite state below u0 ≈ 1e-12).
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np

import grokode
from grokode.analysis.saddles import activation_predictions, saddle_limit


def gaussian_sparse(seed: int, k: int, n: int = 20, d: int = 40):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    teacher = np.zeros(d)
    teacher[rng.choice(d, k, replace=False)] = rng.standard_normal(k)
    return X, X @ teacher


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--u0", default="1e-2,1e-4,1e-8,1e-12,1e-16")
    args = parser.parse_args()
    X, y = gaussian_sparse(args.seed, args.k)
    d = X.shape[1]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.npz"
        np.savez(path, X=X, y=y)
        rows = []
        for u0 in (float(v) for v in args.u0.split(",")):
            t0 = time.perf_counter()
            method = "auto"
            run = grokode.integrate(model="diagonal", data=str(path), alpha=u0 * math.sqrt(2 * d), lam=0.0,
                                    loss="squared")
            if run.summary["status"] != "ok":  # LSODA's non-finite state below u0 ≈ 1e-12 (see the commit message)
                method = "BDF"
                run = grokode.integrate(model="diagonal", data=str(path), alpha=u0 * math.sqrt(2 * d), lam=0.0,
                                        loss="squared", method=method)
            wall = time.perf_counter() - t0
            s = run.summary
            limit = saddle_limit(X, y, math.log(1 / u0))
            entry: dict[int, float] = {}
            for jump in limit.jumps:
                for j in jump.entered:
                    entry.setdefault(j, jump.t)
            first_order: dict[int, float] = {}
            for _, j, at_boundary, crossing in activation_predictions(X, y, limit):
                first_order.setdefault(j, at_boundary if crossing is None else crossing)
            cells, seen = {}, set()
            for t, j in zip(s["jump_times"], s["jump_coordinates"], strict=True):
                if j in seen or j not in entry:
                    continue
                seen.add(j)
                cells[j] = (t, entry[j], first_order.get(j, entry[j]))
            rows.append((u0, method, s["status"], wall, cells, s["jump_rel_error_leading"], s["jump_rel_error"]))
        coords = sorted({j for row in rows for j in row[4]}, key=lambda j: rows[-1][4].get(j, (math.inf,))[0])
        print("| u0 | " + " | ".join(f"w_{j}: measured / ε·τ_k (error) / first order (error)" for j in coords)
              + " | largest error: to ε·τ_k | to jump_times_limit | method | wall s |")
        print("|---" * (len(coords) + 5) + "|")
        for u0, method, _status, wall, cells, leading, worst in rows:
            parts = []
            for j in coords:
                if j not in cells:
                    parts.append("—")
                    continue
                t, lim, first = cells[j]
                parts.append(f"{t:.4g} / {lim:.4g} ({t / lim - 1:+.1%}) / {first:.4g} ({t / first - 1:+.1%})")
            print(f"| {u0:.0e} | " + " | ".join(parts) + f" | {leading:.1%} | {worst:.1%} | {method} | {wall:.1f} |",
                  flush=True)


if __name__ == "__main__":
    main()
