"""The cost of a reduced-flow run does not grow with ln α (the frame's scale follows the kernel phase's growth)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from grokode.numeric.diagonal import ReducedDiagonalFlow
from grokode.numeric.integrate import integrate_flow
from grokode.tasks import make_task

LAM = 1e-2


def _times(alpha):
    """Kernel phase, just before and after t* = ln(α)/λ, and the late phase."""
    return np.array([0.5, 0.9, 1.1, 2.0]) * math.log(alpha) / LAM


@pytest.fixture(scope="module")
def data():
    return make_task("sparse", n=16, d=40, n_test=0, seed=0)


def _run(data, alpha, **kw):
    flow = ReducedDiagonalFlow(data.X, data.y, alpha=alpha, lam=LAM)
    sol = integrate_flow(flow, _times(alpha), **kw)
    assert sol.status == "ok", sol.message
    return flow, sol


def test_rhs_count_does_not_grow_with_log_alpha(data):
    """In the former variables (see below) the count grew like ln α: about 30× α = 1e3's at α = 1e30."""
    base = _run(data, 1e3)[0].nfev
    for alpha in (1e100, 1e300):
        flow, _ = _run(data, alpha)
        assert flow.nfev <= 3 * base, (alpha, flow.nfev, base)


def test_weights_agree_with_the_unscaled_variables(data):
    """w at α = 1e30 against the same flow integrated in the former variables y = e^{c}S (which grow like e^{2λt},
    no growth factor, steps ≤ 1 in log t) at tight tolerances: an independent discretization of the same ODE."""
    alpha = 1e30
    _, sol = _run(data, alpha)
    ref_flow = ReducedDiagonalFlow(data.X, data.y, alpha=alpha, lam=LAM)
    ref_flow._growth = 0.0  # φ ≡ 0: the state is e^{c}S itself
    ref_flow.max_step = 1.0
    ref = integrate_flow(ref_flow, _times(alpha), rtol=1e-9, atol=1e-12)
    assert ref.status == "ok"
    assert ref_flow.nfev > 10 * sol.stats.nfev  # the former variables really are the expensive ones
    for k in range(len(ref.t)):
        err = np.linalg.norm(sol.weights[k] - ref.weights[k]) / np.linalg.norm(ref.weights[k])
        assert err <= 1e-5, (k, err)


def test_a_file_written_before_the_growth_factor_is_read_with_its_own_scale(tmp_path, monkeypatch):
    """A compact file whose states were integrated in y = e^{c}S (no φ, no ``state_growth``) rebuilds its own w."""
    import grokode
    import grokode.models.linear as linear

    monkeypatch.setattr(linear, "COMPACT_FROM", 0)
    kw = dict(n=32, d=120, alpha=1e4, lam=0.02, seed=2)
    monkeypatch.setattr(ReducedDiagonalFlow, "scale_offset", lambda self, tau, anchor=None: (0.0, 0.0))
    old = grokode.integrate(**kw)  # the former variables, as an older grokode integrated them
    monkeypatch.undo()
    monkeypatch.setattr(linear, "COMPACT_FROM", 0)
    path = old.save(tmp_path / "old.npz")
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files if k != "state_growth"}
    np.savez(tmp_path / "older.npz", **arrays)
    loaded = grokode.load_run(tmp_path / "older.npz")
    w = loaded.arrays["w"]
    ref = old.arrays["w"]
    assert np.max(np.abs(w - ref)) <= 1e-12 * np.max(np.abs(ref))
    new = grokode.integrate(**kw)
    assert grokode.load_run(new.save(tmp_path / "new.npz")).arrays["w"].tobytes() == new.arrays["w"].tobytes()


