"""The matrix flow's solver at large α (docs/math.md#matrix): rkc-ros2 against an independent Radau integration.

The reference integrates the lifted flow (W, Ŝ = S/σ) written in numpy from docs/math.md#matrix, in the upper
triangles of W and Ŝ only (both stay symmetric): on the full d² variables the pairs where (i, j) and (j, i) are both
observed have an antisymmetric direction that rounds I − γhJ to a singular matrix once the stiffness is ~α².
"""

import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from grokode.numeric.integrate import integrate_flow
from grokode.numeric.matrix import MatrixFlow
from grokode.numeric.ros2 import ROS2
from grokode.tasks.matrix import make_matrix_task

D, FRAC, LAM = 8, 0.3, 1e-2


def symmetric_radau_reference(M, mask, alpha, lam, t_eval):
    """W at ``t_eval`` from scipy Radau (rtol 1e-10) on the upper triangles of W and Ŝ."""
    d = M.shape[0]
    n_obs = int(mask.sum())
    log_decay0 = 2.0 * math.log(alpha) + math.log(2.0)
    iu = np.triu_indices(d)
    m = iu[0].size

    def full(v):
        A = np.zeros((d, d))
        A[iu] = v
        return A + np.triu(A, 1).T

    def sigma(t):
        return 1.0 + math.exp(log_decay0 - 2.0 * lam * t)

    def rhs(t, y):
        W, Sh = full(y[:m]), full(y[m:])
        s = sigma(t)
        E = np.where(mask, W - M, 0.0)
        R = 2.0 / n_obs * (E + E.T)
        dW = -s * (R @ Sh + Sh @ R) - 2.0 * lam * W
        dS = -(R @ W + W @ R + 2.0 * lam * Sh) / s
        return np.concatenate([dW[iu], dS[iu]])

    y0 = np.concatenate([np.zeros(m), ((sigma(0.0) - 1.0) / sigma(0.0) * np.eye(d))[iu]])
    stiffness = sigma(0.0) * 8.0 / n_obs  # scipy's own first step overflows its norm at α ≥ 1e30
    sol = solve_ivp(rhs, (0.0, t_eval[-1]), y0, method="Radau", t_eval=t_eval, rtol=1e-10, atol=1e-13,
                    first_step=1e-3 / stiffness)
    assert sol.status == 0, sol.message
    return np.array([full(v) for v in sol.y[:m].T])


def _times(alpha):
    t_theory = math.log(alpha) / LAM
    return np.concatenate([[1e-3 * t_theory, 0.5 * t_theory], np.linspace(0.9 * t_theory, 1.3 * t_theory, 9),
                           [(2.0 * math.log(alpha) + 5.0) / LAM]])


def _run(alpha, method="rkc-ros2", t_eval=None):
    task = make_matrix_task("multiplication", d=D, frac=FRAC, seed=0)
    flow = MatrixFlow(task.M, task.train_mask, alpha=alpha, lam=LAM)
    sol = integrate_flow(flow, _times(alpha) if t_eval is None else t_eval, method=method)
    assert sol.status == "ok", sol.message
    return task, flow, sol.weights.reshape(-1, D, D)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # scipy Radau's norm of its first steps
@pytest.mark.parametrize("alpha", [1e3, 1e100])
def test_rkc_ros2_matches_radau(alpha):
    task, flow, W = _run(alpha)
    ref = symmetric_radau_reference(task.M, task.train_mask, alpha, LAM, _times(alpha))
    errors = np.linalg.norm(W - ref, axis=(1, 2)) / np.linalg.norm(ref, axis=(1, 2))
    # through the transition (the reference's own error is ~1e-4 where W leaves the kernel predictor at α = 1e100)
    assert errors.max() <= 2e-4, errors
    assert errors[-6:].max() <= 1e-5, errors  # the rich phase, from 1.1 t_theory, and the final state


def test_rkc_ros2_cost_does_not_grow_with_alpha():
    """RHS evaluations at α = 1e100 and 1e150 within 1.5× of α = 1e3 (the kernel plateau costs ROS2 a step per
    ×5 of t, the rest of the run is the same shifted flow)."""
    counts = [_run(alpha)[1].nfev for alpha in (1e3, 1e100, 1e150)]
    assert counts[0] <= 6000, counts  # RKC alone: ~37,000 at d = 40
    assert max(counts[1:]) <= 1.5 * counts[0], counts


@pytest.mark.parametrize("method", ["ros2", "rkc-ros2"])
def test_kernel_plateau_is_the_kernel_predictor(method):
    """Saved W in the kernel plateau (from the dense output) equals the kernel predictor, the observed entries of M
    and their mirror images, 0 elsewhere (Cor. 3.11; the deviation is O(λ/stiffness) ~ 1e-55 at α = 1e30)."""
    alpha = 1e30
    t_theory = math.log(alpha) / LAM
    t_eval = np.array([1e-40, 1e-10, 1.0, 0.1 * t_theory, 0.37 * t_theory, 0.5 * t_theory])
    task, _, W = _run(alpha, method, t_eval)
    seen = task.train_mask | task.train_mask.T
    kernel = np.where(seen, task.M, 0.0)
    assert np.abs(W - kernel).max() <= 1e-8 * np.abs(task.M).max()


def test_ros2_continuous_extension_is_second_order():
    """y' = −y, one ROS2 step of size h with the exact Jacobian: the dense output's error at h/2 is O(h³)."""
    errors = []
    for h in (0.1, 0.05):
        solver = ROS2(lambda t, y: -y, 0.0, np.array([1.0]), 1.0, jac_diagonal=lambda t, y: -np.ones(1),
                      first_step=h, rtol=1.0, atol=1.0)
        solver.step()
        dense = solver.dense_output()
        errors.append(abs(dense(0.5 * solver.t)[0] - math.exp(-0.5 * solver.t)))
        assert dense(solver.t)[0] == solver.y[0]
    assert 6.0 <= errors[0] / errors[1] <= 10.0, errors
