"""Benchmark case 3: matrix completion (MATH.md §4), d = 40 and d = 97, α = 1e3, λ = 1e-3, 20% observed.

Placeholder until the matrix model lands: each row reports why it did not run. To add the rows, build
them like :func:`cases_diagonal.diagonal_rows`: ours = ``grokode.integrate(model="matrix", …)``; GD at lr 0.1
via :func:`common.extrapolated_gd`; ``solve_ivp`` RK45 and LSODA (finite-difference Jacobian) on the
(U, V) flow dU/dt = −RU − λU, dV/dt = RV − λV via :func:`common.budgeted_solve_ivp`; agreement on W.
"""

from __future__ import annotations

import importlib.util

from common import Config, Row, case

SIZES = (40, 97)


def matrix_available() -> bool:
    try:
        return importlib.util.find_spec("grokode.numeric.matrix") is not None
    except ImportError:
        return False


@case("3", "matrix completion, d ∈ {40, 97}, α=1e3, λ=1e-3, 20% observed")
def matrix(cfg: Config) -> list[Row]:
    why = ("not available: matrix benchmark rows not written yet (see benchmarks/cases_matrix.py)"
           if matrix_available() else "not available: matrix model not installed")
    sizes = (10, 20) if cfg.quick else SIZES
    return [Row(f"3 matrix d={d} α=1e3", "—", "unavailable", note=why) for d in sizes]
