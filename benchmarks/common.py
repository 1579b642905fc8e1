"""Shared pieces of the benchmark suite: the case registry, result rows, budgeted baselines, the table.

A case is a function ``(cfg) -> list[Row]`` registered with :func:`case`; it runs ours and every baseline
in this process and returns one row per method. Baselines that are model-independent live here: scipy's
``solve_ivp`` on a user-written right-hand side under a wall-clock budget, and GD timed over a few hundred
steps and extrapolated to the horizon.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.integrate import solve_ivp


@dataclass
class Config:
    quick: bool
    budget: float  # seconds per budgeted baseline run
    gd_steps: int = 300  # steps timed for the extrapolated GD baseline (the issue asks for ≥ 200)
    jac_memory_gb: float = 2.0  # largest dense N×N Jacobian a baseline may allocate
    rtol: float = 1e-6
    atol: float = 1e-9


@dataclass
class Row:
    case: str
    method: str
    status: str  # ours | ok | budget | extrapolated | infeasible | failed | unavailable
    wall: float | None = None
    evals: str = ""
    agreement: float | None = None  # ‖w − w_ours‖/‖w_ours‖ at the horizon
    note: str = ""
    ours_wall: float | None = None  # the case's "ours" wall, for the ratio

    @property
    def ratio(self) -> str:
        if self.status == "ours":
            return "1"
        if self.wall is None or not self.ours_wall:
            return "—"
        r = self.wall / self.ours_wall
        return {"ok": f"{r:.3g}×", "budget": f"> {r:.3g}×", "extrapolated": f"≈ {r:.3g}×"}.get(self.status, "—")

    @property
    def wall_text(self) -> str:
        if self.wall is None:
            return "—"
        prefix = {"budget": "> ", "extrapolated": "≈ "}.get(self.status, "")
        suffix = {"budget": " (budget)", "extrapolated": " (extrapolated)"}.get(self.status, "")
        return f"{prefix}{self.wall:.3g}{suffix}"


@dataclass
class CaseSpec:
    key: str
    title: str
    run: Callable[[Config], list[Row]]
    tags: list[str] = field(default_factory=list)


CASES: dict[str, CaseSpec] = {}


def case(key: str, title: str):
    """Register a benchmark case under ``key`` (run order is registration order)."""
    def deco(fn):
        CASES[key] = CaseSpec(key, title, fn)
        return fn
    return deco


class OverBudget(Exception):
    pass


@dataclass
class IVPResult:
    status: str
    wall: float
    nfev: int
    y_end: np.ndarray | None
    t_reached: float
    note: str = ""


def budgeted_solve_ivp(rhs: Callable, y0: np.ndarray, t_end: float, method: str, cfg: Config,
                       jac: Callable | None = None, dense_jacobian: bool = False,
                       atol: float | None = None) -> IVPResult:
    """``solve_ivp(rhs, (0, t_end), y0, method)`` as a user would call it, stopped when ``cfg.budget`` runs out.

    The budget is enforced by raising from the right-hand side, so ``t_reached`` is the furthest time the
    solver evaluated. ``dense_jacobian``: the method forms an N×N matrix (LSODA's finite differences, any
    implicit method without a sparse structure); refused as infeasible above ``cfg.jac_memory_gb``.
    """
    n = y0.size
    if dense_jacobian and n * n * 8 > cfg.jac_memory_gb * 2**30:
        return IVPResult("infeasible", 0.0, 0, None, 0.0,
                         f"dense {n}×{n} Jacobian needs {n * n * 8 / 2**30:.3g} GB (> {cfg.jac_memory_gb:g} GB)")
    count, reached = [0], [0.0]
    t0 = time.perf_counter()

    def wrapped(t, y):
        if time.perf_counter() - t0 > cfg.budget:
            raise OverBudget
        count[0] += 1
        reached[0] = max(reached[0], t)
        return rhs(t, y)

    # t_eval=[t_end]: solve_ivp then keeps only the final state, not every step's (RK45 on a stiff flow takes
    # 10⁵ steps within the budget; their states would fill the memory at d² or d unknowns each)
    kwargs = {"rtol": cfg.rtol, "atol": cfg.atol if atol is None else atol, "t_eval": [t_end]}
    if jac is not None:
        kwargs["jac"] = jac
    try:
        with np.errstate(over="ignore"):
            sol = solve_ivp(wrapped, (0.0, t_end), y0, method=method, **kwargs)
    except OverBudget:
        wall = time.perf_counter() - t0
        return IVPResult("budget", wall, count[0], None, reached[0],
                         f"stopped at the budget: reached t={reached[0]:.4g} of {t_end:.4g} "
                         f"({100 * reached[0] / t_end:.2g}%)")
    wall = time.perf_counter() - t0
    if sol.status != 0:
        return IVPResult("failed", wall, count[0], None, reached[0], f"{method}: {sol.message}")
    return IVPResult("ok", wall, count[0], sol.y[:, -1].copy(), t_end)


@dataclass
class GDTiming:
    lr: float
    seconds_per_step: float
    steps_total: int
    note: str


def extrapolated_gd(run_steps: Callable[[float, int], tuple[float, str]], lr: float, t_end: float, cfg: Config,
                    max_halvings: int = 12, refine: int = 0) -> GDTiming:
    """Time ``cfg.gd_steps`` GD steps at ``lr`` (halving it while GD diverges) and extrapolate to ``t_end``.

    ``run_steps(lr, steps) -> (seconds, status)`` runs GD from the initialization for ``steps`` steps.
    ``refine``: when ``lr`` had to be halved, that many geometric bisections between the stable rate and
    the diverged one (twice it) move it to within a factor 2^(2^−refine) of the largest stable rate.
    """
    run_steps(lr, 2)  # compile
    note = ""
    for _ in range(max_halvings + 1):
        seconds, status = run_steps(lr, cfg.gd_steps)
        if status != "diverged":
            break
        note = f"lr {lr:g} diverged; "
        lr /= 2.0
    else:
        return GDTiming(lr, math.nan, 0, note + "no stable lr found")
    if note and refine:
        lo, hi = lr, 2.0 * lr
        for _ in range(refine):
            mid = math.sqrt(lo * hi)
            mid_seconds, mid_status = run_steps(mid, cfg.gd_steps)
            if mid_status == "diverged":
                hi = mid
            else:
                lo, seconds = mid, mid_seconds
        note = f"lr {hi:.3g} diverged; "
        lr = lo
    steps_total = int(math.ceil(t_end / lr))
    return GDTiming(lr, seconds / cfg.gd_steps, steps_total,
                    note + f"lr={lr:.3g}: {1e3 * seconds / cfg.gd_steps:.3g} ms/step over {cfg.gd_steps} steps")


def rel_diff(w: np.ndarray | None, ref: np.ndarray) -> float | None:
    if w is None:
        return None
    return float(np.linalg.norm(w - ref) / np.linalg.norm(ref))


def format_table(rows: list[Row], markdown: bool = False) -> str:
    head = ["case", "method", "wall s", "RHS/grad evals", "baseline/ours", "‖Δw‖/‖w‖ final", "note"]
    body = [[r.case, r.method, r.wall_text, r.evals, r.ratio,
             "—" if r.agreement is None else f"{r.agreement:.1e}", r.note] for r in rows]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in line) + " |" for line in body]
        return "\n".join(lines)
    widths = [max(len(h), *(len(line[k]) for line in body)) if body else len(h) for k, h in enumerate(head)]
    widths[-1] = len(head[-1])  # notes run on to the end of the line
    fmt = "  ".join(f"{{:{'<' if k in (0, 1, 6) else '>'}{w}}}" for k, w in enumerate(widths))
    return "\n".join([fmt.format(*head)] + [fmt.format(*line) for line in body])


@dataclass
class GoalRow:
    """One row of a table of goals (issue #16): ours against a baseline, and whether the goal is met.

    ``met`` is None for a row that only measures (no goal). The texts are formatted by the case, which knows
    the units and which way the ratio runs.
    """
    case: str
    row: str  # what is measured
    command: str
    ours: str
    baseline: str
    ratio: str
    goal: str
    met: bool | None
    note: str = ""

    @property
    def met_text(self) -> str:
        return "—" if self.met is None else ("met" if self.met else "**not met**")


def format_goal_table(rows: list[GoalRow], markdown: bool = False) -> str:
    head = ["case", "row", "command", "ours", "baseline", "ratio", "goal", "met", "note"]
    body = [[r.case, r.row, f"`{r.command}`" if markdown else r.command, r.ours, r.baseline, r.ratio, r.goal,
             r.met_text if markdown else r.met_text.strip("*"), r.note] for r in rows]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in line) + " |" for line in body]
        return "\n".join(lines)
    # plain text: one block per row (the commands are too long for columns)
    out = []
    for line in body:
        out.append(f"[{line[0]}] {line[1]}: ours {line[3]} | baseline {line[4]} | ratio {line[5]} | "
                   f"goal {line[6]}: {line[7]}")
        out.append(f"    $ {line[2]}")
        if line[8]:
            out.append(f"    {line[8]}")
    return "\n".join(out)
