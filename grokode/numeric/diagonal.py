"""Diagonal-net flows (docs/math.md#diagonal): the exact reduced n-dimensional flow and the full 2d flow.

Every model formula comes from :mod:`grokode.numeric.generated` (derived by sympy); the closed form's arithmetic,
arranged so that it neither overflows nor cancels for α up to 1e300, is in :mod:`grokode.numeric.diagonal_kernels`.
At depth L ≥ 3 the reduced flow re-anchors the closed form (:class:`Anchor`) so that the brackets of
docs/math.md#reduction-depth-l that approach 0 in the late phase keep their digits; the full flow is integrated
in log variables, which do not cancel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from ..errors import InputError
from . import diagonal_kernels as dk
from . import diagonal_settled as settled
from . import diagonal_signs as ds
from . import generated as gen
from .diagonal_kernels import TRANSCENDENTAL_COST, check_loss_and_depth, log_dweight_dq
from .flow import FlowBase
from .linalg import DataMatrix
from .parallel import sized_kernel
from .primitives import log_expdiff
from .reduced import LOG_ANCHOR_FACTOR, ReducedLinearFlow
from .residuals import loss_log_curvatures, loss_residuals

__all__ = ["Anchor", "FullDiagonalFlow", "PlainFullDiagonalFlow", "ReducedDiagonalFlow", "check_loss_and_depth"]


@dataclass(frozen=True)
class Anchor:
    """Where the depth-L closed form was last restarted (re-anchoring, docs/math.md#conditioning).

    ``A``, ``B`` (d,) are A(z_j), B(z_j) at the anchor: (e^{λt}u_j/u0)^L = e^{A_j}, and e^{−γA_j} is u's bracket
    u0^{L−2}((e^{λt}u_j)^{2−L}) = 1 + ((L−2)/L)·z_j, so a bracket down to e^{−700} keeps all its digits in its
    log. ``level`` is −log of the smallest bracket there. A *settled* anchor (late phase, r(f) steady) also has
    ``side`` (d,), +1/−1 for an active coordinate whose u/v bracket tends to 0 and 0 for the others, and ``push`` (n,),
    the point the active brackets vanish at (:mod:`grokode.numeric.diagonal_settled`).
    """

    A: np.ndarray
    B: np.ndarray
    level: float
    time: float = 0.0
    rate: np.ndarray | None = None
    drift: bool = False
    side: np.ndarray | None = None
    push: np.ndarray | None = None

    @property
    def settled(self) -> bool:
        """Whether this anchor's frame carries the active brackets' decay exactly (log-bracket variables)."""
        return self.side is not None and bool(np.any(self.side))


class ReducedDiagonalFlow(ReducedLinearFlow):
    """Exact reduction of the depth-L diagonal-net flow to n unknowns (docs/math.md#reduction-depth-l).

    State: y = e^{c+φ}·S with S_i(t) = ∫₀ᵗ ρ(s) r_i(s) ds, ρ = e^{−(L−2)λs}; independent variable
    τ = log t. So dy/dτ = e^{c+φ+τ} ρ(t) r(f) + φ′y, f = X w(q, t), q = XᵀS/n, and w comes from the derived
    closed form w_j = e^E (e^{A(z_j)} − e^{B(z_j)}), z = κq, E = L(log u0 − λt), κ = L²u0^{L−2}
    (docs/math.md#log-magnitudes). Log-time makes the kernel phase (time scale ~ n/α²) and the rich phase
    (~ 1/λ) equally resolvable; the scale c + φ keeps y = O(1), so no quantity over- or underflows even at
    α = 1e300 (:class:`~grokode.numeric.reduced.ReducedLinearFlow`, which holds the driver logic). The Jacobian
    ∂ẏ_i/∂y_k = e^{τ}ρ ℓ''_i Σ_j x_ij (∂w_j/∂q_j) x_kj / n is analytic (derived), assembled with BLAS.

    Depth L ≥ 3, re-anchoring (docs/math.md#conditioning): in the late phase the bracket 1 ∓ ((L−2)/L)·z_j of
    an active coordinate tends to 0 like e^{−(L−2)λt}; as a difference of two O(1) numbers from a state whose
    error is relative to |S| it would lose every digit. Whenever a bracket has shrunk by
    :data:`~grokode.numeric.reduced.ANCHOR_FACTOR` since the last anchor, :meth:`reanchor` restarts the closed
    form at the current point (:class:`Anchor` keeps A, B there, i.e. the log brackets): the closed form restarts
    exactly from z_a by the derived identity A(z_a + δ) = A(z_a) + A(δ·e^{γA(z_a)}), so a bracket near 0 is
    carried by its log plus a relative change computed from δ alone. A bracket is then never known worse than
    ~rtol·ANCHOR_FACTOR relative. Depth 2 has no bracket (its closed form is exponential) and never anchors.

    Late phase, once r(f) is steady: the anchor is *settled* (:mod:`grokode.numeric.diagonal_settled`), its frame
    carries the active brackets' decay e^{−(L−2)λt} exactly and y holds their log-brackets up to that decay, so the
    re-anchorings stop growing with ln α (docs/math.md#conditioning).
    """

    anchor_class = Anchor

    def __init__(self, X, y, *, alpha, lam, depth=2, loss="logistic"):
        check_loss_and_depth(loss, depth)
        super().__init__(X, y, alpha=alpha, lam=lam, depth=depth, loss=loss)
        self.gamma = gen.diag_gamma(self.depth, 0.0)
        self.failure_hint = (" (a bracket of the depth-L closed form crossed zero: the reduction lost its accuracy;"
                             " the exact flow cannot blow up)" if self.depth > 2 else "")
        self._basis: tuple[Anchor, settled.SettledBasis] | None = None

    def prepare_closed_form(self) -> tuple[float, float]:
        # u0 = α/√(2d), kept as its log so α up to 1e300 (and depth L powers of it) never overflow: every
        # α-dependent quantity (u0^L, κ = L²u0^{L−2}, the rates) is kept as its log.
        self.ell0 = math.log(self.alpha) - 0.5 * math.log(2.0 * self.d)
        self.log_kappa = gen.diag_log_kappa(self.depth, self.ell0)
        ld0, _ = log_dweight_dq(self.depth, gen.diag_E(self.depth, self.ell0, self.lam, 0.0), self.log_kappa,
                                -math.inf, 0.0)
        return ld0, self.ell0

    def log_clock_scale(self) -> float:
        """log κ: the clock q = XᵀS/n makes the closed form nonlinear at z = κq ~ 1."""
        return self.log_kappa

    def log_rho(self, t: float) -> float:
        return gen.diag_log_rho(self.depth, self.lam, t)

    def fill_weights(self, tau: float, B: np.ndarray, frame, out: np.ndarray) -> np.ndarray:
        c, anchor = self.frame() if frame is None else frame
        c = self.scale_at(tau, c, anchor)
        E = gen.diag_E(self.depth, self.ell0, self.lam, self.time_at(tau))
        if anchor is None:
            dk.weights(B, self.depth, E, self.log_kappa, -c, out)
        else:
            dk.anchored_weights(B, self.depth, E, self.log_kappa, -c, anchor.A, anchor.B, out)
        return out

    def log_weight_slopes(self, tau: float, B: np.ndarray, logs: np.ndarray, signs: np.ndarray) -> float:
        E = gen.diag_E(self.depth, self.ell0, self.lam, self.time_at(tau))
        c = self.scale_at(tau, self.c, self.anchor)
        if self.anchor is None:
            dk.log_dweights(B, self.depth, E, self.log_kappa, -c, logs, signs)
        else:
            dk.anchored_log_dweights(B, self.depth, E, self.log_kappa, -c, self.anchor.A, self.anchor.B, logs, signs)
        return float(np.max(logs))

    def observe(self, tau: float, state: np.ndarray, frame=None,
                out: np.ndarray | None = None) -> tuple[np.ndarray, float]:
        """(w, ‖θ‖) at τ = log t; ‖θ‖ from the closed form (α·e^{−λt} while the state is small). ``out`` (d), if
        given, receives w (and is returned)."""
        c, anchor = self.frame() if frame is None else frame
        t = self.time_at(tau)
        if anchor is not None and anchor.settled:
            A, Bv, _ = settled.exponents(self, tau, state, c, anchor, self.settled_basis(anchor))
            w = settled.weights(gen.diag_E(self.depth, self.ell0, self.lam, t), A, Bv)
            if out is not None:
                out[:] = w
                w = out
            return w, math.exp(0.5 * settled.log_norm_sq(self, t, A, Bv))
        w = np.empty(self.d) if out is None else out
        shift = -self.scale_at(tau, c, anchor)
        if anchor is not None:
            B = self.clock(state, tau, (c, anchor))
            self.fill_weights(tau, B, (c, anchor), w)
            log_sq = dk.anchored_log_norm_sq(B, self.depth, self.ell0, self.lam, t, self.log_kappa, shift, anchor.A,
                                             anchor.B)
            return w, math.exp(0.5 * log_sq)
        E = gen.diag_E(self.depth, self.ell0, self.lam, t)
        if self.data.bits is not None:  # the clock and the closed form in one pass
            B = self._B
            sq = ds.signs_weights_and_norm_sq(self.data.bits, state, 1.0 / self.n, self.depth, E, self.log_kappa,
                                              shift, B, w)
        else:
            B = self.clock(state, tau, (c, anchor))
            sq = dk.weights_and_norm_sq(B, self.depth, E, self.log_kappa, shift, w)
        if math.isfinite(sq) and sq > 0.0:
            return w, math.sqrt(sq)
        log_sq = dk.log_norm_sq(B, self.depth, self.ell0, self.lam, t, self.log_kappa, shift)
        return w, math.exp(0.5 * log_sq)

    def exponents(self, state: np.ndarray, frame=None, tau: float = -math.inf) -> tuple[np.ndarray, np.ndarray]:
        """(A, B) (d,) at the state in ``frame`` at τ = log t (default t = 0): (e^{λt}u_j/u0)^L = e^{A_j},
        (e^{λt}v_j/u0)^L = e^{B_j} (L ≥ 3)."""
        c, anchor = self.frame() if frame is None else frame
        if anchor is not None and anchor.settled:
            return settled.exponents(self, tau, state, c, anchor, self.settled_basis(anchor))[:2]
        c = self.scale_at(tau, c, anchor)
        A, Bv = np.empty(self.d), np.empty(self.d)
        Aa, Ba = (self._zeros, self._zeros) if anchor is None else (anchor.A, anchor.B)
        dk.anchored_exponents(self.clock(state, tau, (c, anchor)), self.depth, self.log_kappa, -c, Aa, Ba, A, Bv)
        return A, Bv

    # -- the settled frame of the late phase (docs/math.md#conditioning, grokode.numeric.diagonal_settled) --------
    def settled_basis(self, anchor: Anchor) -> settled.SettledBasis:
        """The active set's columns and orthonormal basis of a settled anchor (kept for the last anchor asked)."""
        if self._basis is None or self._basis[0] is not anchor:
            assert anchor.side is not None, "a settled anchor has its active set"
            self._basis = (anchor, settled.SettledBasis(self.data, anchor.side))
        return self._basis[1]

    def _settled_now(self) -> bool:
        return self.anchor is not None and self.anchor.settled and not self.quasi_static

    def weight(self, tau: float, state: np.ndarray, frame=None) -> np.ndarray:
        c, anchor = self.frame() if frame is None else frame
        if anchor is not None and anchor.settled:
            A, Bv, _ = settled.exponents(self, tau, state, c, anchor, self.settled_basis(anchor))
            return settled.weights(gen.diag_E(self.depth, self.ell0, self.lam, self.time_at(tau)), A, Bv)
        return super().weight(tau, state, frame)

    def outputs(self, tau: float, state: np.ndarray) -> np.ndarray:
        if self._settled_now():
            return self.data.matvec(self.weight(tau, state), self._f)
        if self.anchor is None and self.data.bits is not None:  # the clock and the closed form in one pass
            E = gen.diag_E(self.depth, self.ell0, self.lam, self.time_at(tau))
            ds.signs_weights(self.data.bits, state, 1.0 / self.n, self.depth, E, self.log_kappa,
                             -self.scale_at(tau, self.c, None), self._B, self._w)
            return self.data.matvec(self._w, self._f)
        return super().outputs(tau, state)

    def rhs(self, tau: float, state: np.ndarray) -> np.ndarray:
        if self._settled_now():
            self.nfev += 1
            return settled.rhs(self, tau, state)
        return super().rhs(tau, state)

    def jac(self, tau: float, state: np.ndarray) -> np.ndarray:
        if self._settled_now():
            self.njev += 1
            return settled.jac(self, tau, state)
        return super().jac(tau, state)

    def keeps_form(self, last: Anchor, new: Anchor) -> bool:
        """A re-anchoring into or out of a settled frame is not an affine map of the state: the solver restarts."""
        return not (last.settled or new.settled)

    def reanchor(self, state: np.ndarray, tau: float) -> np.ndarray | None:
        """A new anchor and the zero state to restart from when a bracket has shrunk by ANCHOR_FACTOR (in a settled
        frame: when it moved by that factor from the decay the frame carries exactly), or None.

        Once r(f) is steady the new anchor is settled when its active set is valid
        (:func:`~grokode.numeric.diagonal_settled.choose_active`); otherwise it carries the drift, or nothing."""
        last = self.anchor
        if last is not None and last.settled:
            basis = self.settled_basis(last)
            A, Bv, x = settled.exponents(self, tau, state, self.c, last, basis)
            shrink = settled.shrink(self, A, Bv, x, last, basis)
        else:
            A, Bv = self.exponents(state, tau=tau)
            Aa, Ba = (self._zeros, self._zeros) if last is None else (last.A, last.B)
            with np.errstate(invalid="ignore"):
                shrink = self.gamma * max(float(np.max(A - Aa)), float(np.max(Bv - Ba)))
        if not shrink > LOG_ANCHOR_FACTOR:  # also when NaN: the solver sees the NaN first
            return None
        level = self.gamma * max(float(np.max(A)), float(np.max(Bv)))
        rate, drift = self.drift_rate(tau, state)
        t = self.time_at(tau)
        # unit change of y moves the smallest bracket by its own size (its δ_rel = 1/γ)
        c = math.log(self.gamma) + self.log_kappa + level + math.log(self.mean_abs_x())
        chosen = None
        if drift and last is not None:
            chosen = settled.choose_active(self.data, A, Bv, last.A, last.B, self.gamma,
                                           (self.depth - 2) * self.lam * (t - last.time))
        if chosen is not None:
            side, basis = chosen
            push = settled.push_point(basis, A, Bv, self.gamma, self.log_kappa, c, self.n)
            self.anchor = Anchor(A, Bv, level, t, rate, False, side, push)
            self._basis = (self.anchor, basis)
        else:
            self.anchor = Anchor(A, Bv, level, t, rate, drift)
        self.anchors += 1
        self.c = c
        return np.zeros_like(state)


@sized_kernel(lambda u, *args: 4 * u.shape[0])
def _full_parts(u, v, g, depth, lam, du, dv):
    for j in numba.prange(u.shape[0]):
        du[j] = gen.diag_flow_u(depth, u[j], g[j], lam)
        dv[j] = gen.diag_flow_v(depth, v[j], g[j], lam)


@sized_kernel(lambda u, *args: 4 * u.shape[0])
def _full_weight(u, v, depth, out):
    for j in numba.prange(u.shape[0]):
        out[j] = gen.diag_weight(depth, u[j], v[j])


@sized_kernel(lambda a, *args: 4 * TRANSCENDENTAL_COST * a.shape[0])
def _log_full_parts(a, b, depth, ell0, lam_t, out_w, log_pa, log_pb):
    """w_j = u0^L e^{−Lλt}(e^{La_j} − e^{Lb_j}) and log of the rates p = L u0^{L−2} e^{(L−2)(a − λt)} (same for b)."""
    L = depth
    E = L * (ell0 - lam_t)
    for j in numba.prange(a.shape[0]):
        la, lb = L * a[j], L * b[j]
        out_w[j] = 0.0 if la == lb else math.copysign(math.exp(E + log_expdiff(la, lb)), la - lb)
        log_pa[j] = math.log(L) + (L - 2) * (ell0 + a[j] - lam_t)
        log_pb[j] = math.log(L) + (L - 2) * (ell0 + b[j] - lam_t)


class FullDiagonalFlow(FlowBase):
    """The full 2d-dimensional flow (docs/math.md#diagonal-flow) in log variables that do not cancel.

    With Θ = e^{λt}θ, a_j = log(Θ_{u,j}/u0), b_j = log(Θ_{v,j}/u0), the flow du/dt = −L u^{L−1} g − λu,
    dv/dt = +L v^{L−1} g − λv (g = Xᵀr/n) becomes

        da/dt = −L u0^{L−2} e^{(L−2)(a − λt)} g,   db/dt = +L u0^{L−2} e^{(L−2)(b − λt)} g,
        w = u0^L e^{−Lλt} (e^{La} − e^{Lb}),

    a(0) = b(0) = 0. The state is σ·(a, b), σ = max(1, 2L u0^L), so that it is ≈ e^{Lλt}w in the kernel phase,
    where a ≈ −b ≈ w/(2L u0^L) are tiny: there w = u^L − v^L of the plain variables cancels (u ≈ v ≈ u0) and
    loses ~log10(L u0^L/|w|) digits, while e^{La} − e^{Lb} here is formed from a − b (no cancellation, a and b
    have opposite signs). In the late phase a = O(λt), so w is known to ~L·|a|·(state error); against an
    independent integration (tests/numerics/test_depth_accuracy.py) the relative error in w at the default
    tolerances (rtol 1e-6, atol 1e-9) is ≤ 1e-4 (L 2…6, α ≤ 1e6). Used to check the reduction, and for small problems;
    the dense Jacobian is formed only when 2d ≤ 4000. α must keep 2L·u0^L in float64 (L·log u0 ≤ 700).
    The saved states (:meth:`export_state`) are (u, v). :class:`PlainFullDiagonalFlow` is the same flow
    integrated in (u, v).
    """

    def __init__(self, X, y, *, alpha, lam, depth=2, loss="logistic"):
        check_loss_and_depth(loss, depth)
        self.data = X if isinstance(X, DataMatrix) else DataMatrix(X)
        self.y = np.ascontiguousarray(y, dtype=np.float64)
        self.n, self.d = self.data.n, self.data.d
        self.depth, self.lam, self.alpha = int(depth), float(lam), float(alpha)
        self.loss_id = gen.LOSS_NAMES.index(loss)
        self.ell0 = math.log(self.alpha) - 0.5 * math.log(2.0 * self.d)
        log_sigma = math.log(2.0 * self.depth) + self.depth * self.ell0
        if log_sigma > 700.0:
            raise InputError(f"alpha={alpha:g} is too large for the full formulation at depth {depth} "
                             f"(2L·u0^L = e^{log_sigma:.0f} overflows float64; use the reduced formulation)")
        self.sigma = math.exp(max(0.0, log_sigma))
        self.u0 = math.exp(self.ell0)
        self._w = np.empty(self.d)
        self._la = np.empty(self.d)
        self._lb = np.empty(self.d)
        self.nfev = 0
        self.njev = 0

    def start(self):
        return 0.0, np.zeros(2 * self.d)

    def _parts(self, t, state):
        ab = state / self.sigma
        _log_full_parts(ab[: self.d], ab[self.d:], self.depth, self.ell0, self.lam * t, self._w, self._la, self._lb)
        return ab

    def weight(self, t, state, frame=None):
        self._parts(t, state)
        return self._w.copy()

    def observe(self, t, state, frame=None):
        ab = self._parts(t, state)
        terms = 2.0 * ab
        top = float(np.max(terms))
        log_sq = 2.0 * (self.ell0 - self.lam * t) + top + math.log(float(np.sum(np.exp(terms - top))))
        return self._w.copy(), math.exp(0.5 * log_sq)

    def export_state(self, t, state):
        """(u, v) = u0 e^{(a, b) − λt}: what the run saves as its states (``FlowSolution.states``)."""
        return np.exp(self.ell0 + state / self.sigma - self.lam * t)

    def _grad(self, t, state):
        ab = self._parts(t, state)
        f = self.data.matvec(self._w)
        r = np.empty(self.n)
        loss_residuals(f, self.y, self.loss_id, 0.0, r)
        return ab, f, self.data.rmatvec(r, 1.0 / self.n)

    def rhs(self, t, state):
        self.nfev += 1
        _, _, g = self._grad(t, state)
        return self.sigma * np.concatenate([-np.exp(self._la) * g, np.exp(self._lb) * g])

    def jac(self, t, state):
        """∂(σ ȧ_j)/∂(σ a_k) = −p_j((L−2) g_j δ_jk + H_jk ∂w_k/∂a_k) with H = Xᵀ diag(ℓ'') X / n (same for b)."""
        if 2 * self.d > 4000:
            raise InputError(f"the full formulation forms a dense 2d×2d Jacobian; d={self.d} is too large")
        self.njev += 1
        ab, f, g = self._grad(t, state)
        L = self.depth
        logcurv = np.empty(self.n)
        loss_log_curvatures(f, self.y, self.loss_id, logcurv)
        Xf = np.asarray(self.data.X, dtype=np.float64)
        H = (Xf.T * np.exp(logcurv)) @ Xf / self.n
        E = L * (self.ell0 - self.lam * t)
        dw = L * np.concatenate([np.exp(E + L * ab[: self.d]), -np.exp(E + L * ab[self.d:])])  # ∂w/∂a, ∂w/∂b
        p = np.concatenate([-np.exp(self._la), np.exp(self._lb)])  # ∂ȧ/∂g, ∂ḃ/∂g
        J = p[:, None] * np.block([[H, H], [H, H]]) * dw[None, :]
        J[np.diag_indices_from(J)] += (L - 2) * p * np.concatenate([g, g])
        return J


class PlainFullDiagonalFlow(FlowBase):
    """The full 2d-dimensional flow du/dt = −L u^{L−1} g − λu, dv/dt = +L v^{L−1} g − λv, g = Xᵀr/n, in (u, v).

    The generated kernels as they are (docs/math.md#diagonal-flow), for checking them; w = u^L − v^L cancels
    while u ≈ v ≈ u0, so integrating in these variables loses digits at large α (use :class:`FullDiagonalFlow`).
    The dense Jacobian diag(∂flow/∂θ) − diag(∂w/∂θ)·(Xᵀ diag(ℓ'') X / n)·diag(∂w/∂θ) is formed only when 2d ≤ 4000.
    """

    def __init__(self, X, y, *, alpha, lam, depth=2, loss="logistic"):
        self.data = X if isinstance(X, DataMatrix) else DataMatrix(X)
        self.y = np.ascontiguousarray(y, dtype=np.float64)
        self.n, self.d = self.data.n, self.data.d
        self.depth, self.lam, self.alpha = int(depth), float(lam), float(alpha)
        self.loss_id = gen.LOSS_NAMES.index(loss)
        self.u0 = self.alpha / math.sqrt(2.0 * self.d)
        self.nfev = 0
        self.njev = 0

    def start(self):
        return 0.0, np.full(2 * self.d, self.u0)

    def weight(self, t, state, frame=None):
        out = np.empty(self.d)
        _full_weight(state[: self.d], state[self.d:], self.depth, out)
        return out

    def observe(self, t, state, frame=None):
        return self.weight(t, state), float(np.linalg.norm(state))

    def _grad(self, state):
        f = self.data.matvec(self.weight(0.0, state))
        r = np.empty(self.n)
        loss_residuals(f, self.y, self.loss_id, 0.0, r)
        return f, self.data.rmatvec(r, 1.0 / self.n)

    def rhs(self, t, state):
        self.nfev += 1
        _, g = self._grad(state)
        du, dv = np.empty(self.d), np.empty(self.d)
        _full_parts(state[: self.d], state[self.d:], g, self.depth, self.lam, du, dv)
        return np.concatenate([du, dv])

    def jac(self, t, state):
        if 2 * self.d > 4000:
            raise InputError(f"the full formulation forms a dense 2d×2d Jacobian; d={self.d} is too large")
        self.njev += 1
        f, g = self._grad(state)
        u, v = state[: self.d], state[self.d:]
        L = self.depth
        curv = np.array([gen.loss_curvature(self.loss_id, fi, yi) for fi, yi in zip(f, self.y, strict=True)])
        Xf = np.asarray(self.data.X, dtype=np.float64)
        H = (Xf.T * curv) @ Xf / self.n
        dw = np.concatenate([[gen.diag_dweight_du(L, a) for a in u], [gen.diag_dweight_dv(L, b) for b in v]])
        diag = np.concatenate([[gen.diag_dflow_u_du(L, a, gj, self.lam) for a, gj in zip(u, g, strict=True)],
                               [gen.diag_dflow_v_dv(L, b, gj, self.lam) for b, gj in zip(v, g, strict=True)]])
        Hfull = np.block([[H, H], [H, H]])
        J = -(dw[:, None] * Hfull * dw[None, :])
        J[np.diag_indices_from(J)] += diag
        return J
