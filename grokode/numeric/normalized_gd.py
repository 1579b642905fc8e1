"""Gradient descent with the normalized learning rate η/L̂(θ) (paper App. B.1): GD that reaches log-time horizons.

Without weight decay the late phase is implicit margin maximization: L̂ decays like 1/t, the curvature of
L̂ decays with it, and a constant step would need ~t_end/η steps to reach t_end = 1e300. With the step
η_k = η/L̂(θ_k) (Lyu & Li 2020, Nacson et al. 2019, as in the paper's Figure 4) the flow time
t_k = Σ_{i<k} η/L̂(θ_i) grows geometrically once L̂ ~ 1/t, so reaching t needs ~ln(t)/η steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..errors import InputError
from .discrete import (
    NORMALIZED_HINT,
    LogTimeProgress,
    NormalizedGDSolution,
    check_t_eval,
    rise_failure,
    run_discrete,
    underflow_failure,
    uphill_warning,
)
from .gd import _T, DiagonalGD, _DiagonalStepper, _steps
from .stability import attach

METHOD_OPTION = "normalized-lr"


class NormalizedGD(DiagonalGD):
    """Gradient descent θ_{k+1} = θ_k − (η/L̂(θ_k))(∇L̂(θ_k) + λθ_k) on the diagonal net (paper App. B.1).

    This is explicit Euler on the gradient flow dθ/dt = −∇L̂ − λθ with the variable step h_k = η/L̂(θ_k),
    so the saved time is t_k = Σ h_i (the paper's Figure 4 axis). For homogeneous nets the Hessian of L̂
    is O(L̂) in the late phase (up to the norm), so h_k·curvature stays O(η): at small η GD follows the flow
    at every scale of t, with O(η) relative error per unit of ln t. Early on L̂ ≈ ln 2 and h ≈ 1.44η,
    which must still be below 2/(kernel-phase curvature) ~ n/α² (as for plain GD). Times are saved at
    the first step at or past each requested time (the saved ``t`` are the steps' own times).
    """

    def steps_for(self, t: np.ndarray) -> np.ndarray:
        raise InputError("with the normalized learning rate the step of a time is only known by running")

    def run(self, t_eval: np.ndarray, *, progress: Callable[[float], None] | None = None,
            chunk_seconds: float = 0.2) -> NormalizedGDSolution:
        """Run to the first step with t ≥ ``t_eval[-1]``, saving w and ‖θ‖ at the first step past each time."""
        t_eval = check_t_eval(t_eval)
        stepper = _NormalizedStepper(self, t_eval[-1])
        stability = self.stability(normalized=True)
        sol = run_discrete(stepper, t_eval, method="gd-normalized", lr=self.lr, state_size=2 * self.d,
                           weight_size=self.d, progress=progress, chunk_seconds=chunk_seconds,
                           make=lambda **fields: NormalizedGDSolution(**fields, time_reached=float(stepper.acc[_T])))
        return attach(sol, stability, f"the first step η/L̂ = {stability.step:.3g} (lr={self.lr:g})")


class _NormalizedStepper(_DiagonalStepper):
    """:class:`NormalizedGD`'s state; its clock is the flow time t = Σ η/L̂ (``acc`` adds t and L̂)."""

    def __init__(self, gd: NormalizedGD, t_end: float):
        super().__init__(gd)
        self.progress = LogTimeProgress(gd.lr / max(self.loss0, 1e-300), t_end)

    def clock(self) -> float:
        return float(self.acc[_T])

    def advance(self, max_steps: int, target: float) -> tuple[int, int]:
        gd = self.gd
        done, code = _steps(*gd._args, gd.depth, gd.lam, gd.lr, True, self.u, self.v, self.w, self.f, self.r, self.g,
                            max_steps, float(target), self.k, gd.rise_factor, self.acc)
        self.k += done
        return done, code

    def snapshot(self):
        return (np.concatenate([self.u, self.v]), self.w.copy(), math.sqrt(self.acc[0]), float(self.acc[1]),
                float(self.acc[_T]))

    def fraction_done(self, final_target: float) -> float:
        return self.progress(self.acc[_T])

    def failure(self, code: int, steps: int):
        t_now = float(self.acc[_T])
        if code == 3:
            return underflow_failure(steps, t_now)
        return rise_failure(f"normalized GD diverged at η={self.gd.lr:g}", code, steps, t_now, self.gd.rise_factor,
                            self.acc[2], self.acc[3], t_now, NORMALIZED_HINT)

    def warning(self, steps: int) -> str:
        return uphill_warning(f"η={self.gd.lr:g}", self.acc[4], self.acc[5], steps)
