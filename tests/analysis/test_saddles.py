"""Small α at degree 2: the measured saddle-to-saddle staircase and its α → 0 limit (Pesme & Flammarion 2023).

References are independent of grokode: the full 2d flow in log variables (ln u, ln v) integrated by scipy's
solve_ivp (Radau), and a second implementation of the limit algorithm whose saddles are bounded least squares
(scipy.optimize.lsq_linear) instead of NNLS.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.optimize import brentq, lsq_linear

import grokode
from grokode.analysis.saddles import ACTIVE_THRESHOLD, saddle_limit, threshold_events

N, D = 20, 40
U0 = 1e-8


def gaussian_sparse(seed: int, k: int, n: int = N, d: int = D):
    """Gaussian inputs, y = X w* with a k-sparse Gaussian teacher on random coordinates."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    teacher = np.zeros(d)
    teacher[rng.choice(d, k, replace=False)] = rng.standard_normal(k)
    return X, X @ teacher


def write_data(tmp_path, seed: int, k: int):
    X, y = gaussian_sparse(seed, k)
    path = tmp_path / f"gauss-{seed}.npz"
    np.savez(path, X=X, y=y)
    return path, X, y


def full_flow_in_logs(X, y, u0, t_eval, lam=0.0):
    """w(t) on t_eval and as a dense function: du/dt = −2ug − λu, dv/dt = 2vg − λv in a = ln u, b = ln v, from
    a = b = ln u0."""
    n, d = X.shape
    K, c = (2.0 / n) * X.T @ X, (2.0 / n) * X.T @ y

    def weights(z):
        return np.exp(2.0 * z[:d]) - np.exp(2.0 * z[d:])

    def rhs(_t, z):
        g = K @ weights(z) - c
        return np.concatenate([-2.0 * g - lam, 2.0 * g - lam])

    def jac(_t, z):
        top = np.hstack([-4.0 * K * np.exp(2.0 * z[:d]), 4.0 * K * np.exp(2.0 * z[d:])])
        return np.vstack([top, -top])

    with np.errstate(over="ignore", invalid="ignore"):  # the solver's rejected trial steps may overflow
        sol = solve_ivp(rhs, (0.0, float(t_eval[-1])), np.full(2 * d, math.log(u0)), method="Radau", jac=jac,
                        t_eval=t_eval, rtol=1e-10, atol=1e-10, dense_output=True)
    assert sol.status == 0, sol.message
    return np.array([weights(z) for z in sol.y.T]), lambda t: weights(sol.sol(t))


def limit_by_lsq_linear(X, y, eps, max_jumps=200, box=(-0.5, 0.5), with_entries=False):
    """The limit algorithm again, written from the paper's steps: each saddle a bounded least squares over the
    coordinates whose s_j reached the box's ends (w_j ≥ 0 at the lower, ≤ 0 at the upper). Returns the jump times t
    (and with ``with_entries``, per jump: the entering coordinates' (j, |w*_j|), the jump's s, the rate g on the
    plateau before it and the new saddle w)."""
    n, d = X.shape
    lo_end, hi_end = box
    s, w, tau, times, entries = np.zeros(d), np.zeros(d), 0.0, [], []
    for _ in range(max_jumps):
        r = X @ w - y
        if np.linalg.norm(r) <= 1e-9 * np.linalg.norm(y):
            break
        g = (2.0 / n) * X.T @ r
        target = np.where(g > 0, hi_end, lo_end)
        with np.errstate(divide="ignore", invalid="ignore"):
            dt = np.where(np.abs(g) > 1e-9 * np.abs(g).max(), (target - s) / g, np.inf)
        dt[dt <= 1e-12] = np.inf
        step = dt.min()
        s = np.clip(s + step * g, lo_end, hi_end)
        s[dt <= step * (1 + 1e-12)] = target[dt <= step * (1 + 1e-12)]
        tau += step
        on = np.flatnonzero((s >= hi_end * (1 - 1e-12)) | (s <= lo_end * (1 - 1e-12)))
        lower = np.where(s[on] < 0, 0.0, -np.inf)
        upper = np.where(s[on] < 0, np.inf, 0.0)
        fit = lsq_linear(X[:, on], y, bounds=(lower, upper), method="bvls", tol=1e-14)
        previous, w = w, np.zeros(d)
        w[on] = fit.x
        times.append(tau * eps)
        entries.append(([(int(j), abs(w[j])) for j in np.flatnonzero((w != 0) & (previous == 0))], s.copy(), g, w))
    return (times, entries) if with_entries else times


