"""Figures of a run (matplotlib's object-oriented API: no backend is chosen, no display needed)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..errors import InputError

FIGURE_SUFFIXES = (".png", ".pdf", ".svg")


def _figure(nrows: int = 1, ncols: int = 1, **kwargs):
    from matplotlib.figure import Figure

    fig = Figure(figsize=kwargs.pop("figsize", (6, 4)), dpi=kwargs.pop("dpi", 120))
    axes = fig.subplots(nrows, ncols, **kwargs)
    return fig, axes


def save_figure(fig, path) -> Path:
    """Write ``fig`` to ``path`` (format by suffix: .png, .pdf or .svg), atomically, with normal permissions."""
    from ..files import atomic_write

    path = Path(path)
    fmt = path.suffix.lower()
    if fmt not in FIGURE_SUFFIXES:
        raise InputError(f"plot file {str(path)!r} must end in {', '.join(FIGURE_SUFFIXES)}")
    fig.tight_layout()
    return atomic_write(path, lambda fh: fig.savefig(fh, format=fmt[1:]))


def _save(fig, path) -> Path:
    return save_figure(fig, path)


def _mark_times(ax, summary: dict, legend: bool, xf=lambda s: s) -> None:
    if summary.get("t_theory") is not None:  # none without weight decay (λ = 0)
        ax.axvline(xf(summary["t_theory"]), color="k", ls="--", lw=1,
                   label=r"$t_{theory}=\ln(\alpha)/\lambda$" if legend else None)
    if summary.get("t_transition"):
        ax.axvline(xf(summary["t_transition"]), color="tab:red", ls=":", lw=1.5,
                   label=f"transition t*={summary['t_transition']:.4g}" if legend else None)
    if summary.get("T_minus") and summary.get("T_plus"):
        ax.axvspan(xf(summary["T_minus"]), xf(summary["T_plus"]), color="0.5", alpha=0.08,
                   label=r"$[T^-, T^+]$" if legend else None)


def plot_run(arrays: dict, summary: dict, *, title: str = "", lam: float | None = None, model: str = "diagonal"):
    """The story of a run in three panels sharing a log-t axis (the paper's Figure 1 and its explanation).

    1. train/test metric, with the reference predictors' own test values as horizontal lines;
    2. alignment with the kernel and rich predictors (cosines, or relative distances for matrix runs),
       with the implicit-bias switch marked;
    3. ‖θ(t)‖ against ‖θ(0)‖·e^{−λt} (dashed; = α·e^{−λt} for the diagonal net), the norm decay that ends the
       kernel regime.
    t_theory, the measured transition t* and the theorem window [T⁻, T⁺] are marked on every panel.
    """
    t = arrays["t"]
    keep = t > 0
    # runs without weight decay reach t ≈ 1e300, where matplotlib's log axis overflows: plot against ln t
    ln_axis = bool(np.any(keep)) and float(t[keep][-1]) > 1e200
    x = np.log(t[keep]) if ln_axis else t[keep]
    xf = math.log if ln_axis else (lambda s: s)
    has_alignment = "cos_kernel" in arrays or "dist_kernel" in arrays
    rows = 2 + has_alignment
    fig, axes = _figure(rows, 1, figsize=(7.5, 2.6 * rows + 0.6), dpi=120, sharex=True)
    ax = axes[0]
    classification = "train_acc" in arrays
    curves = (("train_acc", "train accuracy"), ("test_acc", "test accuracy (sample)"),
              ("test_acc_population", "test accuracy (population)")) if classification else (
        ("train_loss", "train loss"), ("test_loss", "test loss (sample)"),
        ("test_loss_population", "test loss (population)"))
    for key, label in curves:
        if key in arrays:
            ax.plot(x, arrays[key][keep], label=label, lw=1.6)
    for name, color in (("kernel", "tab:purple"), ("rich", "tab:green")):
        value = summary.get(f"{name}_test")
        if value is not None and math.isfinite(value):
            ax.axhline(value, color=color, ls="-.", lw=1, label=f"{name} predictor: {value:.3g}")
    if classification:
        ax.set_ylim(-0.02, 1.02)
    else:
        ax.set_yscale("log")
    ax.set_ylabel("accuracy" if classification else "loss")
    _mark_times(ax, summary, legend=True, xf=xf)
    ax.legend(fontsize=7, loc="best")
    ax.set_title(title, fontsize=9)

    if has_alignment:
        ax = axes[1]
        if "cos_kernel" in arrays:
            ax.plot(x, arrays["cos_kernel"][keep], color="tab:purple", label=r"cos($w$, kernel predictor)")
            ax.plot(x, arrays["cos_rich"][keep], color="tab:green", label=r"cos($w$, rich predictor)")
            ax.set_ylabel("cosine")
        else:
            ax.plot(x, arrays["dist_kernel"][keep], color="tab:purple", label="distance to kernel predictor")
            ax.plot(x, arrays["dist_rich"][keep], color="tab:green", label="distance to rich predictor")
            ax.set_ylabel("relative distance")
        if summary.get("t_bias_switch"):
            ax.axvline(xf(summary["t_bias_switch"]), color="tab:orange", lw=1.2,
                       label=f"bias switch {summary['t_bias_switch']:.4g}")
        _mark_times(ax, summary, legend=False, xf=xf)
        ax.legend(fontsize=7, loc="best")

    ax = axes[-1]
    ax.plot(x, arrays["param_norm"][keep], color="tab:blue", label=r"$\|\theta(t)\|$")
    if lam is not None and lam > 0 and t.size:
        # the norm weight decay alone would leave: α·e^{−λt} for the diagonal net (‖θ(0)‖ = α), the same law from
        # the He-initialized norm for the MLP
        ax.plot(x, arrays["param_norm"][0] * np.exp(-lam * (t[keep] - t[0])), "k--", lw=1,
                label=r"$\|\theta(0)\|\,e^{-\lambda t}$")
    ax.set_yscale("log")
    ax.set_ylim(bottom=0.3 * float(np.min(arrays["param_norm"][keep], initial=np.inf)))
    ax.set_ylabel("parameter norm")
    _mark_times(ax, summary, legend=False, xf=xf)
    ax.legend(fontsize=7, loc="best")
    if ln_axis:
        ax.set_xlabel("ln t (gradient-flow time)")
    else:
        ax.set_xscale("log")
        ax.set_xlabel("t (gradient-flow time)")
    for a in axes:
        a.grid(alpha=0.3, which="both")
    return fig


def plot_trend(alphas, deficits: dict[str, list], *, title: str = "", ylabel: str = "1 − cos"):
    """Deficits (1 − cos, or distances) against α (log–log): the theorem check across runs, one line per theorem."""
    fig, ax = _figure(figsize=(6, 4), dpi=120)
    for label, values in deficits.items():
        pairs = [(a, v) for a, v in zip(alphas, values, strict=True) if v is not None and v > 0]
        if pairs:
            ax.plot(*zip(*pairs, strict=True), "o-", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"$\alpha$")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return fig


def plot_scaling(rows: list[dict], fits: list, *, title: str = ""):
    """Sweep figure: λ·t* against ln α with one fitted line per λ, and the transition width against α."""
    fig, (ax, bx) = _figure(1, 2, figsize=(10.5, 4.2), dpi=120)
    for i, fit in enumerate(fits):
        color = f"C{i}"
        use = [r for r in rows if r["lam"] == fit.lam and r["status"] == "ok" and r["t_transition"] is not None]
        x = [math.log(r["alpha"]) for r in use]
        ax.plot(x, [fit.lam * r["t_transition"] for r in use], "o", color=color, ms=4)
        if x and math.isfinite(fit.slope):
            xs = [min(x), max(x)]
            ax.plot(xs, [fit.slope * v + fit.intercept for v in xs], "-", color=color, lw=1.2,
                    label=f"λ={fit.lam:g}: slope {fit.slope:.3f}, c₀={-fit.intercept:.2f}, R²={fit.r2:.4f}")
        wide = [r for r in use if r["transition_width"] is not None]
        bx.plot([r["alpha"] for r in wide], [r["transition_width"] for r in wide], "o-", color=color, ms=4,
                lw=1, label=f"λ={fit.lam:g}")
    ax.set_xlabel(r"$\ln \alpha$")
    ax.set_ylabel(r"$\lambda\, t^*$")
    ax.set_title("transition time: λ·t* = ln α − c₀", fontsize=9)
    bx.set_xscale("log")
    bx.set_yscale("log")
    bx.set_xlabel(r"$\alpha$")
    bx.set_ylabel("transition width (10–90 %)")
    bx.set_title("transition width", fontsize=9)
    for a in (ax, bx):
        a.grid(alpha=0.3, which="both")
        if a.get_legend_handles_labels()[0]:
            a.legend(fontsize=7, loc="best")
    if title:
        fig.suptitle(title, fontsize=9)
    return fig
