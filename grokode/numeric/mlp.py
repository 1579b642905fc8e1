"""Two-layer ReLU net on one-hot pairs (paper §2, docs/math.md#data): kernels, gradient flow, gradient descent.

f(θ; (a, b)) = W₂ ReLU(W₁x + b₁) ∈ R^p with x = onehot(a) ⊕ onehot(b), cross-entropy over the p classes,
L̂_λ(θ) = (1/n) Σ_i [logsumexp(f_i) − f_i[y_i]] + (λ/2)‖θ‖², θ = (W₁, b₁, W₂). W₁ is stored transposed as
the embedding E = W₁ᵀ (2p × m) so that W₁x = E[a] + E[p + b]: two contiguous rows are gathered and no
product with a one-hot vector is ever formed. The flat state is [E (2p·m) | b₁ (m) | W₂ (p·m)].

Gradient (z_i = E[a_i] + E[p+b_i] + b₁, h_i = ReLU(z_i), r_i = (softmax(f_i) − e_{y_i})/n):
∇W₂ = Σ_i r_i h_iᵀ, g_i = (W₂ᵀ r_i) ⊙ 1[z_i > 0], ∇E[a] = Σ_{i: a_i = a} g_i, ∇E[p+b] = Σ_{i: b_i = b} g_i,
∇b₁ = Σ_i g_i. The three dense products (n×m by m×p and back) go to BLAS through numba's ``np.dot``; the
gather, the softmax and the scatter are numba loops (:func:`~grokode.numeric.parallel.sized_kernel`:
parallel only at paper scale). The scatter sums each embedding row over a fixed list of its samples, so
results do not depend on the thread count.

Initialization: He (W₁ ~ N(0, 2/fan_in), fan_in = 2p), b₁ = 0, W₂ = 0, all scaled by α, so f(θ(0)) = 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numba
import numpy as np

from ..errors import InputError, require_int, require_positive
from .discrete import (
    NORMALIZED_HINT,
    GDSolution,
    LogTimeProgress,
    NormalizedGDSolution,
    check_t_eval,
    rise_failure,
    run_discrete,
    save_steps,
    underflow_failure,
)
from .flow import FlowBase
from .parallel import sized_kernel
from .stability import StepStability, attach, finite_difference_hvp, top_eigenvalue

GD_METHOD = "gd"
#: per-save-point metrics the drivers store (the flows' "weights"): see :meth:`MLPFlow.observe`
METRICS = ("train_loss", "train_acc", "test_loss", "test_acc")
_CHUNKS = 8  # fixed partial sums, so a reduction's order does not depend on the thread count


# -- kernels ------------------------------------------------------------------------------------------


@sized_kernel(lambda E, b1, tok, H: H.size)
def _hidden(E, b1, tok, H):
    """H[i] = ReLU(E[a_i] + E[p + b_i] + b₁): the one-hot product as a two-row gather."""
    n, m = H.shape
    for i in numba.prange(n):
        ra = tok[i, 0]
        rb = tok[i, 1]
        for j in range(m):
            z = E[ra, j] + E[rb, j] + b1[j]
            H[i, j] = z if z > 0.0 else 0.0


@sized_kernel(lambda F, y, R, scale: F.size)
def _softmax_xent(F, y, R, scale):
    """Σ_i cross-entropy of logits F[i] at label y[i], and Σ_i accuracy (ties share the credit).

    Writes R[i] = scale·(softmax(F[i]) − e_{y_i}) when R has F's shape (pass a 0×0 R to skip it).
    """
    n, p = F.shape
    want_r = R.shape[0] == n
    loss_part = np.zeros(_CHUNKS)
    acc_part = np.zeros(_CHUNKS)
    size = (n + _CHUNKS - 1) // _CHUNKS
    for c in numba.prange(_CHUNKS):
        lsum = 0.0
        asum = 0.0
        for i in range(c * size, min(n, (c + 1) * size)):
            top = F[i, 0]
            for k in range(1, p):
                top = max(top, F[i, k])
            fy = F[i, y[i]]
            rest = 0.0  # Σ_{k≠y} e^{F_k − top}: kept apart so a fitted sample's tiny loss keeps its digits
            ties = 0
            for k in range(p):
                if k != y[i]:
                    rest += math.exp(F[i, k] - top)
                if F[i, k] == top:
                    ties += 1
            total = rest + math.exp(fy - top)
            lse = top + math.log(total)
            # −log p_y: log1p when y is on top (lse − f_y would cancel to 0 once the loss is below ~1e-16)
            lsum += math.log1p(rest) if fy == top else lse - fy
            if fy == top:
                asum += 1.0 / ties
            if want_r:
                for k in range(p):
                    R[i, k] = scale * math.exp(F[i, k] - lse)
                R[i, y[i]] = -scale * (rest / total)  # p_y − 1 = −Σ_{k≠y} p_k, without the cancellation
        loss_part[c] = lsum
        acc_part[c] = asum
    return loss_part.sum(), acc_part.sum()


@sized_kernel(lambda G, H, ptr, members, gE, gb1: G.size)
def _scatter(G, H, ptr, members, gE, gb1):
    """gE[r] = Σ_{i ∈ members of token r} G[i] ⊙ 1[H[i] > 0]; gb₁ = Σ over the first-token rows r < p."""
    n, m = G.shape
    for i in numba.prange(n):  # ReLU'(z) = 1[z > 0], and z > 0 exactly where h = ReLU(z) > 0
        for j in range(m):
            if H[i, j] <= 0.0:
                G[i, j] = 0.0
    rows = gE.shape[0]
    for r in numba.prange(rows):
        for j in range(m):
            gE[r, j] = 0.0
        for q in range(ptr[r], ptr[r + 1]):
            i = members[q]
            for j in range(m):
                gE[r, j] += G[i, j]
    half = rows // 2  # every sample has exactly one first token: Σ over those rows is Σ over all samples
    for j in range(m):
        gb1[j] = 0.0
    for r in range(half):
        for j in range(m):
            gb1[j] += gE[r, j]


@sized_kernel(lambda theta, p, m, tok, H, F: tok.shape[0] * m)
def _forward(theta, p, m, tok, H, F):
    """Hidden activations H = ReLU(W₁x + b₁) and logits F = H W₂ᵀ of the pairs ``tok``; returns W₂ (a view)."""
    ne = 2 * p * m
    _hidden(theta[:ne].reshape((2 * p, m)), theta[ne:ne + m], tok, H)
    W2 = theta[ne + m:].reshape((p, m))
    F[:, :] = np.dot(H, W2.T)
    return W2


@sized_kernel(lambda theta, p, m, tok, *args: tok.shape[0] * m)
def _loss_grad(theta, p, m, tok, y, ptr, members, H, F, R, G, grad):
    """L̂(θ) (mean cross-entropy) and its gradient ∇L̂ (no weight decay) into ``grad``; returns (L̂, accuracy)."""
    n = tok.shape[0]
    ne = 2 * p * m
    W2 = _forward(theta, p, m, tok, H, F)
    loss, acc = _softmax_xent(F, y, R, 1.0 / n)
    grad[ne + m:].reshape((p, m))[:, :] = np.dot(R.T, H)
    G[:, :] = np.dot(R, W2)
    _scatter(G, H, ptr, members, grad[:ne].reshape((2 * p, m)), grad[ne:ne + m])
    return loss / n, acc / n


@sized_kernel(lambda theta, p, m, tok, *args: tok.shape[0] * m)
def _loss_acc(theta, p, m, tok, y, H, F):
    """(mean cross-entropy, accuracy) of θ on the pairs ``tok`` with labels ``y`` (forward pass only)."""
    _forward(theta, p, m, tok, H, F)
    loss, acc = _softmax_xent(F, y, np.empty((0, 0)), 1.0)
    return loss / tok.shape[0], acc / tok.shape[0]


@sized_kernel(lambda theta, p, m, tok, *args: tok.shape[0] * m)
def _gd_steps(theta, p, m, tok, y, ptr, members, H, F, R, G, grad, lam, eta, normalized, nsteps, t_target, rise, acc):
    """Up to ``nsteps`` steps θ ← θ − h(∇L̂ + λθ) with h = η, or h = η/L̂(θ) when ``normalized``, stopping once
    t = Σ h ≥ ``t_target``. Returns (steps done, code): 0 done, 1 non-finite, 2 risen, 3 L̂ underflowed to 0
    (the normalized step is undefined).

    ``acc`` carries [objective at the last evaluated θ, best objective, its step, step counter, t] across calls;
    the objective L̂ + (λ/2)‖θ‖² is evaluated at each θ before it is stepped from.
    """
    for s in range(nsteps):
        if acc[4] >= t_target:
            return s, 0
        loss, _ = _loss_grad(theta, p, m, tok, y, ptr, members, H, F, R, G, grad)
        sq = 0.0
        for k in range(theta.shape[0]):
            sq += theta[k] * theta[k]
        obj = loss + 0.5 * lam * sq
        acc[0] = obj
        if not math.isfinite(obj):
            return s, 1
        if normalized and not loss > 0.0:
            return s, 3
        if obj < acc[1]:
            acc[1] = obj
            acc[2] = acc[3]
        elif obj > rise * acc[1]:
            return s, 2
        h = eta / loss if normalized else eta
        for k in range(theta.shape[0]):
            theta[k] -= h * (grad[k] + lam * theta[k])
        acc[3] += 1.0
        acc[4] += h
    return nsteps, 0


def _members(tok: np.ndarray, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR lists of the samples using each token row: ``members[ptr[r]:ptr[r+1]]`` (ascending)."""
    n = tok.shape[0]
    flat = np.concatenate([tok[:, 0], tok[:, 1]])
    sample = np.concatenate([np.arange(n), np.arange(n)])
    order = np.lexsort((sample, flat))
    ptr = np.zeros(rows + 1, dtype=np.int64)
    np.add.at(ptr, flat + 1, 1)
    return np.cumsum(ptr), np.ascontiguousarray(sample[order], dtype=np.int64)


