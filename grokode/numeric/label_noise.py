"""Label-noise SGD on the diagonal net with squared loss (paper App. B.2; Blanc et al. 2020, Li et al. 2021).

Each step draws a minibatch of B training samples *without replacement* (B distinct indices; B = n is
the full batch), perturbs their regression labels by fresh N(0, σ²) noise and takes
θ ← θ − η(∇L̂_batch(θ; y + ε) + λθ), L̂_batch = (1/B) Σ_b (f_b − y_b − ε_b)². All randomness comes from
one :class:`numpy.random.Generator`, drawn in fixed blocks of :data:`RNG_BLOCK` steps (indices, then
noise), so a run is reproducible bit for bit from its seed whatever the chunking of the numba loop.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..errors import InputError, require_int, require_nonnegative, require_positive
from . import generated as gen
from .discrete import GDSolution, check_t_eval, run_discrete, save_steps
from .gd import _update
from .linalg import DataMatrix, matvec_signs, matvec_t, rmatvec, rmatvec_signs
from .parallel import sized_kernel

METHOD = "label-noise-sgd"
#: Steps per block of random draws: fixed, so the random stream does not depend on the chunking.
RNG_BLOCK = 1024
_SQUARED = gen.LOSS_NAMES.index("squared")


def noise_generator(noise_seed: int) -> np.random.Generator:
    """The label-noise stream of a run: child 3 of SeedSequence(noise_seed).

    The data generator of the same integer seed uses children 0–2 (teacher, train, test), so with
    ``noise_seed = seed`` (the default) the noise is independent of the data yet fixed by the run's seed.
    """
    return np.random.default_rng(np.random.SeedSequence(noise_seed, spawn_key=(3,)))


@sized_kernel(lambda packed, bits, colbits, X, *args: X.size)
def _label_noise_steps(packed, bits, colbits, X, XT, y, depth, lam, lr, u, v, w, f, r, g, idx, noise, full,
                       Xb, XTb, fb, rb):
    """``idx.shape[0]`` steps; returns (steps done, ‖θ‖² after the last; non-finite means it diverged)."""
    n = y.shape[0]
    B = noise.shape[1]
    sq = 0.0
    for s in range(noise.shape[0]):
        if full:
            # the same products in the same order as plain GD, so σ = 0, B = n reproduces it bit for bit
            if packed:
                matvec_signs(colbits, w, f)
            else:
                matvec_t(XT, w, f)
            for i in range(n):
                r[i] = gen.loss_residual(_SQUARED, f[i], y[i] + noise[s, i])
            if packed:
                rmatvec_signs(bits, r, 1.0 / n, g)
            else:
                rmatvec(X, r, 1.0 / n, g)
        else:
            for b in range(B):
                i = idx[s, b]
                Xb[b, :] = X[i, :]
                XTb[:, b] = XT[:, i]
            matvec_t(XTb, w, fb)
            for b in range(B):
                rb[b] = gen.loss_residual(_SQUARED, fb[b], y[idx[s, b]] + noise[s, b])
            rmatvec(Xb, rb, 1.0 / B, g)
        sq = _update(u, v, g, depth, lam, lr, w)
        if not math.isfinite(sq):
            return s + 1, sq
    return noise.shape[0], sq


def effective_decay(data: DataMatrix, lr: float, noise: float, batch: int, depth: int) -> float | None:
    """λ_eff = 8ησ²·mean(x²)/B: the decay rate of u_j v_j that label noise adds, for depth 2 (else None).

    One step multiplies u_j v_j by (1 − ηλ)²(1 − 4η²g_j²); the label noise contributes
    E g_j² = 4σ² Σ_b x_bj²/B², so ln(u_j v_j) drifts by −2(λ + λ_eff) per unit of t = kη, the same
    decay as weight decay λ + λ_eff in the flow (where u_j v_j = u₀² e^{−2λt}). The ratio u_j/v_j gets no
    such drift (the ξ² terms cancel), so to this order the run follows the weight-decay flow at
    λ + λ_eff plus noise: the transition is expected near ln(α)/(λ + λ_eff).
    """
    if depth != 2:
        return None
    mean_sq = data.squared_norm() / (data.n * data.d)
    return 8.0 * lr * noise**2 * mean_sq / batch


class LabelNoiseSGD:
    """Label-noise SGD θ_{k+1} = θ_k − η(∇L̂_{B_k}(θ_k; y + ε_k) + λθ_k) on the depth-L diagonal net.

    B_k: B distinct samples drawn uniformly without replacement, ε_k ~ N(0, σ²) i.i.d. per step and sample;
    squared loss (f − y)² as in the flows; t = kη. At σ = 0 and B = n this is :class:`~grokode.numeric.gd.
    DiagonalGD` exactly (same arithmetic). With σ > 0, on the manifold of interpolants the noise acts as an
    implicit regularizer that lowers the sharpness (Blanc et al. 2020; Damian et al. 2021; Li, Wang &
    Arora 2021, as cited in the paper's App. B.2); for depth 2 it shrinks u_j v_j like weight decay of
    strength :func:`effective_decay`. Divergence: a non-finite ‖θ‖² stops the run ("diverged").
    """

    def __init__(self, X, y, *, alpha: float, lam: float, lr: float, noise: float, batch: int, depth: int = 2,
                 rng: np.random.Generator):
        if depth not in gen.DEPTHS:
            raise InputError(f"depth must be one of {gen.DEPTHS}, got {depth}")
        self.data = X if isinstance(X, DataMatrix) else DataMatrix(X)
        self.y = np.ascontiguousarray(y, dtype=np.float64)
        self.n, self.d = self.data.n, self.data.d
        self.depth = int(depth)
        self.alpha = require_positive("alpha", alpha)
        self.lam = require_nonnegative("lam", lam)
        self.lr = require_positive("lr", lr)
        self.noise = require_nonnegative("noise", noise)
        self.batch = require_int("batch", batch, 1)
        if self.batch > self.n:
            raise InputError(f"batch must be at most the number of training samples n={self.n}, got {batch!r}")
        if not isinstance(rng, np.random.Generator):
            raise InputError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        self.rng = rng
        self.u0 = self.alpha / math.sqrt(2.0 * self.d)
        if not math.isfinite(self.u0**self.depth):
            raise InputError(f"alpha={alpha:g}: u0^L overflows float64 in the (u, v) parametrization")
        self.lam_eff = effective_decay(self.data, self.lr, self.noise, self.batch, self.depth)
        packed = self.data.bits is not None
        empty_bits = np.zeros((1, 1), dtype=np.uint8)
        self._args = (packed, self.data.bits if packed else empty_bits, self.data.colbits if packed else empty_bits,
                      self.data.X, self.data.XT, self.y)

    def _draw(self, steps: int) -> tuple[np.ndarray, np.ndarray]:
        n, B = self.n, self.batch
        if B == n:
            idx = np.zeros((steps, 0), dtype=np.int64)  # the full batch, in order
        else:
            # B distinct samples per step, sorted so the batch sum runs in sample order
            idx = np.sort(self.rng.permuted(np.tile(np.arange(n, dtype=np.int64), (steps, 1)), axis=1)[:, :B], axis=1)
        noise = self.rng.standard_normal((steps, B)) * self.noise if self.noise > 0 else np.zeros((steps, B))
        return idx, noise

    def run(self, t_eval: np.ndarray, *, progress: Callable[[float], None] | None = None,
            chunk_seconds: float = 0.2) -> GDSolution:
        """Run to the step nearest ``t_eval[-1]`` (t = kη), saving w and ‖θ‖ at the steps nearest each time.

        ``objective`` holds the full-batch training loss L̂(θ) (noise-free labels) + (λ/2)‖θ‖² at the saved steps.
        """
        save = save_steps(check_t_eval(t_eval), self.lr)
        return run_discrete(_LabelNoiseStepper(self), save, method=METHOD, lr=self.lr, state_size=2 * self.d,
                            weight_size=self.d, progress=progress, chunk_seconds=chunk_seconds)


class _LabelNoiseStepper:
    """:class:`LabelNoiseSGD`'s state, with the current block of random draws (a chunk never crosses a block)."""

    def __init__(self, sgd: LabelNoiseSGD):
        self.sgd, d, n, B = sgd, sgd.d, sgd.n, sgd.batch
        self.u, self.v, self.w = np.full(d, sgd.u0), np.full(d, sgd.u0), np.zeros(d)
        self.f, self.r, self.g = np.empty(n), np.empty(n), np.empty(d)
        self.Xb = np.empty((B, d), dtype=sgd.data.X.dtype)
        self.XTb = np.empty((d, B), dtype=sgd.data.X.dtype)
        self.fb, self.rb = np.empty(B), np.empty(B)
        self.sq = 2.0 * d * sgd.u0**2
        self.block_idx, self.block_noise, self.pos = np.zeros((0, 0), dtype=np.int64), np.zeros((0, B)), 0
        self.k = 0

    def clock(self) -> int:
        return self.k

    def export(self) -> dict:
        """The state a later run continues from: (u, v), w, ‖θ‖², the block of draws in use with its position,
        the noise generator's state and the step count (so the continued run draws the same noise)."""
        return {"u": self.u.copy(), "v": self.v.copy(), "w": self.w.copy(), "f": self.f.copy(), "r": self.r.copy(),
                "sq": float(self.sq), "block_idx": self.block_idx.copy(), "block_noise": self.block_noise.copy(),
                "pos": int(self.pos), "k": int(self.k), "rng": self.sgd.rng.bit_generator.state}

    def restore(self, state: dict) -> None:
        for name, array in (("u", self.u), ("v", self.v), ("w", self.w), ("f", self.f), ("r", self.r)):
            array[:] = state[name]
        self.sq, self.pos, self.k = float(state["sq"]), int(state["pos"]), int(state["k"])
        self.block_idx = np.ascontiguousarray(state["block_idx"], dtype=np.int64)
        self.block_noise = np.ascontiguousarray(state["block_noise"], dtype=np.float64)
        self.sgd.rng.bit_generator.state = state["rng"]

    def advance(self, max_steps: int, target: int) -> tuple[int, int]:
        sgd = self.sgd
        if self.pos == self.block_noise.shape[0]:
            self.block_idx, self.block_noise = sgd._draw(RNG_BLOCK)
            self.pos = 0
        todo = min(max_steps, int(target) - self.k, self.block_noise.shape[0] - self.pos)
        done, self.sq = _label_noise_steps(*sgd._args, sgd.depth, sgd.lam, sgd.lr, self.u, self.v, self.w, self.f,
                                           self.r, self.g, self.block_idx[self.pos:self.pos + todo],
                                           self.block_noise[self.pos:self.pos + todo], sgd.batch == sgd.n,
                                           self.Xb, self.XTb, self.fb, self.rb)
        self.k += done
        self.pos += done
        return done, 0 if math.isfinite(self.sq) else 1

    def snapshot(self):
        sgd = self.sgd
        resid = sgd.data.matvec(self.w) - sgd.y
        objective = float(resid @ resid) / sgd.n + 0.5 * sgd.lam * self.sq
        return np.concatenate([self.u, self.v]), self.w.copy(), math.sqrt(self.sq), objective, self.k * sgd.lr

    def fraction_done(self, final_target: int) -> float:
        return self.k / max(int(final_target), 1)

    def failure(self, code: int, steps: int):
        t_fail = steps * self.sgd.lr
        return ("diverged", f"label-noise SGD diverged at lr={self.sgd.lr:g}, noise={self.sgd.noise:g}: ‖θ‖ became "
                f"non-finite at step {steps} (t={t_fail:.6g})", t_fail, None)

    def warning(self, steps: int) -> str:
        return ""
