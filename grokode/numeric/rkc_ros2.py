"""RKC where the flow is moderately stiff, the ROS2 W-method where RKC would need many stages per step.

The matrix-completion flow's solver (docs/math.md#matrix): its stiffness falls like α²e^{−2λt}, from ~α² in the
kernel phase to O(1) in the rich phase, and it is held by a part that the flow's diagonal Jacobian captures only
in the kernel phase (S ≈ s·I there; after the transition S has a stiff low-rank part that a diagonal misses).
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import OdeSolver

from .rkc import RKC, stage_root
from .ros2 import ROS2

#: RKC hands over to ROS2 when its next step would take more than this many stages.
TO_ROS2_STAGES = 40
#: ROS2 runs at least this many steps before it may hand back (its first step is RKC's last, which RKC could take).
MIN_ROS2_STEPS = 5
#: ROS2 hands back to RKC when an RKC step of ROS2's next step size would take at most this many stages.
TO_RKC_STAGES = 40


class RkcRos2(OdeSolver):
    """Three phases, each one method over a contiguous span of t, each step one step of that method.

    1. RKC (:class:`~grokode.numeric.rkc.RKC`) from the start: the initial relaxation, where its steps are short
       compared with 1/ρ, at a few stages each.
    2. ROS2 (:class:`~grokode.numeric.ros2.ROS2`, the flow's diagonal Jacobian) from the first step for which RKC
       would need more than :data:`TO_ROS2_STAGES` stages: the kernel plateau, where the stiffness ρ is captured
       by the diagonal Jacobian and the state is nearly steady, so ROS2's steps grow to the scale of the flow.
    3. RKC again from the first step at which an RKC step of ROS2's proposed size h takes at most
       :data:`TO_RKC_STAGES` stages (1 + √(1 + 1.54·h·ρ_J), ρ_J = max|J_diag|): the transition and the rich phase,
       where RKC's second-order error control allows much longer steps than ROS2's first-order one and where the
       diagonal Jacobian misses the stiff low-rank part that RKC's power iteration measures.

    Each phase integrates the same flow with its own method's error control; a hand-over starts the next method
    from the accepted state, with the previous method's proposed step as its first step. Parameters are those of
    :class:`~grokode.numeric.ros2.ROS2`.
    """

    def __init__(self, fun, t0, y0, t_bound, *, jac_diagonal, rtol=1e-6, atol=1e-9, max_step=np.inf,
                 first_step=None, vectorized=False, **extraneous):
        super().__init__(fun, t0, y0, t_bound, vectorized)
        self._options = {"rtol": rtol, "atol": atol, "max_step": max_step}
        self.jac_diagonal = jac_diagonal
        if first_step is None:
            # RKC's own first step is floored at 10·eps·max(|t|, 1), far above 1/ρ when ρ ~ α² is huge: start at
            # 1e-2 of the fastest time scale of the diagonal Jacobian, or at RKC's choice if that is shorter
            stiff = float(np.max(np.abs(jac_diagonal(t0, self.y))))
            first_step = min(1e-2 / stiff, abs(t_bound - t0), max_step) if stiff > 0 else None
        self.inner: OdeSolver = RKC(fun, t0, y0, t_bound, first_step=first_step, **self._options)
        self.phase = 1
        self.switch_times: list[float] = []
        self.steps_per_phase = [0, 0, 0]

    def _hand_over(self, cls, first_step: float, **kwargs) -> None:
        self.inner = cls(self.fun, self.t, self.y, self.t_bound, first_step=first_step, **self._options, **kwargs)
        self.phase += 1
        self.switch_times.append(self.t)

    def _step_impl(self):
        inner = self.inner
        if self.phase == 1:
            h = min(inner.h_abs, inner.max_step)
            if 1 + stage_root(h, inner.rho) > TO_ROS2_STAGES:
                self._hand_over(ROS2, h, jac_diagonal=self.jac_diagonal)
        elif self.phase == 2 and self.steps_per_phase[1] >= MIN_ROS2_STEPS:
            h = min(inner.h_abs, inner.max_step)
            rho = float(np.max(np.abs(inner.jacobian_here())))  # the J of ROS2's next step, evaluated once
            if 1 + stage_root(h, rho) <= TO_RKC_STAGES:
                self._hand_over(RKC, h)
        inner = self.inner
        message = inner.step()
        if inner.status == "failed":
            return False, message
        self.steps_per_phase[self.phase - 1] += 1
        self.t, self.y = inner.t, inner.y
        return True, None

    def _dense_output_impl(self):
        return self.inner.dense_output()
