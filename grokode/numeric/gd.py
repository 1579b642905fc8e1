"""Full-batch gradient descent with weight decay on the diagonal net: the paper's own pipeline (MATH.md §1, §3).

θ = (u, v) ∈ R^{2d}, w = u^{⊙L} − v^{⊙L}; one step is θ ← θ − η(∇L̂(θ) + λθ), exactly PyTorch's
``SGD(lr=η, weight_decay=λ)``, i.e. the explicit Euler discretization of the gradient flow with t = steps·η.
The steps run in numba in chunks between save points (so Ctrl-C and the progress bar act between chunks);
the two data products reuse :class:`grokode.numeric.linalg.DataMatrix` (bit-packed for ±1 data).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numba
import numpy as np

from ..errors import InputError, require_nonnegative, require_positive
from . import generated as gen
from .diagonal import check_loss_and_depth
from .integrate import SolverStats
from .linalg import DataMatrix, matvec_signs, matvec_t, rmatvec, rmatvec_signs
from .parallel import sized_kernel

METHOD = "gd"
_CHUNKS = 8  # parallel tasks in the update; fixed so ‖θ‖² is summed in an order independent of the thread count
#: relative slack below which a rise of the objective is rounding, not a step that went uphill
_RISE_TOL = 1e-10


@sized_kernel(lambda u, *args: 8 * u.shape[0])
def _update(u, v, g, depth, lam, lr, w):
    # θ ← θ + η·(flow at θ): the flow is −∇L̂ − λθ, so this is θ − η(∇L̂ + λθ). Returns ‖θ‖² of the new θ.
    d = u.shape[0]
    part = np.zeros(_CHUNKS)
    size = (d + _CHUNKS - 1) // _CHUNKS
    for c in numba.prange(_CHUNKS):
        acc = 0.0
        for j in range(c * size, min(d, (c + 1) * size)):
            uj = u[j] + lr * gen.diag_flow_u(depth, u[j], g[j], lam)
            vj = v[j] + lr * gen.diag_flow_v(depth, v[j], g[j], lam)
            u[j] = uj
            v[j] = vj
            w[j] = gen.diag_weight(depth, uj, vj)
            acc += uj * uj + vj * vj
        part[c] = acc
    total = 0.0
    for c in range(_CHUNKS):
        total += part[c]
    return total


@sized_kernel(lambda packed, bits, colbits, X, *args: X.size)
def _evaluate(packed, bits, colbits, X, XT, y, loss_id, w, f, r):
    """f = X w, r = ℓ'(f), and L̂ = mean ℓ(f)."""
    if packed:
        matvec_signs(colbits, w, f)
    else:
        matvec_t(XT, w, f)
    total = 0.0
    for i in range(y.shape[0]):
        r[i] = gen.loss_residual(loss_id, f[i], y[i])
        total += gen.loss_value(loss_id, f[i], y[i])
    return total / y.shape[0]


@sized_kernel(lambda packed, bits, colbits, X, *args: X.size)
def _steps(packed, bits, colbits, X, XT, y, loss_id, depth, lam, lr, u, v, w, f, r, g, nsteps, k0, rise, acc):
    """Up to ``nsteps`` GD steps from step ``k0``; returns (steps done, code): 0 done, 1 non-finite, 2 risen.

    ``acc`` carries [‖θ‖², objective, best objective, its step, #rising steps, first rising step] across calls.
    """
    n = y.shape[0]
    for s in range(nsteps):
        if packed:
            rmatvec_signs(bits, r, 1.0 / n, g)
        else:
            rmatvec(X, r, 1.0 / n, g)
        acc[0] = _update(u, v, g, depth, lam, lr, w)
        obj = _evaluate(packed, bits, colbits, X, XT, y, loss_id, w, f, r) + 0.5 * lam * acc[0]
        k = k0 + s + 1
        if not math.isfinite(obj):
            acc[1] = obj
            return s + 1, 1
        if obj > acc[1] * (1.0 + _RISE_TOL):
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
class GDSolution:
    """What a GD run produced, with the same fields as :class:`grokode.numeric.integrate.FlowSolution`.

    ``t`` are the saved times steps·η (the steps nearest the requested times, without repeats);
    ``status`` is "ok", "diverged" (``message`` says where the rise began; ``t_fail`` is that time) or
    "interrupted". ``stats.nfev`` counts gradient evaluations (= steps); ``objective`` is
    L̂ + (λ/2)‖θ‖² at the saved times.
    """

    t: np.ndarray
    states: np.ndarray
    weights: np.ndarray
    param_norm: np.ndarray
    objective: np.ndarray
    status: str
    message: str
    stats: SolverStats
    lr: float
    steps_done: int
    t_fail: float | None = None
    diverged_step: int | None = None
    pieces: list = field(default_factory=list, repr=False)

    def weight_at(self, t: float) -> np.ndarray:
        """Effective weight at a reached time, linearly interpolated between saved steps."""
        if self.t.size == 0 or not self.t[0] <= t <= self.t[-1]:
            raise InputError(f"t={t:g} is outside the saved range")
        k = int(np.searchsorted(self.t, t, side="right")) - 1
        if k >= self.t.size - 1:
            return self.weights[-1].copy()
        a = (t - self.t[k]) / (self.t[k + 1] - self.t[k])
        return (1.0 - a) * self.weights[k] + a * self.weights[k + 1]

    @property
    def t_reached(self) -> float:
        return self.steps_done * self.lr


