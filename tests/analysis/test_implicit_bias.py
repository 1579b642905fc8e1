"""The finite-α predictor at λ = 0 (docs/math.md#finite-alpha) against independent computations.

References (none of them grokode code): the primal problem min Q_α(w) s.t. Xw = y solved by scipy's trust-exact
over the null space of X (its own gradient and Hessian of Woodworth et al.'s q); for depth L ≥ 3 the KKT
certificate written here from the per-coordinate closed form (u, v)(Γ) of the λ = 0 flow; the min-ℓ2 interpolant
by lstsq and basis pursuit by scipy's linprog.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import brentq, linprog, minimize

import grokode
from grokode.analysis.implicit_bias import DiagonalProfile, implicit_interpolant, potential_q
from grokode.errors import InputError


def gaussian_task(seed: int, n: int = 12, d: int = 30, k: int = 3):
    """Gaussian inputs and a k-sparse Gaussian teacher drawn from ``seed`` (not picked by hand)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    w_star = np.zeros(d)
    w_star[rng.choice(d, k, replace=False)] = rng.standard_normal(k)
    return X, X @ w_star


def woodworth_q(z: np.ndarray) -> np.ndarray:
    """q(z) = 2 − √(4 + z²) + z·asinh(z/2), written here (not grokode's) without the cancellation at small z."""
    return z * np.arcsinh(0.5 * z) - z * z / (2.0 + np.sqrt(4.0 + z * z))


def test_potential_q_is_woodworths():
    z = np.array([-30.0, -2.0, -1e-3, 0.0, 1e-6, 0.5, 7.0])
    naive = 2.0 - np.sqrt(4.0 + z * z) + z * np.arcsinh(0.5 * z)
    assert np.allclose(potential_q(z), naive, rtol=1e-6, atol=1e-15)
    assert np.allclose(potential_q(z), woodworth_q(z), rtol=1e-15, atol=0)
    h = 1e-5  # q′ = asinh(z/2) by central differences
    assert np.allclose((woodworth_q(z + h) - woodworth_q(z - h)) / (2 * h), np.arcsinh(z / 2), rtol=1e-8, atol=1e-9)


def primal_interpolant(X: np.ndarray, y: np.ndarray, u0: float) -> np.ndarray:
    """argmin Σ u0² q(w/u0²) s.t. Xw = y: w = w_p + N z, trust-exact on z (exact gradient and Hessian of q)."""
    n, d = X.shape
    w_p = np.linalg.lstsq(X, y, rcond=None)[0]
    N = np.linalg.svd(X)[2][n:].T
    s2 = u0 * u0

    def at(z):
        return w_p + N @ z

    res = minimize(lambda z: s2 * float(np.sum(woodworth_q(at(z) / s2))), np.zeros(d - n),
                   jac=lambda z: N.T @ np.arcsinh(at(z) / (2.0 * s2)),
                   hess=lambda z: (N.T / np.sqrt(4.0 * s2 * s2 + at(z) ** 2)) @ N,
                   method="trust-exact", options={"gtol": 1e-13, "maxiter": 5000})
    return at(res.x)


def rel(a, b) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("u0", [10.0, 1.0, 0.1, 1e-2, 1e-3])
def test_predictor_matches_the_primal_solution(seed, u0):
    X, y = gaussian_task(seed)
    pred = implicit_interpolant(X, y, DiagonalProfile(2), math.log(u0))
    assert pred.converged and pred.residual < 1e-12
    assert rel(pred.w, primal_interpolant(X, y, u0)) <= 1e-6
    # the closed form of the flow: w = 2u0² sinh(Xᵀβ) for some β
    s = np.arcsinh(pred.w / (2.0 * u0 * u0))
    beta = np.linalg.lstsq(X.T, s, rcond=None)[0]
    assert np.linalg.norm(X.T @ beta - s) <= 1e-8 * max(1.0, np.linalg.norm(s))


def test_predictor_limits_are_min_l2_and_basis_pursuit():
    X, y = gaussian_task(3)
    n, d = X.shape
    big = implicit_interpolant(X, y, DiagonalProfile(2), math.log(1e140))
    assert rel(big.w, np.linalg.lstsq(X, y, rcond=None)[0]) < 1e-12
    lp = linprog(np.ones(2 * d), A_eq=np.hstack([X, -X]), b_eq=y, bounds=(0, None), method="highs")
    w_l1 = lp.x[:d] - lp.x[d:]
    gaps = []
    for u0 in (1e-2, 1e-6, 1e-12, 1e-50, 1e-150):
        small = implicit_interpolant(X, y, DiagonalProfile(2), math.log(u0))
        assert small.converged and small.residual < 1e-10
        gaps.append(np.abs(small.w).sum() / np.abs(w_l1).sum() - 1.0)
    # the ℓ1 norm falls to the basis-pursuit optimum (w itself converges slowly here: near-degenerate LP)
    assert all(g > -1e-12 for g in gaps) and all(a > b for a, b in zip(gaps, gaps[1:], strict=False))
    assert gaps[2] < 1e-3 and gaps[-1] < 1e-6


