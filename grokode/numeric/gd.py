"""Full-batch gradient descent with weight decay on the diagonal net: the paper's own pipeline.

docs/math.md#setting, #diagonal.

θ = (u, v) ∈ R^{2d}, w = u^{⊙L} − v^{⊙L}; one step is θ ← θ − η(∇L̂(θ) + λθ), exactly PyTorch's
``SGD(lr=η, weight_decay=λ)``, i.e. the explicit Euler discretization of the gradient flow with t = steps·η.
The steps run in numba in chunks between save points (so Ctrl-C and the progress bar act between chunks);
the two data products reuse :class:`grokode.numeric.linalg.DataMatrix` (bit-packed for ±1 data).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numba
import numpy as np

from ..errors import InputError, checked_arguments, require_nonnegative, require_positive
from . import generated as gen
from .diagonal_kernels import check_loss_and_depth
from .discrete import GDSolution, check_t_eval, rise_failure, run_discrete, save_steps, uphill_warning
from .linalg import DataMatrix, matvec_signs, matvec_t, rmatvec, rmatvec_signs
from .parallel import sized_kernel
from .stability import StepStability, attach, diagonal_hvp_at_init, top_eigenvalue

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


#: slots of the ``acc`` array the step kernels carry across calls
_SQ, _OBJ, _BEST, _BEST_STEP, _RISING, _FIRST_RISE, _T, _LOSS = range(8)


@sized_kernel(lambda packed, bits, colbits, X, *args: X.size)
def _steps(packed, bits, colbits, X, XT, y, loss_id, depth, lam, eta, normalized, u, v, w, f, r, g, nsteps, t_target,
           k0, rise, acc):
    """Up to ``nsteps`` steps θ ← θ − h(∇L̂ + λθ) from step ``k0``, h = η or, when ``normalized``, η/L̂(θ) (App. B.1),
    stopping at the first step with t = Σ h ≥ ``t_target``.

    Returns (steps done, code): 0 done, 1 non-finite, 2 risen, 3 L̂ underflowed to 0 (η/L̂ undefined). ``acc`` carries
    [‖θ‖², objective, best objective, its step, #rising steps, first rising step, t, L̂] across calls.
    """
    n = y.shape[0]
    for s in range(nsteps):
        if acc[_T] >= t_target:
            return s, 0
        if normalized and not acc[_LOSS] > 0.0:
            return s, 3
        lr = eta / acc[_LOSS] if normalized else eta
        if packed:
            rmatvec_signs(bits, r, 1.0 / n, g)
        else:
            rmatvec(X, r, 1.0 / n, g)
        acc[_SQ] = _update(u, v, g, depth, lam, lr, w)
        loss = _evaluate(packed, bits, colbits, X, XT, y, loss_id, w, f, r)
        obj = loss + 0.5 * lam * acc[_SQ]
        acc[_T] += lr
        acc[_LOSS] = loss
        k = k0 + s + 1
        if not math.isfinite(obj):
            acc[_OBJ] = obj
            return s + 1, 1
        if obj > acc[_OBJ] * (1.0 + _RISE_TOL):
            if acc[_RISING] == 0:
                acc[_FIRST_RISE] = k
            acc[_RISING] += 1
        acc[_OBJ] = obj
        if obj < acc[_BEST]:
            acc[_BEST] = obj
            acc[_BEST_STEP] = k
        elif obj > rise * acc[_BEST]:
            return s + 1, 2
    return nsteps, 0


class DiagonalGD:
    """Full-batch gradient descent with weight decay on the depth-L diagonal net (paper's pipeline).

    θ_{k+1} = θ_k − η(∇L̂(θ_k) + λθ_k) with θ = (u, v), u(0) = v(0) = α/√(2d)·1, w = u^L − v^L (docs/math.md#diagonal):
    explicit Euler on the gradient flow dθ/dt = −∇L̂ − λθ, so at fixed t = kη its error is O(η) (first
    order), and it is stable only while η is below 2/(largest curvature of L̂ + λ/2‖θ‖²), which in the
    kernel phase grows like α² (docs/math.md#matrix says the same of the matrix model). Divergence is detected on the
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
        save = save_steps(check_t_eval(t_eval), self.lr)
        stability = self.stability()
        sol = run_discrete(_DiagonalStepper(self), save, method=METHOD, lr=self.lr, state_size=2 * self.d,
                           weight_size=self.d, progress=progress, chunk_seconds=chunk_seconds)
        return attach(sol, stability, f"lr={self.lr:g}")

    def stability(self, normalized: bool = False) -> StepStability:
        """ρ(0), the largest Hessian eigenvalue of J = L̂ + (λ/2)‖θ‖² at θ(0) (exact products, Lanczos), and the
        first step's ratio to the limit 2/ρ(0); the first step is η, or η/L̂(θ(0)) when ``normalized``."""
        X = self.data.X
        X = np.asarray(X, dtype=np.float64 if X.size <= 20_000_000 else np.float32)  # bounds the copy's memory
        hvp = diagonal_hvp_at_init(X, self.y, u0=self.u0, lam=self.lam, depth=self.depth, loss_id=self.loss_id)
        rho = top_eigenvalue(hvp, 2 * self.d)
        step = self.lr
        if normalized:
            loss0 = float(np.mean([gen.loss_value(self.loss_id, 0.0, yi) for yi in self.y]))
            step = self.lr / max(loss0, 1e-300)
        return StepStability(rho, step)


class _DiagonalStepper:
    """:class:`DiagonalGD`'s state (u, v, w and the work arrays) as a :class:`~grokode.numeric.discrete.Stepper`.

    ``acc``: the slots of :func:`_steps`.
    """

    def __init__(self, gd: DiagonalGD):
        self.gd, d = gd, gd.d
        self.u, self.v = np.full(d, gd.u0), np.full(d, gd.u0)
        self.w = np.zeros(d)  # u0^L − u0^L, exactly
        self.f, self.r, self.g = np.empty(gd.n), np.empty(gd.n), np.empty(d)
        sq = 2.0 * d * gd.u0**2
        self.loss0 = _evaluate(*gd._args, self.w, self.f, self.r)
        obj0 = self.loss0 + 0.5 * gd.lam * sq
        self.acc = np.array([sq, obj0, obj0, 0.0, 0.0, -1.0, 0.0, self.loss0])
        self.k = 0

    def clock(self) -> int:
        return self.k

    def export(self) -> dict:
        """The state a later run continues from ((u, v), w, outputs, residuals, accumulators, step count)."""
        return {"u": self.u.copy(), "v": self.v.copy(), "w": self.w.copy(), "f": self.f.copy(), "r": self.r.copy(),
                "acc": self.acc.copy(), "k": int(self.k)}

    def restore(self, state: dict) -> None:
        for name, array in (("u", self.u), ("v", self.v), ("w", self.w), ("f", self.f), ("r", self.r),
                            ("acc", self.acc)):
            array[:] = state[name]
        self.k = int(state["k"])

    def advance(self, max_steps: int, target: int) -> tuple[int, int]:
        gd = self.gd
        done, code = _steps(*gd._args, gd.depth, gd.lam, gd.lr, False, self.u, self.v, self.w, self.f, self.r, self.g,
                            min(max_steps, int(target) - self.k), math.inf, self.k, gd.rise_factor, self.acc)
        self.k += done
        return done, code

    def snapshot(self):
        return (np.concatenate([self.u, self.v]), self.w.copy(), math.sqrt(self.acc[0]), float(self.acc[1]),
                self.k * self.gd.lr)

    def fraction_done(self, final_target: int) -> float:
        return self.k / max(int(final_target), 1)

    def failure(self, code: int, steps: int):
        lr = self.gd.lr
        return rise_failure(f"GD diverged at lr={lr:g}", code, steps, steps * lr, self.gd.rise_factor, self.acc[2],
                            self.acc[3], (self.acc[3] + 1) * lr)

    def warning(self, steps: int) -> str:
        return uphill_warning(f"lr={self.gd.lr:g}", self.acc[4], self.acc[5], steps)


@checked_arguments
def run_gd(X: np.ndarray, y: np.ndarray, t_eval: np.ndarray, *, alpha: float, lam: float, lr: float, depth: int = 2,
           loss: str = "logistic", progress: Callable[[float], None] | None = None) -> GDSolution:
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
