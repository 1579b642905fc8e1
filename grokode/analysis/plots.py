"""Figures of a run, of a theorem trend and of a sweep, for reports and slides.

Figures are built with matplotlib's object-oriented API (:class:`matplotlib.figure.Figure`, no pyplot): they
need no backend and no display, and this module never selects a backend (``matplotlib.use``). matplotlib
is imported inside the functions, so importing the module is cheap. :func:`save_figure` renders a figure
to PNG, PDF or SVG, chosen by the file's suffix.

Readability rules (issue #17): legends and labels ≥ 9 pt; within one axis no two lines share a
(line style, marker) pair, so every curve can be told apart in greyscale; the same quantity has the same
style in every panel.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError
from ..observables import Observables

if TYPE_CHECKING:  # pragma: no cover - type hints only
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .scaling import ScalingFit

#: file suffix → matplotlib format of :func:`save_figure`
FORMATS = {".png": "png", ".pdf": "pdf", ".svg": "svg"}
#: The figure of a run whose declaration is not given: accuracy curves, cosines to the reference predictors, and
#: ‖θ(0)‖ = α (a diagonal net's classification run).
DEFAULT_OBSERVABLES = Observables(curves="accuracy", alignment="cos", norm_start="α")
#: resolution of PNG output (vector formats ignore it)
PNG_DPI = 150
FONT = {"legend": 10, "label": 11.5, "tick": 10, "title": 12, "suptitle": 13.5, "note": 10}

# One style per meaning, the same in every panel. Within an axis no two lines share (linestyle, marker):
# curves use the four line styles without markers (the sample test curve adds circles), time markers carry a
# "v" pointer at the top of the axis, the bias switch is a lone "X".
_CURVE = {
    "train": {"color": "tab:blue", "ls": "-", "lw": 2.4, "alpha": 0.75},
    "test": {"color": "tab:orange", "ls": "-", "lw": 1.4, "marker": "o", "ms": 4.5, "markevery": 0.06},
    "population": {"color": "tab:red", "ls": "--", "lw": 2.2},
    "kernel_ref": {"color": "tab:purple", "ls": ":", "lw": 2.0, "zorder": 4},
    "rich_ref": {"color": "tab:green", "ls": "-.", "lw": 1.8, "zorder": 4},
    "kernel": {"color": "tab:purple", "ls": "-", "lw": 2.2},
    "rich": {"color": "tab:green", "ls": "--", "lw": 2.2},
    "norm": {"color": "tab:blue", "ls": "-", "lw": 2.2},
    "decay": {"color": "black", "ls": "--", "lw": 1.3},
}
_TIME = {  # t_theory wide and grey under a thin black t*: both stay visible when they coincide
    "t_theory": {"color": "0.55", "ls": "--", "lw": 2.8, "zorder": 1.5},
    "t_transition": {"color": "black", "ls": ":", "lw": 2.0, "zorder": 3},
    "jump_limit": {"color": "tab:brown", "ls": (0, (4, 2, 1, 2)), "lw": 1.2, "zorder": 2},
}
_SWITCH = {"color": "tab:orange", "ls": "none", "marker": "X", "ms": 11, "mec": "black", "mew": 0.8, "zorder": 6}
_BAND = {"color": "tab:gray", "alpha": 0.22, "lw": 0, "zorder": 0}
#: marker and line style of the i-th series of a multi-series figure (trend, sweep): distinct in greyscale
_SERIES = (("o", "-"), ("s", "--"), ("^", "-."), ("D", ":"), ("v", "-"), ("P", "--"), ("*", "-."), ("h", ":"))


# ----------------------------------------------------------------------------------------------------
# Saving
# ----------------------------------------------------------------------------------------------------


def save_figure(fig: Figure, path: str | os.PathLike) -> Path:
    """Render ``fig`` to ``path`` (format by suffix: .png, .pdf, .svg) atomically, then release the figure.

    The file is written to a temporary file in the same directory and moved into place with
    :func:`os.replace`, so a reader never sees a half-written figure; it gets the permissions of a newly
    created file (0o666 masked by the process umask). The parent directory is created. The figure's artists
    are cleared afterwards (and it is closed in pyplot if pyplot knows it), so it cannot be saved twice.

    Raises
    ------
    InputError
        if the suffix is not one of .png, .pdf, .svg.
    """
    from ..files import atomic_write

    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"cannot write a figure to {str(path)!r}: the suffix must be one of "
                         f"{', '.join(FORMATS)}")
    try:
        return atomic_write(path, lambda fh: fig.savefig(fh, format=fmt, dpi=PNG_DPI))
    finally:
        _release(fig)


def _release(fig: Figure) -> None:
    import sys

    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:  # a figure made with pyplot is registered there: close it
        pyplot.close(fig)
    fig.clear()


# ----------------------------------------------------------------------------------------------------
# Titles
# ----------------------------------------------------------------------------------------------------


def title_from_options(options: Mapping, observables: Observables | None = None) -> str:
    """A figure title from run/sweep options: model, depth, task, sizes, α and λ, leaving out unset (None) values.

    The one title builder of runs (:meth:`grokode.result.Run.title`), sweeps and the documentation's figures. A
    run's declaration (``observables``) says which sizes it shows and whether it has a depth; without one the
    mlp's (p and width) are told from the others by name.

    >>> title_from_options({"model": "diagonal", "depth": 2, "task": None, "n": 64, "d": 500})
    'diagonal L=2, n=64, d=500'
    >>> title_from_options({"model": "diagonal", "depth": 2, "task": "sparse", "n": 256, "d": 10000, "alpha": 1e3,
    ...                     "lam": 1e-3})
    'diagonal L=2, sparse, n=256, d=10000, α=1000, λ=0.001'
    """
    parts = []
    model = options.get("model")
    shows_depth = observables.title_depth if observables is not None else model != "mlp"
    size_keys = observables.title_sizes if observables is not None else ("n", "d") if model != "mlp" else ()
    if model is not None:
        name = f"{model} φ = {options['phi']}" if isinstance(options.get("phi"), str) else str(model)
        parts.append(f"{name} L={options['depth']}" if options.get("depth") is not None and shows_depth else name)
    if options.get("task") is not None:
        parts.append(str(options["task"]))
    sizes = tuple((key, key + "={}") for key in size_keys)
    for key, fmt in (*sizes, ("p", "p={}"), ("width", "width={}"), ("frac", "frac={:g}"), ("alpha", "α={:g}"),
                     ("lam", "λ={:g}")):
        value = options.get(key)
        if value is not None:
            parts.append(fmt.format(value))
    return ", ".join(parts)


# ----------------------------------------------------------------------------------------------------
# One run
# ----------------------------------------------------------------------------------------------------


class _TimeAxis:
    """Where a run's story is drawn: a linear-t main window through the transition, a log-t early window.

    ``scale`` is "split" (early log-t panel [t_first, lo] + linear main panel [lo, hi]), "linear" (a linear
    panel [0, hi] because the transition starts early, with a log-t panel [t_first, 0.1·hi] zooming on the
    start), "log" (one log-t panel, the whole run) or "ln" (one linear panel in ln t, for runs that reach
    t ≈ 1e300 where a log axis overflows).
    """

    def __init__(self, t: np.ndarray, summary: Mapping):
        t_first, t_last = float(t[0]), float(t[-1])
        self.early: tuple[float, float] | None = None
        self.main = (t_first, t_last)
        self.scale = "ln" if t_last > 1e200 else "log"
        t_theory = _num(summary.get("t_theory"))
        jumps = [t for t in summary.get("jump_times_limit") or [] if t_first < t < t_last]
        if (t_theory is None or t_theory <= 0) and jumps:  # small α: the staircase in t, what precedes it in log t
            lo, hi = 0.7 * jumps[0], min(t_last, 1.3 * jumps[-1])
            if lo > t_first:
                self.scale, self.early, self.main = "split", (t_first, lo), (lo, hi)
                return
        if t_theory is None or t_theory <= 0:  # λ = 0 (or α ≤ 1): the whole run in log time
            return
        lo, hi = math.inf, -math.inf
        T_minus, T_plus = _num(summary.get("T_minus")), _num(summary.get("T_plus"))
        if T_minus is not None and T_plus is not None:
            lo, hi = T_minus, T_plus
        t_star = _num(summary.get("t_transition"))
        if t_star is not None:
            width = _num(summary.get("transition_width")) or 0.2 * t_star
            lo, hi = min(lo, t_star - 2 * width), max(hi, t_star + 2 * width)
        if not math.isfinite(lo):
            lo, hi = 0.5 * t_theory, 1.5 * t_theory
        pad = 0.05 * (hi - lo)
        lo, hi = max(lo - pad, 0.0), min(hi + pad, t_last)
        if hi <= lo or hi <= t_first:  # the run ended before the window: show all of it
            return
        if lo < 0.15 * hi or lo <= 10 * t_first:
            # the transition starts early: the main panel is the whole run, the early panel zooms on its start
            self.scale, self.main = "linear", (0.0, hi)
            if 0.1 * hi > 100 * t_first:
                self.early = (t_first, 0.1 * hi)
        else:
            self.scale, self.early, self.main = "split", (t_first, lo), (lo, hi)

    def x(self, t):
        """Plot coordinate of times t (ln t on an "ln" axis)."""
        return np.log(t) if self.scale == "ln" else t


def plot_run(arrays: Mapping[str, np.ndarray], summary: Mapping, *, title: str = "", lam: float | None = None,
             observables: Observables = DEFAULT_OBSERVABLES) -> Figure:
    """The story of one run: metric, alignment with the reference predictors, parameter norm (paper Fig. 1).

    Rows (sharing the time axis):

    1. the declared train/test curves (accuracy, loss or MSE), with the reference predictors' own test values as
       horizontal lines (``kernel_test``/``rich_test`` of the summary; for matrix runs computed from ``M``,
       ``test_mask``, ``W_kernel``, ``W_rich`` when the summary lacks them);
    2. alignment with the kernel and rich predictors (the declared measure: cosines, or relative distances), with
       the implicit-bias switch ``t_bias_switch`` marked where the two curves cross; absent for a run without;
    3. ‖θ(t)‖ against ‖θ(0)‖·e^{−λt}, the decay that ends the kernel regime (docs: docs/math.md#regimes).

    Time axis: with weight decay the main column is *linear* in t and spans the theorem window [T⁻, T⁺]
    together with t* ± 2 widths (10–90 %), padded by 5 %; a narrow log-t column on its left shows the early
    (kernel) phase before it. When that span starts near t = 0 (a broad transition) the main column is the
    whole run from 0 and the log-t column zooms on its first tenth. t_theory = ln(α)/λ, t* and [T⁻, T⁺] are
    marked and named above the top panel. Without weight decay (no t_theory) the whole run is shown on one
    log-t axis, or against ln t (log₁₀ t on top) once t passes 1e200.

    Parameters
    ----------
    arrays, summary : a trajectory's arrays and summary (``run.arrays, run.summary`` or ``load_run``).
    title : figure title.
    lam : weight decay λ; given and > 0, the norm panel shows ‖θ(0)‖·e^{−λt}.
    observables : the run's declaration (:class:`~grokode.observables.Observables`, ``run.observables``): its
        curves and their labels, the alignment measure, how ‖θ(0)‖ is named.

    Returns
    -------
    matplotlib.figure.Figure, to be written with :func:`save_figure`.
    """
    from matplotlib.figure import Figure

    if not isinstance(observables, Observables):
        raise InputError(f"observables must be a run's declaration (grokode.observables.Observables, "
                         f"run.observables), got {observables!r:.60}")
    if "t" not in arrays or "param_norm" not in arrays:
        raise InputError(f"the arrays need 't' and 'param_norm' to be plotted, got {sorted(arrays)}")
    t_all = np.asarray(arrays["t"], dtype=np.float64)
    keep = np.isfinite(t_all) & (t_all > 0)
    if np.count_nonzero(keep) < 2:  # e.g. a run interrupted at once: say so instead of failing the caller
        fig = Figure(figsize=(8, 2.5), layout="constrained")
        ax = fig.add_subplot()
        ax.set_axis_off()
        ax.text(0.5, 0.5, f"nothing to plot: {int(np.count_nonzero(keep))} saved time(s) t > 0, a curve needs 2",
                ha="center", va="center", fontsize=FONT["title"])
        if title:
            fig.suptitle(title, fontsize=FONT["suptitle"])
        return fig
    t = t_all[keep]
    axis = _TimeAxis(t, summary)
    x = axis.x(t)
    alignment = observables.alignment
    if alignment is not None and not (f"{alignment}_kernel" in arrays and f"{alignment}_rich" in arrays):
        alignment = None  # a checkpoint, written before the reference predictors were solved
    panels = ["metric"] + (["alignment"] if alignment else []) + ["norm"]

    fig = Figure(figsize=(12.8, 2.75 * len(panels) + 1.0), layout="constrained")
    gs = fig.add_gridspec(len(panels), 2 if axis.early else 1, width_ratios=[1, 3.2] if axis.early else None)
    rows: list[tuple[Axes, Axes | None]] = []
    for i in range(len(panels)):
        main = fig.add_subplot(gs[i, -1], sharex=rows[0][0] if rows else None)
        early = None
        if axis.early:
            early = fig.add_subplot(gs[i, 0], sharey=main, sharex=rows[0][1] if rows else None)
        rows.append((main, early))

    for (main, early), panel in zip(rows, panels, strict=True):
        for ax in (main, early):
            if ax is None:
                continue
            if panel == "metric":
                _metric_panel(ax, x, keep, arrays, summary, observables)
                _mark_jumps(ax, axis, summary)
            elif panel == "alignment":
                _alignment_panel(ax, x, keep, arrays, summary, alignment, axis)
            else:
                _norm_panel(ax, x, t, keep, arrays, lam, observables.norm_start)
        _finish_y(main, panel, keep, arrays)

    _set_time_axes(rows, axis, summary)
    top_main = rows[0][0]
    for (main, early), panel in zip(rows, panels, strict=True):
        _legend_outside(main, early, times=panel == "metric")
    if axis.scale != "ln":  # the top of an ln-t panel carries the log₁₀ t scale instead
        _label_times(top_main, axis, summary)
    if title:
        fig.suptitle(title, fontsize=FONT["suptitle"])
    return fig


def _fmt_t(t: float) -> str:
    """A time for a label: whole numbers up to 10⁶, else 4 significant digits."""
    return f"{t:.0f}" if 10 <= abs(t) < 1e6 else f"{t:.4g}"


def _num(value) -> float | None:
    """A finite float, or None (None, NaN, "" all mean "not available")."""
    if value is None or value == "":
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def _metric_panel(ax: Axes, x, keep, arrays: Mapping, summary: Mapping, observables: Observables) -> None:
    """Train/test metric and the reference predictors' test values; y limits from the curves."""
    declared = observables.curve
    classification, name, key, labels = declared.accuracy, declared.ylabel, declared.key, declared.labels
    curves = []
    for style, array, label in (("train", f"train_{key}", labels[0]), ("test", f"test_{key}", labels[1]),
                                ("population", f"test_{key}_population", labels[2])):
        if array in arrays:
            y = np.asarray(arrays[array], dtype=np.float64)[keep]
            ax.plot(x, y, label=label, **_CURVE[style])
            curves.append(y[np.isfinite(y) & ((y > 0) | classification)])
    values = np.concatenate(curves) if curves else np.array([])
    refs = _reference_values(arrays, summary)
    if classification:
        values = np.concatenate([values, [v for v in refs.values() if v is not None]])
        lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
        span = max(hi - lo, 0.05)
        ylim = (max(lo - 0.1 * span, -0.02), min(hi + 0.1 * span, 1.02))
    else:
        ax.set_yscale("log")
        lo, hi = (float(values.min()), float(values.max())) if values.size else (1e-3, 1.0)
        ylim = (lo / 4, hi * 4)
    ax.set_ylim(*ylim)
    what = declared.reference
    for ref, value in refs.items():
        if value is None or (not classification and value <= 0):
            continue
        off = "" if ylim[0] <= value <= ylim[1] else " (off scale)"
        ax.axhline(value, label=f"{ref} predictor's {what}: {value:.4g}{off}", **_CURVE[f"{ref}_ref"])
    ax.set_ylabel(name, fontsize=FONT["label"])


def _mark_jumps(ax: Axes, axis: _TimeAxis, summary: Mapping) -> None:
    """The small-α staircase: the jump times predicted by the α → 0 limit (``jump_times_limit``) on the loss."""
    times = summary.get("jump_times_limit") or []
    first, last = axis.main[0] if axis.early is None else axis.early[0], axis.main[1]
    shown = [t for t in times if first <= t <= last]
    if shown and ax.get_yscale() == "log":  # the loss's range up to the staircase's end, not its later tail
        pieces = [np.asarray(line.get_ydata(), dtype=np.float64)[np.asarray(line.get_xdata()) <= axis.x(last)]
                  for line in ax.get_lines()]
        values = np.concatenate(pieces) if pieces else np.array([])
        values = values[np.isfinite(values) & (values > 0)]
        if values.size:
            ax.set_ylim(values.min() / 4, values.max() * 4)
    for i, t in enumerate(shown):
        label = f"jumps predicted by the α → 0 limit, to first order ({len(shown)})" if i == 0 else None
        ax.axvline(float(axis.x(t)), label=label, **_TIME["jump_limit"])


def _reference_values(arrays: Mapping, summary: Mapping) -> dict[str, float | None]:
    """The reference predictors' own test values: the summary's, else (matrix runs) their test MSE."""
    out = {}
    for ref in ("kernel", "rich"):
        value = _num(summary.get(f"{ref}_test"))
        W_key = f"W_{ref}"
        if value is None and all(k in arrays for k in ("M", "test_mask", W_key)):
            mask = np.asarray(arrays["test_mask"], dtype=bool)
            if mask.any():
                diff = np.asarray(arrays[W_key], dtype=np.float64)[mask] - np.asarray(arrays["M"], np.float64)[mask]
                value = float(np.mean(diff * diff))
        out[ref] = value
    return out


def _alignment_panel(ax: Axes, x, keep, arrays: Mapping, summary: Mapping, measure: str,
                     axis: _TimeAxis) -> None:
    if measure == "cos":
        k, r = np.asarray(arrays["cos_kernel"])[keep], np.asarray(arrays["cos_rich"])[keep]
        labels = ("cos(w, kernel predictor)", "cos(w, rich predictor)")
        ax.set_ylabel("cosine", fontsize=FONT["label"])
    else:
        k, r = np.asarray(arrays["dist_kernel"])[keep], np.asarray(arrays["dist_rich"])[keep]
        labels = ("‖W − W_kernel‖ / ‖W_kernel‖", "‖W − W_rich‖ / ‖W_rich‖")
        ax.set_ylabel("relative distance", fontsize=FONT["label"])
    ax.plot(x, k, label=labels[0], **_CURVE["kernel"])
    ax.plot(x, r, label=labels[1], **_CURVE["rich"])
    switch = _num(summary.get("t_bias_switch"))
    if switch is not None and switch > 0:
        xs = float(axis.x(np.float64(switch)))
        ok = np.isfinite(k)
        ys = float(np.interp(xs, x[ok], k[ok]))
        ln = f", ln t = {math.log(switch):.4g}" if axis.scale == "ln" else ""
        ax.plot([xs], [ys], label=f"implicit-bias switch: t = {_fmt_t(switch)}{ln}", **_SWITCH)


def _norm_panel(ax: Axes, x, t, keep, arrays: Mapping, lam: float | None, start: str) -> None:
    norm = np.asarray(arrays["param_norm"], dtype=np.float64)[keep]
    ax.plot(x, norm, label="‖θ(t)‖", **_CURVE["norm"])
    if lam is not None and lam > 0:
        ax.plot(x, norm[0] * np.exp(-lam * (t - t[0])), label=f"{start}·e^(−λt) (weight decay alone)",
                **_CURVE["decay"])
    ax.set_yscale("log")
    ax.set_ylabel("parameter norm", fontsize=FONT["label"])


def _finish_y(ax: Axes, panel: str, keep, arrays: Mapping) -> None:
    """y limits of the norm panel from ‖θ‖ alone (the decay law's tail would squash it)."""
    if panel == "norm":
        norm = np.asarray(arrays["param_norm"], dtype=np.float64)[keep]
        norm = norm[np.isfinite(norm) & (norm > 0)]
        if norm.size:
            ax.set_ylim(norm.min() / 1.6, 1.6 * norm.max())
            if norm.max() < 30 * norm.min():  # a decade or two: plain numbers 1, 2, 3, 5 × 10^k, not 2×10¹
                from matplotlib.ticker import FuncFormatter

                def plain(v: float, _pos) -> str:
                    mantissa = v / 10 ** math.floor(math.log10(v) + 1e-9) if v > 0 else 0
                    return f"{v:g}" if round(mantissa, 6) in (1, 2, 3, 5) else ""

                ax.yaxis.set_major_formatter(FuncFormatter(plain))
                ax.yaxis.set_minor_formatter(FuncFormatter(plain))


def _set_time_axes(rows, axis: _TimeAxis, summary: Mapping) -> None:
    mains = [m for m, _ in rows]
    earlies = [e for _, e in rows if e is not None]
    lo, hi = axis.main
    for ax in mains:
        if axis.scale == "log":
            ax.set_xscale("log")
        ax.set_xlim(axis.x(np.float64(lo)) if axis.scale == "ln" else lo,
                    axis.x(np.float64(hi)) if axis.scale == "ln" else hi)
    for ax in earlies:
        ax.set_xscale("log")
        ax.set_xlim(*axis.early)
    # time markers, in every panel where they fall
    marks = []
    T_minus, T_plus = _num(summary.get("T_minus")), _num(summary.get("T_plus"))
    if T_minus is not None and T_plus is not None:
        marks.append(("band", (T_minus, T_plus), f"[T⁻, T⁺] = [{_fmt_t(T_minus)}, {_fmt_t(T_plus)}]"))
    t_theory = _num(summary.get("t_theory"))
    if t_theory is not None and t_theory > 0:
        marks.append(("t_theory", t_theory, f"t_theory = ln(α)/λ = {_fmt_t(t_theory)}"))
    t_star = _num(summary.get("t_transition"))
    if t_star is not None and t_star > 0:
        ln = f", ln t* = {math.log(t_star):.4g}" if axis.scale == "ln" else ""
        marks.append(("t_transition", t_star, f"t* = {_fmt_t(t_star)}{ln} (measured transition)"))
    for ax in mains + earlies:
        a, b = ax.get_xlim()
        for kind, where, label in marks:
            if kind == "band":
                x0, x1 = float(axis.x(np.float64(where[0]))), float(axis.x(np.float64(where[1])))
                if ax in earlies:
                    x0, x1 = where
                if x1 > a and x0 < b:
                    ax.axvspan(max(x0, a), min(x1, b), label=label, **_BAND)
                continue
            xv = where if ax in earlies else float(axis.x(np.float64(where)))
            if a <= xv <= b:
                # a "v" pointer at the top of the line (drawn outside the clip box, so only inside the limits)
                ax.axvline(xv, label=label, marker="v", markevery=[1], ms=7, clip_on=False, **_TIME[kind])
    for ax in mains + earlies:
        ax.grid(alpha=0.35, which="major")
        ax.tick_params(labelsize=FONT["tick"])
    for ax in mains[:-1] + earlies[:-1]:
        ax.tick_params(labelbottom=False)
    if earlies:
        for ax, main in zip(earlies, mains, strict=True):  # the y label belongs on the far left
            ax.set_ylabel(main.get_ylabel(), fontsize=FONT["label"])
            ax.tick_params(labelleft=True)
            main.set_ylabel("")
            main.tick_params(which="both", labelleft=False)
        pad = 24 if axis.scale in ("split", "linear") else 6  # room for the time labels above the main panel
        earlies[0].set_title("early phase, log t", fontsize=FONT["title"], pad=pad)
        mains[0].set_title("through the transition, linear t" if axis.scale == "split" else "whole run, linear t",
                           fontsize=FONT["title"], pad=pad)
        earlies[-1].set_xlabel("t (log scale)", fontsize=FONT["label"])
    bottom = mains[-1]
    if axis.scale == "ln":
        bottom.set_xlabel("ln t  (t: gradient-flow time)", fontsize=FONT["label"])
        top = mains[0].secondary_xaxis("top", functions=(lambda v: v / math.log(10), lambda v: v * math.log(10)))
        top.set_xlabel("log₁₀ t", fontsize=FONT["note"])
        top.tick_params(labelsize=FONT["tick"])
    else:
        bottom.set_xlabel("t (gradient-flow time)", fontsize=FONT["label"])


def _legend_outside(main: Axes, early: Axes | None, times: bool) -> None:
    """One legend per row, right of the main panel; the time markers are listed in the first row only."""
    seen: dict[str, object] = {}
    for ax in (main, early):
        if ax is None:
            continue
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    time_labels = [lab for lab in seen if lab.startswith(("t* =", "t_theory =", "[T⁻, T⁺]"))]
    if not times:
        for lab in time_labels:
            seen.pop(lab)
    if seen:
        main.legend(list(seen.values()), list(seen), loc="upper left", bbox_to_anchor=(1.01, 1.0),
                    fontsize=FONT["legend"], frameon=False, borderaxespad=0.0, handlelength=2.6)


def _label_times(ax: Axes, axis: _TimeAxis, summary: Mapping) -> None:
    """Names of the time markers above the top panel.

    Labels closer than 7 % of the axis are grouped: two are set left and right of their lines, more are
    joined into one label.
    """
    from matplotlib.transforms import blended_transform_factory

    names = []
    for key, text in (("T_minus", "T⁻"), ("t_theory", "ln α/λ"), ("t_transition", "t*"), ("T_plus", "T⁺")):
        value = _num(summary.get(key))
        if value is not None and value > 0:
            names.append((float(axis.x(np.float64(value))), text))
    a, b = ax.get_xlim()
    names = sorted((xv, text) for xv, text in names if a <= xv <= b)
    groups: list[list[tuple[float, str]]] = []
    for item in names:
        if groups and item[0] - groups[-1][-1][0] < 0.07 * (b - a):
            groups[-1].append(item)
        else:
            groups.append([item])
    trans = blended_transform_factory(ax.transData, ax.transAxes)

    def put(xv: float, text: str, ha: str) -> None:
        ax.text(xv, 1.035, text, transform=trans, ha=ha, va="bottom", fontsize=FONT["note"])

    for group in groups:
        if len(group) == 1:
            put(group[0][0], group[0][1], "center")
        elif len(group) == 2:
            put(group[0][0], group[0][1] + " ", "right")
            put(group[1][0], " " + group[1][1], "left")
        else:
            put(float(np.mean([xv for xv, _ in group])), ", ".join(text for _, text in group), "center")


# ----------------------------------------------------------------------------------------------------
# Trend over α (theorem check)
# ----------------------------------------------------------------------------------------------------


def plot_trend(alphas: Sequence[float], deficits: dict[str, list], *, title: str = "",
               ylabel: str = "1 − cos") -> Figure:
    """Deficits (1 − cos, or relative distances) against α on log–log axes, one series per theorem.

    Paper Thm 3.4/3.5: at T⁻ the direction tends to the kernel predictor and at T⁺ to the rich one as α → ∞,
    so each series should fall with α. Values that are None or ≤ 0 cannot be drawn on a log axis and are
    left out (a note says how many).
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.2, 4.6), layout="constrained")
    ax = fig.add_subplot()
    dropped = 0
    for i, (label, values) in enumerate(deficits.items()):
        if len(values) != len(alphas):
            raise InputError(f"deficits {label!r} has {len(values)} values for {len(alphas)} values of α")
        pairs = [(float(a), float(v)) for a, v in zip(alphas, values, strict=True)
                 if v is not None and math.isfinite(v) and v > 0]
        dropped += len(values) - len(pairs)
        marker, ls = _SERIES[i % len(_SERIES)]
        if pairs:
            xs, ys = zip(*pairs, strict=True)
            ax.plot(xs, ys, marker=marker, ls=ls, lw=2, ms=8, color=f"C{i}", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("α (initialization scale)", fontsize=FONT["label"])
    ax.set_ylabel(ylabel, fontsize=FONT["label"])
    ax.tick_params(labelsize=FONT["tick"])
    ax.grid(alpha=0.35, which="major")
    if dropped:
        ax.text(0.02, 0.02, f"{dropped} value(s) None or ≤ 0 not shown", transform=ax.transAxes,
                fontsize=FONT["note"], color="0.3")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=FONT["legend"], loc="best")
    if title:
        ax.set_title(title, fontsize=FONT["title"])
    return fig


# ----------------------------------------------------------------------------------------------------
# Sweep
# ----------------------------------------------------------------------------------------------------


def plot_scaling(rows: list[dict], fits: list[ScalingFit], *, title: str = "") -> Figure:
    """The sweep figure: λ·t* against ln α with the fitted line per λ; λ·width against α.

    Left: the ln(α)/λ law λ·t* = ln α − c₀ (docs/math.md#regimes). Each λ's legend entry states the least-squares line
    (slope, intercept, R², or "R² n/a" when fewer than 3 distinct α make the fit exact) and the mean ± sd of
    the per-run offsets c₀ = ln α − λ·t* (equal to −intercept only when the slope is 1). Right: λ·width
    (10–90 %) against α: the width is O(1/λ) and independent of α when the curves of all λ collapse onto one
    flat line. Without ``title`` the title is built from the rows' ``options`` column (unset values left out).
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13.5, 5.4), layout="constrained")
    ax, bx = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.25, 1]})
    for i, fit in enumerate(fits):
        color = f"C{i}"
        marker, ls = _SERIES[i % len(_SERIES)]
        use = [r for r in rows if fit.holds(r) and r.get("status", "ok") == "ok"
               and _num(r.get("t_transition")) is not None and float(r["alpha"]) > 0]
        x = [math.log(float(r["alpha"])) for r in use]
        y = [fit.lam * float(r["t_transition"]) for r in use]
        ax.plot(x, y, ls="none", marker=marker, ms=8, color=color)
        if x and math.isfinite(fit.slope):
            xs = np.array([min(x), max(x)])
            ax.plot(xs, fit.slope * xs + fit.intercept, ls=ls, lw=1.8, color=color)
        # one legend entry per λ: marker and line together
        ax.plot([], [], ls=ls, marker=marker, ms=8, lw=1.8, color=color, label=_fit_label(fit))
        wide = [(float(r["alpha"]), fit.lam * float(r["transition_width"])) for r in use
                if _num(r.get("transition_width")) is not None]
        if wide:
            bx.plot(*zip(*wide, strict=True), marker=marker, ls=ls, ms=8, lw=1.8, color=color,
                    label=fit.label)
    ax.set_xlabel("ln α", fontsize=FONT["label"])
    ax.set_ylabel("λ · t*", fontsize=FONT["label"])
    ax.set_title("transition time: λ·t* = ln α − c₀", fontsize=FONT["title"])
    bx.set_xscale("log")
    bx.set_xlabel("α", fontsize=FONT["label"])
    bx.set_ylabel("λ · width (10–90 %)", fontsize=FONT["label"])
    bx.set_title("transition width × λ: flat and equal across λ ⇔ width = O(1/λ)", fontsize=FONT["title"])
    if bx.get_lines():
        top = max(float(np.nanmax(line.get_ydata())) for line in bx.get_lines())
        bx.set_ylim(0, 1.25 * top if top > 0 else 1)
    ax.text(0.98, 0.03, "c₀ = −intercept only when the slope is 1", transform=ax.transAxes, ha="right",
            fontsize=FONT["note"], color="0.3")
    for a in (ax, bx):
        a.grid(alpha=0.35, which="major")
        a.tick_params(labelsize=FONT["tick"])
        if a.get_legend_handles_labels()[0]:
            a.legend(fontsize=FONT["legend"], loc="upper left" if a is ax else "lower right")
    title = title or title_from_rows(rows)
    if title:
        fig.suptitle(title, fontsize=FONT["suptitle"])
    return fig


