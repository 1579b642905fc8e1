"""The exact n-dimensional reduction shared by the diagonal net and the separable models, as a flow base class.

:class:`ReducedLinearFlow` holds what the two reduced flows share: log time, the scaled and re-anchored state and
its frames, the right-hand side and its analytic Jacobian, the squared loss's slow-manifold mode, and the
driver interface. A model supplies the closed form of its weights through the hooks its docstring lists
(:class:`grokode.numeric.diagonal.ReducedDiagonalFlow`, :class:`grokode.numeric.separable.ReducedSeparableFlow`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from ..errors import InputError
from . import generated as gen
from .flow import FlowBase, Reframe
from .linalg import DataMatrix
from .primitives import sigmoid, softplus
from .residuals import loss_log_curvatures, loss_residuals

#: The Jacobian's Gram part is rebuilt only when ∂w/∂Γ (normalized to max 1) moved by more than this
#: (:meth:`ReducedLinearFlow.gram`)
GRAM_REUSE = 1e-4
#: Re-anchor when a bracket (a distance to a singular end) has shrunk by this factor since the last anchor
#: (docs/math.md#conditioning): between anchors it is known to rtol·(ANCHOR_FACTOR − 1) relative.
ANCHOR_FACTOR = 10.0
LOG_ANCHOR_FACTOR = math.log(ANCHOR_FACTOR)
#: Squared loss: follow the interpolating manifold when max|f − y| < QS_ENTER·max|y|, leave it when the
#: misfit of the exact flow would exceed QS_LEAVE·max|y| (:meth:`ReducedLinearFlow.rescale`).
QS_ENTER = 1e-9
QS_LEAVE = 1e-7
#: log of the state's size at the start, y(τ0) ~ 1e-3: the default atol (1e-9) is then ~rtol of it, so it does not
#: bound the early relative error
START_LOG_SCALE = math.log(1e3)
#: A new anchor drifts (its frame's state excludes G(t)·v_a, :meth:`ReducedLinearFlow.drift_scale`) when r(f) moved
#: by at most this fraction (max-norm) since the last anchor: in the late phase r is steady and the drift leaves the
#: state only its small changes; while r still moves fast the drift would add a large part the state must cancel.
DRIFT_STEADY = 1e-2


def check_loss(loss: str) -> None:
    """An InputError unless ``loss`` has generated kernels (:data:`grokode.numeric.generated.LOSS_NAMES`)."""
    if loss not in gen.LOSS_NAMES:
        raise InputError(f"unknown loss {loss!r} (choose {', '.join(gen.LOSS_NAMES)})")


class ReducedLinearFlow(FlowBase):
    """Exact reduction of the gradient flow of a model linear in its weights w(θ) to n unknowns.

    For the diagonal net (docs/math.md#reduction-depth-l) and the separable models (docs/math.md#separable),
    with θ = e^{−λt}Θ each weight is a fixed function of one clock, w_j(t) = e^{−Lλt} F(Γ_j(t)), Γ = XᵀS/n, where

        S_i(t) = ∫₀ᵗ ρ(s) r_i(f(s)) ds,   ρ(t) = e^{−(L−2)λt},   f = X w,   r = ∂ℓ/∂f.

    The state is y = e^{c+φ(τ)}·S in log time τ = log t, so that

        dy/dτ = e^{c+φ+τ} ρ(t) r(f) + (dφ/dτ) y,    ∂ẏ_i/∂y_k = e^{τ}ρ ℓ''_i Σ_j x_ij (∂w_j/∂Γ_j) x_kj / n + φ′ δ_ik.

    Log time makes the kernel phase (time scale ~ n/α²) and the rich phase (~ 1/λ) equally resolvable. The scale
    c keeps y = O(1) at the start and is lowered by exact powers of two when |y| grows (:meth:`rescale`);
    φ(t) = softplus(Lλ(t_s − t)) − softplus(Lλ t_s) carries the e^{Lλt} growth of S through the kernel phase,
    which ends near t_s = log(scale₀)/λ (docs/math.md#conditioning), so no quantity over- or underflows even at
    α = 1e300 and the error control never follows that growth. The closed forms use t only through λt; at λ = 0
    that product is exactly 0 without forming t = e^τ, so the flow runs to the float64 end of time.

    Depth L ≥ 3: in the late phase F approaches a singular end (a bracket of the closed form tends to 0 like
    e^{−(L−2)λt}); computed from a state whose error is relative to |S| it would lose every digit. Whenever it has
    shrunk by :data:`ANCHOR_FACTOR` since the last anchor the model re-anchors (:meth:`reanchor`): the closed
    form restarts at the current point, the state is zeroed (it then holds S − S_anchor) and c is chosen so that
    a unit change of y moves the smallest bracket by its own size. Once r(f) is steady from one anchor to the next
    (the late phase), the anchor also carries the *drift* G(t)·v_a, G(t) = ∫_{t_a}^t ρ, v_a = r(f) at the anchor:
    the state is then y = e^{c}(S − S_a − G(t)v_a) and holds only what r changes after the anchor, while the
    decay e^{−(L−2)λt} of the brackets is in G, which is exact; a decade of that decay costs a few steps instead of
    resolving an exponential in y. The pair (c, anchor) is the *frame* of a state (:meth:`frame`); dense output is
    read in the frame of its solver piece. A re-anchoring is a :class:`~grokode.numeric.flow.Reframe` (an affine
    map of y plus a known curve), across which BDF keeps its history. The exact flow cannot blow up at any
    finite t (gradient flow of a loss ≥ 0), so a bracket that still crosses 0 is a failure of the numerics,
    reported as such (``failure_hint``).

    Squared loss: once the fit is tight the flow follows the interpolating manifold itself
    (:meth:`quasi_static_rhs`, see :meth:`rescale`); with ``stop_at_fit`` at λ = 0 the run stops there
    (:meth:`stop_reason`, docs/math.md#lam0-regression).

    Hooks a model implements (all in its current frame unless a frame is passed):

    * :meth:`prepare_closed_form` → (log|∂w/∂Γ| at Γ = 0, t = 0; log of the weights' initial scale), called by
      ``__init__`` after the data are set;
    * :meth:`log_clock_scale`: log of the κ at which the clock makes the closed form nonlinear (κ|Γ| ~ 1);
    * :meth:`log_rho`: log ρ(t);
    * :meth:`fill_weights`: w from the clock B = XᵀS/n·e^{c}… in a frame;
    * :meth:`log_weight_slopes`: log|∂w/∂Γ| and its signs at the last clock, in the current frame;
    * :meth:`observe`: (w, ‖θ‖) of a state in a frame;
    * :meth:`reanchor` (depth ≥ 3) and :attr:`anchor_class`, the frozen dataclass of its anchors.
    """

    variable = "log_t"
    #: Largest step in τ = log t. The state grows at most like e^τ, so one step cannot carry it from the
    #: rescaling threshold (1e100) into overflow (e^10 ≪ 1e208); a step whose end is not finite anyway is redone
    #: shorter by the driver. Steps of 1 would cost ~ln(α²) steps through a kernel phase that begins at t ~ n/α².
    max_step = 10.0
    #: |y| above which :meth:`rescale` lowers c by a power of two (an instance may lower it: the tests force rescales)
    rescale_above = 1e100
    #: The class of this flow's anchors (:meth:`restore_frame` and :meth:`decode_frames` rebuild them).
    anchor_class: type = object
    #: Set by a model (the squared loss at λ = 0): the run stops once the fit is tight (:meth:`stop_reason`).
    stop_at_fit = False

    def __init__(self, X, y, *, alpha: float, lam: float, depth: int, loss: str):
        check_loss(loss)
        self.data = X if isinstance(X, DataMatrix) else DataMatrix(X)
        self.y = np.ascontiguousarray(y, dtype=np.float64)
        self.n, self.d = self.data.n, self.data.d
        self.depth, self.lam, self.alpha = int(depth), float(lam), float(alpha)
        self.loss, self.loss_id = loss, gen.LOSS_NAMES.index(loss)
        ld0, log_scale0 = self.prepare_closed_form()
        # Initial stiffness: |λ_max| of the t-Jacobian at S = 0 is about ℓ''(0)|∂w/∂Γ|(0)·mean‖x‖²/n.
        sq = self.data.squared_norm()
        logc0 = gen.loss_log_curvature(self.loss_id, 0.0, float(self.y[0]))
        self.log_rate0 = logc0 + ld0 + math.log(max(sq, 1e-300) / self.n) - math.log(self.n)
        # At small α the closed form turns nonlinear (κ|Γ| ~ 1, incremental learning) long before the kernel
        # rate acts: the start must precede both, or the first step would skip the first activations.
        r0 = np.array([gen.loss_residual(self.loss_id, 0.0, v) for v in self.y])
        g0 = float(np.max(np.abs(self.data.rmatvec(r0, 1.0 / self.n))))
        if g0 > 0.0:
            self.log_rate0 = max(self.log_rate0, self.log_clock_scale() + math.log(g0))
        if self.lam > 0.0:  # and before the decay acts (when nothing activates, the run lasts a few 1/λ)
            self.log_rate0 = max(self.log_rate0, math.log(self.lam))
        # y = e^c S with S ~ 1/rate in the kernel phase, started at y(τ0) ~ 1e-3 (START_LOG_SCALE)
        self.c0 = self.log_rate0 + START_LOG_SCALE
        self.c = self.c0
        self.anchor: Any = None
        self.anchors = 0
        self.quasi_static = False
        self.mode_switches = 0
        self.grams = 0
        self._gram_cache: tuple[np.ndarray, np.ndarray] | None = None
        self._mean_abs: float | None = None
        self._drift_cache: tuple[Any, np.ndarray] | None = None
        self._misfit = math.nan
        self._y_scale = max(float(np.max(np.abs(self.y))), 1e-300)
        self._B = np.empty(self.d)
        self._w = np.empty(self.d)
        self._f = np.empty(self.n)
        self._logs = np.empty(self.d)
        self._signs = np.empty(self.d)
        self._zeros = np.zeros(self.d)
        self.nfev = 0
        self.njev = 0
        self._init_growth(log_scale0)
        # depth ≥ 3 re-anchors once per decade of a bracket's decay in the late phase, ∝ ln α times: BDF carries its
        # history across a re-anchoring (the driver's Reframe), where LSODA restarts in its non-stiff mode
        self.auto_method = "BDF" if self.depth > 2 else None

    # -- hooks ------------------------------------------------------------------------------------------
    def prepare_closed_form(self) -> tuple[float, float]:
        """Set the model's constants; return (log|∂w/∂Γ| at Γ = 0, t = 0; log of the weights' scale at t = 0)."""
        raise NotImplementedError

    def log_clock_scale(self) -> float:
        """log of the scale κ at which the clock Γ makes the closed form nonlinear (κ|Γ| ~ 1)."""
        raise NotImplementedError

    def log_rho(self, t: float) -> float:
        """log ρ(t) = −(L−2)λt, the factor of the reduced flow dS/dt = ρ(t)·r(f)."""
        raise NotImplementedError

    def fill_weights(self, tau: float, B: np.ndarray, frame: Any, out: np.ndarray) -> np.ndarray:
        """w (d,) into ``out`` at τ from ``B`` = XᵀS·e^{c}/n (:meth:`clock`) of a state in ``frame`` (None: current)."""
        raise NotImplementedError

    def log_weight_slopes(self, tau: float, B: np.ndarray, logs: np.ndarray, signs: np.ndarray) -> float:
        """log|∂w_j/∂Γ_j| into ``logs`` and its signs into ``signs`` at ``B`` in the current frame; max(logs)."""
        raise NotImplementedError

    def reanchor(self, state: np.ndarray, tau: float) -> np.ndarray | None:
        """Depth ≥ 3: a new anchor (set ``anchor``, ``anchors``, ``c``) and the zero state to restart from, or None."""
        return None

    def keeps_form(self, last: Any, new: Any) -> bool:
        """Whether a re-anchoring from ``last`` to ``new`` maps the state affinely (a :class:`Reframe`)."""
        return True

    # -- the kernel phase's growth (docs/math.md#conditioning) ---------------------------------------------
    def _init_growth(self, log_scale0: float) -> None:
        """The kernel phase's growth factor of the state, from the weights' initial scale e^{log_scale0}.

        While the closed form is linear (κ|Γ| ≪ 1) the fitted outputs f = X w stay O(1) although w's scale decays
        like e^{−Lλt}: Γ, hence S, grows like e^{Lλt} until κ|Γ| ~ 1 at t_s = log_scale0/λ. The frame's scale is
        therefore c + φ(t) with φ(t) = softplus(Lλ(t_s − t)) − softplus(Lλ t_s) (≈ −Lλt before t_s, constant after),
        so that y = e^{c+φ}S stays O(1) through the whole kernel phase.
        """
        g = self.depth * self.lam
        self._growth = g if g > 0.0 and log_scale0 > 0.0 else 0.0
        self._growth_end = log_scale0 / self.lam if self._growth else 0.0
        self._phi_end = softplus(self._growth * self._growth_end)

    def scale_offset(self, tau: float, anchor: Any = None) -> tuple[float, float]:
        """(φ, dφ/dτ) at τ = log t: the scale at τ of a frame (c, ``anchor``) is c + φ.

        0 in an anchored frame, whose state is a change since the anchor: its scale is fixed when it is anchored.
        """
        if not self._growth or anchor is not None:
            return 0.0, 0.0
        t = math.exp(tau)
        x = self._growth * (self._growth_end - t)
        return softplus(x) - self._phi_end, -t * self._growth * sigmoid(x)

    def scale_at(self, tau: float, c: float, anchor: Any) -> float:
        """The log scale c + φ(τ) of a state in the frame (c, anchor) at τ."""
        return c + self.scale_offset(tau, anchor)[0]

    # -- time and frames ----------------------------------------------------------------------------------
    def start(self) -> tuple[float, np.ndarray]:
        """(τ0, y(τ0)): start where the kernel phase has not begun, S ≈ ρ(0) r(f=0) t (in the initial frame)."""
        # a second run of the same flow (auto's fallback) starts afresh
        self.c, self.anchor, self.quasi_static, self._misfit = self.c0, None, False, math.nan
        tau0 = math.log(1e-6) - self.log_rate0
        r0 = np.array([gen.loss_residual(self.loss_id, 0.0, v) for v in self.y])
        return tau0, math.exp(self.scale_at(tau0, self.c, None) + tau0) * r0

    @staticmethod
    def to_var(t):
        with np.errstate(divide="ignore"):
            return np.log(t)

    @staticmethod
    def to_time(var):
        return np.exp(var)

    def time_at(self, tau: float) -> float:
        """t = e^τ where the closed forms need it (through λt): 0 at λ = 0, where e^τ may overflow."""
        return math.exp(tau) if self.lam > 0.0 else 0.0

    def frame(self) -> tuple[float, Any]:
        """The frame of the current state: (c, anchor). Opaque to the driver, which hands it back."""
        return self.c, self.anchor

    def export_frame(self, frame) -> dict:
        """A frame and the flow's mode, as plain values and arrays, for a run that continues from a saved state."""
        c, anchor = frame
        out: dict[str, Any] = {"c": float(c), "quasi_static": bool(self.quasi_static)}
        if anchor is not None:
            out["anchor"] = dict(vars(anchor))
        return out

    def restore_frame(self, saved: dict | None) -> None:
        """The inverse of :meth:`export_frame`: the flow continues in that frame and mode."""
        if saved is None:
            return
        self.c = float(saved["c"])
        self.quasi_static = bool(saved.get("quasi_static", False))
        anchor = saved.get("anchor")
        self.anchor = None if anchor is None else self.anchor_class(**{
            k: (v if v is None else float(v) if np.ndim(v) == 0 else np.ascontiguousarray(v))
            for k, v in anchor.items()})

    # -- the right-hand side and its Jacobian ---------------------------------------------------------------
    def clock(self, state: np.ndarray, tau: float = -math.inf, frame=None) -> np.ndarray:
        """B = Xᵀ(S − S_a)·e^{c}/n of the state in ``frame`` (None: the current one) at τ, into a work buffer: the
        clock Γ up to the frame's scale, with the anchor's drift (:meth:`drift`) added."""
        B = self.data.rmatvec(state, 1.0 / self.n, self._B)
        anchor = self.anchor if frame is None else frame[1]
        if anchor is not None and anchor.drift:
            c = self.c if frame is None else frame[0]
            B += self.drift_scale(tau, c, anchor) * self._drift_clock(anchor)
        return B

    # -- the late phase's drift (docs/math.md#conditioning) -------------------------------------------------
    def drift_scale(self, tau: float, c: float, anchor) -> float:
        """e^{c}·G(t), G(t) = ∫_{t_a}^t ρ(s) ds of an anchor made at t_a (S − S_a = G(t)·v_a + e^{−c}y in its frame)."""
        k = (self.depth - 2) * self.lam
        g = -math.expm1(-k * (self.time_at(tau) - anchor.time))  # G·k·e^{k t_a}
        if g == 0.0:
            return 0.0
        return math.copysign(math.exp(c - k * anchor.time - math.log(k) + math.log(abs(g))), g)

    def _drift_clock(self, anchor) -> np.ndarray:
        """Xᵀv_a/n of an anchor (cached for the last anchor asked)."""
        cached = self._drift_cache
        if cached is None or cached[0] is not anchor:
            cached = (anchor, self.data.rmatvec(anchor.rate, 1.0 / self.n))
            self._drift_cache = cached
        return cached[1]

    def drift_rate(self, tau: float, state: np.ndarray) -> tuple[np.ndarray | None, bool]:
        """(v_a, whether the new anchor drifts) for a new anchor at the state (current frame): v_a = r(f) there
        (None at λ = 0, where there is no drift); it drifts when r moved by at most :data:`DRIFT_STEADY` (relative,
        max-norm) since the last anchor. The squared loss never drifts: on its slow manifold (:meth:`rescale`) the
        state does not move with r(f), which is rounding noise there."""
        if self.lam == 0.0 or self.loss == "squared":
            return None, False
        f = self.outputs(tau, state)
        r = np.empty(self.n)
        loss_residuals(f, self.y, self.loss_id, 0.0, r)
        last = None if self.anchor is None else self.anchor.rate
        steady = last is not None and float(np.max(np.abs(r - last))) <= DRIFT_STEADY * float(np.max(np.abs(r)))
        return r, steady

    def observe(self, tau: float, state: np.ndarray, frame=None,
                out: np.ndarray | None = None) -> tuple[np.ndarray, float]:
        """(w, ‖θ‖) at τ = log t of the state in ``frame``; ``out`` (d), if given, receives w. Each closed form
        defines it."""
        raise NotImplementedError

    def weight(self, tau: float, state: np.ndarray, frame=None) -> np.ndarray:
        """Effective weight w (d,) at τ = log t from the state y in ``frame`` (default: the current one)."""
        return self.fill_weights(tau, self.clock(state, tau, frame), frame, np.empty(self.d))

    def outputs(self, tau: float, state: np.ndarray) -> np.ndarray:
        """f = X w at τ of the state in the current frame (a work buffer)."""
        self.fill_weights(tau, self.clock(state, tau), None, self._w)
        return self.data.matvec(self._w, self._f)

    def rhs(self, tau: float, state: np.ndarray) -> np.ndarray:
        self.nfev += 1
        if self.quasi_static:
            return self.quasi_static_rhs(tau, state)
        t = self.time_at(tau)
        f = self.outputs(tau, state)
        out = np.empty(self.n)
        phi, dphi = self.scale_offset(tau, self.anchor)
        log_factor = self.c + phi + tau + self.log_rho(t)
        loss_residuals(f, self.y, self.loss_id, log_factor, out)
        self._subtract_drift(log_factor, out)
        if dphi:
            out += dphi * state
        if self.loss == "squared":
            self._misfit = float(np.max(np.abs(f - self.y))) / self._y_scale
        return out

    def _subtract_drift(self, log_factor: float, out: np.ndarray) -> None:
        """out −= e^{log_factor}·v_a in an anchored frame with a drift (the state is S − S_a − G(t)v_a)."""
        anchor = self.anchor
        if anchor is not None and anchor.drift:
            with np.errstate(divide="ignore"):
                out -= np.sign(anchor.rate) * np.exp(log_factor + np.log(np.abs(anchor.rate)))

    def _log_slopes_now(self, tau: float) -> float:
        return self.log_weight_slopes(tau, self._B, self._logs, self._signs)

    def quasi_static_rhs(self, tau: float, state: np.ndarray) -> np.ndarray:
        """dy/dτ on the slow manifold f(S, t) = y of the squared loss (see :meth:`rescale`).

        Differentiating f = X w(Γ, t) with ∂w/∂t = −Lλw (at fixed Γ): X diag(∂w/∂Γ) Xᵀ Ṡ/n = Lλ f = Lλ y.
        The exact flow stays within |f − y| ≈ |Ṡ|/(2ρ) of it, which this also records (the misfit).
        """
        t = self.time_at(tau)
        self.clock(state, tau)
        top = self._log_slopes_now(tau)
        M = self.data.weighted_gram(self._signs * np.exp(self._logs - top)) / self.n  # X D Xᵀ/n · e^{−top}
        try:
            v = np.linalg.solve(M, self.y)
        except np.linalg.LinAlgError:
            return np.full(self.n, np.nan)
        log_lam = math.log(self.depth * self.lam) if self.lam > 0.0 else -math.inf
        with np.errstate(over="ignore"):
            phi, dphi = self.scale_offset(tau, self.anchor)
            out = np.exp(self.c + phi + tau + log_lam - top) * v + dphi * state  # e^{c+φ}·t·Ṡ + (dφ/dτ)·y
            sdot = np.exp(log_lam - top - self.log_rho(t)) * v  # Ṡ/ρ = r
            self._subtract_drift(self.c + phi + tau + self.log_rho(t), out)
        self._misfit = 0.5 * float(np.max(np.abs(sdot))) / self._y_scale
        return out

    def jac(self, tau: float, state: np.ndarray) -> np.ndarray:
        self.njev += 1
        dphi = self.scale_offset(tau, self.anchor)[1]
        if self.quasi_static:  # the slow-manifold flow is not stiff (rates ~λ): no Jacobian needed
            return dphi * np.eye(self.n)
        t = self.time_at(tau)
        f = self.outputs(tau, state).copy()
        top = self._log_slopes_now(tau)
        col = self._signs * np.exp(self._logs - top)
        logcurv = np.empty(self.n)
        loss_log_curvatures(f, self.y, self.loss_id, logcurv)
        with np.errstate(over="ignore"):  # an inf row is a genuinely unbounded rate; the solver stops
            row = np.exp(tau + self.log_rho(t) + logcurv + top - math.log(self.n))
        J = row[:, None] * self.gram(col)
        if not np.all(np.isfinite(J)) and self.depth > 2 and not np.isfinite(top):
            # a trial point past a bracket's zero (w is NaN there): a finite Jacobian lets the implicit solver
            # evaluate the point, see the NaN residual and shorten the step, instead of failing in its LU
            J = np.zeros((self.n, self.n))
        if dphi:
            J[np.diag_indices_from(J)] += dphi
        return J

    def gram(self, col: np.ndarray) -> np.ndarray:
        """X diag(col) Xᵀ (n×n, the Jacobian's costly part, n²d), or the last one built when its col was within
        :data:`GRAM_REUSE` of this one (max-normalized, entrywise).

        The Jacobian only steers the Newton iterations, so a relative error of GRAM_REUSE in it changes the
        convergence rate, not the solution. In the kernel phase col = ∂w/∂Γ is nearly the same for every
        coordinate (the closed form is linear there), while LSODA/BDF ask for a new Jacobian whenever the step
        changes.
        """
        cached = self._gram_cache
        if cached is not None and float(np.max(np.abs(col - cached[0]))) <= GRAM_REUSE:
            return cached[1]
        gram = self.data.newton_gram(col)  # float32 arithmetic: the Jacobian only steers Newton (linalg.newton_gram)
        self._gram_cache = (col.copy(), gram)
        self.grams += 1
        return gram

    # -- modes, rescaling and anchors -----------------------------------------------------------------------
    def stop_reason(self) -> str | None:
        """Why the run ends here, or None (the driver asks after every step).

        With ``stop_at_fit`` (set by the model for the squared loss at λ = 0 without a horizon of the user's): the
        flow has entered its slow-manifold mode (max|f − y| < :data:`QS_ENTER`·max|y|, see :meth:`rescale`), on
        which at λ = 0 nothing moves: Ṡ = r = 2(f − y), so the velocity is below 2·QS_ENTER·max|y| too, and the
        rest of the flow moves w by O(QS_ENTER) relative (docs/math.md#lam0-regression).
        """
        if self.stop_at_fit and self.quasi_static and self.lam == 0.0:
            return (f"stopped at interpolation: max|f − y| < {QS_ENTER:g}·max|y| (the flow at λ = 0 is at rest "
                    "there)")
        return None

    def rescale(self, state: np.ndarray, var: float = -math.inf) -> np.ndarray | Reframe | None:
        """A new state (and frame) to restart from, or None. Called by the driver after every step, at τ = ``var``.

        Re-anchors (depth ≥ 3, :meth:`reanchor`); otherwise lowers c by a power of two when |y| > 1e100 (exact),
        so S can grow to O(ln α) at any α.

        Squared loss: once the fit is tight (max|f − y| < :data:`QS_ENTER`·max|y|), the relaxation onto the
        interpolating manifold is faster than λ by the same factor (its rate is ~α²e^{−2λt}), a stiffness the
        solvers cannot step through in float64 (the residual is rounding noise times that rate). The flow
        then follows the manifold itself (:meth:`quasi_static_rhs`, exact up to the misfit it neglects)
        until the misfit the exact flow would have, |Ṡ|/(2ρ), exceeds :data:`QS_LEAVE`·max|y|; then the
        exact flow resumes from there.
        """
        if self.loss == "squared" and math.isfinite(self._misfit):
            switch = self._misfit > QS_LEAVE if self.quasi_static else self._misfit < QS_ENTER
            if switch:
                self.quasi_static = not self.quasi_static
                self.mode_switches += 1
                self._misfit = math.nan
                return state.copy()
        if self.depth > 2:
            c, last = self.c, self.anchor
            restarted = self.reanchor(state, var)
            if restarted is not None:
                # from an anchored frame the new state is y' = e^{c_new − c}(y − y_now) + e^{c_new}G_new(t)·(v_old −
                # v_new) (S = S_a + G_a(t)v_a + e^{−c}y in both frames); the first anchor leaves the frame whose scale
                # moves with φ(τ), which is not such a map: the solver restarts
                new = self.anchor
                if last is None or not self.keeps_form(last, new):
                    return restarted
                v_old = last.rate if last.drift else None
                v_new = new.rate if new.drift else None
                if v_old is None and v_new is None:
                    return Reframe(restarted, math.exp(self.c - c))
                dv = (np.zeros(self.n) if v_old is None else v_old) - (np.zeros(self.n) if v_new is None else v_new)
                c_new = self.c
                return Reframe(restarted, math.exp(c_new - c), dv,
                               lambda tau: self.drift_scale(tau, c_new, new))
        top = float(np.max(np.abs(state)))
        if top <= self.rescale_above:
            return None
        k = math.floor(math.log2(top))
        self.c -= k * math.log(2.0)
        return Reframe(np.ldexp(state, -k), math.ldexp(1.0, -k))

    def mean_abs_x(self) -> float:
        """mean |x_ij| of the data (1 for ±1 data)."""
        if self._mean_abs is None:
            self._mean_abs = 1.0 if self.data.dtype == np.int8 else float(np.mean(np.abs(self.data.X)))
        return self._mean_abs

    # -- saved states as files ----------------------------------------------------------------------------
    @staticmethod
    def encode_frames(frames: list) -> dict[str, np.ndarray]:
        """The frames of saved states as arrays (for a trajectory file that stores states instead of w).

        ``state_c`` (T) holds each state's scale c (NaN before the start, where w = 0); ``state_anchor`` (T) the
        index of its anchor (−1 for none) in the arrays ``anchor_<field>`` (F × the field's shape), one per field
        of the anchor class. ``state_growth`` marks that an unanchored state's scale at t is c + φ(t)
        (:meth:`scale_offset`); files without it were written when the scale was c alone.
        """
        index: dict[int, int] = {}
        anchors: list = []
        c = np.full(len(frames), np.nan)
        which = np.full(len(frames), -1, dtype=np.int64)
        for k, frame in enumerate(frames):
            if frame is None:
                continue
            c[k], anchor = frame
            if anchor is not None:
                if id(anchor) not in index:
                    index[id(anchor)] = len(anchors)
                    anchors.append(anchor)
                which[k] = index[id(anchor)]
        out = {"state_c": c, "state_anchor": which, "state_growth": np.ones(1)}
        if anchors:
            for name in vars(anchors[0]):
                values = [vars(a)[name] for a in anchors]
                known = [v for v in values if v is not None]
                if not known:  # an optional field (the drift's rate) no anchor has
                    continue
                values = [np.zeros_like(known[0]) if v is None else v for v in values]  # unused where it is None
                out[f"anchor_{name}"] = np.array(values) if np.ndim(values[0]) == 0 else np.stack(values)
        return out

    def decode_frames(self, arrays) -> list:
        """The inverse of :meth:`encode_frames` (``arrays`` also holds the saved times ``t``)."""
        anchors = []
        names = [f.name for f in dataclasses.fields(self.anchor_class) if f"anchor_{f.name}" in arrays]
        if names:
            columns = {name: arrays[f"anchor_{name}"] for name in names}
            anchors = [self.anchor_class(**{name: (float(col[i]) if np.ndim(col[i]) == 0 else
                                                   np.ascontiguousarray(col[i])) for name, col in columns.items()})
                       for i in range(len(columns[names[0]]))]
        c = np.array(arrays["state_c"], dtype=np.float64)
        if "state_growth" not in arrays:  # an older file: its unanchored states' scale is c itself, without φ(t)
            for k, (t, i) in enumerate(zip(arrays["t"], arrays["state_anchor"], strict=True)):
                if i < 0 and np.isfinite(c[k]):
                    c[k] -= self.scale_offset(float(self.to_var(t)))[0]
        return [None if not np.isfinite(ck) else (float(ck), anchors[i] if i >= 0 else None)
                for ck, i in zip(c, arrays["state_anchor"], strict=True)]

    def weights_of_states(self, t: np.ndarray, states: np.ndarray, frames: list) -> np.ndarray:
        """w (T×d) of saved states at times ``t`` in their frames (zero before the start): the rows a run's
        :class:`~grokode.numeric.lazy_weights.LazyWeights` computes from them."""
        from .lazy_weights import LazyWeights

        var = [float(self.to_var(tk)) for tk in t]
        return np.asarray(LazyWeights(self, np.asarray(var), states, frames, np.full(len(t), np.nan)))
