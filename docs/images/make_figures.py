"""Example figures of the documentation: docs/images/*.png.

    python docs/images/make_figures.py [OUTDIR]      # default: the directory of this script

Small problem sizes, so that it runs in about a minute on 2 cores (numba's compiled kernels cached). Each
figure is built by the public plotting functions from ``grokode.integrate`` runs:

* grokking.png — the worked example of the README (sparse task, n = 256, d = 10⁴, α = 1e3, λ = 1e-3);
* misgrokking.png — the large-margin task (n = 64, d = 2000): the test accuracy falls at the transition;
* matrix.png — matrix completion, the multiplication table (d = 30, 25 % observed, α = 100, λ = 1e-3);
* mlp.png — modular addition, a small two-layer ReLU net (p = 23, width 64, 80 % of the pairs, α = 32,
  λ = 4e-3, GD lr 0.2 to t = 3000: the slowest figure, ~45 CPU-s);
* lam0.png — no weight decay (n = 64, d = 200, α = 10, λ = 0): the transition spreads over ln t, to t = 1e300;
* sweep.png — λ·t* against ln α and λ·width against α (n = 64, d = 500, α = 1e2…1e6, λ = 1e-2 and 1e-3);
* trend.png — the theorem check 1 − cos at T∓ against α (n = 64, d = 500, λ = 1e-2);
* implicit_path.png — the finite-α predictor at λ = 0 from min-ℓ2 (large α) to min-ℓ1 (small α), with the final w
  of five λ = 0 runs (sparse regression, n = 32, d = 100).
* staircase.png — small α (u0 = 1e-8, λ = 0, squared loss) on Gaussian data (n = 20, d = 40, a 4-sparse teacher,
  the data of benchmarks/saddle_table.py): the loss staircase and the jumps the α → 0 limit predicts (with their
  first-order terms).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import grokode
from grokode.analysis.plots import plot_scaling, plot_trend, save_figure, title_from_options

SWEEP = {"task": "sparse", "n": 64, "d": 500, "n_test": 0}


def run_figure(out: Path, name: str, **options) -> None:
    """Integrate one run and write its figure ``out/name.png``: the figure ``grokode integrate`` writes."""
    start = time.perf_counter()
    run = grokode.integrate(**options)
    run.plot(out / f"{name}.png", force=True)
    print(f"{name}.png: t* = {run.summary['t_transition']}, {time.perf_counter() - start:.1f} s", flush=True)


def sweep_figure(out: Path) -> None:
    """λ·t* against ln α over a small grid, each point one ``grokode.integrate`` run (rows as in a sweep file)."""
    start = time.perf_counter()
    rows = []
    for lam in (1e-2, 1e-3):
        for alpha in (1e2, 1e3, 1e4, 1e5, 1e6):
            s = grokode.integrate(alpha=alpha, lam=lam, **SWEEP).summary
            rows.append({"alpha": alpha, "lam": lam, "status": s["status"], "t_transition": s["t_transition"],
                         "transition_width": s["transition_width"]})
    fits = grokode.fit_scaling(rows)
    title = title_from_options({"model": "diagonal", "depth": 2, **SWEEP})
    save_figure(plot_scaling(rows, fits, title=title), out / "sweep.png")
    print(f"sweep.png: slopes {[round(f.slope, 4) for f in fits]}, {time.perf_counter() - start:.1f} s", flush=True)


def trend_figure(out: Path) -> None:
    """1 − cos to the kernel predictor at T⁻ and to the rich one at T⁺, at three α (paper Thm 3.4/3.5)."""
    start = time.perf_counter()
    trend = grokode.theorem_trend([grokode.integrate(alpha=alpha, lam=1e-2, **SWEEP).analysis
                                   for alpha in (1e2, 1e3, 1e4, 1e5, 1e6)])
    deficits = {"kernel predictor at T⁻": trend.deficits(trend.kernel_at_Tminus),
                "rich predictor at T⁺": trend.deficits(trend.rich_at_Tplus)}
    title = f"theorem check, c = 0.5: {title_from_options({'model': 'diagonal', 'depth': 2, **SWEEP})}, λ = 0.01"
    save_figure(plot_trend(trend.alphas, deficits, title=title), out / "trend.png")
    print(f"trend.png: {time.perf_counter() - start:.1f} s", flush=True)


def implicit_path_figure(out: Path) -> None:
    """The finite-α predictor w_implicit(α) at λ = 0 between the min-ℓ2 and the min-ℓ1 interpolant, and where
    λ = 0 runs end (sparse regression, n = 32, d = 100, k = 3)."""
    import math

    import numpy as np
    from matplotlib.figure import Figure

    from grokode.analysis.implicit_bias import DiagonalProfile, implicit_interpolant
    from grokode.analysis.predictors import min_l1_interpolant, min_l2_interpolant
    from grokode.tasks import make_task

    start = time.perf_counter()
    n, d = 32, 100
    ds = make_task("sparse-regression", n=n, d=d, k=3, gamma=5.0, n_test=0, seed=0)
    w_l2, w_l1 = min_l2_interpolant(ds.X, ds.y).w, min_l1_interpolant(ds.X, ds.y).w

    def dist(w, ref):
        return float(np.linalg.norm(w - ref) / np.linalg.norm(ref))

    alphas = np.logspace(-8, 5, 53)
    path = [implicit_interpolant(ds.X, ds.y, DiagonalProfile(2), math.log(a / math.sqrt(2 * d))).w for a in alphas]
    run_alphas = (1e-6, 1e-3, 1e-1, 1e1, 1e3)
    finals = [grokode.integrate(task="sparse-regression", n=n, d=d, n_test=0, alpha=a, lam=0).arrays["w"][-1]
              for a in run_alphas]
    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.add_subplot()
    ax.semilogx(alphas, [dist(w, w_l2) for w in path], color="C0", label="w_implicit to min-ℓ2")
    ax.semilogx(alphas, [dist(w, w_l1) for w in path], color="C3", label="w_implicit to min-ℓ1 (basis pursuit)")
    ax.semilogx(run_alphas, [dist(w, w_l2) for w in finals], "o", color="C0", mfc="none", label="final w of a run")
    ax.semilogx(run_alphas, [dist(w, w_l1) for w in finals], "o", color="C3", mfc="none")
    ax.set_xlabel("initialization scale α  (u0 = α/√(2d))", fontsize=10)
    ax.set_ylabel("relative ℓ2 distance", fontsize=10)
    ax.set_title(f"finite-α interpolant at λ = 0: diagonal net, sparse regression n = {n}, d = {d}", fontsize=10)
    ax.tick_params(labelsize=9)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=9)
    save_figure(fig, out / "implicit_path.png")
    print(f"implicit_path.png: {time.perf_counter() - start:.1f} s", flush=True)


def staircase_figure(out: Path) -> None:
    """The small-α staircase on the data of benchmarks/saddle_table.py (seed 2, k = 4), u0 = 1e-8."""
    import math
    import tempfile

    import numpy as np

    rng = np.random.default_rng(2)
    X = rng.standard_normal((20, 40))
    teacher = np.zeros(40)
    teacher[rng.choice(40, 4, replace=False)] = rng.standard_normal(4)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gauss.npz"
        np.savez(path, X=X, y=X @ teacher)
        run_figure(out, "staircase", data=str(path), alpha=1e-8 * math.sqrt(80), lam=0.0, loss="squared")


def main(out: Path) -> None:
    start = time.perf_counter()
    run_figure(out, "grokking", alpha=1e3, lam=1e-3)
    run_figure(out, "misgrokking", task="margin", n=64, d=2000, n_test=0, alpha=1e3, lam=1e-3)
    run_figure(out, "matrix", model="matrix", alpha=100, lam=1e-3)
    run_figure(out, "mlp", model="mlp", p=23, width=64, frac=0.8, method="gd", lr=0.2, alpha=32, lam=4e-3,
               t_end=3000)
    run_figure(out, "lam0", n=64, d=200, n_test=0, alpha=10, lam=0)
    sweep_figure(out)
    trend_figure(out)
    implicit_path_figure(out)
    staircase_figure(out)
    print(f"all figures in {out} ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent)