def test_matrix_flow_cost_does_not_grow_with_alpha():
    """ROS2 (the matrix model's auto from α = 1e4) crosses the kernel phase of stiffness ~α² at α = 1e150 in as many
    steps as at 1e3 (it stopped at t = 0 from α ≈ 1e6 before its step floor followed t's spacing); the late phase
    forgets α, so both end at the same W."""
    from grokode.numeric.matrix import MatrixFlow
    from grokode.tasks.matrix import make_matrix_task

    task = make_matrix_task("multiplication", d=8, frac=0.5, seed=0)
    lam, ends, counts = 1e-2, [], []
    for alpha in (1e3, 1e150):
        flow = MatrixFlow(task.M, task.train_mask, alpha=alpha, lam=lam)
        sol = integrate_flow(flow, np.array([(2 * math.log(alpha) + 5) / lam]), method="ros2")
        assert sol.status == "ok", sol.message
        ends.append(sol.weights[-1])
        counts.append(flow.nfev)
    assert counts[1] <= 1.5 * counts[0], counts
    assert np.linalg.norm(ends[1] - ends[0]) <= 1e-3 * np.linalg.norm(ends[0])


def test_jacobian_reuses_its_gram_only_while_dw_dq_has_not_moved(data):
    """J = row·X diag(∂w/∂q) Xᵀ: the n²d product is reused while ∂w/∂q (max-normalized) moved ≤ GRAM_REUSE."""
    from grokode.numeric.reduced import GRAM_REUSE

    flow = ReducedDiagonalFlow(data.X, data.y, alpha=5.0, lam=LAM)
    rng = np.random.default_rng(0)
    tau = math.log(3.0)
    s1 = rng.standard_normal(flow.n) * 1e-3 * math.exp(flow.c)  # z ≈ 1e-3: ∂w/∂q nearly constant
    flow.jac(tau, s1)
    s2 = s1 * (1 + 1e-3)
    J2 = flow.jac(tau, s2)
    assert flow.grams == 1  # reused
    fresh = ReducedDiagonalFlow(data.X, data.y, alpha=5.0, lam=LAM).jac(tau, s2)
    assert np.max(np.abs(J2 - fresh)) <= 2 * GRAM_REUSE * np.max(np.abs(fresh))
    flow.jac(tau, s1 * 300.0)  # z ≈ 0.3: ∂w/∂q varies across coordinates
    assert flow.grams == 2


def _depth3(data):
    flow = ReducedDiagonalFlow(data.X, data.y, alpha=1e30, lam=LAM, depth=3)
    sol = integrate_flow(flow, _times(1e30), method="BDF")
    assert sol.status == "ok", sol.message
    return flow, sol


def _close(a, b, tol):
    scale = np.max(np.abs(b.weights), axis=1)
    return np.max(np.abs(a.weights - b.weights) / scale[:, None]) <= tol


def test_bdf_carries_its_history_across_reanchoring(data, monkeypatch):
    """Without a drift, a re-anchoring keeps the flow's form: BDF continues across it instead of restarting at first
    order, with fewer right-hand sides and the same weights."""
    import grokode.numeric.integrate as integrate

    monkeypatch.setattr(ReducedDiagonalFlow, "drift_rate", lambda self, tau, state: (None, False))
    carried_flow, carried = _depth3(data)
    monkeypatch.setattr(integrate, "_carry_history", lambda solver, change: False)
    restarted_flow, restarted = _depth3(data)
    assert carried_flow.anchors == restarted_flow.anchors >= 20
    assert carried.stats.nfev < 0.9 * restarted.stats.nfev, (carried.stats.nfev, restarted.stats.nfev)
    assert _close(carried, restarted, 1e-4)


def test_the_drift_carries_the_late_phase_decay(data, monkeypatch):
    """Depth 3, late phase, without settled anchors (test_settled_frame.py): with the anchor's drift G(t)·v_a the state
    holds only what r(f) changes after the anchor, so a decade of a bracket's decay costs a few steps; the weights are
    those of the flow without it."""
    from grokode.numeric import diagonal_settled

    monkeypatch.setattr(diagonal_settled, "choose_active", lambda *args, **kw: None)
    drift_flow, drift = _depth3(data)
    monkeypatch.setattr(ReducedDiagonalFlow, "drift_rate", lambda self, tau, state: (None, False))
    plain_flow, plain = _depth3(data)
    assert drift_flow.anchors >= 20 and plain_flow.anchors >= 20
    assert drift.stats.nfev < 0.8 * plain.stats.nfev, (drift.stats.nfev, plain.stats.nfev)
    assert _close(drift, plain, 1e-4)
