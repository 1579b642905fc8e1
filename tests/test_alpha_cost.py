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
