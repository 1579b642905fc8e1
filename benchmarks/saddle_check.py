"""Check the small-α accuracy criteria on many data sets drawn from seeds nobody picked.

Usage: python benchmarks/saddle_check.py [--count 32] [--entropy E] [--u0 1e-8]

Each data set: Gaussian X (n 20 × d 40), y = Xw* with a k-sparse Gaussian teacher, k ∈ {2, …, 5}, drawn from
``SeedSequence(entropy).spawn(count)`` (a fresh entropy unless ``--entropy`` is given; it is printed so that the
run can be repeated). ``grokode.integrate`` runs the diagonal net (depth 2) at α = u0·√(2d), λ = 0, the squared
loss, with ``t_eval`` a grid of 300 times up to 1.4 times the limit's last jump; an independent scipy Radau
integration of the full 2d flow in (ln u, ln v) runs on the same grid. Per data set:

(a) the activations read on the two saved trajectories (log-linear between grid points) agree within 1 %;
(b) the final w agree within 1e-4 relative;
(c) every measured activation (the summary's ``jump_times``) has a ``jump_times_limit`` entry within 15 %.

Also printed: the largest error against the limit's leading times ε·τ_k (``jump_rel_error_leading``) and, for
comparison, every rise through 0.05 counted (no confirmation at 0.1), against ε·τ_k, on the reference trajectory.
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
from grokode.analysis.saddles import ACTIVE_THRESHOLD, saddle_limit, threshold_events

# the independent reference integration is the test suite's own (one definition of the full flow in (ln u, ln v))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "analysis"))
from test_saddles import full_flow_in_logs  # noqa: E402

N, D = 20, 40


def gaussian_sparse(seed: np.random.SeedSequence, n: int = N, d: int = D):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 6))
    X = rng.standard_normal((n, d))
    teacher = np.zeros(d)
    teacher[rng.choice(d, k, replace=False)] = rng.standard_normal(k)
    return X, X @ teacher, k


def nearest(measured, predicted) -> float:
    p = np.asarray(predicted, dtype=np.float64)
    return max((float(np.min(np.abs(t - p) / p)) for t in measured), default=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=32)
    parser.add_argument("--entropy", type=int, default=None)
    parser.add_argument("--u0", type=float, default=1e-8)
    args = parser.parse_args()
    root = np.random.SeedSequence(args.entropy)
    print(f"entropy {root.entropy}, u0 {args.u0:g}, {args.count} data sets")
    print("| data set | k | activations | (a) grid, largest rel. diff. | (b) final w | (c) to jump_times_limit | "
          "to ε·τ_k | every rise, to ε·τ_k | wall s |")
    print("|---|---|---|---|---|---|---|---|---|")
    failed = {"a": 0, "b": 0, "c": 0, "leading": 0, "every_rise": 0}
    eps = math.log(1 / args.u0)
    with tempfile.TemporaryDirectory() as tmp:
        for i, seed in enumerate(root.spawn(args.count)):
            X, y, k = gaussian_sparse(seed)
            path = Path(tmp) / f"data{i}.npz"
            np.savez(path, X=X, y=y)
            limit = saddle_limit(X, y, eps)
            t_eval = np.linspace(0.25, 1.4 * limit.times[-1], 300)
            t0 = time.perf_counter()
            run = grokode.integrate(model="diagonal", data=str(path), alpha=args.u0 * math.sqrt(2 * D), lam=0.0,
                                    loss="squared", t_eval=list(t_eval))
            wall = time.perf_counter() - t0
            s = run.summary
            W_ref, w_ref = full_flow_in_logs(X, y, args.u0, t_eval)
            ours = [e for e in threshold_events(run.arrays["t"], run.arrays["w"]) if e.rising]
            ref = [e for e in threshold_events(t_eval, W_ref) if e.rising]
            same = [e.coordinate for e in ours] == [e.coordinate for e in ref] and bool(ours)
            grid = max((abs(a.t / b.t - 1) for a, b in zip(ours, ref, strict=True)), default=0.0) if same else math.inf
            final = float(np.linalg.norm(run.arrays["w"][-1] - W_ref[-1]) / np.linalg.norm(W_ref[-1]))
            c = nearest(s["jump_times"], s["jump_times_limit"])
            leading = nearest(s["jump_times"], s["jump_times_limit_leading"])
            every_rise_events = [e.t for e in threshold_events(t_eval, W_ref, ACTIVE_THRESHOLD, w_ref, confirm=1.0)
                             if e.rising]
            every_rise = nearest(every_rise_events, limit.times)
            failed["a"] += grid > 0.01
            failed["b"] += final > 1e-4
            failed["c"] += c > 0.15
            failed["leading"] += leading > 0.15
            failed["every_rise"] += every_rise > 0.15
            print(f"| {i} | {k} | {len(s['jump_times'])} | {grid:.2e} | {final:.1e} | {c:.1%} | {leading:.1%} | "
                  f"{every_rise:.1%} | {wall:.1f} |", flush=True)
    print(f"failed: (a) {failed['a']}, (b) {failed['b']}, (c) {failed['c']} of {args.count}; against ε·τ_k "
          f"{failed['leading']}; every rise counted {failed['every_rise']}")


if __name__ == "__main__":
    main()
