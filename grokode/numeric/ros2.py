"""ROS2: a two-stage, second-order Rosenbrock W-method with a diagonal Jacobian approximation.

The matrix-completion flow's solver at large α, compared with :class:`grokode.numeric.rkc.RKC` in case 3 of
``benchmarks/run_all.py``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.integrate import DenseOutput, OdeSolver

GAMMA = 1.0 + 1.0 / math.sqrt(2.0)


class ROS2(OdeSolver):
    """Linearly implicit ROS2 (Verwer, Spee, Blom & Hundsdorfer, SIAM J. Sci. Comput. 20 (1999) 1456–1480).

    With W = I − γhJ, γ = 1 + 1/√2 and any approximation J of ∂F/∂y:
    k₁ = W⁻¹F(tₙ, yₙ),  k₂ = W⁻¹(F(tₙ + h, yₙ + hk₁) − 2k₁),  yₙ₊₁ = yₙ + (3/2)hk₁ + (1/2)hk₂.
    Second order for *every* J (a W-method; t enters as a state whose Jacobian column is approximated
    by 0), L-stable when J is exact, so J only has to capture the stiff part. J is diagonal here
    (``jac_diagonal(t, y)``): W⁻¹ is a division, a step costs two evaluations of F (F(yₙ₊₁) is shared
    with the next step). Error estimate yₙ₊₁ − (yₙ + hk₁) = h(k₁ + k₂)/2 (embedded first-order
    solution), weighted RMS norm, step factor 0.8·err^{−1/2} in [0.2, 5]. Dense output: the method's own
    continuous extension (:class:`RosenbrockDenseOutput`), built from the stages k₁, k₂ (not from F, which in the
    stiff quasi-steady phase is rounding noise times the stiffness).

    On matrix completion its cost does not grow with α, where RKC's grows ∝ α (√ρ per step); where the stiffness is
    moderate RKC is faster and more accurate, because the first-order error estimate does not see the W-method's
    order reduction. Hence the matrix model's ``auto`` runs ROS2 only over the kernel plateau
    (:class:`grokode.numeric.rkc_ros2.RkcRos2`).
    """

    def __init__(self, fun, t0, y0, t_bound, *, jac_diagonal, rtol=1e-6, atol=1e-9, max_step=np.inf,
                 first_step=None, vectorized=False, **extraneous):
        super().__init__(fun, t0, y0, t_bound, vectorized)
        self.rtol = float(rtol)
        self.atol = np.broadcast_to(np.asarray(atol, dtype=np.float64), self.y.shape).copy()
        self.max_step = float(max_step)
        self.jac_diagonal = jac_diagonal
        self.f = self.fun(self.t, self.y)
        wt = self.atol + self.rtol * np.abs(self.y)
        with np.errstate(over="ignore"):  # an infinite norm (a huge initial rate) only means the stiff bound below
            fnorm = float(np.sqrt(np.mean((self.f / wt) ** 2)))
        h = 0.01 / fnorm if fnorm > 0 else 1e-6
        # The stiff part is solved implicitly, so the explicit bound above may be far too small: never
        # start below 1e-3 of the fastest time scale of J.
        stiff = float(np.max(np.abs(self.jac_diagonal(t0, self.y))))
        if stiff > 0:
            h = max(h, 1e-3 / stiff)
        self.h_abs = min(h, self.max_step, abs(t_bound - t0)) if first_step is None else float(first_step)
        self.y_old = self.f_old = None
        self.n_rejected = 0
        self._jd: tuple[float, np.ndarray] | None = None

    def jacobian_here(self) -> np.ndarray:
        """The diagonal Jacobian at the current point (t, y), the one the next step uses (evaluated once per point:
        y changes only with t)."""
        if self._jd is None or self._jd[0] != self.t:
            self._jd = (self.t, self.jac_diagonal(self.t, self.y))
        return self._jd[1]

    def _step_impl(self):
        t, y, f0 = self.t, self.y, self.f
        d = self.direction
        min_step = 10.0 * np.finfo(float).eps * abs(t) + np.finfo(float).tiny
        h = min(self.h_abs, self.max_step)
        jd = self.jacobian_here()
        while True:
            if h < min_step:
                return False, f"step size {h:.3g} below {min_step:.3g} at t={t:.6g}"
            remaining = abs(self.t_bound - t)
            if 1.05 * h >= remaining:
                h = remaining
            hs = d * h
            inv = 1.0 / (1.0 - GAMMA * hs * jd)
            k1 = inv * f0
            t_new = t + hs if h < remaining else self.t_bound
            f1 = self.fun(t_new, y + hs * k1)
            k2 = inv * (f1 - 2.0 * k1)
            y_new = y + hs * (1.5 * k1 + 0.5 * k2)
            est = 0.5 * hs * (k1 + k2)
            wt = self.atol + self.rtol * np.maximum(np.abs(y), np.abs(y_new))
            err = float(np.sqrt(np.mean((est / wt) ** 2)))
            if not math.isfinite(err):
                err = math.inf
            if err <= 1.0:
                break
            self.n_rejected += 1
            h *= max(0.2, 0.8 / math.sqrt(err)) if math.isfinite(err) else 0.2
        f_new = self.fun(t_new, y_new)
        fac = 5.0 if err == 0.0 else min(5.0, max(0.2, 0.8 / math.sqrt(err)))
        self.h_abs = min(fac * h, self.max_step)
        self.y_old, self.f_old = y, f0
        self._stages = (hs * k1, hs * k2)
        self.t, self.y, self.f = t_new, y_new, f_new
        return True, None

    def _dense_output_impl(self):
        return RosenbrockDenseOutput(self.t_old, self.t, self.y_old, *self._stages)


class RosenbrockDenseOutput(DenseOutput):
    """ROS2's continuous extension y(tₙ + θh) = yₙ + b₁(θ)·hk₁ + b₂(θ)·hk₂, θ ∈ [0, 1], with
    b₂ = θ(γ − θ/2)/(2γ − 1) and b₁ = θ + b₂.

    It equals yₙ₊₁ at θ = 1 (b₁ = 3/2, b₂ = 1/2); it is second order when J is the exact Jacobian (the conditions
    b₁ − b₂ = θ and b₂ + γ(b₁ − 3b₂) = θ²/2) and first order for any J; on a stiff linear component it moves
    monotonically from yₙ to yₙ₊₁, and where the state is quasi-steady it stays there, because k₁ = W⁻¹F and k₂
    damp the stiff part of F, which a Hermite interpolant of F would not.
    """

    def __init__(self, t_old, t, y_old, hk1, hk2):
        super().__init__(t_old, t)
        self.h = t - t_old
        self.y_old, self.hk1, self.hk2 = y_old, hk1, hk2

    def _call_impl(self, t):
        x = (np.asarray(t, dtype=np.float64) - self.t_old) / self.h
        b2 = x * (GAMMA - 0.5 * x) / (2.0 * GAMMA - 1.0)
        b1 = x + b2
        if x.ndim == 0:
            return self.y_old + b1 * self.hk1 + b2 * self.hk2
        return self.y_old[:, None] + np.outer(self.hk1, b1) + np.outer(self.hk2, b2)