def first_order_times(X, y, times, entries, eps, c=ACTIVE_THRESHOLD):
    """The first-order path of docs/math.md#saddle-to-saddle at λ = 0, followed in t: G piecewise linear, each
    entering coordinate reaching the boundary |G_j| = ε/2, crossing c where 1/|w*| + e^{−(4|G_j| − 2ε)} = 1/c, and g
    switching to the new saddle's at the logistic's centre ln(1/|w*|)/(4|g_j⁻|) before the boundary. Each level is
    the last root before the open end of the path, found by scanning t and Brent's method. One time per jump."""
    n, d = X.shape
    starts, origins, rates = [0.0], [np.zeros(d)], [(2.0 / n) * X.T @ (-y)]

    def G(time):
        m = max(i for i in range(len(starts)) if starts[i] <= time)
        return origins[m] + (time - starts[m]) * rates[m]

    def last_root(f, end):
        grid = np.linspace(0.0, end, 4001)
        values = np.array([f(x) for x in grid])
        below = np.flatnonzero(values < 0)[-1]
        return brentq(f, grid[below], grid[below + 1], xtol=1e-13)

    out = []
    for t_limit, (entering, s, g_before, w) in zip(times, entries, strict=True):
        first, shift, candidates = math.inf, 0.0, []
        for j, size in entering:
            sgn = math.copysign(1.0, s[j])
            boundary = last_root(lambda x, j=j, sgn=sgn: sgn * G(x)[j] - eps / 2, 3 * t_limit)
            if size > c:
                level = eps / 2 - math.log(1 / c - 1 / size) / 4
                candidates.append(last_root(lambda x, j=j, sgn=sgn, level=level: sgn * G(x)[j] - level, 3 * t_limit))
            else:
                candidates.append(boundary)
            if boundary < first:
                first, shift = boundary, math.log(1 / size) / (4 * abs(g_before[j]))
        out.append(min(candidates))
        switch = max(first - shift, starts[-1])
        origins.append(G(switch))
        starts.append(switch)
        rates.append((2.0 / n) * X.T @ (X @ w - y))
    return sorted(out)


@pytest.mark.parametrize("seed,k", [(0, 3), (1, 4), (2, 5)])
def test_limit_algorithm_matches_an_independent_implementation(seed, k):
    X, y = gaussian_sparse(seed, k)
    eps = math.log(1 / U0)
    ours = saddle_limit(X, y, eps)
    assert ours.converged
    theirs = limit_by_lsq_linear(X, y, eps)
    assert len(theirs) == len(ours.jumps)
    np.testing.assert_allclose(ours.times, theirs, rtol=1e-7)
    # the first jump in closed form: t1 = ln(1/u0) / (2 max_j |g_j(0)|), g(0) = −(2/n) Xᵀy
    assert ours.times[0] == pytest.approx(eps / (2 * np.abs((2 / N) * X.T @ y).max()), rel=1e-12)
    # every saddle is the KKT point of the sign-constrained least squares; the last one interpolates
    for jump in ours.jumps:
        g = (2 / N) * X.T @ (X @ jump.w - y)
        assert np.abs(g[list(jump.support)]).max() < 1e-8
        assert set(np.flatnonzero(jump.w)) == set(jump.support)
    assert np.linalg.norm(X @ ours.jumps[-1].w - y) < 1e-8 * np.linalg.norm(y)


def grid_activations(t, W):
    """(coordinate, time) of every upward crossing of |w_j| = 0.05 read on a saved grid (log-linear)."""
    return [(e.coordinate, e.t) for e in threshold_events(t, W, ACTIVE_THRESHOLD) if e.rising]


def run_small_alpha(path, t_eval):
    return grokode.integrate(model="diagonal", data=str(path), alpha=U0 * math.sqrt(2 * D), lam=0.0, loss="squared",
                             t_eval=list(t_eval))


