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

