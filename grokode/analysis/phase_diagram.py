"""The phase diagram of a sweep: the test metric's change and λ·t* − ln α over two grid axes, regimes outlined.

The regimes are those of :func:`grokode.analysis.regime.classify_regime` (docs/math.md#regimes-of-a-run); the
transition time t* is the sweep's ``t_transition`` and λ·t* − ln α = −c₀ on the ln(α)/λ law
(docs/math.md#regimes). Like :mod:`grokode.analysis.plots`, figures are built with the object-oriented API
(no pyplot, no backend selected) and matplotlib is imported inside the functions.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError
from .plots import title_from_rows

if TYPE_CHECKING:  # pragma: no cover - type hints only
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: axis name → label; α is always the horizontal axis, the next varied one the vertical, a third the panels
AXIS_LABELS = {"alpha": "α (initialisation scale)", "lam": "λ (weight decay)", "n": "n (training samples)",
               "d": "d (dimension)", "frac": "frac (fraction observed)", "seed": "seed"}
#: cell text of a point without a regime (other cells show the regime, or a failed point's status)
SHORT = {None: "n/a"}
FONT = {"label": 11.5, "tick": 10, "title": 12, "cell": 9, "suptitle": 13.5}
#: the two quantities drawn, one row of panels each
QUANTITIES = ("change", "offset")
#: gid of the lines that outline the regimes (between two cells of different regimes)
BOUNDARY = "regime-boundary"
#: the most columns and rows of cells labelled with their regime and value (beyond, the outlines show the regimes)
LABELLED = (24, 24)
#: the most tick labels on an axis (beyond, every k-th cell is labelled)
MAX_TICKS = 16
#: the width and height in inches that the cells of one panel may take (smaller cells on a larger grid)
MAX_INCHES = (36.0, 12.0)


def _options(row: Mapping) -> dict:
    try:
        options = json.loads(row.get("options") or "{}")
    except (TypeError, ValueError):
        return {}
    return options if isinstance(options, dict) else {}


def _value(row: Mapping, axis: str):
    if axis in ("alpha", "lam"):
        return float(row[axis])
    return _options(row).get(axis)


def varied_axes(rows: Sequence[Mapping]) -> list[str]:
    """The axes with at least 2 distinct values among ``rows``: α, λ, then the options that differ (e.g. n).

    Seeds are replicates, not an axis: the points of one cell are averaged.
    """
    keys = sorted({k for r in rows for k in _options(r)})
    out = []
    for axis in ("alpha", "lam", *keys):
        values = {json.dumps(_value(r, axis), sort_keys=True) for r in rows}
        if len(values) >= 2:
            out.append(axis)
    return out


def can_draw(rows: Sequence[Mapping]) -> bool:
    """Whether ``rows`` vary at least two axes with α among them (what :func:`plot_phase_diagram` needs)."""
    axes = varied_axes(rows)
    return len(axes) >= 2 and axes[0] == "alpha"


def _kind(rows: Sequence[Mapping]) -> str:
    """"regression" when the rows' test metric is a loss (the squared loss, or matrix completion), else
    "classification" (an accuracy)."""
    for r in rows:
        o = _options(r)
        if o.get("model") == "matrix" or o.get("loss") == "squared" or "regression" in str(o.get("task", "")):
            return "regression"
    return "classification"


def _num(v) -> float:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return math.nan
    return v if math.isfinite(v) else math.nan


def _cell(rows: list[Mapping], kind: str) -> tuple[float, float, str | None]:
    """(mean test change, mean λt* − ln α, most common regime) of the rows of one cell (seeds)."""
    ok = [r for r in rows if r.get("status") == "ok"]
    if not ok:
        return math.nan, math.nan, rows[0].get("status") if rows else None
    change, offset = [], []
    for r in ok:
        final, plateau = _num(r.get("test_final")), _num(r.get("test_plateau"))
        if kind == "regression":  # decades of test loss
            change.append(math.log10(final / plateau) if final > 0 and plateau > 0 else math.nan)
        else:
            change.append(final - plateau)
        t_star = _num(r.get("t_transition"))
        offset.append(float(r["lam"]) * t_star - math.log(float(r["alpha"])))
    regimes = Counter(r.get("regime") or None for r in ok).most_common()
    return _mean(change), _mean(offset), regimes[0][0]


def _mean(values: list[float]) -> float:
    """The mean of the finite values, NaN when there is none."""
    array = np.array(values, dtype=np.float64)
    return float(np.nanmean(array)) if np.isfinite(array).any() else math.nan


def plot_phase_diagram(rows: Sequence[Mapping], *, title: str = "") -> Figure:
    """Heat maps over (α, λ) — or (α, n), whichever axis the rows vary — with the regimes outlined.

    Top row: the test metric's change from its plateau (at 0.5·ln(α)/λ) to the horizon: accuracy for
    classification (positive: the run got better), decades of test loss for regression (negative: better).
    Bottom row: λ·t* − ln α where the run has a transition time t* (−c₀ of the ln α law), blank elsewhere.
    Every cell is labelled with its regime (on grids of up to :data:`LABELLED` cells; a larger grid has smaller
    cells and every k-th tick); a thick black line separates cells of different regimes. A
    third varied axis gives one column of panels per value; the panels of a row share one colour bar.
    Replicate seeds of a cell are averaged (the regime is the most common one). Rows are those of a sweep file
    (:class:`grokode.sweep.SweepFile`).

    Raises
    ------
    InputError
        when the rows do not vary α and a second axis with at least 2 values each.
    """
    from matplotlib.figure import Figure

    rows = list(rows)
    axes = varied_axes(rows)
    if len(axes) < 2 or axes[0] != "alpha":
        raise InputError("a phase diagram needs at least 2 values of α and 2 of a second axis (λ or n); the sweep "
                         f"varies {', '.join(axes) or 'nothing'}")
    x_axis, y_axis = axes[0], axes[1]
    panel_axis = axes[2] if len(axes) > 2 else None
    kind = _kind(rows)
    xs = sorted({_value(r, x_axis) for r in rows})
    ys = sorted({_value(r, y_axis) for r in rows})
    panels = sorted({_value(r, panel_axis) for r in rows}) if panel_axis else [None]
    by_cell: dict[tuple, list[Mapping]] = {}
    for r in rows:
        key = (_value(r, x_axis), _value(r, y_axis), _value(r, panel_axis) if panel_axis else None)
        by_cell.setdefault(key, []).append(r)
    grids = {}
    for p in panels:
        change, offset = np.full((len(ys), len(xs)), math.nan), np.full((len(ys), len(xs)), math.nan)
        regime = np.full((len(ys), len(xs)), None, dtype=object)
        for i, yv in enumerate(ys):
            for j, xv in enumerate(xs):
                cell = by_cell.get((xv, yv, p))
                if cell:
                    change[i, j], offset[i, j], regime[i, j] = _cell(cell, kind)
                else:
                    regime[i, j] = "missing"
        grids[p] = (change, offset, regime)
    limit = max([np.nanmax(np.abs(g[0])) for g in grids.values() if np.isfinite(g[0]).any()] or [1.0]) or 1.0
    finite = [g[1][np.isfinite(g[1])] for g in grids.values()]
    offsets = np.concatenate(finite) if finite else np.array([])
    lo, hi = (float(offsets.min()), float(offsets.max())) if offsets.size else (0.0, 1.0)
    if hi <= lo:
        lo, hi = lo - 1.0, hi + 1.0
    # cells shrink on a large grid so that the figure stays drawable; their labels are left out when they would not fit
    width = max(4.8, min(1.25, MAX_INCHES[0] / len(xs)) * len(xs) + 2.4)
    height = max(3.6, min(0.7, MAX_INCHES[1] / len(ys)) * len(ys) + 2.2)
    labelled = len(xs) <= LABELLED[0] and len(ys) <= LABELLED[1]
    fig = Figure(figsize=(width * len(panels), 2 * height), layout="constrained")
    grid = fig.subplots(2, len(panels), squeeze=False)
    change_label = ("test metric change: final − plateau (accuracy)" if kind == "classification"
                    else "test loss change: log10(final / plateau)")
    cmap_change = "RdBu" if kind == "classification" else "RdBu_r"  # blue: the run got better
    meshes = {}
    for col, p in enumerate(panels):
        change, offset, regime = grids[p]
        where = "" if panel_axis is None else f"{_axis_name(panel_axis)} = {_fmt(p)}: "
        for row, (values, cmap, vmin, vmax, what) in enumerate((
                (change, cmap_change, -limit, limit, "test metric change"),
                (offset, "viridis", lo, hi, "λ·t* − ln α (blank: no t*)"))):
            ax = grid[row, col]
            meshes[row] = ax.pcolormesh(np.arange(len(xs) + 1) - 0.5, np.arange(len(ys) + 1) - 0.5,
                                        np.ma.masked_invalid(values), cmap=cmap, vmin=vmin, vmax=vmax)
            ax.set_facecolor("0.9")
            if labelled:
                _label_cells(ax, values, regime)
            _outline(ax, regime)
            _ticks(ax.set_xticks, xs)
            _ticks(ax.set_yticks, ys)
            ax.set_xlabel(AXIS_LABELS.get(x_axis, x_axis), fontsize=FONT["label"])
            ax.set_ylabel(AXIS_LABELS.get(y_axis, y_axis), fontsize=FONT["label"])
            ax.set_title(where + what, fontsize=FONT["title"])
    # one colour bar per row of panels: the panels of a row share its colour scale
    for row, label in enumerate((change_label, "λ·t* − ln α")):
        bar = fig.colorbar(meshes[row], ax=list(grid[row, :]), shrink=0.95)
        bar.set_label(label, fontsize=FONT["label"] - 1.5)
        bar.ax.tick_params(labelsize=FONT["tick"])
    title = title or title_from_rows(rows)
    if title:
        fig.suptitle(title + " — regimes outlined", fontsize=FONT["suptitle"])
    else:
        fig.suptitle("phase diagram — regimes outlined", fontsize=FONT["suptitle"])
    return fig


def _axis_name(axis: str) -> str:
    return {"alpha": "α", "lam": "λ"}.get(axis, axis)


def _fmt(v) -> str:
    if isinstance(v, float):
        if v == 0 or 1e-2 <= abs(v) < 1e4:
            return f"{v:.4g}"
        mantissa, _, exponent = f"{v:.2e}".partition("e")  # 1e-4, 1e6: not 0.0001, 1e+06
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
    return str(v)


def _ticks(set_ticks, values: list) -> None:
    """Tick labels on the cells, every k-th one when there are more than :data:`MAX_TICKS`."""
    step = math.ceil(len(values) / MAX_TICKS)
    set_ticks(range(0, len(values), step), [_fmt(v) for v in values[::step]], fontsize=FONT["tick"])


def _label_cells(ax: Axes, values: np.ndarray, regime: np.ndarray) -> None:
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            name = regime[i, j]
            text = SHORT.get(name, str(name))
            if math.isfinite(values[i, j]):
                text += f"\n{values[i, j]:+.2f}".replace("-", "−")
            ax.text(j, i, text, ha="center", va="center", fontsize=FONT["cell"],
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.75})


def _outline(ax: Axes, regime: np.ndarray) -> None:
    """A thick line on every edge between two cells of different regimes (its gid: :data:`BOUNDARY`)."""
    ny, nx = regime.shape
    for i in range(ny):
        for j in range(nx):
            if j + 1 < nx and regime[i, j] != regime[i, j + 1]:
                ax.plot([j + 0.5, j + 0.5], [i - 0.5, i + 0.5], color="black", lw=3, solid_capstyle="butt",
                        gid=BOUNDARY)
            if i + 1 < ny and regime[i, j] != regime[i + 1, j]:
                ax.plot([j - 0.5, j + 0.5], [i + 0.5, i + 0.5], color="black", lw=3, solid_capstyle="butt",
                        gid=BOUNDARY)
    ax.set_xlim(-0.5, nx - 0.5)
    ax.set_ylim(-0.5, ny - 0.5)

