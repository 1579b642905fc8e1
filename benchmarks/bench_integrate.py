"""Benchmark: `grokode.integrate` against a plain-numpy LSODA integration of the same reduced flow.

The baseline is what a careful user would write with numpy + scipy from MATH.md §3: float64 X, the
closed form w = −2u0² e^{−2λt} sinh(4G) in t, BLAS matvecs, the analytic Jacobian
diag(ℓ'') X diag(∂w/∂G) Xᵀ / n, and `solve_ivp(method="LSODA")` with the same tolerances. Both are run in
this process, one after the other; the table prints wall times, RHS evaluations, ratios and the agreement
of the final w. Usage: python benchmarks/bench_integrate.py [--quick]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from scipy.integrate import solve_ivp

import grokode


def numpy_baseline(ds, alpha, lam, t_end, rtol, atol):
    X = np.asarray(ds.X, dtype=np.float64)
    y = ds.y
    n, d = X.shape
    u0sq = alpha**2 / (2 * d)
    nfev = [0]

    def w_of(S, t):
        G = X.T @ S / n
        return -2 * u0sq * math.exp(-2 * lam * t) * np.sinh(4 * G), G

    def rhs(t, S):
        nfev[0] += 1
        w, _ = w_of(S, t)
        m = y * (X @ w)
        return -y / (1 + np.exp(m))

    def jac(t, S):
        w, G = w_of(S, t)
        m = y * (X @ w)
        curv = 1 / (1 + np.exp(m)) / (1 + np.exp(-m))
        dw = -8 * u0sq * math.exp(-2 * lam * t) * np.cosh(4 * G)
        return curv[:, None] * ((X * dw) @ X.T) / n

    t0 = time.perf_counter()
    with np.errstate(over="ignore"):
        sol = solve_ivp(rhs, (0, t_end), np.zeros(n), method="LSODA", jac=jac, rtol=rtol, atol=atol)
    wall = time.perf_counter() - t0
    w_end, _ = w_of(sol.y[:, -1], t_end)
    return wall, nfev[0], w_end, sol.status


def case(label, alpha, d, n=256, lam=1e-3, baseline=True):
    ds = grokode.make_task("sparse", n=n, d=d, k=3, n_test=0, seed=0)
    t_end = (2 * math.log(alpha) + 5) / lam
    grokode.integrate(task="sparse", n=n, d=d, n_test=0, alpha=alpha, lam=lam, t_eval=np.array([1.0, 2.0]))  # warm
    t0 = time.perf_counter()
    run = grokode.integrate(task="sparse", n=n, d=d, n_test=0, alpha=alpha, lam=lam)
    ours = time.perf_counter() - t0
    row = {"case": label, "ours_s": ours, "ours_nfev": run.summary["rhs_evals"],
           "plateau": run.summary["test_plateau"], "final": run.summary["test_final"],
           "gd_steps": int(math.ceil(t_end / 0.01))}
    if baseline:
        bw, bn, bwend, status = numpy_baseline(ds, alpha, lam, t_end, 1e-6, 1e-9 * 1e-3)
        w_ours = run.arrays["w"][-1]
        diff = float(np.linalg.norm(w_ours - bwend) / np.linalg.norm(bwend)) if status == 0 else math.nan
        row.update(base_s=bw, base_nfev=bn, ratio=bw / ours, w_rel_diff=diff)
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sizes (CI): checks the code runs")
    args = ap.parse_args()
    if args.quick:
        cases = [("sparse d=2000 α=1e3", 1e3, 2000, True), ("sparse d=2000 α=1e12", 1e12, 2000, False)]
    else:
        cases = [("paper scale d=1e5 α=1e3", 1e3, 100_000, True), ("default d=1e4 α=1e3", 1e3, 10_000, True),
                 ("default d=1e4 α=1e12", 1e12, 10_000, False)]
    rows = [case(label, a, d, baseline=b) for label, a, d, b in cases]
    head = (f"{'case':26s} {'ours s':>8s} {'ours RHS':>9s} {'GD steps (lr .01)':>18s} {'numpy s':>8s} "
            f"{'numpy RHS':>9s} {'numpy/ours':>10s} {'|Δw|/|w|':>9s} {'plateau':>8s} {'final':>6s}")
    print(head)
    for r in rows:
        print(f"{r['case']:26s} {r['ours_s']:8.2f} {r['ours_nfev']:9d} {r['gd_steps']:18d} "
              f"{r.get('base_s', math.nan):8.2f} {r.get('base_nfev', 0):9d} {r.get('ratio', math.nan):10.2f} "
              f"{r.get('w_rel_diff', math.nan):9.1e} {r['plateau']:8.3f} {r['final']:6.3f}")


if __name__ == "__main__":
    main()