def check_small_alpha(tmp_path, seed, k):
    path, X, y = write_data(tmp_path, seed, k)
    limit = saddle_limit(X, y, math.log(1 / U0))
    t_eval = np.linspace(0.25, 1.4 * limit.times[-1], 300)
    run = run_small_alpha(path, t_eval)
    assert run.summary["status"] == "ok"
    W_ref, w_ref = full_flow_in_logs(X, y, U0, t_eval)
    ours, ref = grid_activations(run.arrays["t"], run.arrays["w"]), grid_activations(t_eval, W_ref)
    assert [j for j, _ in ours] == [j for j, _ in ref] and ours
    for (_, a), (_, b) in zip(ours, ref, strict=True):
        assert a == pytest.approx(b, rel=0.01)
    final = run.arrays["w"][-1]
    assert np.linalg.norm(final - W_ref[-1]) <= 1e-4 * np.linalg.norm(W_ref[-1])
    # the summary's jumps are located on the dense output: the reference's own dense crossings
    dense_ref = [e for e in threshold_events(t_eval, W_ref, ACTIVE_THRESHOLD, w_ref) if e.rising]
    np.testing.assert_allclose(run.summary["jump_times"], [e.t for e in dense_ref], rtol=1e-4)
    assert run.summary["jump_coordinates"] == [e.coordinate for e in dense_ref]
    # the prediction: the reference limit, and every measured activation near one of its first-order times
    leading, entries = limit_by_lsq_linear(X, y, math.log(1 / U0), with_entries=True)
    np.testing.assert_allclose(run.summary["jump_times_limit_leading"], leading, rtol=1e-7)
    predicted = np.array(first_order_times(X, y, leading, entries, math.log(1 / U0)))
    np.testing.assert_allclose(run.summary["jump_times_limit"], predicted, rtol=1e-7)
    errors = [float(np.min(np.abs(e.t - predicted) / predicted)) for e in dense_ref]
    assert run.summary["jump_rel_error"] == pytest.approx(max(errors), abs=1e-4)  # jump_times agree to 1e-4
    return errors, dense_ref[0].t / leading[0] - 1


@pytest.mark.parametrize("seed,k", [(6, 3), (11, 2)])
def test_small_alpha_run_against_a_separate_integration_and_the_limit(tmp_path, seed, k):
    errors, _ = check_small_alpha(tmp_path, seed, k)
    assert max(errors) < 0.15


@pytest.mark.slow
@pytest.mark.parametrize("seed,k", [(0, 5), (1, 3), (5, 4), (7, 5), (8, 4), (9, 3), (10, 5)])
def test_small_alpha_run_more_data(tmp_path, seed, k):
    """grokode against the separate integration on more data: every measured activation within 15 % of a predicted
    one, and the first activation's distance to the leading time ε·τ₁ in closed form (docs/math.md#saddle-to-saddle)."""
    errors, first = check_small_alpha(tmp_path, seed, k)
    assert max(errors) < 0.15
    assert first == pytest.approx(-math.log(1 / ACTIVE_THRESHOLD) / (2 * math.log(1 / U0)), rel=0.1)


def test_an_activation_is_a_rise_that_reaches_twice_the_threshold():
    """Logistic curves 1/w = 1/w* + e^{−r(t − t0)} in closed form: a coordinate that levels off at 1.5c is not an
    activation; one at 3c is, at the closed-form crossing of c located on the dense output; one that rises to 3c
    and falls back gives a fall as well."""
    c, r, t0 = ACTIVE_THRESHOLD, 2.0, 5.0
    sizes = np.array([1.5 * c, 3 * c, 3 * c])

    def w_at(t):
        w = 1.0 / (1.0 / sizes + np.exp(-r * (t - t0)))
        w[2] *= math.exp(-max(t - 9.0, 0.0))  # decays after t = 9
        return w

    times = np.linspace(0.0, 15.0, 61)
    events = threshold_events(times, np.array([w_at(t) for t in times]), c, w_at)
    rises = [e for e in events if e.rising]
    assert [e.coordinate for e in rises] == [1, 2]
    crossing = t0 - math.log(1 / c - 1 / sizes[1]) / r
    assert rises[0].t == pytest.approx(crossing, rel=1e-9)
    falls = [e for e in events if not e.rising]
    assert [e.coordinate for e in falls] == [2]
    assert falls[0].t == pytest.approx(brentq(lambda t: w_at(t)[2] - c, 9.0, 15.0, xtol=1e-14), rel=1e-9)
    everything = [e for e in threshold_events(times, np.array([w_at(t) for t in times]), c, w_at, confirm=1.0)]
    assert sorted(e.coordinate for e in everything if e.rising) == [0, 1, 2]


