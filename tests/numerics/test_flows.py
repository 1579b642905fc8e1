"""Integration: reduced vs full flow, vs an independent explicit integrator, extreme α, rescaling."""

import itertools
import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import grokode
from grokode.numeric.diagonal import FullDiagonalFlow, PlainFullDiagonalFlow, ReducedDiagonalFlow
from grokode.numeric.flow import FlowBase
from grokode.numeric.integrate import integrate_flow


def _data(n=16, d=40, seed=0, regression=False):
    rng = np.random.default_rng(seed)
    X = (rng.integers(0, 2, (n, d)) * 2 - 1).astype(np.int8)
    y = X[:, :3].sum(1).astype(float) if regression else np.sign(X[:, 0] + X[:, 1] + X[:, 2]).astype(float)
    return X, y


def _rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


@pytest.mark.parametrize("depth,loss,alpha,lam", [(2, "logistic", 3.0, 0.05), (3, "logistic", 2.0, 0.05),
                                                  (4, "exponential", 1.5, 0.02), (2, "squared", 4.0, 0.05)])
def test_reduced_equals_full_flow(depth, loss, alpha, lam):
    X, y = _data(regression=loss == "squared")
    times = np.array([0.3, 3.0, 30.0, 80.0])
    kw = dict(alpha=alpha, lam=lam, depth=depth, loss=loss)
    red = integrate_flow(ReducedDiagonalFlow(X, y, **kw), times, method="Radau", rtol=1e-11, atol=1e-13)
    full = integrate_flow(FullDiagonalFlow(X, y, **kw), times, method="Radau", rtol=1e-11, atol=1e-13)
    assert red.status == full.status == "ok"
    for k in range(len(times)):
        assert _rel(red.weights[k], full.weights[k]) <= 1e-6
        assert abs(red.param_norm[k] - full.param_norm[k]) <= 1e-6 * full.param_norm[k]


def test_against_independent_explicit_integration():
    """DOP853 on the plain (u, v) flow written here with numpy, not with the generated kernels."""
    X, y = _data(seed=1)
    Xf = X.astype(float)
    alpha, lam, n, d = 2.0, 0.05, X.shape[0], X.shape[1]
    u0 = alpha / math.sqrt(2 * d)

    def rhs(t, th):
        u, v = th[:d], th[d:]
        f = Xf @ (u * u - v * v)
        r = -y / (1 + np.exp(y * f))
        g = Xf.T @ r / n
        return np.concatenate([-2 * u * g - lam * u, 2 * v * g - lam * v])

    times = np.array([1.0, 10.0, 60.0])
    ref = solve_ivp(rhs, (0, times[-1]), np.full(2 * d, u0), method="DOP853", t_eval=times, rtol=1e-12, atol=1e-14)
    ours = integrate_flow(ReducedDiagonalFlow(X, y, alpha=alpha, lam=lam), times, rtol=1e-8, atol=1e-11)
    for k in range(len(times)):
        w_ref = ref.y[:d, k] ** 2 - ref.y[d:, k] ** 2
        assert _rel(ours.weights[k], w_ref) <= 1e-6


@pytest.mark.parametrize("flow_cls", [PlainFullDiagonalFlow, FullDiagonalFlow])
def test_conserved_quantity_along_full_flow(flow_cls):
    """u v e^{2λt} = u0² (depth 2); FullDiagonalFlow integrates log variables and saves its states as (u, v)."""
    X, y = _data(seed=2)
    lam = 0.03
    flow = flow_cls(X, y, alpha=2.0, lam=lam)
    times = np.array([5.0, 50.0])
    sol = integrate_flow(flow, times, method="Radau", rtol=1e-11, atol=1e-13)
    d = flow.d
    u0 = 2.0 / math.sqrt(2 * d)
    for k, t in enumerate(times):
        th = sol.states[k]
        assert np.allclose(th[:d] * th[d:] * math.exp(2 * lam * t), u0**2, rtol=1e-7)
        assert _rel(th[:d] ** 2 - th[d:] ** 2, sol.weights[k]) <= 1e-9


