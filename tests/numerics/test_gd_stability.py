"""GD says when it is beyond the linear stability limit 2/ρ(0) of the flow it discretizes.

ρ(0) is checked against an independent reference: the largest eigenvalue (numpy.linalg.eigvalsh) of a dense
Hessian of J = L̂ + (λ/2)‖θ‖² built by second differences of J itself, on small problems. The default run's
ratio (α = 1e3, lr 0.01) is about 26; a stable lr follows the flow to 1e-2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import grokode
from grokode.numeric import generated as gen
from grokode.numeric.gd import DiagonalGD
from grokode.numeric.stability import diagonal_hvp_at_init, finite_difference_hvp, top_eigenvalue


def _objective(X, y, theta, *, lam, depth, loss_id):
    d = X.shape[1]
    u, v = theta[:d], theta[d:]
    f = X @ (u**depth - v**depth)
    return np.mean([gen.loss_value(loss_id, fi, yi) for fi, yi in zip(f, y, strict=True)]) + 0.5 * lam * theta @ theta


def _dense_hessian(J, theta, h):
    m = theta.size
    H = np.empty((m, m))
    E = np.eye(m) * h
    for j in range(m):
        for k in range(j, m):
            H[j, k] = H[k, j] = (J(theta + E[j] + E[k]) - J(theta + E[j] - E[k]) - J(theta - E[j] + E[k])
                                 + J(theta - E[j] - E[k])) / (4 * h * h)
    return H


CASES = [("logistic", 2, 1.0, 0.1), ("logistic", 3, 2.0, 0.0), ("exponential", 2, 3.0, 0.05),
         ("squared", 2, 1.5, 0.2), ("squared", 4, 1.2, 0.0)]


@pytest.mark.parametrize("loss, depth, alpha, lam", CASES)
def test_rho0_matches_a_dense_finite_difference_hessian(loss, depth, alpha, lam):
    rng = np.random.default_rng(depth)
    n, d = 7, 5
    X = rng.standard_normal((n, d))
    y = np.sign(rng.standard_normal(n)) if loss != "squared" else rng.standard_normal(n)
    loss_id = gen.LOSS_NAMES.index(loss)
    u0 = alpha / np.sqrt(2 * d)
    theta0 = np.full(2 * d, u0)
    H = _dense_hessian(lambda th: _objective(X, y, th, lam=lam, depth=depth, loss_id=loss_id), theta0, 1e-4)
    reference = np.linalg.eigvalsh(H)[-1]
    hvp = diagonal_hvp_at_init(X, y, u0=u0, lam=lam, depth=depth, loss_id=loss_id)
    assert np.allclose(np.column_stack([hvp(e) for e in np.eye(2 * d)]), H, rtol=1e-5, atol=1e-6 * abs(reference))
    assert top_eigenvalue(hvp, 2 * d) == pytest.approx(reference, rel=1e-6)
    gd = DiagonalGD(X, y, alpha=alpha, lam=lam, lr=1.0, depth=depth, loss=loss)
    assert gd.stability().curvature == pytest.approx(reference, rel=1e-6)


def test_the_mlp_rho0_matches_a_dense_hessian():
    from grokode.models.mlp import MLPModel

    model = MLPModel(p=5, width=3, frac=0.6, alpha=2.0, lam=0.01, method="gd", t_end=1.0)
    net = model.prepare().dynamics.net
    theta0 = net.theta0.astype(np.float64)
    grad = lambda th: net.loss_grad(np.ascontiguousarray(th))[2].copy()  # noqa: E731
    h = 1e-6
    J = np.column_stack([(grad(theta0 + h * e) - grad(theta0 - h * e)) / (2 * h) for e in np.eye(net.size)])
    reference = np.linalg.eigvalsh(0.5 * (J + J.T))[-1] + 0.01
    assert top_eigenvalue(finite_difference_hvp(grad, theta0, 0.01), net.size, tol=1e-10) == pytest.approx(
        reference, rel=1e-5)


def test_the_default_gd_run_warns_and_records_the_ratio(tmp_path):
    """The default run (α = 1e3, λ = 1e-3, the default task) at the default lr 0.01, to t = 1 (100 steps)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    res = subprocess.run([sys.executable, "-m", "grokode", "integrate", "--method", "gd", "--t-end", "1", "--no-plot",
                          "--out", "g.npz", "--json"], capture_output=True, text=True, cwd=tmp_path, env=env,
                         timeout=600)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert 24 < summary["lr_stability_ratio"] < 28  # ρ(0) ≈ 5.2e3: 2/ρ(0) ≈ 3.8e-4
    warnings = [line for line in res.stderr.splitlines() if "stability limit" in line]
    assert len(warnings) == 1 and warnings[0].startswith("grokode: warning: lr=0.01 is 26.")
    assert "2/ρ(0) = 0.000383" in warnings[0]
    assert grokode.load_run(tmp_path / "g.npz").summary["lr_stability_ratio"] == summary["lr_stability_ratio"]


def test_a_stable_lr_follows_the_flow_and_says_nothing():
    options = dict(alpha=10.0, lam=0.1, n=16, d=20, n_test=10, seed=3)
    probe = grokode.build("diagonal", method="gd", lr=0.01, t_end=1.0, **options)
    data = probe.prepare().data
    c = probe.config
    limit = DiagonalGD(data.X, data.y, alpha=c["alpha"], lam=c["lam"], lr=1.0, depth=2,
                       loss=c["loss"]).stability().limit
    lr = limit / 20
    t_eval = lr * np.round(np.array([2.0, 5.0, 10.0, 20.0]) / lr)
    gd = grokode.integrate(method="gd", lr=lr, t_eval=t_eval, **options)
    flow = grokode.integrate(method="LSODA", rtol=1e-10, atol=1e-12, t_eval=t_eval, **options)
    assert gd.summary["lr_stability_ratio"] == pytest.approx(0.05, rel=1e-9) and "stability" not in gd.message
    w_gd = gd.arrays["w"][np.searchsorted(gd.arrays["t"], t_eval - lr / 2)]
    w_flow = flow.arrays["w"][np.searchsorted(flow.arrays["t"], t_eval - lr / 2)]
    assert np.max(np.linalg.norm(w_gd - w_flow, axis=1) / np.linalg.norm(w_flow, axis=1)) < 1e-2
    beyond = grokode.integrate(method="gd", lr=3 * limit, t_end=2.0, **options)
    assert beyond.summary["lr_stability_ratio"] == pytest.approx(3.0, rel=1e-9)
    assert f"is 3× the linear stability limit 2/ρ(0) = {limit:.3g}" in beyond.message