# -- the model ----------------------------------------------------------------------------------------


def he_direction(p: int, width: int, seed: int) -> np.ndarray:
    """θ̄: E = W₁ᵀ with entries N(0, 2/(2p)) (He, fan_in = 2p), b₁ = 0, W₂ = 0, from the seed's init stream."""
    rng = np.random.default_rng(np.random.SeedSequence(int(seed)).spawn(2)[1])
    theta = np.zeros(2 * p * width + width + p * width)
    theta[:2 * p * width] = rng.normal(0.0, math.sqrt(2.0 / (2 * p)), size=2 * p * width)
    return theta


class ModAddMLP:
    """f(θ; (a, b)) = W₂ ReLU(W₁[:, a] + W₁[:, p + b] + b₁) with cross-entropy over p classes (module docstring).

    Holds the training and test pairs and the work buffers; :meth:`loss_grad` and :meth:`metrics` are the
    numba kernels. ``alpha`` scales the He direction θ̄ (:func:`he_direction`); θ(0) = α·θ̄.
    """

    def __init__(self, p: int, width: int, train_tokens, train_labels, test_tokens=None, test_labels=None, *,
                 alpha: float = 1.0, seed: int = 0):
        self.p = require_int("p", p, 2)
        self.m = require_int("width", width, 1)
        self.alpha = require_positive("alpha", alpha)
        self.tok = self._tokens(train_tokens, "train")
        self.y = self._labels(train_labels, self.tok, "train")
        self.tok_test = None if test_tokens is None else self._tokens(test_tokens, "test")
        self.y_test = None if test_tokens is None else self._labels(test_labels, self.tok_test, "test")
        self.ptr, self.members = _members(self.tok, 2 * self.p)
        self.size = 2 * self.p * self.m + self.m + self.p * self.m
        self.theta0 = self.alpha * he_direction(self.p, self.m, seed)
        n, m, p = self.tok.shape[0], self.m, self.p
        self._buf = (np.empty((n, m)), np.empty((n, p)), np.empty((n, p)), np.empty((n, m)))
        nt = 0 if self.tok_test is None else self.tok_test.shape[0]
        self._buf_test = (np.empty((nt, m)), np.empty((nt, p)))

    def _tokens(self, tok, which: str) -> np.ndarray:
        tok = np.ascontiguousarray(tok, dtype=np.int64)
        if tok.ndim != 2 or tok.shape[1] != 2 or tok.shape[0] == 0:
            raise InputError(f"{which} tokens must be a non-empty (n, 2) array, got shape {tok.shape}")
        a, b = tok[:, 0], tok[:, 1]
        if a.min() < 0 or a.max() >= self.p or b.min() < self.p or b.max() >= 2 * self.p:
            raise InputError(f"{which} tokens must be rows (a, p + b) with 0 ≤ a, b < p = {self.p}")
        return tok

    def _labels(self, y, tok: np.ndarray, which: str) -> np.ndarray:
        y = np.ascontiguousarray(y, dtype=np.int64)
        if y.shape != (tok.shape[0],) or y.min() < 0 or y.max() >= self.p:
            raise InputError(f"{which} labels must be {tok.shape[0]} integers in [0, {self.p}), got shape {y.shape}")
        return y

    @property
    def n(self) -> int:
        return int(self.tok.shape[0])

    def split(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Views (W₁ (m × 2p), b₁, W₂ (p × m)) of a flat θ; W₁ is the transpose of the stored embedding."""
        ne = 2 * self.p * self.m
        return theta[:ne].reshape(2 * self.p, self.m).T, theta[ne:ne + self.m], theta[ne + self.m:].reshape(
            self.p, self.m)

    def loss_grad(self, theta: np.ndarray, grad: np.ndarray | None = None) -> tuple[float, float, np.ndarray]:
        """(L̂(θ), training accuracy, ∇L̂(θ)) without weight decay."""
        grad = np.empty(self.size) if grad is None else grad
        loss, acc = _loss_grad(theta, self.p, self.m, self.tok, self.y, self.ptr, self.members, *self._buf, grad)
        return loss, acc, grad

    def logits(self, theta: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        """f(θ; pairs) as an (n, p) array (dense reference path, numpy)."""
        W1, b1, W2 = self.split(np.asarray(theta, dtype=np.float64))
        tokens = np.asarray(tokens, dtype=np.int64)
        return np.maximum(W1[:, tokens[:, 0]].T + W1[:, tokens[:, 1]].T + b1, 0.0) @ W2.T

    def metrics(self, theta: np.ndarray) -> np.ndarray:
        """[train_loss, train_acc, test_loss, test_acc] at θ (test entries NaN without a test set)."""
        theta = np.ascontiguousarray(theta, dtype=np.float64)
        H, F = self._buf[0], self._buf[1]
        out = np.full(len(METRICS), np.nan)
        out[0], out[1] = _loss_acc(theta, self.p, self.m, self.tok, self.y, H, F)
        if self.tok_test is not None:
            out[2], out[3] = _loss_acc(theta, self.p, self.m, self.tok_test, self.y_test, *self._buf_test)
        return out


# -- gradient flow ------------------------------------------------------------------------------------


class MLPFlow(FlowBase):
    """Gradient flow dθ/dt = −∇L̂(θ) − λθ of the modular-addition MLP, for :func:`integrate_flow`.

    What a solver sees. The right-hand side is piecewise smooth: ∇E and ∇b₁ contain the step 1[z_i > 0],
    so the vector field jumps (by one sample's share, O(‖W₂ᵀr_i‖/n)) whenever a pre-activation crosses 0;
    θ itself is continuous (a Filippov solution; sliding on a surface z = 0 is not resolved, the field
    there uses ReLU'(0) = 0). Every crossing costs an error-controlled solver a few rejected steps, and
    there are n·m such surfaces, so a method of high formal order gains little: its steps are bounded by
    the jumps (accuracy) and by the largest Hessian eigenvalue (stability), not by smoothness.

    The Jacobian −∇²L̂_λ is symmetric, so its spectrum is real (up to the kinks): the case RKC
    (:class:`grokode.numeric.rkc.RKC`) is built for. A dense Jacobian (m(3p+1) unknowns) is out of reach,
    so LSODA/BDF difference it column by column (one Jacobian = m(3p+1) gradients). The flow is not stiff
    enough for any of this to pay: over a whole run the kinks bound every adaptive method's steps, and GD at a
    step whose deviation from the flow is of the same size costs less (``benchmarks/bench_mlp.py``, README
    "Modular addition"). So ``--method auto`` runs GD (:data:`AUTO_METHOD`) and the adaptive methods stay
    available to check it.

    ``time="log"`` integrates in τ = ln(1 + t) (dθ/dτ = (1 + t)·(−∇L̂ − λθ)); with λ = 0 the loss decays
    like 1/t and the flow then moves at a steady pace in τ (paper App. B.1). The driver stores the
    metrics of :data:`METRICS` as the "weights" (``weight_size`` = 4): the parameters are too many to
    keep at every saved time (``keep_states = False``); :attr:`last_state` holds the latest observed θ.
    """

    keep_states = False

    def __init__(self, net: ModAddMLP, *, lam: float, time: str = "linear"):
        if not (math.isfinite(lam) and lam >= 0):
            raise InputError(f"lam must be a non-negative finite number, got {lam!r}")
        if time not in ("linear", "log"):
            raise InputError(f"time must be 'linear' or 'log', got {time!r}")
        self.net, self.lam, self.log_time = net, float(lam), time == "log"
        self.variable = "log(1+t)" if self.log_time else "t"
        self.alpha = net.alpha
        self.d = net.size
        self.nfev = 0
        self.njev = 0
        self._grad = np.empty(net.size)
        self.last_state: np.ndarray | None = None

    @property
    def weight_size(self) -> int:
        """The metrics of :data:`METRICS` stand in for the weights."""
        return len(METRICS)

    def start(self) -> tuple[float, np.ndarray]:
        return 0.0, self.net.theta0.copy()

    def to_var(self, t):
        return np.log1p(t) if self.log_time else t

    def to_time(self, v):
        return np.expm1(v) if self.log_time else v

    def rhs(self, v: float, theta: np.ndarray) -> np.ndarray:
        self.nfev += 1
        _, _, g = self.net.loss_grad(np.ascontiguousarray(theta), self._grad)
        out = -(g + self.lam * theta)
        if self.log_time:
            out *= math.exp(v)  # dt/dτ = 1 + t = e^τ
        return out

    def weight(self, v: float, theta: np.ndarray, frame: object = None) -> np.ndarray:
        return self.net.metrics(theta)

    def observe(self, v: float, theta: np.ndarray, frame: object = None) -> tuple[np.ndarray, float]:
        self.last_state = np.array(theta, dtype=np.float64)
        return self.net.metrics(theta), float(np.linalg.norm(theta))


#: ``--method auto`` for the MLP: gradient descent (see :class:`MLPFlow` for the measurement); its default step is
#: the model's (:data:`grokode.models.mlp.DEFAULTS`).
AUTO_METHOD = GD_METHOD


# -- gradient descent ---------------------------------------------------------------------------------


class MLPGD:
    """Full-batch gradient descent with weight decay: θ_{k+1} = θ_k − η(∇L̂(θ_k) + λθ_k) (PyTorch
    ``SGD(lr=η, weight_decay=λ)``), the paper's own pipeline, t = k·η.

    Explicit Euler on :class:`MLPFlow`'s flow: first order in η at fixed t, stable while η is below
    2/(largest Hessian eigenvalue of L̂_λ). A non-finite objective, or J = L̂ + (λ/2)‖θ‖² above
    ``rise_factor`` × its running minimum, stops the run as "diverged". Steps run in numba in chunks of
    ~``chunk_seconds`` between save points, so progress and Ctrl-C stay live.
    """

    def __init__(self, net: ModAddMLP, *, lam: float, lr: float, rise_factor: float = 2.0, normalized: bool = False):
        if not (math.isfinite(lam) and lam >= 0):
            raise InputError(f"lam must be a non-negative finite number, got {lam!r}")
        self.net, self.lam = net, float(lam)
        self.lr = require_positive("lr", lr)
        self.normalized = bool(normalized)
        self.rise_factor = require_positive("rise_factor", rise_factor)
        if self.rise_factor <= 1.0:
            raise InputError(f"rise_factor must be > 1, got {rise_factor!r}")

    def run(self, t_eval: np.ndarray, *, progress: Callable[[float], None] | None = None,
            chunk_seconds: float = 0.2) -> GDSolution:
        """Run to the step nearest ``t_eval[-1]``, saving the metrics and ‖θ‖ at the steps nearest ``t_eval``."""
        t_eval = check_t_eval(t_eval)
        if self.normalized:
            stepper, targets, method = _MLPNormalizedStepper(self, t_eval[-1]), t_eval, GD_METHOD + "-normalized"

            def make(**fields):
                return NormalizedGDSolution(**fields, time_reached=float(stepper.acc[4]))
        else:
            stepper, targets, method, make = _MLPStepper(self), save_steps(t_eval, self.lr), GD_METHOD, None
        stability = self.stability()
        try:
            sol = run_discrete(stepper, targets, method=method, lr=self.lr, state_size=self.net.size,
                               weight_size=len(METRICS), progress=progress, chunk_seconds=chunk_seconds,
                               first_chunk=4, make=make)
        finally:
            self.last_state = stepper.theta
        name = f"the first step η/L̂ = {stability.step:.3g} (lr={self.lr:g})" if self.normalized else f"lr={self.lr:g}"
        return attach(sol, stability, name)

    def stability(self) -> StepStability:
        """ρ(0), the largest Hessian eigenvalue of J = L̂ + (λ/2)‖θ‖² at θ(0) (Lanczos on central differences of
        ∇L̂), and the first step's ratio to the limit 2/ρ(0) (the first step is η/L̂(θ(0)) when normalized)."""
        theta0 = np.ascontiguousarray(self.net.theta0, dtype=np.float64)
        hvp = finite_difference_hvp(lambda th: self.net.loss_grad(np.ascontiguousarray(th))[2].copy(), theta0,
                                    self.lam)
        rho = top_eigenvalue(hvp, self.net.size, tol=1e-4)  # the ratio to 1e-4 is all a warning needs
        step = self.lr / max(self.net.loss_grad(theta0)[0], 1e-300) if self.normalized else self.lr
        return StepStability(rho, step)


class _MLPStepper:
    """:class:`MLPGD`'s state θ; ``acc`` carries [objective, best objective, its step, step counter, t]."""

    def __init__(self, gd: MLPGD):
        net = gd.net
        self.gd, self.net = gd, net
        self.theta = net.theta0.copy()
        self.acc = np.array([math.inf, math.inf, 0.0, 0.0, 0.0])
        self.args = (net.p, net.m, net.tok, net.y, net.ptr, net.members, *net._buf, np.empty(net.size))
        self.k = 0

    def clock(self) -> int:
        return self.k

    def export(self) -> dict:
        """The state a later run continues from (θ, the objective's accumulators, the step count)."""
        return {"theta": self.theta.copy(), "acc": self.acc.copy(), "k": int(self.k)}

    def restore(self, state: dict) -> None:
        self.theta[:] = state["theta"]
        self.acc[:] = state["acc"]
        self.k = int(state["k"])

    def advance(self, max_steps: int, target: int) -> tuple[int, int]:
        gd = self.gd
        done, code = _gd_steps(self.theta, *self.args, gd.lam, gd.lr, False, min(max_steps, int(target) - self.k),
                               math.inf, gd.rise_factor, self.acc)
        self.k += done
        return done, code

    def snapshot(self):
        # the parameters are too many to keep at every saved step: the metrics stand in for the weights
        metrics = self.net.metrics(self.theta)
        sq = float(self.theta @ self.theta)
        return None, metrics, math.sqrt(sq), metrics[0] + 0.5 * self.gd.lam * sq, self.k * self.gd.lr

    def fraction_done(self, final_target: int) -> float:
        return self.k / max(int(final_target), 1)

    def failure(self, code: int, steps: int):
        lr = self.gd.lr
        return rise_failure(f"GD diverged at lr={lr:g}", code, steps, steps * lr, self.gd.rise_factor, self.acc[1],
                            self.acc[2], (self.acc[2] + 1) * lr)

    def warning(self, steps: int) -> str:
        return ""


class _MLPNormalizedStepper(_MLPStepper):
    """:class:`MLPGD` with ``normalized=True``: the clock is the flow time t = Σ η/L̂ (paper App. B.1)."""

    def __init__(self, gd: MLPGD, t_end: float):
        super().__init__(gd)
        self.progress = LogTimeProgress(gd.lr / max(float(gd.net.metrics(self.theta)[0]), 1e-300), t_end)

    def clock(self) -> float:
        return float(self.acc[4])

    def advance(self, max_steps: int, target: float) -> tuple[int, int]:
        gd = self.gd
        done, code = _gd_steps(self.theta, *self.args, gd.lam, gd.lr, True, max_steps, float(target), gd.rise_factor,
                               self.acc)
        self.k += done
        return done, code

    def snapshot(self):
        state, metrics, norm, objective, _ = super().snapshot()
        return state, metrics, norm, objective, float(self.acc[4])

    def fraction_done(self, final_target: float) -> float:
        return self.progress(self.acc[4])

    def failure(self, code: int, steps: int):
        t_now = float(self.acc[4])
        if code == 3:
            return underflow_failure(steps, t_now)
        return rise_failure(f"normalized GD diverged at η={self.gd.lr:g}", code, steps, t_now, self.gd.rise_factor,
                            self.acc[1], self.acc[2], t_now, NORMALIZED_HINT)
