"""Depth L ≥ 3, late phase: the settled frame (log-brackets of the active coordinates, docs/math.md#conditioning).

Its weights are checked against the independent full-flow reference of test_depth_accuracy (numpy and scipy's LSODA at
rtol 1e-11, no grokode numerics) at α = 1e30, its Jacobian against finite differences of its right-hand side, and its
cost at α = 1e300 against α = 1e3.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_depth_accuracy import horizon_times, reference_weights, relative_errors

import grokode
import grokode.models.linear as linear
from grokode.numeric import diagonal_settled
from grokode.numeric.diagonal import ReducedDiagonalFlow
from grokode.numeric.integrate import integrate_flow
from grokode.tasks import make_task

LAM = 1e-2


@pytest.fixture(scope="module")
def data():
    return make_task("sparse", n=16, d=40, n_test=0, seed=0)


def _settled_steps(sol) -> int:
    return sum(1 for p in sol.pieces if p.frame[1] is not None and p.frame[1].settled)


def test_settled_frame_matches_the_independent_full_flow_at_large_alpha(data):
    """α = 1e30: 30 decades of the brackets' decay after t*, carried by one settled frame (the former variables
    re-anchored 33 times); w within 1e-4 of the full 2d flow at every saved time through the horizon."""
    alpha = 1e30
    times = horizon_times(alpha, LAM)
    flow = ReducedDiagonalFlow(data.X, data.y, alpha=alpha, lam=LAM, depth=3)
    sol = integrate_flow(flow, times)
    assert sol.status == "ok", sol.message
    assert _settled_steps(sol) >= 20 and flow.anchors <= 10
    mid = 0.5 * (times[-2] + times[-1])  # dense output inside a settled piece
    ref = reference_weights(data.X, data.y, alpha=alpha, lam=LAM, depth=3, times=np.insert(times, -1, mid))
    err = relative_errors(sol.weights, np.delete(ref, -2, axis=0))
    assert err.max() <= 1e-4, (err.max(), int(err.argmax()))
    assert np.linalg.norm(sol.weight_at(mid) - ref[-2]) <= 1e-4 * np.linalg.norm(ref[-2])


def _times(alpha):
    return np.array([0.5, 0.9, 1.1, 2.0]) * math.log(alpha) / LAM


def test_depth3_rhs_count_at_1e300_stays_bounded(data):
    """α = 1e300 against 1e3: a few anchors and ≤ 3.5× the right-hand sides (the former variables: 189 anchors, one
    per decade of the decay, and 5.7×)."""
    counts = {}
    for alpha in (1e3, 1e300):
        flow = ReducedDiagonalFlow(data.X, data.y, alpha=alpha, lam=LAM, depth=3)
        sol = integrate_flow(flow, _times(alpha))
        assert sol.status == "ok", sol.message
        counts[alpha] = flow.nfev
        assert flow.anchors <= 10, (alpha, flow.anchors)
    assert counts[1e300] <= 3.5 * counts[1e3], counts


def test_settled_weights_agree_with_the_former_variables(data, monkeypatch):
    """The same flow without settled anchors (one re-anchoring per decade, the drift), at tight tolerances: w at
    0.5/0.9/1.1/2.0 × t_theory, α = 1e10, depth 4."""
    alpha = 1e10
    flow = ReducedDiagonalFlow(data.X, data.y, alpha=alpha, lam=LAM, depth=4)
    sol = integrate_flow(flow, _times(alpha))
    assert sol.status == "ok" and _settled_steps(sol) > 0
    monkeypatch.setattr(diagonal_settled, "choose_active", lambda *args, **kw: None)
    former_flow = ReducedDiagonalFlow(data.X, data.y, alpha=alpha, lam=LAM, depth=4)
    former = integrate_flow(former_flow, _times(alpha), rtol=1e-9, atol=1e-12)
    assert former.status == "ok" and former_flow.anchors > 3 * flow.anchors
    err = relative_errors(sol.weights, former.weights)
    assert err.max() <= 1e-5, err


def test_settled_jacobian_vs_finite_differences(data):
    alpha = 1e30
    flow = ReducedDiagonalFlow(data.X, data.y, alpha=alpha, lam=LAM, depth=3)
    sol = integrate_flow(flow, _times(alpha))
    assert flow.anchor.settled and sol.frames[-1][1] is flow.anchor
    tau = math.log(sol.t[-1])
    y = sol.states[-1] + 1e-3 * np.random.default_rng(0).standard_normal(flow.n)  # off the fixed point
    J = flow.jac(tau, y)
    h = 1e-6
    Jfd = np.array([(flow.rhs(tau, y + h * e) - flow.rhs(tau, y - h * e)) / (2 * h) for e in np.eye(flow.n)]).T
    # the Gram product is formed in float32 (it only steers Newton): agreement to ~1e-6 of the largest entry
    assert np.max(np.abs(J - Jfd)) <= 1e-4 * np.max(np.abs(Jfd))


def test_settled_frames_survive_a_compact_file(tmp_path, monkeypatch):
    """A depth-3 run whose states are saved in settled frames rebuilds its own w from the file."""
    monkeypatch.setattr(linear, "COMPACT_FROM", 0)
    run = grokode.integrate(n=16, d=40, alpha=1e30, lam=LAM, depth=3, seed=0)
    path = run.save(tmp_path / "run.npz")
    with np.load(path) as z:
        assert np.any(z["anchor_side"])  # some saved states are in settled frames
    loaded = grokode.load_run(path)
    w, ref = loaded.arrays["w"], run.arrays["w"]
    assert np.max(np.abs(w - ref)) <= 1e-12 * np.max(np.abs(ref))