def test_measured_times_converge_to_the_limit(tmp_path):
    """The first activations' relative error falls like 1/ln(1/u0): halved when ln(1/u0) doubles."""
    X, y = gaussian_sparse(6, 3)
    errors = {}
    for u0 in (1e-8, 1e-16):
        eps = math.log(1 / u0)
        limit = saddle_limit(X, y, eps)
        t_eval = np.linspace(limit.times[0] / 50, 1.2 * limit.times[-1], 200)
        W, w_at = full_flow_in_logs(X, y, u0, t_eval)
        first = [e for e in threshold_events(t_eval, W, ACTIVE_THRESHOLD, w_at) if e.rising][0]
        errors[u0] = first.t / limit.times[0] - 1
        # the first crossing of |w_j| = c, before t1 by ln(1/c)/(2 ln(1/u0)) relatively (docs/math.md)
        assert errors[u0] == pytest.approx(-math.log(1 / ACTIVE_THRESHOLD) / (2 * eps), rel=0.02)
        # with its first-order term (the logistic approach to the saddle weight w*) the prediction is within 1 %
        times, entries = limit_by_lsq_linear(X, y, eps, with_entries=True)
        assert first.t == pytest.approx(first_order_times(X, y, times, entries, eps)[0], rel=0.01)
    assert errors[1e-16] == pytest.approx(errors[1e-8] / 2, rel=0.02)


def test_summary_keys_and_refusals(tmp_path):
    path, X, y = write_data(tmp_path, 11, 2)
    run = run_small_alpha(path, np.linspace(0.5, 30.0, 60))
    s = run.summary
    assert len(s["saddles"]) == len(s["jump_times"]) + 1 and s["saddles"][0] == []
    assert s["jump_times"] == sorted(s["jump_times"]) and s["jump_threshold"] == ACTIVE_THRESHOLD
    assert s["saddles_limit"][0] == [] and len(s["saddles_limit"]) == len(s["jump_times_limit"]) + 1
    big = grokode.integrate(model="diagonal", data=str(path), alpha=10.0, lam=0.0, loss="squared",
                            t_eval=[0.01, 0.1])
    assert big.summary["jump_times_limit"] is None and "u0 ≥ 1" in big.summary["jump_times_limit_refused"]
    decayed = grokode.integrate(model="separable", phi="a**2 - b**2", init="a=1, b=1", data=str(path), alpha=1e-7,
                                lam=0.1, loss="squared", t_eval=[1.0, 5.0])
    assert decayed.summary["jump_times_limit"] is None and "λ = 0" in decayed.summary["jump_times_limit_refused"]
    classification = grokode.integrate(model="diagonal", task="sparse", n=16, d=30, alpha=1e-3, lam=0.0,
                                       t_eval=[1.0, 10.0])
    assert "jump_times" not in classification.summary


def test_the_run_figure_marks_the_predicted_jumps(tmp_path):
    path, X, y = write_data(tmp_path, 11, 2)
    run = run_small_alpha(path, np.linspace(0.5, 30.0, 60))
    fig = run.plot()
    marks = [line for ax in fig.axes for line in ax.get_lines()
             if line.get_label().startswith("jumps predicted by the α → 0 limit")]
    assert marks
    # one vertical line per predicted jump, at its time t (a linear t axis over the staircase)
    from matplotlib.colors import to_hex

    shown = sorted(float(line.get_xdata()[0]) for line in fig.axes[0].get_lines()
                   if to_hex(line.get_color()) == to_hex("tab:brown"))
    np.testing.assert_allclose(shown, [t for t in run.summary["jump_times_limit"] if t <= 30.0])


def test_limit_with_weight_decay(tmp_path):
    """λ > 0: the boundary b(τ) = ½ + λτ/2, lasso saddles. Against the separate integration with decay: the first
    and the last activations' errors halve from u0 = 1e-8 to 1e-16, and the run ends at the last saddle, a point
    satisfying the lasso's optimality conditions for L̂ + (λ/2)‖w‖₁."""
    lam = 0.2
    X, y = gaussian_sparse(2, 4)
    errors = {}
    for u0 in (1e-8, 1e-16):
        limit = saddle_limit(X, y, math.log(1 / u0), lam=lam)
        assert limit.converged
        t_eval = np.linspace(0.1, 1.3 * limit.times[-1], 300)
        W, w_at = full_flow_in_logs(X, y, u0, t_eval, lam=lam)
        rises = [e for e in threshold_events(t_eval, W, ACTIVE_THRESHOLD, w_at) if e.rising]
        assert len(rises) == len(limit.jumps)
        errors[u0] = [r.t / t - 1 for r, t in zip(rises, limit.times, strict=True)]
        last = limit.jumps[-1].w
        assert np.abs(W[-1] - last).max() < (1e-3 if u0 == 1e-8 else 1e-5)
    g = (2 / N) * X.T @ (X @ last - y)
    on = last != 0
    np.testing.assert_allclose(g[on], -np.sign(last[on]) * lam / 2, atol=1e-10)
    assert np.abs(g[~on]).max() < lam / 2
    for a, b in zip(errors[1e-8], errors[1e-16], strict=True):
        assert b == pytest.approx(a / 2, rel=0.15)