def _fit_label(fit: ScalingFit) -> str:
    """λ, the fitted line and c₀, each named, in two lines."""
    def g(v: float, spec: str) -> str:
        return "n/a" if v is None or not math.isfinite(v) else format(v, spec).replace("-", "−")

    few = fit.underdetermined or fit.n_points < 3
    r2 = f"R² = {g(fit.r2, '.4f')}"
    if few:  # a line through < 3 distinct α fits them exactly: R² = 1 says nothing
        r2 = f"R² n/a ({fit.n_points} points)" if fit.n_points < 3 else "R² n/a (< 3 distinct α)"
    c0 = f"c₀ = ln α − λt*: {g(fit.c0_mean, '.2f')}"
    if math.isfinite(fit.c0_std):
        c0 += f" ± {fit.c0_std:.2g}" if fit.c0_std < 0.01 else f" ± {fit.c0_std:.2f}"
        c0 += " (mean ± sd)"
    return (f"{fit.label} ({fit.n_points} runs): slope {g(fit.slope, '.3f')}, "
            f"intercept {g(fit.intercept, '.2f')}, {r2}\n{c0}")


def title_from_rows(rows: Sequence[Mapping]) -> str:
    """The title of a sweep's figures: :func:`title_from_options` of the options every row shares (the rows'
    ``options`` column without the options that differ between them, such as a varied ``n``; "" when the rows
    hold no options)."""
    import json

    shared: dict | None = None
    for key in {r.get("options") for r in rows if r.get("options")}:
        try:
            options = json.loads(key)
        except (TypeError, ValueError):
            return ""
        if not isinstance(options, dict):
            return ""
        shared = options if shared is None else {k: v for k, v in shared.items() if k in options and options[k] == v}
    return title_from_options(shared) if shared else ""
