"""Generated kernels: fresh with respect to the derivation, and correct against finite differences."""

import math

import numpy as np
import pytest

from grokode.analytic.codegen import GENERATED_PATH, generate_source
from grokode.numeric import generated as gen
from grokode.numeric.diagonal import PlainFullDiagonalFlow, ReducedDiagonalFlow
from grokode.numeric.diagonal_kernels import weight_from_q
from grokode.numeric.primitives import log_expdiff, sigmoid, softplus
from grokode.numeric.reduced import START_LOG_SCALE


def test_generated_module_is_fresh():
    assert GENERATED_PATH.read_text(encoding="utf-8") == generate_source(), (
        "grokode/numeric/generated.py is stale: run python -m grokode.analytic.codegen")


@pytest.mark.parametrize("loss_id", [0, 1, 2])
def test_loss_derivatives_vs_finite_differences(loss_id):
    for f in (-3.0, -0.4, 0.0, 0.7, 2.5):
        for y in (-1.0, 1.0):
            h = 1e-5
            fd_r = (gen.loss_value(loss_id, f + h, y) - gen.loss_value(loss_id, f - h, y)) / (2 * h)
            fd_c = (gen.loss_residual(loss_id, f + h, y) - gen.loss_residual(loss_id, f - h, y)) / (2 * h)
            r, c = gen.loss_residual(loss_id, f, y), gen.loss_curvature(loss_id, f, y)
            assert abs(fd_r - r) <= 1e-7 * max(1, abs(r))
            assert abs(fd_c - c) <= 1e-7 * max(1, abs(c))
            assert math.isclose(math.exp(gen.loss_log_curvature(loss_id, f, y)), c, rel_tol=1e-12)


def test_stable_primitives_at_extremes():
    assert softplus(1e300) == 1e300 and softplus(-1e300) == 0.0
    assert sigmoid(-1e300) == 0.0 and sigmoid(1e300) == 1.0
    assert math.isclose(softplus(0.0), math.log(2.0))
    assert gen.loss_log_curvature(0, 1e300, 1.0) == -1e300  # log σ(m)σ(−m) ≈ −|m| without underflow
    assert math.isclose(log_expdiff(1e-12, -1e-12), math.log(2e-12), rel_tol=1e-10)


def _data(n=12, d=30, seed=0):
    rng = np.random.default_rng(seed)
    X = (rng.integers(0, 2, (n, d)) * 2 - 1).astype(np.int8)
    y = np.sign(X[:, 0] + X[:, 1] + X[:, 2]).astype(float)
    return X, y


@pytest.mark.parametrize("depth,loss", [(2, "logistic"), (3, "exponential"), (2, "squared"), (4, "logistic")])
def test_full_flow_is_minus_gradient_of_regularized_loss(depth, loss):
    X, y = _data()
    if loss == "squared":
        y = X[:, :3].sum(1).astype(float)
    lam = 0.03
    flow = PlainFullDiagonalFlow(X, y, alpha=2.0, lam=lam, depth=depth, loss=loss)
    lid = gen.LOSS_NAMES.index(loss)
    rng = np.random.default_rng(1)
    theta = flow.start()[1] * (1 + 0.3 * rng.standard_normal(2 * flow.d))

    def objective(th):
        w = th[: flow.d] ** depth - th[flow.d:] ** depth
        f = X.astype(float) @ w
        return np.mean([gen.loss_value(lid, fi, yi) for fi, yi in zip(f, y, strict=True)]) + 0.5 * lam * th @ th

    h = 1e-6
    fd = np.array([(objective(theta + h * e) - objective(theta - h * e)) / (2 * h) for e in np.eye(2 * flow.d)])
    rhs = flow.rhs(0.0, theta)
    assert np.max(np.abs(rhs + fd)) <= 1e-7 * np.max(np.abs(fd))
    # and the dense Jacobian against finite differences of the right-hand side
    J = flow.jac(0.0, theta)
    Jfd = np.array([(flow.rhs(0, theta + h * e) - flow.rhs(0, theta - h * e)) / (2 * h) for e in np.eye(2 * flow.d)]).T
    assert np.max(np.abs(J - Jfd)) <= 1e-6 * np.max(np.abs(J))


@pytest.mark.parametrize("depth,loss,alpha", [(2, "logistic", 3.0), (3, "logistic", 2.0), (2, "squared", 10.0),
                                              (2, "exponential", 1e6)])
def test_reduced_jacobian_vs_finite_differences(depth, loss, alpha):
    X, y = _data()
    if loss == "squared":
        y = X[:, :3].sum(1).astype(float)
    flow = ReducedDiagonalFlow(X, y, alpha=alpha, lam=0.01, depth=depth, loss=loss)
    rng = np.random.default_rng(2)
    state = rng.standard_normal(flow.n)
    # scale so that max |z| = |κ q| ≤ 0.5 (inside every depth's domain) and |w| = O(1) (outputs that do not
    # overflow the exponential loss)
    q = X.T.astype(float) @ state / flow.n * math.exp(-flow.c)
    z_max = min(0.5, math.exp(-gen.diag_E(depth, flow.ell0, flow.lam, 0.0)))
    state *= z_max / (math.exp(flow.log_kappa) * np.max(np.abs(q)))
    for tau in (flow.start()[0] + 3.0, math.log(5.0)):
        J = flow.jac(tau, state)
        h = 1e-6 * math.exp(START_LOG_SCALE)  # the state's scale e^c includes the start scale
        Jfd = np.array([(flow.rhs(tau, state + h * e) - flow.rhs(tau, state - h * e)) / (2 * h)
                        for e in np.eye(flow.n)]).T
        assert np.max(np.abs(J - Jfd)) <= 1e-6 * np.max(np.abs(J))


@pytest.mark.parametrize("depth", [2, 3, 5])
def test_weight_fast_path_equals_log_path(depth):
    X, y = _data()
    flow = ReducedDiagonalFlow(X, y, alpha=5.0, lam=0.01, depth=depth)
    rng = np.random.default_rng(3)
    for scale in (1e-12, 1e-6, 1e-2, 0.3):
        state = rng.standard_normal(flow.n) * scale * math.exp(flow.c)
        tau = math.log(7.0)
        w = flow.weight(tau, state)
        B = X.T.astype(float) @ state / flow.n
        E = gen.diag_E(depth, flow.ell0, flow.lam, 7.0)
        ref = np.array([weight_from_q(depth, E, flow.log_kappa, math.log(abs(b)) - flow.c, math.copysign(1, b))
                        for b in B])
        assert np.allclose(w, ref, rtol=1e-13, atol=0, equal_nan=True)  # NaN: past a blow-up bracket, both
