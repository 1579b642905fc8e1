"""Benchmark: matrix completion at α = 1e3, λ = 1e-3, 20 % observed, through the transition (issue #5 floors).

Rows, all run in this one process, one after the other:

* ``LSODA-FD (U,V)`` — what a user writes from MATH.md §4: numpy right-hand side of dU/dt = −RU − λU,
  dV/dt = RV − λV on the 2d² parameters, ``solve_ivp(method="LSODA")``, the Jacobian by scipy's dense
  finite differences (2d² evaluations each time), same tolerances as ours.
* ``LSODA-FD (W,S)`` — the same solver on our lifted (W, Ŝ) right-hand side (numba): isolates the solver
  from the formulation.
* ``rkc`` — ``integrate_flow(MatrixFlow, method="rkc")``, what ``grokode integrate --model matrix`` runs.
* ``ros2`` — the candidate Rosenbrock W-method (``--method ros2``), for comparison.
* at d = 97 (full mode only): ``rkc`` at the default tolerance against ``rkc`` at rtol 1e-10 (no
  implicit dense reference is feasible at 2·97² unknowns; tests check rkc against Radau on d ≤ 12).

The table prints wall seconds, RHS evaluations, the speed-up over each baseline, the relative Frobenius
difference of the final W from the fastest accurate row, and the test-MSE drop across the transition.
Usage: python benchmarks/bench_matrix.py [--quick]   (quick: d = 24 comparison only, < 1 min)
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from scipy.integrate import solve_ivp

from grokode.numeric.integrate import default_t_eval, integrate_flow
from grokode.numeric.matrix import MatrixFlow
from grokode.run import default_t_end
from grokode.tasks.matrix import make_matrix_task

ALPHA, LAM, FRAC, RTOL, ATOL = 1e3, 1e-3, 0.2, 1e-6, 1e-9


def numpy_factor_lsoda(task, t_end):
    M, mask = task.M, task.train_mask
    d = M.shape[0]
    rows, cols = np.nonzero(mask)
    n_obs = rows.size
    nfev = [0]

    def rhs(t, y):
        nfev[0] += 1
        U, V = y[: d * d].reshape(d, d), y[d * d:].reshape(d, d)
        W = U @ U.T - V @ V.T
        E = np.zeros((d, d))
        E[rows, cols] = W[rows, cols] - M[rows, cols]
        R = 2.0 / n_obs * (E + E.T)
        return np.concatenate([(-R @ U - LAM * U).ravel(), (R @ V - LAM * V).ravel()])

    y0 = np.concatenate([(ALPHA * np.eye(d)).ravel()] * 2)
    t0 = time.perf_counter()
    sol = solve_ivp(rhs, (0.0, t_end), y0, method="LSODA", rtol=RTOL, atol=ATOL)
    wall = time.perf_counter() - t0
    U, V = sol.y[: d * d, -1].reshape(d, d), sol.y[d * d:, -1].reshape(d, d)
    return wall, nfev[0], U @ U.T - V @ V.T, sol.status


def lifted_lsoda(task, t_end):
    flow = MatrixFlow(task.M, task.train_mask, alpha=ALPHA, lam=LAM)
    t_start, y0 = flow.start()
    flow.rhs(0.0, y0)  # compile outside the timing
    flow.nfev = 0
    t0 = time.perf_counter()
    sol = solve_ivp(flow.rhs, (t_start, t_end), y0, method="LSODA", rtol=RTOL, atol=ATOL)
    wall = time.perf_counter() - t0
    return wall, flow.nfev, flow.weight(t_end, sol.y[:, -1]).reshape(task.d, task.d), sol.status


def ours(task, t_end, rtol=RTOL, atol=ATOL, method="rkc"):
    flow = MatrixFlow(task.M, task.train_mask, alpha=ALPHA, lam=LAM)
    flow.rhs(0.0, flow.start()[1])
    flow.nfev = 0
    t_eval = default_t_eval(t_end, math.log(ALPHA) / LAM)
    t0 = time.perf_counter()
    sol = integrate_flow(flow, t_eval, method=method, rtol=rtol, atol=atol)
    wall = time.perf_counter() - t0
    W = sol.weights.reshape(-1, task.d, task.d)
    test = task.mse(W, task.test_mask)
    t_theory = math.log(ALPHA) / LAM
    plateau = float(np.interp(0.5 * t_theory, sol.t, test))
    return wall, flow.nfev, W[-1], sol.status, plateau / test[-1]


def rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def row(label, d, wall, nfev, W, ref, extra=""):
    print(f"{label:<16} d={d:<3} {wall:9.2f} s  {nfev:9d} rhs  rel.diff(W)={rel(W, ref):9.2e}  {extra}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="d = 24 comparison only (< 1 min)")
    args = parser.parse_args()
    t_end = default_t_end(ALPHA, LAM)
    d_cmp = 24 if args.quick else 40
    print(f"alpha={ALPHA:g} lam={LAM:g} frac={FRAC} rtol={RTOL:g} atol={ATOL:g} horizon t={t_end:.0f}")
    task = make_matrix_task("multiplication", d=d_cmp, frac=FRAC, seed=0)
    w_ours, n_ours, W_ours, st, drop = ours(task, t_end)
    ref_rtol = 1e-9 if args.quick else 1e-10
    w_ref, n_ref, W_ref, _, _ = ours(task, t_end, rtol=ref_rtol, atol=1e-3 * ref_rtol)
    row(f"rkc rtol={ref_rtol:.0e}", d_cmp, w_ref, n_ref, W_ref, W_ref, "(reference)")
    row("rkc", d_cmp, w_ours, n_ours, W_ours, W_ref, f"test MSE drop {drop:.0f}x")
    w_r, n_r, W_r, _, _ = ours(task, t_end, method="ros2")
    row("ros2", d_cmp, w_r, n_r, W_r, W_ref, f"{w_r / w_ours:.1f}x the time of rkc")
    w_l, n_l, W_l, st_l = lifted_lsoda(task, t_end)
    row("LSODA-FD (W,S)", d_cmp, w_l, n_l, W_l, W_ref, f"status {st_l}; rkc speed-up {w_l / w_ours:.1f}x")
    w_b, n_b, W_b, st_b = numpy_factor_lsoda(task, t_end)
    row("LSODA-FD (U,V)", d_cmp, w_b, n_b, W_b, W_ref, f"status {st_b}; rkc speed-up {w_b / w_ours:.1f}x")
    if args.quick:
        return
    task = make_matrix_task("multiplication", d=97, frac=FRAC, seed=0)
    w_ours, n_ours, W_ours, st, drop = ours(task, t_end)
    w_ref, n_ref, W_ref, _, _ = ours(task, t_end, rtol=1e-10, atol=1e-13)
    row("rkc rtol=1e-10", 97, w_ref, n_ref, W_ref, W_ref, "(reference)")
    row("rkc", 97, w_ours, n_ours, W_ours, W_ref, f"test MSE drop {drop:.0f}x (floor: <= 15 s, >= 100x, <= 1e-4)")
    w_r, n_r, W_r, _, _ = ours(task, t_end, method="ros2")
    row("ros2", 97, w_r, n_r, W_r, W_ref, f"{w_r / w_ours:.1f}x the time of rkc")


if __name__ == "__main__":
    main()
