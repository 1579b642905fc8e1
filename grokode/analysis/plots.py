"""Figures of a run (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_run(arrays: dict, summary: dict, path: str | Path, title: str = "") -> Path:
    """Train/test metric against t (log axis) with t_theory and the measured transition marked."""
    path = Path(path)
    t = arrays["t"]
    keep = t > 0
    fig, ax = plt.subplots(figsize=(7.5, 4.2), dpi=120)
    classification = "train_acc" in arrays
    curves = (("train_acc", "train accuracy"), ("test_acc", "test accuracy (sample)"),
              ("test_acc_population", "test accuracy (population)")) if classification else (
        ("train_loss", "train loss"), ("test_loss", "test loss (sample)"),
        ("test_loss_population", "test loss (population)"))
    for key, label in curves:
        if key in arrays:
            ax.plot(t[keep], arrays[key][keep], label=label, lw=1.6)
    if not classification:
        ax.set_yscale("log")
    ax.set_xscale("log")
    ax.axvline(summary["t_theory"], color="k", ls="--", lw=1, label=r"$t_{theory}=\ln(\alpha)/\lambda$")
    if summary.get("t_transition"):
        ax.axvline(summary["t_transition"], color="tab:red", ls=":", lw=1.5,
                   label=f"transition t*={summary['t_transition']:.4g}")
    ax.set_xlabel("t (gradient-flow time)")
    ax.set_ylabel("accuracy" if classification else "loss")
    if classification:
        ax.set_ylim(-0.02, 1.02)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path



def plot_scaling(rows: list[dict], fits: list, path: str | Path, title: str = "") -> Path:
    """Sweep figure: λ·t* against ln α with one fitted line per λ, and the transition width against α."""
    import math

    path = Path(path)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10.5, 4.2), dpi=120)
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
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