def _depth_weight(L: int, u0: float, gamma: np.ndarray) -> np.ndarray:
    """w(Γ) = u^L − v^L of the λ = 0 flow du/dΓ = −L u^{L−1}, dv/dΓ = +L v^{L−1}, u(0) = v(0) = u0 (solved by hand)."""
    k = L * (L - 2)
    u = (u0 ** (2 - L) + k * gamma) ** (-1.0 / (L - 2))
    v = (u0 ** (2 - L) - k * gamma) ** (-1.0 / (L - 2))
    return u**L - v**L


@pytest.mark.parametrize("L,u0", [(3, 0.3), (3, 1e-3), (4, 1e-2), (5, 0.1)])
def test_deep_predictor_satisfies_its_kkt_conditions(L, u0):
    """w interpolates and its clock Γ(w) (inverting the closed form coordinate by coordinate) lies in range(Xᵀ)."""
    X, y = gaussian_task(5)
    pred = implicit_interpolant(X, y, DiagonalProfile(L), math.log(u0))
    assert pred.converged and pred.residual < 1e-9
    end = u0 ** (2 - L) / (L * (L - 2))
    gam = np.array([0.0 if wj == 0 else brentq(lambda g, wj=wj: _depth_weight(L, u0, g) - wj, -end * (1 - 1e-15),
                                                end * (1 - 1e-15), xtol=1e-300, rtol=1e-15, maxiter=500)
                    for wj in pred.w])
    coef = np.linalg.lstsq(X.T, gam, rcond=None)[0]
    assert np.linalg.norm(X.T @ coef - gam) <= 1e-7 * np.linalg.norm(gam)


def test_separable_profile_gives_the_same_predictor():
    """φ = u² − v² from θ̂ = (1, 1) is the diagonal net: its tabulated profile and the closed form agree."""
    from grokode.analytic.separable import SeparableModel
    from grokode.numeric.separable_profile import profile_for

    X, y = gaussian_task(7)
    prof = profile_for(SeparableModel("u**2 - v**2", "u=1, v=1"))
    for u0 in (1.0, 1e-3):
        sep = implicit_interpolant(X, y, prof, math.log(u0 * math.sqrt(2.0)))  # scale c = ‖θ_j(0)‖ = √2·u0
        assert rel(sep.w, implicit_interpolant(X, y, DiagonalProfile(2), math.log(u0)).w) < 1e-9


def test_no_interpolant_is_refused():
    X, y = gaussian_task(2, n=12, d=30)
    X = np.vstack([X, X[:1]])
    y = np.append(y, y[0] + 1.0)  # the same input twice with two targets
    with pytest.raises(InputError, match="no interpolant exists"):
        implicit_interpolant(X, y, DiagonalProfile(2), 0.0)


def test_lam0_regression_run_without_interpolant_is_refused(tmp_path):
    X, y = gaussian_task(4, n=12, d=8)
    y = y + np.random.default_rng(4).standard_normal(12)  # n > d: y off the range of X
    path = tmp_path / "data.npz"
    np.savez(path, X=X, y=y)
    with pytest.raises(InputError, match="no interpolant exists"):
        grokode.integrate(data=str(path), loss="squared", lam=0.0, alpha=1.0)


@pytest.mark.parametrize("u0", [10.0, 1.0, 0.1, 1e-2, 1e-3])
def test_lam0_run_ends_at_the_finite_alpha_interpolant(u0, tmp_path):
    """The finite-α accuracy of the issue: final w to ≤ 1e-4, w_implicit to ≤ 1e-6 of the primal solution."""
    X, y = gaussian_task(11, n=16, d=40)
    path = tmp_path / "data.npz"
    np.savez(path, X=X, y=y)
    alpha = u0 * math.sqrt(2 * X.shape[1])
    run = grokode.integrate(data=str(path), loss="squared", lam=0.0, alpha=alpha)
    s = run.summary
    assert s["status"] == "ok" and s["message"].startswith("stopped at interpolation")
    ref = primal_interpolant(X, y, u0)
    assert rel(run.arrays["w"][-1], ref) <= 1e-4
    assert rel(run.arrays["w_implicit"], ref) <= 1e-6
    assert s["implicit_converged"] and s["implicit_residual"] < 1e-12 and s["dist_implicit_final"] <= 1e-4
    assert abs(s["implicit_dist_min_l2"] - rel(run.arrays["w_implicit"], np.linalg.lstsq(X, y, rcond=None)[0])) < 1e-9
    assert s["t_reached"] < 1e300 and run.arrays["t"][-1] == s["t_reached"]


def test_lam0_depth3_run_ends_at_the_predictor():
    run = grokode.integrate(task="sparse-regression", n=16, d=40, n_test=50, depth=3, alpha=1e-2 * math.sqrt(80),
                            lam=0.0)
    assert run.summary["status"] == "ok"
    assert rel(run.arrays["w"][-1], run.arrays["w_implicit"]) <= 1e-6
