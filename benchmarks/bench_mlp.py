"""Benchmark: which integrator for the modular-addition MLP flow (docs/math.md#data)?

All rows in this one process, one after the other, from the same θ(0) to the same horizon, each with a
wall budget (a row out of budget reports how far it got):

* ``gd lr=…`` — gradient descent (explicit Euler, the paper's pipeline) at a small learning rate; the
  smallest one is the reference the flow rows are compared to (max |Δ accuracy| and |Δ loss| at the
  saved times, on train and test);
* ``RK45``, ``DOP853`` — scipy's explicit embedded Runge–Kutta pairs;
* ``LSODA`` — Adams/BDF switching, Jacobian by finite differences when it goes stiff (m(3p+1) columns);
* ``rkc`` — our Runge–Kutta–Chebyshev (what ``--method auto`` runs for the mlp model).

Usage: python benchmarks/bench_mlp.py [--quick] [--budget SECONDS]
(quick: p = 11, width 32, t = 50; full: p = 31, width 256, 70 %, α = 4, λ = 2e-3, t = 50).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from grokode.numeric.integrate import integrate_flow
from grokode.numeric.mlp import MLPGD, MLPFlow, ModAddMLP
from grokode.tasks.modadd import make_modadd


class _Budget:
    def __init__(self, seconds: float):
        self.start, self.seconds = time.perf_counter(), seconds

    def __call__(self, fraction: float) -> None:
        if time.perf_counter() - self.start > self.seconds:
            raise KeyboardInterrupt  # integrate_flow / MLPGD keep what they finished


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--budget", type=float, default=120.0)
    ap.add_argument("--tols", default="1e-3,1e-4", help="rtol values of the flow rows (atol = rtol/100)")
    args = ap.parse_args()
    if args.quick:
        p, width, frac, alpha, lam, t_end, lrs = 11, 32, 0.6, 2.0, 1e-2, 50.0, (0.1, 0.01, 0.001)
    else:
        p, width, frac, alpha, lam, t_end, lrs = 31, 256, 0.7, 4.0, 2e-3, 50.0, (0.1, 0.01)
    task = make_modadd(p, frac, 0)
    net = ModAddMLP(p, width, task.tokens("train"), task.labels("train"), task.tokens("test"), task.labels("test"),
                    alpha=alpha, seed=0)
    t_eval = np.linspace(t_end / 20, t_end, 20)
    net.loss_grad(net.theta0)  # compile outside the timings
    net.metrics(net.theta0)
    print(f"p={p} width={width} frac={frac} alpha={alpha} lam={lam} t_end={t_end} (n_params={net.size})")
    print("| row | wall s | grad evals | t reached | max|Δacc| train/test vs the smallest-lr GD | "
          "max|Δloss| train/test | test acc at t_end |")
    print("|---|---|---|---|---|---|---|", flush=True)
    rows = []
    for lr in lrs:
        t0 = time.perf_counter()
        sol = MLPGD(net, lam=lam, lr=lr).run(t_eval, progress=_Budget(args.budget))
        rows.append((f"gd lr={lr:g}", time.perf_counter() - t0, sol.stats.nfev, sol))
    ref = rows[-1][3]
    for row in rows:
        _print_row(*row, ref, t_end)
    for method in ("rkc", "RK45", "DOP853", "LSODA"):
        for rtol in (float(s) for s in args.tols.split(",")):
            flow = MLPFlow(net, lam=lam)
            t0 = time.perf_counter()
            sol = integrate_flow(flow, t_eval, method=method, rtol=rtol, atol=rtol / 100, progress=_Budget(args.budget))
            _print_row(f"{method} rtol={rtol:g}", time.perf_counter() - t0, flow.nfev, sol, ref, t_end)


def _print_row(name, wall, nfev, sol, ref, t_end) -> None:
    k = min(sol.t.size, ref.t.size)
    if k:
        dacc = [np.max(np.abs(sol.weights[:k, c] - ref.weights[:k, c])) for c in (1, 3)]
        dloss = [np.max(np.abs(sol.weights[:k, c] - ref.weights[:k, c])) for c in (0, 2)]
        diff = f"{dacc[0]:.3g} / {dacc[1]:.3g} | {dloss[0]:.2g} / {dloss[1]:.2g}"
    else:
        diff = "— | —"
    reached = sol.t[-1] if sol.t.size else 0.0
    final = f"{sol.weights[-1, 3]:.3f}" if sol.t.size and reached == t_end else "—"
    print(f"| {name} | {wall:.1f} | {nfev} | {reached:g} | {diff} | {final} |", flush=True)


if __name__ == "__main__":
    main()
