"""Every α > 0 runs (docs/math.md#alpha-axis): small-α starts and horizons, the activation estimate, refusals.

References: closed forms of the frozen-gradient activation solved with scipy's brentq, and an independent
integration of the full 2d flow (scipy solve_ivp on log u, log v, written here).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

import grokode
from grokode.analysis.alpha_axis import activation_time
from grokode.analysis.implicit_bias import DiagonalProfile
from grokode.errors import InputError
from grokode.tasks import make_task


def _g(n=20, d=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(d) / 3.0


@pytest.mark.parametrize("lam", [0.0, 0.05])
@pytest.mark.parametrize("u0", [1e-2, 1e-6, 1e-12])
def test_activation_time_depth2(u0, lam):
    """|w| = 2u0² e^{−2λt} sinh(4|g|t) = 1 under a frozen gradient g."""
    g = _g()
    gm = float(np.max(np.abs(g)))
    def log_w(t):  # log(2u0² e^{−2λt} sinh(4|g|t)), sinh in logs
        x = 4 * gm * t
        return math.log(u0 * u0) - 2 * lam * t + x + math.log1p(-math.exp(-2 * x))

    ref = brentq(log_w, 1e-12, 10 * math.log(1 / u0) / gm, xtol=1e-14, rtol=1e-13)
    assert activation_time(DiagonalProfile(2), math.log(u0), 2, lam, g) == pytest.approx(ref, rel=1e-9)
    assert ref == pytest.approx(math.log(1 / u0) / (2 * gm - lam), rel=0.2)  # the docs' rule of thumb


@pytest.mark.parametrize("L,u0", [(3, 1e-3), (4, 1e-2), (6, 0.1)])
def test_activation_time_deep(L, u0):
    """|u^L − v^L| = 1 with u, v = (u0^{2−L} ± L(L−2)Γ)^{−1/(L−2)}, Γ = |g|t (λ = 0), solved here."""
    g = _g()
    gm = float(np.max(np.abs(g)))

    def excess(t):
        k = L * (L - 2) * gm * t
        u = (u0 ** (2 - L) + k) ** (-1 / (L - 2))
        v = (u0 ** (2 - L) - k) ** (-1 / (L - 2))
        return abs(u**L - v**L) - 1.0

    t_end = u0 ** (2 - L) / (L * (L - 2) * gm)
    ref = brentq(excess, 1e-12, t_end * (1 - 1e-14), xtol=1e-14, rtol=1e-13)
    assert activation_time(DiagonalProfile(L), math.log(u0), L, 0.0, g) == pytest.approx(ref, rel=1e-9)
    assert ref < t_end


def test_activation_never_under_strong_decay():
    g = _g()
    assert activation_time(DiagonalProfile(2), math.log(1e-3), 2, 3 * float(np.max(np.abs(g))), g) == math.inf
    assert activation_time(DiagonalProfile(3), math.log(1e-3), 3, 1.0, g) == math.inf
    assert activation_time(DiagonalProfile(2), math.log(1e6), 2, 0.0, g) < 1e-12  # large α: |w| ≥ 1 at once


def _full_flow_w(X, y, u0, lam, t_eval):
    """w(t) of the full (u, v) flow, logistic loss, in log variables: da/dt = −2g − λ, db/dt = 2g − λ."""
    n, d = X.shape

    def rhs(t, ab):
        w = np.exp(2 * ab[:d]) - np.exp(2 * ab[d:])
        m = y * (X @ w)
        r = -y / (1.0 + np.exp(m))
        g = X.T @ r / n
        return np.concatenate([-2 * g - lam, 2 * g - lam])

    ab0 = np.full(2 * d, math.log(u0))
    sol = solve_ivp(rhs, (0.0, t_eval[-1]), ab0, t_eval=t_eval, method="LSODA", rtol=1e-11, atol=1e-12)
    return (np.exp(2 * sol.y[:d]) - np.exp(2 * sol.y[d:])).T


def test_small_alpha_reduced_flow_matches_the_full_flow():
    """u0 = 1e-4, λ > 0: the reduced flow starts before the first activation (it started after it before)."""
    n, d = 20, 40
    ds = make_task("sparse", n=n, d=d, k=3, gamma=5.0, n_test=0, seed=3)
    u0 = 1e-4
    times = [1.0, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0]
    run = grokode.integrate(task="sparse", n=n, d=d, n_test=0, seed=3, alpha=u0 * math.sqrt(2 * d), lam=1e-2,
                            t_eval=",".join(map(str, times)), rtol=1e-9, atol=1e-12)
    assert run.summary["status"] == "ok"
    ref = _full_flow_w(ds.X, ds.y, u0, 1e-2, np.array(times))
    W = run.arrays["w"]
    big = np.linalg.norm(ref, axis=1) > 1e-3  # compare where w is no longer at rounding level
    assert big.sum() >= 4
    err = np.linalg.norm(W[big] - ref[big], axis=1) / np.linalg.norm(ref[big], axis=1)
    assert err.max() < 1e-5


def test_the_issues_small_alpha_run():
    """grokode integrate --alpha 1e-4 --lam 1e-2: the run starts before its horizon and reaches it."""
    run = grokode.integrate(task="sparse", n=32, d=200, n_test=0, alpha=1e-4, lam=1e-2)
    s = run.summary
    assert s["status"] == "ok" and s["t_theory"] is None
    u0, gm = 1e-4 / math.sqrt(400), 0.5 * 0.5  # logistic r(0) = −y/2; a teacher coordinate's |E[x y]| = 1/2 (k = 3)
    assert s["t_activation"] == pytest.approx(math.log(1 / u0) / (2 * gm - 1e-2), rel=0.35)
    assert s["t_reached"] >= 700 + 3.9 * s["t_activation"]
    assert s["test_final"] > 0.95  # the rich predictor generalizes on the sparse task
    explicit = grokode.integrate(task="sparse", n=32, d=200, n_test=0, alpha=1e-4, lam=1e-2, t_end=3000)
    assert explicit.summary["status"] == "ok" and explicit.summary["t_reached"] == pytest.approx(3000)


def test_small_alpha_depth3_and_separable_run():
    deep = grokode.integrate(task="sparse", n=16, d=40, n_test=0, depth=3, alpha=1e-2, lam=1e-3)
    assert deep.summary["status"] == "ok" and math.isfinite(deep.summary["t_activation"])
    assert deep.summary["t_reached"] >= 4 * deep.summary["t_activation"]
    sep = grokode.integrate(model="separable", phi="u**2 - v**2", init="u=1, v=1", task="sparse", n=16, d=40,
                            n_test=0, alpha=1e-6, lam=1e-2)
    assert sep.summary["status"] == "ok" and sep.summary["t_theory"] is None


def test_small_alpha_matrix_runs():
    run = grokode.integrate(model="matrix", d=8, alpha=1e-6, lam=1e-2)
    s = run.summary
    assert s["status"] == "ok" and s["t_theory"] is None and s["t_activation"] > 0
    assert s["t_reached"] == pytest.approx(7 / 1e-2 + 4 * s["t_activation"])


@pytest.mark.parametrize("options,needle", [
    (dict(task="sparse", depth=3, alpha=1e-7, lam=0.0), "activates only at t ≈"),
    (dict(task="sparse-regression", depth=4, alpha=1e-3, lam=0.0), "use alpha ≥"),
    (dict(task="sparse-regression", alpha=1e200, lam=0.0), "below what float64 times hold"),
    (dict(model="matrix", d=8, alpha=1e160, lam=1e-2), "1e151"),
])
def test_unsupported_points_are_refused_in_one_line(options, needle):
    kw = dict(n=16, d=40, n_test=0) if options.get("model") != "matrix" else {}
    with pytest.raises(InputError, match=needle) as err:
        grokode.integrate(**kw, **options)
    assert "\n" not in str(err.value)


def test_deep_small_alpha_decay_wins_and_runs():
    """λ u0^{2−L} ≥ L max|g|: nothing activates; the run is not refused and decays to w ≈ 0."""
    run = grokode.integrate(task="sparse", n=16, d=40, n_test=0, depth=3, alpha=1e-6, lam=1e-2)
    assert run.summary["status"] == "ok" and run.summary["t_activation"] is None
    assert np.max(np.abs(run.arrays["w"][-1])) < 1e-12


# ---- regimes (docs/math.md#regimes-of-a-run) ------------------------------------------------------------


def _curves(fit_at, plateau, final, switch_at, kind="classification"):
    """Synthetic saved curves: training fitted from ``fit_at``, test metric ``plateau`` then ``final`` after
    ``switch_at`` (a step), on a log grid of t."""
    from grokode.analysis.regime import classify_regime

    t = np.geomspace(1e-3, 1e4, 200)
    loss = np.where(t >= fit_at, 1e-2, math.log(2.0))
    train = np.where(t >= fit_at, 1.0, 0.6) if kind == "classification" else np.where(t >= fit_at, 1e-6, 1.0)
    test = np.where(t >= switch_at, final, plateau)
    return lambda kernel, rich: classify_regime(t, train, test, kind, kernel, rich, train_loss=loss)


@pytest.mark.parametrize("case,expected", [
    (dict(fit_at=1e-2, plateau=0.6, final=0.99, switch_at=100.0), "grokking"),
    (dict(fit_at=1e-2, plateau=0.6, final=0.6, switch_at=100.0), "kernel"),
    (dict(fit_at=1e-2, plateau=0.6, final=0.8, switch_at=100.0), "incomplete"),
    (dict(fit_at=30.0, plateau=0.5, final=0.99, switch_at=20.0), "rich"),  # the wait at w ≈ 0 is at chance
    (dict(fit_at=1e9, plateau=0.5, final=0.5, switch_at=1e9), "none"),
])
def test_regime_rule_classification(case, expected):
    assert _curves(**case)(0.6, 1.0) == expected


def test_small_alpha_separation_at_chance_loss_is_not_a_plateau():
    """w ≈ 0 along the initial gradient separates the training set (accuracy 1) with the loss still ln 2."""
    from grokode.analysis.regime import classify_regime

    t = np.geomspace(1e-3, 1e3, 100)
    train_acc = np.ones_like(t)
    loss = np.where(t >= 20.0, 1e-2, math.log(2.0))
    test = np.where(t >= 20.0, 0.99, 0.6)
    assert classify_regime(t, train_acc, test, "classification", 0.6, 1.0, train_loss=loss) == "rich"


def test_regime_rule_misgrokking_and_regression():
    assert _curves(fit_at=1e-2, plateau=0.95, final=0.7, switch_at=100.0)(0.95, 0.7) == "misgrokking"
    # regression: log10 test loss, lower is better
    grok = _curves(fit_at=1e-2, plateau=0.4, final=-8.0, switch_at=100.0, kind="regression")
    assert grok(0.4, -8.0) == "grokking"
    assert _curves(fit_at=1.0, plateau=0.4, final=-8.0, switch_at=0.5, kind="regression")(0.4, -8.0) == "rich"


@pytest.mark.parametrize("task,alpha,expected", [("sparse", 1e-4, "rich"), ("sparse", 1e6, "grokking"),
                                                 ("margin", 1e6, "misgrokking")])
def test_regime_labels_of_the_issue(task, alpha, expected):
    """The sparse task (n 64, d 500, λ = 1e-2): α = 1e-4 rich, α = 1e6 grokking; the margin task misgrokks."""
    assert grokode.integrate(task=task, n=64, d=500, n_test=0, alpha=alpha, lam=1e-2).summary["regime"] == expected


@pytest.mark.slow
@pytest.mark.parametrize("lam", [1e-2, 3e-2])
def test_regime_grid_of_the_issue(lam):
    labels = {a: grokode.integrate(task="sparse", n=64, d=500, n_test=0, alpha=a, lam=lam).summary["regime"]
              for a in (1e-4, 1e-1, 1e2, 1e6)}
    assert labels[1e-4] == "rich" and labels[1e6] == "grokking" and set(labels.values()) <= {"rich", "grokking"}


@pytest.mark.slow
def test_every_alpha_runs_or_is_refused_in_one_line():
    """α from 1e-8 to 1e300: λ = 1e-2 runs everywhere; λ = 0 with the squared loss refuses α ≥ 1e150 (fitting time
    below float64's range) and runs below."""
    for alpha in (1e-8, 1e-4, 1e-2, 1.0, 1e6, 1e100, 1e300):
        assert grokode.integrate(task="sparse", n=32, d=100, n_test=0, alpha=alpha, lam=1e-2).summary["status"] == "ok"
    for alpha in (1e-8, 1e-4, 1.0, 1e6, 1e100):
        s = grokode.integrate(task="sparse-regression", n=32, d=100, n_test=0, alpha=alpha, lam=0.0).summary
        assert s["status"] == "ok" and s["dist_implicit_final"] < 1e-6
    for alpha in (1e150, 1e300):
        with pytest.raises(InputError, match="below what float64 times hold"):
            grokode.integrate(task="sparse-regression", n=32, d=100, n_test=0, alpha=alpha, lam=0.0)


def test_tiny_alpha_with_decay_starts_before_its_horizon():
    """Depth 3, α = 1e-8, λ = 1e-2: nothing activates and both rates at the start are ~1e-9; the run still starts
    before its horizon 7/λ."""
    run = grokode.integrate(task="sparse", n=16, d=40, n_test=0, alpha=1e-8, lam=1e-2, depth=3)
    assert run.summary["status"] == "ok" and run.summary["regime"] == "none"
    assert run.summary["t_reached"] == pytest.approx(700.0)


def test_regime_exact_recovery_counts_as_the_rich_level():
    """Basis pursuit recovers the sparse teacher exactly (test loss 0, log10 −inf); a λ = 0 run ends at 1e-8."""
    s = grokode.integrate(task="sparse-regression", n=32, d=100, n_test=0, alpha=1e-3, lam=0.0).summary
    assert s["rich_test"] < 1e-20 and s["regime"] == "rich"