@pytest.mark.parametrize("alpha", [1e100, 1e300])
def test_extreme_alpha_runs_without_overflow(alpha):
    X, y = _data(seed=3)
    lam = 0.01
    t_th = math.log(alpha) / lam
    times = np.array([1e-3 * t_th, 0.5 * t_th, 1.5 * t_th, 2.2 * t_th])
    flow = ReducedDiagonalFlow(X, y, alpha=alpha, lam=lam)
    sol = integrate_flow(flow, times)
    assert sol.status == "ok", sol.message
    assert np.all(np.isfinite(sol.weights)) and np.all(np.isfinite(sol.param_norm))
    # kernel phase: training data fitted with a margin, ‖θ‖ still ≈ α e^{−λt}
    f = X.astype(float) @ sol.weights[1]
    assert np.all(y * f > 0)
    assert math.isclose(sol.param_norm[0], alpha * math.exp(-lam * times[0]), rel_tol=1e-3)
    # the frame's scale follows the kernel phase's e^{Lλt} growth (ReducedDiagonalFlow.scale_offset): the state stays
    # far below the rescaling threshold, where it used to grow like e^{2λt} past 1e100
    assert np.max(np.abs(sol.states[np.isfinite(sol.states[:, 0])])) < 1e50


def test_rescaling_is_exact():
    """Forcing many rescalings (threshold 1e3 instead of 1e100) does not change the solution."""
    X, y = _data(seed=4)
    times = np.array([2.0, 20.0, 200.0])
    kw = dict(alpha=50.0, lam=0.02)
    plain = integrate_flow(ReducedDiagonalFlow(X, y, **kw), times, rtol=1e-10, atol=1e-12)
    flow = ReducedDiagonalFlow(X, y, **kw)
    flow.rescale_above = 1e3  # the flow's own rescale, triggered early
    forced = integrate_flow(flow, times, rtol=1e-10, atol=1e-12)
    assert plain.stats.restarts == 0 and forced.stats.restarts >= 1, (plain.stats.restarts, forced.stats.restarts)
    # each rescale took a power of two ≥ 2^9 (|y| > 1e3) out of the state into the frame c
    assert flow.c0 - flow.c >= 9 * math.log(2.0) * forced.stats.restarts - 1e-9
    for k in range(len(times)):
        assert _rel(forced.weights[k], plain.weights[k]) <= 1e-7


def test_depth3_former_blowup_case_runs_and_matches_the_full_flow():
    """Depth 3, α = 1, λ = 1e-3, exponential loss used to stop with "a bracket reached zero: blow-up".

    The exact flow cannot blow up (gradient flow of a loss ≥ 0: ‖θ(t) − θ(0)‖² ≤ t·L̂_λ(θ(0))); with
    re-anchoring the reduction runs to the end and agrees with the full flow in log variables (Radau, tight).
    """
    X, y = _data(seed=5)
    kw = dict(alpha=1.0, lam=1e-3, depth=3, loss="exponential")
    times = np.array([1.0, 100.0, 1e3, 1e4])
    flow = ReducedDiagonalFlow(X, y, **kw)
    red = integrate_flow(flow, times)
    full = integrate_flow(FullDiagonalFlow(X, y, **kw), times, method="Radau", rtol=1e-10, atol=1e-12)
    assert red.status == full.status == "ok", red.message
    assert flow.anchors >= 3  # the late phase needed re-anchoring
    for k in range(len(times)):
        assert _rel(red.weights[k], full.weights[k]) <= 2e-5
        # the energy bound that rules out a blow-up: |‖θ(t)‖ − α|² ≤ t·(ℓ(0) + λα²/2), ℓ(0) = 1
        assert (red.param_norm[k] - 1.0) ** 2 <= times[k] * (1.0 + 0.5 * kw["lam"])


