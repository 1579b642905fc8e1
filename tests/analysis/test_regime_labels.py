"""The regime labels of a sweep over α × λ (docs/math.md#regimes-of-a-run), with the logistic and the squared loss.

The references are the labels the theory gives: a small initialization has no kernel plateau (``rich``), a large
one fits the training set with the kernel predictor, then switches to the rich predictor near ln(α)/λ
(``grokking``), and on the large-margin task the switch lowers the test metric (``misgrokking``).
"""

from __future__ import annotations

import csv
import math
import subprocess
import sys

import numpy as np
import pytest

import grokode
from grokode.analysis.regime import classify_regression_regime

ALPHAS = (1e-4, 1e-1, 1e2, 1e6)
LAMS = (1e-2, 3e-2)
EXPECTED = {1e-4: "rich", 1e-1: "rich", 1e2: "grokking", 1e6: "grokking"}


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_sweep_labels_small(loss):
    """n 24, d 120: every point of the α × λ grid runs and gets the theory's label."""
    labels = {(a, lam): grokode.integrate(task="sparse", n=24, d=120, alpha=a, lam=lam, loss=loss).summary["regime"]
              for a in ALPHAS for lam in LAMS}
    assert labels == {(a, lam): EXPECTED[a] for a in ALPHAS for lam in LAMS}


def test_sparse_regression_with_decay_ends_at_the_lasso_and_is_labelled_from_it():
    """A regression task with weight decay: the flow ends at the weighted lasso argmin L(w) + (λ/2)‖w‖₁ (not at the
    min-ℓ1 interpolant, whose test loss is 0 on this noiseless sparse teacher), so that is the rich level. The final
    w is checked against the lasso's KKT conditions computed here from the data, independently of the solver."""
    lam = 1e-2
    labels = {}
    for alpha in (1e-4, 1e6):
        run = grokode.integrate(task="sparse-regression", n=24, d=120, alpha=alpha, lam=lam)
        labels[alpha] = run.summary["regime"]
        data, w = run.dataset, np.asarray(run.arrays["w"])[-1]
        X, y = np.asarray(data.X, dtype=np.float64), data.y
        grad = 2.0 / len(y) * X.T @ (X @ w - y)  # stationarity of the lasso: grad_j = −(λ/2)·sign(w_j) on the support
        active = np.abs(w) > 1e-2 * np.abs(w).max()  # the rest still decays towards 0 at the horizon
        assert np.allclose(grad[active], -0.5 * lam * np.sign(w[active]), rtol=1e-3, atol=1e-6 * lam)
        assert np.all(np.abs(grad[~active]) <= 0.5 * lam * (1 + 1e-3))
        assert run.summary["rich_decay_test"] is not None
        # the smallest coordinates still decay at the horizon: the test loss is within a quarter of the lasso's
        assert math.isclose(run.summary["test_final"], run.summary["rich_decay_test"], rel_tol=0.25)
    assert labels == {1e-4: "rich", 1e6: "grokking"}


def test_references_a_third_of_a_decade_apart():
    """The squared loss on ±1 labels with weight decay: kernel and rich test losses 0.97 and 0.45 (0.33 decades,
    less than the 0.5-decade tolerance); the training loss sits on decay's floor 1.5e-3 of the largest. A kernel
    plateau and a switch to the rich level is grokking; the switch from the start is rich."""
    t = np.geomspace(1e-3, 3e3, 300)
    floor = 1.5e-3
    plateau = np.where(t < 1e3, 0.9735, 0.4446)
    fitted_early = np.where(t < 1e-2, 1e-8, floor)  # the kernel fits at once; decay then lifts the loss to its floor
    assert classify_regression_regime(t, fitted_early, plateau, 0.9735, 0.4522) == "grokking"
    fitting_late = np.where(t < 5.0, 1.0, floor)
    switch_early = np.where(t < 5.0, 1.0, 0.4437)
    assert classify_regression_regime(t, fitting_late, switch_early, 0.9735, 0.4522) == "rich"
    flat = np.full_like(t, 0.9735)
    assert classify_regression_regime(t, fitted_early, flat, 0.9735, 0.4522) == "kernel"
    assert classify_regression_regime(t, np.ones_like(t), flat, 0.9735, 0.4522) == "none"
    # a gap of 0.33 decades: the tolerance is a quarter of it, so a loss halfway between is neither level
    halfway = np.where(t < 1e3, 0.9735, math.sqrt(0.9735 * 0.4522))
    assert classify_regression_regime(t, fitted_early, halfway, 0.9735, 0.4522) == "incomplete"


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["logistic", "squared"])
def test_sweep_of_the_issue(tmp_path, loss):
    """`grokode sweep --alpha 1e-4,1e-1,1e2,1e6 --lam 1e-2,3e-2 --n 64 --d 500`: every point runs; α = 1e-4 rich and
    α = 1e6 grokking; the margin task at α = 1e6 misgrokks."""
    out = tmp_path / f"{loss}.csv"
    done = subprocess.run([sys.executable, "-m", "grokode", "sweep", "--alpha", ",".join(map(str, ALPHAS)),
                           "--lam", ",".join(map(str, LAMS)), "--n", "64", "--d", "500", "--loss", loss,
                           "--workers", "1", "--out", str(out), "--no-plot"], capture_output=True, text=True,
                          timeout=1200)
    assert done.returncode == 0, done.stderr
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 8 and all(r["status"] == "ok" for r in rows)
    labels = {(float(r["alpha"]), float(r["lam"])): r["regime"] for r in rows}
    assert labels == {(a, lam): EXPECTED[a] for a in ALPHAS for lam in LAMS}
    for lam in LAMS:
        margin = grokode.integrate(task="margin", n=64, d=500, alpha=1e6, lam=lam, loss=loss)
        assert margin.summary["regime"] == "misgrokking"