def test_a_run_with_weight_decay_reports_the_limit(tmp_path):
    path, X, y = write_data(tmp_path, 11, 2)
    lam = 0.2
    limit = saddle_limit(X, y, math.log(1 / U0), lam=lam)
    t_eval = np.linspace(0.25, 1.3 * limit.times[-1], 200)
    run = grokode.integrate(model="diagonal", data=str(path), alpha=U0 * math.sqrt(2 * D), lam=lam, loss="squared",
                            t_eval=list(t_eval))
    W_ref, w_ref = full_flow_in_logs(X, y, U0, t_eval, lam=lam)
    dense_ref = [e for e in threshold_events(t_eval, W_ref, ACTIVE_THRESHOLD, w_ref) if e.rising]
    np.testing.assert_allclose(run.summary["jump_times"], [e.t for e in dense_ref], rtol=1e-4)
    np.testing.assert_allclose(run.summary["jump_times_limit_leading"], limit.times, rtol=1e-12)
    assert run.summary["jump_rel_error"] < 0.15


def test_separable_degree_2_with_an_asymmetric_profile(tmp_path):
    """φ = a² − 2b² from θ̂ = (√2, 1): w_j = a0²e^{−4G_j} − 2b0²e^{8G_j}, so the limit's box is asymmetric,
    G₊ = ln(1/(2b0²))/8 and G₋ = −ln(1/a0²)/4 (closed form). Against a separate integration of the full (a, b) flow
    in log variables and the lsq_linear limit on that box."""
    path, X, y = write_data(tmp_path, 11, 2)
    alpha = 1e-7
    a0, b0 = alpha * math.sqrt(2 / (3 * D)), alpha / math.sqrt(3 * D)
    box_g = (-math.log(1 / a0**2) / 4, math.log(1 / (2 * b0**2)) / 8)
    t_eval = np.linspace(0.2, 40.0, 200)
    run = grokode.integrate(model="separable", phi="a**2 - 2*b**2", init="a=2**(1/2), b=1", data=str(path),
                            alpha=alpha, lam=0.0, loss="squared", t_eval=list(t_eval))
    K, c = (2 / N) * X.T @ X, (2 / N) * X.T @ y

    def weights(z):
        return np.exp(2 * z[:D]) - 2 * np.exp(2 * z[D:])

    def rhs(_t, z):
        g = K @ weights(z) - c
        return np.concatenate([-2 * g, 4 * g])

    def jac(_t, z):
        dg = np.hstack([K * (2 * np.exp(2 * z[:D])), K * (-4 * np.exp(2 * z[D:]))])
        return np.vstack([-2 * dg, 4 * dg])

    with np.errstate(over="ignore", invalid="ignore"):
        ref = solve_ivp(rhs, (0, t_eval[-1]), np.concatenate([np.full(D, math.log(a0)), np.full(D, math.log(b0))]),
                        method="Radau", jac=jac, t_eval=t_eval, rtol=1e-10, atol=1e-10, dense_output=True)
    W_ref = np.array([weights(z) for z in ref.y.T])
    rises = [e for e in threshold_events(t_eval, W_ref, ACTIVE_THRESHOLD, lambda t: weights(ref.sol(t))) if e.rising]
    np.testing.assert_allclose(run.summary["jump_times"], [e.t for e in rises], rtol=1e-4)
    predicted = limit_by_lsq_linear(X, y, 1.0, box=box_g)  # in G itself: ε = 1
    np.testing.assert_allclose(run.summary["jump_times_limit_leading"], predicted, rtol=1e-6)
    assert run.summary["jump_rel_error"] < 0.15