class DiagonalGD:
    """Full-batch gradient descent with weight decay on the depth-L diagonal net (paper's pipeline).

    θ_{k+1} = θ_k − η(∇L̂(θ_k) + λθ_k) with θ = (u, v), u(0) = v(0) = α/√(2d)·1, w = u^L − v^L (MATH.md §3):
    explicit Euler on the gradient flow dθ/dt = −∇L̂ − λθ, so at fixed t = kη its error is O(η) (first
    order), and it is stable only while η is below 2/(largest curvature of L̂ + λ/2‖θ‖²), which in the
    kernel phase grows like α² (MATH.md §4 says the same of the matrix model). Divergence is detected on the
    objective J = L̂ + (λ/2)‖θ‖², which gradient flow decreases monotonically: a NaN/inf, or J above
    ``rise_factor`` × its running minimum, stops the run.
    """

    def __init__(self, X, y, *, alpha: float, lam: float, lr: float, depth: int = 2, loss: str = "logistic",
                 rise_factor: float = 2.0):
        check_loss_and_depth(loss, depth)
        self.data = X if isinstance(X, DataMatrix) else DataMatrix(X)
        self.y = np.ascontiguousarray(y, dtype=np.float64)
        self.n, self.d = self.data.n, self.data.d
        self.depth, self.loss_id = int(depth), gen.LOSS_NAMES.index(loss)
        self.alpha = require_positive("alpha", alpha)
        self.lam = require_nonnegative("lam", lam)
        self.lr = require_positive("lr", lr)
        self.rise_factor = require_positive("rise_factor", rise_factor)
        if self.rise_factor <= 1.0:
            raise InputError(f"rise_factor must be > 1, got {rise_factor!r}")
        self.u0 = self.alpha / math.sqrt(2.0 * self.d)
        if not math.isfinite(self.u0**self.depth):
            raise InputError(f"alpha={alpha:g}: u0^L overflows float64 in the (u, v) parametrization GD uses")
        packed = self.data.bits is not None
        empty_bits = np.zeros((1, 1), dtype=np.uint8)
        self._args = (packed, self.data.bits if packed else empty_bits, self.data.colbits if packed else empty_bits,
                      self.data.X, self.data.XT, self.y, self.loss_id)

    def steps_for(self, t: np.ndarray) -> np.ndarray:
        """Step numbers nearest to times ``t`` (t = steps·η)."""
        return np.rint(np.asarray(t, dtype=np.float64) / self.lr).astype(np.int64)

    def run(self, t_eval: np.ndarray, *, progress: Callable[[float], None] | None = None,
            chunk_seconds: float = 0.2) -> GDSolution:
        """Run GD to the step nearest ``t_eval[-1]``, saving w and ‖θ‖ at the steps nearest each of ``t_eval``."""
        t_eval = np.asarray(t_eval, dtype=np.float64)
        if t_eval.ndim != 1 or t_eval.size == 0 or not np.all(np.isfinite(t_eval)) or np.any(t_eval < 0) or np.any(
                np.diff(t_eval) <= 0):
            raise InputError("t_eval must be a non-empty, strictly increasing list of finite times ≥ 0")
        save = np.unique(self.steps_for(t_eval))
        n_total = int(save[-1])
        d = self.d
        u = np.full(d, self.u0)
        v = np.full(d, self.u0)
        w = np.zeros(d)  # u0^L − u0^L, exactly
        f, r, g = np.empty(self.n), np.empty(self.n), np.empty(d)
        sq = 2.0 * d * self.u0**2
        obj0 = _evaluate(*self._args, w, f, r) + 0.5 * self.lam * sq
        acc = np.array([sq, obj0, obj0, 0.0, 0.0, -1.0])
        states, weights, norms, objs, saved = [], [], [], [], []
        stats = SolverStats(method=METHOD)
        status, message, t_fail, div_step = "ok", "", None, None
        k, chunk, start = 0, 8, time.perf_counter()
        idx = 0
        try:
            while True:
                while idx < save.size and save[idx] == k:
                    states.append(np.concatenate([u, v]))
                    weights.append(w.copy())
                    norms.append(math.sqrt(acc[0]))
                    objs.append(acc[1])
                    saved.append(k * self.lr)
                    idx += 1
                if idx == save.size:
                    break
                todo = min(chunk, int(save[idx]) - k)
                c0 = time.perf_counter()
                done, code = _steps(*self._args, self.depth, self.lam, self.lr, u, v, w, f, r, g, todo, k,
                                    self.rise_factor, acc)
                k += done
                elapsed = time.perf_counter() - c0
                if done == todo and elapsed > 0:  # aim each chunk at ~chunk_seconds so Ctrl-C and progress stay live
                    chunk = int(min(max(1, chunk * min(4.0, chunk_seconds / elapsed)), 1 << 24))
                if progress is not None:
                    progress(k / max(n_total, 1))
                if code:
                    status = "diverged"
                    div_step = int(acc[3]) + 1
                    t_fail = div_step * self.lr
                    what = "became non-finite" if code == 1 else f"exceeded {self.rise_factor:g}× its minimum"
                    message = (f"GD diverged at lr={self.lr:g}: the objective L̂+(λ/2)‖θ‖² {what} at step {k} "
                               f"(t={k * self.lr:.6g}); it rose from its minimum {acc[2]:.6g} at step {div_step - 1}, "
                               f"so the divergence began at step {div_step} (t={t_fail:.6g})")
                    break
        except KeyboardInterrupt:
            status, message = "interrupted", "interrupted by the user"
        if status == "ok" and acc[4] > 0:
            message = (f"warning: the objective increased at {int(acc[4])} of {k} steps (first at step "
                       f"{int(acc[5])}): lr={self.lr:g} is too large for GD to follow the gradient flow there")
        stats.nfev = stats.steps = k
        stats.wall_seconds = time.perf_counter() - start
        return GDSolution(
            t=np.asarray(saved, dtype=np.float64), states=np.asarray(states).reshape(-1, 2 * d),
            weights=np.asarray(weights).reshape(-1, d), param_norm=np.asarray(norms, dtype=np.float64),
            objective=np.asarray(objs, dtype=np.float64), status=status, message=message, stats=stats, lr=self.lr,
            steps_done=k, t_fail=t_fail, diverged_step=div_step)


def run_gd(X, y, t_eval: np.ndarray, *, alpha: float, lam: float, lr: float, depth: int = 2, loss: str = "logistic",
           progress: Callable[[float], None] | None = None) -> GDSolution:
    """Gradient descent with weight decay on the diagonal net, saving at the steps nearest ``t_eval``.

    Parameters
    ----------
    X, y : data (n×d, int8 ±1 or float64) and labels (n).
    t_eval : increasing times ≥ 0; the last one is the horizon (t = steps·lr).
    alpha, lam, lr : initialization scale, weight decay, learning rate (all > 0).
    depth, loss : as for the flows.
    progress : called with the fraction of the steps done.
    """
    return DiagonalGD(X, y, alpha=alpha, lam=lam, lr=lr, depth=depth, loss=loss).run(t_eval, progress=progress)
