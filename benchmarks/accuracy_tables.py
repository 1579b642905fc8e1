"""Print the accuracy tables of the model pages (docs/models/*.md) from the test suite's own references.

Usage: python benchmarks/accuracy_tables.py [methods] [depth | depth=2,3]

* ``methods``: every method × model of ``tests/numerics/test_methods.py`` (tiny problems, short horizon): the
  largest relative difference of the observed array (w, W, or the mlp's training loss) from the reference at the
  saved times — DOP853 at rtol 1e-11 for the diagonal net and matrix completion, gradient descent at lr 1e-4 for
  the mlp (its right-hand side jumps at every ReLU kink).
* ``depth``: the reduced and full diagonal flows at depth 2…6 against the independent log-variable integration of
  ``tests/numerics/test_depth_accuracy.py`` (LSODA at rtol 1e-11), over its grid α ∈ {10, 1e3, 1e6} ×
  λ ∈ {1e-4, 1e-2, 1e-1} × {sparse, margin} data, n = 24, d = 80, from the kernel phase to the default horizon;
  the largest relative error of w at any saved time, per depth.

The numbers are what the tests assert bounds on; this script prints the values themselves.
"""

from __future__ import annotations

import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests" / "numerics"))

import test_depth_accuracy as depth_tests  # noqa: E402
import test_methods as method_tests  # noqa: E402

from grokode.errors import InputError  # noqa: E402
from grokode.numeric.diagonal import FullDiagonalFlow, ReducedDiagonalFlow  # noqa: E402
from grokode.numeric.integrate import integrate_flow  # noqa: E402


def methods_table() -> None:
    refs = {model: method_tests._run(model, method="DOP853", rtol=1e-11, atol=1e-13)
            for model in ("diagonal", "matrix")}
    refs["mlp"] = method_tests._run("mlp", method="gd", lr=1e-4)
    print("| model | method | max rel. difference | RHS evaluations / steps |")
    print("|---|---|---|---|")
    for model, method in method_tests.CASES:
        try:
            run = method_tests._run(model, method=method)
        except InputError:
            print(f"| {model} | {method} | refused (input error, exit 2) | |")
            continue
        key = method_tests.OBSERVED[model]
        ref, got = refs[model].arrays[key], run.arrays[key]
        err = np.linalg.norm((got - ref).reshape(len(ref), -1), axis=1) / np.linalg.norm(ref.reshape(len(ref), -1),
                                                                                      axis=1)
        solver = run.meta.get("solver") or {}
        stats = solver.get("nfev") or solver.get("steps") or run.summary.get("rhs_evals") or ""
        print(f"| {model} | {method} | {err.max():.1e} | {stats} |", flush=True)


def depth_table(depths=(2, 3, 4, 5, 6)) -> None:
    print("| depth | formulation | cases | max rel. error of w | worst case (α, λ, task) | seconds |")
    print("|---|---|---|---|---|---|")
    for depth in depths:
        for cls in (ReducedDiagonalFlow, FullDiagonalFlow):
            worst, where, count, t0 = 0.0, None, 0, time.perf_counter()
            for alpha in (10.0, 1e3, 1e6):
                for lam in (1e-4, 1e-2, 1e-1):
                    for task in ("sparse", "margin"):
                        ds, times, ref, _, _ = depth_tests._case(depth, alpha, lam, task, n=24, d=80)
                        flow = cls(ds.X, ds.y, alpha=alpha, lam=lam, depth=depth)
                        sol = integrate_flow(flow, times)
                        err = (np.inf if sol.status != "ok"
                               else float(depth_tests.relative_errors(sol.weights, ref).max()))
                        count += 1
                        if err >= worst:
                            worst, where = err, (alpha, lam, task)
            name = "reduced" if cls is ReducedDiagonalFlow else "full"
            print(f"| {depth} | {name} | {count} | {worst:.1e} | {where[0]:g}, {where[1]:g}, {where[2]} | "
                  f"{time.perf_counter() - t0:.0f} |", flush=True)


if __name__ == "__main__":
    parts = sys.argv[1:] or ["methods", "depth"]
    if "methods" in parts:
        methods_table()
    for part in parts:
        if part == "depth" or part.startswith("depth="):
            depth_table(tuple(int(v) for v in part.split("=")[1].split(",")) if "=" in part else (2, 3, 4, 5, 6))
