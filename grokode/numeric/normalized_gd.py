"""Gradient descent with the normalized learning rate η/L̂(θ) (paper App. B.1): GD that reaches log-time horizons.

Without weight decay the late phase is implicit margin maximization: L̂ decays like 1/t, the curvature of
L̂ decays with it, and a constant step would need ~t_end/η steps to reach t_end = 1e300. With the step
η_k = η/L̂(θ_k) (Lyu & Li 2020, Nacson et al. 2019, as in the paper's Figure 4) the flow time
t_k = Σ_{i<k} η/L̂(θ_i) grows geometrically once L̂ ~ 1/t, so reaching t needs ~ln(t)/η steps.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from .gd import DiagonalGD, GDSolution, _evaluate, _update
from .integrate import SolverStats
from .linalg import rmatvec, rmatvec_signs
from .parallel import sized_kernel

METHOD_OPTION = "normalized-lr"
#: acc: [‖θ‖², objective, best objective, its step, #rising steps, first rising step, t, L̂]
_T, _LOSS = 6, 7


@sized_kernel(lambda packed, bits, colbits, X, *args: X.size)
def _normalized_steps(packed, bits, colbits, X, XT, y, loss_id, depth, lam, eta, u, v, w, f, r, g, nsteps, t_target,
                      k0, rise, acc):
    """Up to ``nsteps`` steps θ ← θ − (η/L̂)(∇L̂ + λθ), stopping at the first step with t ≥ ``t_target``.

    Returns (steps done, code): 0 done, 1 non-finite, 2 risen, 3 L̂ underflowed to 0 (the step η/L̂ is undefined).
    """
    n = y.shape[0]
    for s in range(nsteps):
        if acc[_T] >= t_target:
            return s, 0
        if not acc[_LOSS] > 0.0:
            return s, 3
        lr = eta / acc[_LOSS]
        if packed:
            rmatvec_signs(bits, r, 1.0 / n, g)
        else:
            rmatvec(X, r, 1.0 / n, g)
        acc[0] = _update(u, v, g, depth, lam, lr, w)
        loss = _evaluate(packed, bits, colbits, X, XT, y, loss_id, w, f, r)
        obj = loss + 0.5 * lam * acc[0]
        acc[_T] += lr
        acc[_LOSS] = loss
        k = k0 + s + 1
        if not math.isfinite(obj):
            acc[1] = obj
            return s + 1, 1
        if obj > acc[1] * (1.0 + 1e-10):
            if acc[4] == 0:
                acc[5] = k
            acc[4] += 1
        acc[1] = obj
        if obj < acc[2]:
            acc[2] = obj
            acc[3] = k
        elif obj > rise * acc[2]:
            return s + 1, 2
    return nsteps, 0


@dataclass
class NormalizedGDSolution(GDSolution):
    """A :class:`~grokode.numeric.gd.GDSolution` whose times are Σ η/L̂ (``lr`` is the constant η)."""

    time_reached: float = 0.0

    @property
    def t_reached(self) -> float:
        return self.time_reached


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
        t_eval = np.asarray(t_eval, dtype=np.float64)
        if t_eval.ndim != 1 or t_eval.size == 0 or not np.all(np.isfinite(t_eval)) or np.any(t_eval < 0) or np.any(
                np.diff(t_eval) <= 0):
            raise InputError("t_eval must be a non-empty, strictly increasing list of finite times ≥ 0")
        d = self.d
        u = np.full(d, self.u0)
        v = np.full(d, self.u0)
        w = np.zeros(d)
        f, r, g = np.empty(self.n), np.empty(self.n), np.empty(d)
        sq = 2.0 * d * self.u0**2
        loss0 = _evaluate(*self._args, w, f, r)
        obj0 = loss0 + 0.5 * self.lam * sq
        acc = np.array([sq, obj0, obj0, 0.0, 0.0, -1.0, 0.0, loss0])
        states, weights, norms, objs, saved = [], [], [], [], []
        stats = SolverStats(method="gd-normalized")
        status, message, t_fail, div_step = "ok", "", None, None
        # progress in ln t from the first step's time, the scale on which this method advances
        log_lo = math.log(max(self.lr / max(loss0, 1e-300), 1e-300))
        log_hi = math.log(max(t_eval[-1], 1e-300))
        k, chunk, idx = 0, 8, 0
        start = time.perf_counter()
        try:
            while True:
                if idx < t_eval.size and acc[_T] >= t_eval[idx]:
                    states.append(np.concatenate([u, v]))
                    weights.append(w.copy())
                    norms.append(math.sqrt(acc[0]))
                    objs.append(acc[1])
                    saved.append(acc[_T])
                    while idx < t_eval.size and acc[_T] >= t_eval[idx]:
                        idx += 1
                if idx == t_eval.size:
                    break
                c0 = time.perf_counter()
                done, code = _normalized_steps(*self._args, self.depth, self.lam, self.lr, u, v, w, f, r, g, chunk,
                                               float(t_eval[idx]), k, self.rise_factor, acc)
                k += done
                elapsed = time.perf_counter() - c0
                if done == chunk and elapsed > 0:
                    chunk = int(min(max(1, chunk * min(4.0, chunk_seconds / elapsed)), 1 << 24))
                if progress is not None and acc[_T] > 0:
                    progress(min(1.0, max(0.0, (math.log(acc[_T]) - log_lo) / max(log_hi - log_lo, 1e-12))))
                if code == 3:
                    status = "failed"
                    t_fail = float(acc[_T])
                    message = (f"the training loss underflowed to 0 at step {k} (t={t_fail:.6g}): the normalized "
                               "step η/L̂ is undefined beyond it")
                    break
                if code:
                    status = "diverged"
                    div_step = int(acc[3]) + 1
                    t_fail = float(acc[_T])
                    what = "became non-finite" if code == 1 else f"exceeded {self.rise_factor:g}× its minimum"
                    message = (f"normalized GD diverged at η={self.lr:g}: the objective L̂+(λ/2)‖θ‖² {what} at "
                               f"step {k} (t={t_fail:.6g}); it rose from its minimum {acc[2]:.6g} at step "
                               f"{div_step - 1}")
                    break
        except KeyboardInterrupt:
            status, message = "interrupted", "interrupted by the user"
        if status == "ok" and acc[4] > 0:
            message = (f"warning: the objective increased at {int(acc[4])} of {k} steps (first at step "
                       f"{int(acc[5])}): η={self.lr:g} is too large for GD to follow the gradient flow there")
        stats.nfev = stats.steps = k
        stats.wall_seconds = time.perf_counter() - start
        return NormalizedGDSolution(
            t=np.asarray(saved, dtype=np.float64), states=np.asarray(states).reshape(-1, 2 * d),
            weights=np.asarray(weights).reshape(-1, d), param_norm=np.asarray(norms, dtype=np.float64),
            objective=np.asarray(objs, dtype=np.float64), status=status, message=message, stats=stats, lr=self.lr,
            steps_done=k, t_fail=t_fail, diverged_step=div_step, time_reached=float(acc[_T]))