class _ToyBlowup(FlowBase):
    """y' = y², y(0) = 1: a genuine blow-up at t = 1, to check what the driver keeps when a run fails."""

    d = 1

    def start(self):
        return 0.0, np.array([1.0])

    def rhs(self, t, y):
        return y * y

    def jac(self, t, y):
        return np.array([[2.0 * y[0]]])

    def weight(self, t, y, frame=None):
        return y.copy()

    def observe(self, t, y, frame=None):
        return y.copy(), float(abs(y[0]))


@pytest.mark.parametrize("method", ["BDF", "RK45"])  # (LSODA crawls towards t = 1 without giving up)
def test_a_failed_run_keeps_what_it_finished(method):
    with np.errstate(over="ignore", invalid="ignore"):
        sol = integrate_flow(_ToyBlowup(), np.array([0.5, 0.9, 2.0]), method=method)
    assert sol.status == "failed" and sol.t_fail is not None and 0.9 < sol.t_fail <= 1.0 + 1e-6
    assert sol.t.tolist() == [0.5, 0.9] and np.allclose(sol.weights[:, 0], [2.0, 10.0], rtol=1e-3)
    assert sol.t_reached <= sol.t_fail * 1.0000001


def test_serial_and_parallel_builds_agree_bit_for_bit():
    from grokode.numeric import diagonal_kernels, linalg

    rng = np.random.default_rng(0)
    X = rng.choice(np.array([-1, 1], dtype=np.int8), size=(37, 2051))
    data = linalg.DataMatrix(X)
    r, w = rng.standard_normal(37), rng.standard_normal(2051)
    for kernel, args, size in ((linalg.rmatvec_signs, (data.bits, r, 0.3), 2051),
                               (linalg.matvec_signs, (data.colbits, w), 37),
                               (linalg.rmatvec, (X.astype(np.float64), r, 0.3), 2051),
                               (linalg.matvec_t, (data.XT.astype(np.float64), w), 37),
                               (diagonal_kernels.weights, (w * 1e-3, 2, 0.5, 1.0, 0.0), 2051)):
        a, b = np.empty(size), np.empty(size)
        kernel.serial(*args, a)
        kernel.parallel(*args, b)
        assert np.array_equal(a, b), kernel.__name__


def test_auto_redoes_a_failed_lsoda_run_with_bdf(monkeypatch):
    # an LSODA that gives up after 50 steps (the squared-loss case that made it give up, α = 1e8 without the
    # slow-manifold mode, finishes since the frame's scale follows the kernel phase's growth)
    from scipy.integrate import LSODA

    from grokode.numeric import integrate as integ

    class GivingUp(LSODA):
        def _step_impl(self):
            self.calls = getattr(self, "calls", 0) + 1
            return (False, "forced to give up") if self.calls > 50 else super()._step_impl()

    kw = dict(task="sparse-regression", alpha=1e8, lam=1e-2, n=64, d=2000, n_test=0, seed=0)
    monkeypatch.setitem(integ.SOLVERS, "LSODA", GivingUp)
    lsoda = grokode.integrate(method="LSODA", **kw)
    assert lsoda.summary["status"] == "failed"
    auto = grokode.integrate(**kw)
    bdf = grokode.integrate(method="BDF", **kw)
    assert auto.summary["status"] == "ok" and "LSODA failed" in auto.meta["solver"]["fallback_from"]
    assert auto.meta["solver"]["method"] == "BDF"
    np.testing.assert_array_equal(auto.arrays["w"], bdf.arrays["w"])


def test_weighted_gram_matches_the_dense_product_for_any_sign_pattern():
    from grokode.numeric.linalg import DataMatrix

    rng = np.random.default_rng(3)
    for X in (rng.choice(np.array([-1, 1], dtype=np.int8), size=(23, 9001)), rng.standard_normal((23, 9001))):
        before = X.copy()
        data = DataMatrix(X)
        Xf = X.astype(np.float64)
        for col in (-rng.random(9001), rng.random(9001), rng.standard_normal(9001), np.zeros(9001)):
            G = data.weighted_gram(col, block=1000)  # blocks of one sign and of both signs
            ref = (Xf * col) @ Xf.T
            assert np.array_equal(G, G.T)
            assert np.max(np.abs(G - ref)) <= 1e-13 * max(np.max(np.abs(ref)), 1.0)
        assert np.array_equal(X, before)  # the data are not scaled in place


def test_pack_signs_bit_layout():
    from grokode.numeric.linalg import pack_signs

    rng = np.random.default_rng(4)
    XT = rng.choice(np.array([-1, 1], dtype=np.int8), size=(5, 19))
    bits = pack_signs(XT)
    assert bits.shape == (5, 3) and bits.dtype == np.uint8
    for j in range(5):
        for i in range(19):
            assert bool(bits[j, i // 8] >> (i % 8) & 1) == (XT[j, i] > 0)


@pytest.mark.parametrize("n, d", [(37, 2051), (8, 64), (5, 3)])
def test_clock_and_weights_in_one_pass_equal_the_separate_kernels(n, d):
    """signs_weights and signs_weights_and_norm_sq (both builds) against rmatvec_signs followed by weights or
    weights_and_norm_sq: every path of the closed form (linear, exponential, log; zero clocks), bit for bit."""
    from grokode.numeric import diagonal_kernels, diagonal_signs, linalg

    rng = np.random.default_rng(n + d)
    X = rng.choice(np.array([-1, 1], dtype=np.int8), size=(n, d))
    data = linalg.DataMatrix(X)
    r = rng.standard_normal(n)
    r_zero = np.zeros(n)  # every clock 0
    r_tie = np.concatenate([np.ones(1), np.zeros(n - 1)]) if n > 1 else np.ones(1)
    cases = ((3.0, 0.0, 0.0), (-20.0, -30.0, 0.0), (2.0, 700.0, 0.5), (800.0, 2.0, -1.0))
    for rr, depth, (E, log_kappa, shift) in itertools.product((r * 1e-6, r * 40.0, r_zero, r_tie), (2, 3), cases):
        B_ref, w_ref, w_norm_ref = np.empty(d), np.empty(d), np.empty(d)
        linalg.rmatvec_signs.serial(data.bits, rr, 1.0 / n, B_ref)
        diagonal_kernels.weights.serial(B_ref, depth, E, log_kappa, shift, w_ref)
        sq_ref = diagonal_kernels.weights_and_norm_sq.serial(B_ref, depth, E, log_kappa, shift, w_norm_ref)
        for kernel in (diagonal_signs.signs_weights, diagonal_signs.signs_weights_and_norm_sq):
            for build in (kernel.serial, kernel.parallel):
                B, w = np.full(d, np.nan), np.full(d, np.nan)
                sq = build(data.bits, rr, 1.0 / n, depth, E, log_kappa, shift, B, w)
                assert np.array_equal(B, B_ref)
                if kernel is diagonal_signs.signs_weights:
                    assert np.array_equal(w, w_ref, equal_nan=True)
                else:
                    assert np.array_equal(w, w_norm_ref, equal_nan=True)
                    assert sq == sq_ref or (math.isnan(sq) and math.isnan(sq_ref))


def test_fused_weights_and_norm_equal_the_separate_kernels():
    from grokode.numeric import diagonal_kernels

    rng = np.random.default_rng(6)
    B = np.concatenate([rng.standard_normal(3000) * 5.0, rng.standard_normal(500) * 1e-12, np.zeros(7)])
    for E, shift in ((-20.0, -1.0), (3.0, 2.0), (-36.0, 0.0)):
        log_kappa = math.log(4.0)
        w_ref, w_fused, w_par = np.empty(B.size), np.empty(B.size), np.empty(B.size)
        diagonal_kernels.weights.serial(B, 2, E, log_kappa, shift, w_ref)
        sq = diagonal_kernels.weights_and_norm_sq.serial(B, 2, E, log_kappa, shift, w_fused)
        sq_par = diagonal_kernels.weights_and_norm_sq.parallel(B, 2, E, log_kappa, shift, w_par)
        assert np.array_equal(w_fused, w_ref) and np.array_equal(w_par, w_ref) and sq == sq_par
        # ℓ0 = E/2, λt = 0: the log-space sum of the closed form, computed independently
        log_sq = diagonal_kernels.log_norm_sq(B, 2, 0.5 * E, 0.0, 0.0, log_kappa, shift)
        assert math.isclose(math.sqrt(sq), math.exp(0.5 * log_sq), rel_tol=1e-13)
    w3 = np.empty(B.size)
    assert math.isnan(diagonal_kernels.weights_and_norm_sq(B, 3, -5.0, 0.5, 0.0, w3))  # depth 3: caller falls back
    w3_ref = np.empty(B.size)
    diagonal_kernels.weights(B, 3, -5.0, 0.5, 0.0, w3_ref)
    assert np.array_equal(w3, w3_ref, equal_nan=True)


@pytest.mark.parametrize("E", [-550.0, -30.0, 0.0, 13.8, 300.0])
def test_depth_2_closed_form_against_extended_precision(E):
    """At depth 2, w_j = −2e^E sinh(z_j) and u_j² + v_j² = 2e^E cosh(z_j) (z = κB) come from one expm1 per
    coordinate; checked against numpy's long double on |z| from 1e-9 (the linear regime) to 600 (beyond the fast
    path: the log-space formula), and both sides of each switch."""
    from grokode.numeric import diagonal_kernels

    rng = np.random.default_rng(4)
    magnitudes = np.concatenate([np.geomspace(1e-9, 600.0, 4000), [1e-8, 699.9, 700.1, 690.0 - E, 690.0 - E + 1e-6]])
    z = magnitudes[(magnitudes > 0) & (magnitudes < 700.0)] * rng.choice([-1.0, 1.0], size=magnitudes.size)[
        (magnitudes > 0) & (magnitudes < 700.0)]
    w = np.empty_like(z)
    sq = diagonal_kernels.weights_and_norm_sq(z, 2, E, 0.0, 0.0, w)
    ext = np.longdouble(z)
    reference = -2.0 * np.exp(np.longdouble(E)) * np.sinh(ext)
    finite = np.abs(reference) < np.longdouble(1e300)
    relative = np.abs((w[finite] - reference[finite]) / reference[finite]).astype(np.float64)
    # a few units in the last place, plus the rounding of a log-space sum E + log|z| or E + |z| where the linear
    # regime or the log-space formula applies (its first-order error z²/6 is below 2e-17)
    bound = 4.4e-16 * (8.0 + abs(E) + np.abs(z[finite]))
    assert np.all(relative <= bound), float((relative / bound).max())
    fast = finite & (np.abs(z) >= 1e-8) & (np.abs(z) < 700.0) & (E + np.abs(z) < 690.0) & (E > -600.0)
    if fast.any():  # one expm1, a division and products: a few units in the last place, whatever the size of E and z
        fast_relative = np.abs((w[fast] - reference[fast]) / reference[fast]).astype(np.float64)
        assert fast_relative.max() <= 1.5e-15
    w_only = np.empty_like(z)
    diagonal_kernels.weights(z, 2, E, 0.0, 0.0, w_only)
    assert np.array_equal(w, w_only)  # the right-hand side's kernel gives the same numbers
    if finite.all() and math.isfinite(sq):
        exact = float(np.sum(2.0 * np.exp(np.longdouble(E)) * np.cosh(ext)))
        assert sq == pytest.approx(exact, rel=1e-14)
