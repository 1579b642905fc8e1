"""Small α at degree 2: the saddle-to-saddle staircase, measured on a run and predicted by its α → 0 limit.

Measured (:func:`threshold_events`): coordinate j is *active* while |w_j| ≥ :data:`ACTIVE_THRESHOLD`; each crossing
of that level is located by a root finder on the solver's dense output (between the saved times and the solver's
step ends, so a crossing between two saved times is not missed), and the active set is read on each plateau.

Predicted (:func:`saddle_limit`): Pesme & Flammarion, "Saddle-to-Saddle Dynamics in Diagonal Linear Networks"
(NeurIPS 2023), Algorithm 1, in grokode's convention (docs/math.md#saddle-to-saddle). For w = u² − v² from
u(0) = v(0) = u0 at λ = 0, w_j = −2u0² sinh(4G_j) with G = ∫g, g = ∇L̂(w) = (2/n)Xᵀ(Xw − y). With ε = ln(1/u0),
t = ε·τ and s = G/ε, as u0 → 0 a coordinate can carry weight only where |s_j| = ½, with sign(w_j) = −sign(s_j),
and ds/dτ = g(w). Starting from s = 0, w = 0:

1. the next jump is the first τ at which an s_j with g_j ≠ 0 reaches |s_j| = ½ (s moves linearly meanwhile);
2. the new saddle minimizes L̂ over the w supported on B = {j : |s_j| = ½} with sign(w_j) = −sign(s_j): a
   non-negative least squares on X_B·diag(−sign s_B);
3. coordinates of B that get weight 0 there leave the support inside that step (not mid-plateau);

until the saddle interpolates (g = 0). The predicted jump times are t_k = ε·τ_k. With weight decay λ > 0 the
boundary moves, |s_j| = ½ + λτ/2, and the saddles minimize L̂ + (λ/2)‖w‖₁ (:func:`saddle_limit`).

A finite-u0 run crosses the level |w_j| = c before t_k by O(1) in t, ln(1/c − 1/|w*|)/(4|g_j|) for a coordinate
that saturates at |w*| (an O(1/ε) relative error, without bound when |g_j| is small), and each jump's transient
shifts G by O(1) for the later ones: :func:`first_order_jump_times` carries both terms, and the summary's
``jump_times_limit`` are those times (``jump_times_limit_leading``: ε·τ_k).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import brentq, nnls

#: A coordinate is active while |w_j| is at least this (docs/math.md#saddle-to-saddle).
ACTIVE_THRESHOLD = 0.05
#: A rise through the threshold is an activation once |w_j| reaches this multiple of it (:func:`threshold_events`).
CONFIRM_FACTOR = 2.0
#: The limit algorithm ends when the saddle's residual ‖Xw − y‖ is below this times ‖y‖ (interpolation).
LIMIT_RTOL = 1e-9
#: Components of g below this times max|g(0)| are zero (a coordinate on a saddle's support has g_j = 0 there).
_G_RTOL = 1e-9
#: Weights of a saddle below this times its largest are NNLS's rounding: those coordinates are off the support.
_SUPPORT_RTOL = 1e-12


@dataclass(frozen=True)
class LimitJump:
    """One jump of the α → 0 limit: at rescaled time ``tau`` (t = ε·τ), coordinates ``entered`` join the support
    and ``left`` leave it; ``w`` is the saddle the flow rests at until the next jump."""

    tau: float
    t: float
    entered: tuple[int, ...]
    left: tuple[int, ...]
    support: tuple[int, ...]
    w: np.ndarray = field(repr=False)
    s: np.ndarray = field(repr=False)  # the rescaled integrated gradient G/ε at the jump


@dataclass(frozen=True)
class SaddleLimit:
    """The limit algorithm's jumps; ``converged``: its last saddle is the end (λ = 0: it interpolates; λ > 0: no
    coordinate can join), else it stopped at ``max_jumps``."""

    jumps: list[LimitJump]
    log_inv_u0: float
    converged: bool
    lam: float = 0.0
    box: tuple[float, float] | None = None  # the boundaries of s at τ = 0 (None: the diagonal net's ∓½)

    @property
    def times(self) -> list[float]:
        return [j.t for j in self.jumps]

    @property
    def supports(self) -> list[list[int]]:
        """The support on each plateau: before the first jump (empty), then after each jump."""
        return [[]] + [list(j.support) for j in self.jumps]


def squared_loss_gradient(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """g = ∇L̂(w) for L̂ = (1/n)‖Xw − y‖² (a mean without ½)."""
    return (2.0 / X.shape[0]) * (X.T @ (X @ w - y))


def saddle_limit(X: np.ndarray, y: np.ndarray, log_inv_u0: float, *, lam: float = 0.0,
                 box: tuple[float, float] = (-0.5, 0.5), max_jumps: int | None = None) -> SaddleLimit:
    """The α → 0 limit of the depth-2 diagonal net's squared-loss flow (see the module docstring).

    With weight decay λ > 0 (docs/math.md#saddle-to-saddle), u = u0·e^{−λt−2G}: a coordinate carries weight only
    where |s_j| = b(τ) = ½ + λτ/2, so an inactive one reaches the boundary only if |g_j| > λ/2, each saddle
    minimizes L̂(w) + (λ/2)‖w‖₁ over the sign-constrained w on B, and the last one is a lasso solution.

    Parameters
    ----------
    X, y : the n×d training inputs and the n targets.
    log_inv_u0 : ε = ln(1/u0) > 0 (u0 = α/√(2d)); it only scales time, t_k = ε·τ_k.
    lam : weight decay λ ≥ 0 of the flow.
    box : (b₋, b₊), the boundaries of s at τ = 0 (the diagonal net's (−½, ½); a separable profile's levels
        |F(Γ)| = 1 divided by ε, at λ = 0).
    max_jumps : stop after this many jumps (default 4·d + 10).

    Returns
    -------
    SaddleLimit with the jumps in order of time.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if not log_inv_u0 > 0:
        raise ValueError(f"the small-α limit needs u0 < 1 (ln(1/u0) > 0), got ln(1/u0) = {log_inv_u0!r}")
    if not lam >= 0:
        raise ValueError(f"lam must be ≥ 0, got {lam!r}")
    n, d = X.shape
    mu = 0.5 * lam
    low, high = -float(box[0]), float(box[1])
    if not (low > 0 and high > 0):
        raise ValueError(f"box must be (b₋ < 0, b₊ > 0), got {box!r}")
    max_jumps = 4 * d + 10 if max_jumps is None else max_jumps
    s = np.zeros(d)
    w = np.zeros(d)
    tau = 0.0
    g = squared_loss_gradient(X, y, w)
    g_floor = _G_RTOL * float(np.max(np.abs(g))) if g.size else 0.0
    y_norm = float(np.linalg.norm(y))
    jumps: list[LimitJump] = []
    support: tuple[int, ...] = ()
    converged = float(np.linalg.norm(X @ w - y)) <= LIMIT_RTOL * y_norm
    while not converged and len(jumps) < max_jumps:
        down, up = low + mu * tau, high + mu * tau
        # each s_j off the support gains on the boundary b(τ) it moves towards at |g_j| − λ/2:
        # s_j + Δ·g_j = sign(g_j)·b(τ + Δ)
        approach = np.abs(g) - mu
        approach[list(support)] = 0.0  # on the boundary, moving with it (|g_j| = λ/2 up to rounding)
        moving = approach > g_floor
        if not moving.any():
            converged = True  # no coordinate can join: the saddle is the minimizer (λ = 0: g = 0; λ > 0: lasso)
            break
        delta = np.full(d, np.inf)
        toward = np.where(g > 0, up, down)
        delta[moving] = (toward[moving] - np.sign(g[moving]) * s[moving]) / approach[moving]
        delta[delta <= 0.0] = np.inf  # on its boundary already with a rounding-level rate
        step = float(delta.min())
        if not math.isfinite(step):
            converged = True
            break
        hit = np.flatnonzero(delta <= step * (1.0 + 1e-12))
        s = s + step * g
        tau += step
        down, up = low + mu * tau, high + mu * tau
        s[hit] = np.where(g[hit] > 0, up, -down)
        on_support = list(support)
        s[on_support] = np.where(s[on_support] > 0, up, -down)
        # the support's rates equal the boundary's up to the solver's rounding: it stays on the boundary
        s = np.clip(s, -down, up)
        on = np.flatnonzero((s >= up * (1.0 - 1e-12)) | (s <= -down * (1.0 - 1e-12)))
        sign = -np.sign(s[on])
        v = _sign_constrained_saddle(X[:, on] * sign, y, mu)
        v[v <= _SUPPORT_RTOL * float(v.max(initial=0.0))] = 0.0  # rounding left by NNLS's last solve
        w = np.zeros(d)
        w[on] = sign * v
        new_support = tuple(int(j) for j in on[v > 0.0])
        entered = tuple(j for j in new_support if j not in support)
        left = tuple(j for j in support if j not in new_support)
        support = new_support
        jumps.append(LimitJump(tau=tau, t=tau * log_inv_u0, entered=entered, left=left, support=support, w=w,
                               s=s.copy()))
        g = squared_loss_gradient(X, y, w)
        converged = lam == 0 and float(np.linalg.norm(X @ w - y)) <= LIMIT_RTOL * y_norm
    return SaddleLimit(jumps=jumps, log_inv_u0=float(log_inv_u0), converged=bool(converged), lam=float(lam),
                       box=(float(box[0]), float(box[1])))


def _sign_constrained_saddle(M: np.ndarray, y: np.ndarray, mu: float) -> np.ndarray:
    """argmin over v ≥ 0 of (1/n)‖Mv − y‖² + μ·Σv: NNLS on M (μ = 0), else NNLS on the Cholesky factor R of
    Q = (2/n)MᵀM (½vᵀQv + qᵀv = ½‖Rv + R⁻ᵀq‖² + const, q = −(2/n)Mᵀy + μ); a ridge of 1e-13·tr Q keeps Q
    definite when M has more columns than rows."""
    if mu == 0.0:
        return nnls(M, y)[0]
    n = M.shape[0]
    Q = (2.0 / n) * (M.T @ M)
    Q[np.diag_indices_from(Q)] += 1e-13 * float(np.trace(Q)) + 1e-300
    q = -(2.0 / n) * (M.T @ y) + mu
    R = np.linalg.cholesky(Q).T
    c = -np.linalg.solve(R.T, q)
    return nnls(R, c)[0]


def activation_predictions(X: np.ndarray, y: np.ndarray, limit: SaddleLimit, threshold: float = ACTIVE_THRESHOLD,
                           levels: tuple[float, float] | None = None) -> list[tuple[int, int, float, float | None]]:
    """The limit's jumps to first order in 1/ε (docs/math.md#saddle-to-saddle): for each coordinate entering at a
    jump, (jump index, coordinate, t at which it reaches the boundary, t at which |w_j| crosses ``threshold`` or None
    when its saddle weight is at most the threshold).

    The integrated gradient G = ε·s is followed in t. An entering coordinate grows as e^{κ(|G_j| − ε·b)} (κ = 4 for
    the diagonal net: |w_j| = u0²e^{4|G_j|}) and saturates at its weight w* at the new saddle: on the segment between
    the two saddles g_j = g_j⁻(1 − w_j/w*) exactly (g is affine in w and vanishes on the new support), so its
    approach is logistic, 1/|w_j| = 1/|w*| + e^{−κ(|G_j| − ε·b)}. It crosses c at |G_j| = ε·b − ln(1/c − 1/|w*|)/κ,
    and its logistic is centred ln(1/|w*|)/(κ(|g_j⁻| − λ/2)) before it reaches the boundary: g switches to the new
    saddle's there, not at the boundary, and the O(1) shift this leaves in G carries to the later jumps. A level
    passed on an earlier plateau is found by walking back along the path. ``levels``: (ℓ₋, ℓ₊), the levels of s at
    τ = 0 where the growing weight is c (default the diagonal net's ∓(½ − ln(1/c)/(4ε))); κ on each side is
    ln(1/c)/(ε·(boundary − level))."""
    eps, mu = limit.log_inv_u0, 0.5 * limit.lam
    log_c = math.log(1.0 / threshold)
    if levels is None:
        levels = (-(0.5 - log_c / (4.0 * eps)), 0.5 - log_c / (4.0 * eps))
    box = (-0.5, 0.5) if limit.box is None else limit.box
    d = X.shape[1]
    starts, origins, rates = [0.0], [np.zeros(d)], [squared_loss_gradient(X, y, np.zeros(d))]

    def reach(j: int, sgn: float, level: float) -> float | None:
        # the last upward crossing of sgn·G_j(t) − μt = level, walking back from the open last segment
        for m in range(len(starts) - 1, -1, -1):
            gap = sgn * origins[m][j] - mu * starts[m] - level
            if gap >= 0.0:
                continue
            gain = sgn * rates[m][j] - mu
            end = starts[m + 1] if m + 1 < len(starts) else math.inf
            if gain > 0.0 and starts[m] - gap / gain <= end:
                return starts[m] - gap / gain
            return None
        return None

    out: list[tuple[int, int, float, float | None]] = []
    for k, jump in enumerate(limit.jumps):
        g_before = rates[-1]
        switch = jump.t
        first = math.inf
        for j in jump.entered:
            sgn = math.copysign(1.0, jump.s[j])
            edge, level = (box[1], levels[1]) if sgn > 0 else (-box[0], -levels[0])
            kappa = log_c / (eps * (edge - level))
            at_boundary = reach(j, sgn, eps * edge)
            at_boundary = jump.t if at_boundary is None else at_boundary
            size = abs(float(jump.w[j]))
            crossing = reach(j, sgn, eps * edge - math.log(1.0 / threshold - 1.0 / size) / kappa) \
                if size > threshold else None
            out.append((k, int(j), at_boundary, crossing))
            if at_boundary < first:
                growth = kappa * (abs(float(g_before[j])) - mu)
                first = at_boundary
                switch = at_boundary - (math.log(1.0 / size) / growth if growth > 0.0 and size > 0.0 else 0.0)
        switch = max(switch, starts[-1])
        m = len(starts) - 1
        origins.append(origins[m] + (switch - starts[m]) * rates[m])
        starts.append(switch)
        rates.append(squared_loss_gradient(X, y, jump.w))
    return out


def first_order_jump_times(X: np.ndarray, y: np.ndarray, limit: SaddleLimit, threshold: float = ACTIVE_THRESHOLD,
                           levels: tuple[float, float] | None = None) -> list[float]:
    """The predicted activation times at finite u0, sorted: each jump at the first crossing of |w_j| = ``threshold``
    by a coordinate entering there, or where none crosses it, at the first one's arrival at the boundary, both on
    the first-order path (:func:`activation_predictions`)."""
    first: dict[int, float] = {}
    for k, _, at_boundary, crossing in activation_predictions(X, y, limit, threshold, levels):
        first[k] = min(first.get(k, math.inf), at_boundary if crossing is None else crossing)
    return sorted(first.get(k, jump.t) for k, jump in enumerate(limit.jumps))


def profile_levels(log_abs_f: Callable[[float], float], value: float, *, limit: float = 1e6) -> tuple[float, float]:
    """(Γ₋ < 0, Γ₊ > 0) where a decreasing profile F (F(0) = 0) reaches |F| = ``value`` on each side, from
    ``log_abs_f(Γ)`` = log|F(Γ)|; ValueError if it does not within |Γ| ≤ ``limit`` (a profile that does not grow)."""
    target = math.log(value)
    out = []
    for side in (-1.0, 1.0):
        hi = 1e-3
        while log_abs_f(side * hi) < target:
            hi *= 2.0
            if hi > limit:
                raise ValueError(f"the profile does not reach |F| = {value:g} within |Γ| ≤ {limit:g}")
        lo = 1e-300 if hi == 1e-3 else hi / 2  # log|F| is −inf at Γ = 0 itself
        out.append(side * brentq(lambda g, side=side: log_abs_f(side * g) - target, lo, hi, xtol=1e-14 * hi,
                                 rtol=1e-14))
    return out[0], out[1]


@dataclass(frozen=True)
class ThresholdEvent:
    """|w_j| crosses the activity threshold at time ``t``: upwards (``rising``, an activation) or downwards."""

    t: float
    coordinate: int
    rising: bool


def threshold_events(times: np.ndarray, W: np.ndarray, threshold: float = ACTIVE_THRESHOLD,
                     weight_at: Callable[[float], np.ndarray] | None = None,
                     confirm: float = CONFIRM_FACTOR) -> list[ThresholdEvent]:
    """The activations (rises of |w_j| through ``threshold`` that go on to reach ``confirm``·threshold before falling
    back) and the falls of those coordinates back through the threshold, sorted by time.

    Parameters
    ----------
    times, W : increasing times and the weights there (T×d): they bracket the crossings, so they should include
        the solver's step ends as well as the saved times (a crossing and its return within one bracket is missed).
    threshold : the activity level c.
    weight_at : the dense output w(t); each bracketed crossing is located on it by Brent's method. Without it
        (a discrete method), the crossing is interpolated linearly in log|w_j| between the two times.
    confirm : a rise counts once |w_j| reaches this multiple of c (1: every rise). A coordinate that levels off just
        above c crosses it where its growth has all but stopped, at a time set by how far above c it settles; from
        2c up, the crossing is on the jump itself, where |w_j| still grows at least at half its exponential rate
        (docs/math.md#saddle-to-saddle).
    """
    return threshold_events_of_rows(zip(np.asarray(times, dtype=np.float64), W, strict=True), threshold, weight_at,
                                    confirm)


def threshold_events_of_rows(rows: Iterable[tuple[float, np.ndarray]], threshold: float = ACTIVE_THRESHOLD,
                             weight_at: Callable[[float], np.ndarray] | None = None,
                             confirm: float = CONFIRM_FACTOR) -> list[ThresholdEvent]:
    """:func:`threshold_events` on (t, w) pairs in increasing t, read one at a time (memory O(d), not T×d)."""
    events: list[ThresholdEvent] = []
    pending: dict[int, ThresholdEvent] = {}  # rises through c not yet confirmed
    active: set[int] = set()
    prev_t, prev_w, prev_on = None, None, None
    for t, w in rows:
        w = np.asarray(w, dtype=np.float64)
        on = np.abs(w) >= threshold
        if prev_on is not None and prev_t is not None and prev_w is not None:
            for j in np.flatnonzero(on != prev_on).tolist():
                at = _crossing(prev_t, float(t), prev_w[j], w[j], j, threshold, weight_at)
                if on[j]:
                    pending[j] = ThresholdEvent(t=at, coordinate=int(j), rising=True)
                elif j in active:
                    active.discard(j)
                    events.append(ThresholdEvent(t=at, coordinate=int(j), rising=False))
                else:
                    pending.pop(j, None)  # fell back before it was confirmed: not an activation
        for j in [j for j in pending if abs(float(w[j])) >= confirm * threshold]:
            events.append(pending.pop(j))
            active.add(j)
        prev_t, prev_w, prev_on = float(t), w, on
    events.sort(key=lambda e: (e.t, e.coordinate))
    return events


def _crossing(lo: float, hi: float, w_lo: float, w_hi: float, j: int, threshold: float,
              weight_at: Callable[[float], np.ndarray] | None) -> float:
    """The time in [lo, hi] at which |w_j| = threshold: Brent's method on the dense output, else log-linear."""
    if weight_at is not None and hi > lo:
        def gap(t: float) -> float:
            return abs(float(weight_at(t)[j])) - threshold

        a, b = gap(lo), gap(hi)
        return float(brentq(gap, lo, hi, xtol=1e-12 * hi, rtol=1e-12)) if a * b < 0 else (lo if a == 0 else hi)
    la, lb = math.log(max(abs(float(w_lo)), 1e-300)), math.log(max(abs(float(w_hi)), 1e-300))
    frac = (math.log(threshold) - la) / (lb - la) if lb != la else 1.0
    return lo + frac * (hi - lo)


def active_set(w: np.ndarray, threshold: float = ACTIVE_THRESHOLD) -> list[int]:
    """The coordinates with |w_j| ≥ threshold."""
    return [int(j) for j in np.flatnonzero(np.abs(w) >= threshold)]


def measured_saddles(events: list[ThresholdEvent], t_first: float, t_last: float,
                     weight_at: Callable[[float], np.ndarray], threshold: float = ACTIVE_THRESHOLD) -> list[list[int]]:
    """The active set on each plateau: before the first activation, between consecutive activations (read at the
    midpoint, after the coordinates that leave in the jump have left) and after the last one (at ``t_last``)."""
    rises = [e.t for e in events if e.rising]
    edges = [t_first, *rises, t_last]
    out = []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        at = b if b == t_last else 0.5 * (a + b)
        out.append(active_set(weight_at(at), threshold))
    return out


def nearest_relative_error(measured: list[float], predicted: list[float]) -> float | None:
    """max over the measured times of the relative distance |t − t̂|/t̂ to the nearest predicted time t̂."""
    if not measured or not predicted:
        return None
    p = np.asarray(predicted, dtype=np.float64)
    return float(max(np.min(np.abs(t - p) / p) for t in measured))


def saddle_summary(X: np.ndarray, y: np.ndarray, rows: Iterable[tuple[float, np.ndarray]],
                   weight_at: Callable[[float], np.ndarray], *, log_u0: float | None, lam: float,
                   box: tuple[float, float] = (-0.5, 0.5), levels: tuple[float, float] | None = None,
                   limit_refused: str | None = None) -> dict:
    """The summary keys of the staircase (docs/math.md#saddle-to-saddle).

    ``jump_times`` (the measured activations, sorted), ``jump_coordinates`` (whose), ``saddles`` (the active set on
    each plateau), ``jump_threshold``; and the α → 0 prediction: ``jump_times_limit`` (the limit's jumps with their
    first-order term for the threshold, :func:`first_order_jump_times`), ``jump_times_limit_leading`` (the limit's
    jump times ε·τ_k themselves), ``saddles_limit``, and ``jump_rel_error`` / ``jump_rel_error_leading`` (the largest
    relative distance of a measured activation to the nearest of each) — or, where the prediction does not apply
    (u0 ≥ 1, a model without the limit), those set to None and ``jump_times_limit_refused`` saying why.
    ``rows`` are (t, w) pairs in increasing t that bracket the crossings (saved times and solver step ends, read
    one at a time), ``weight_at`` is the dense output;
    ``box`` and ``levels`` as in :func:`saddle_limit` and :func:`activation_predictions` (t = ln(1/u0)·τ).
    """
    span: list[float] = []

    def tracked():
        for t, w in rows:  # the first and the last time, for the plateaus at the ends
            span[:] = [span[0] if span else float(t), float(t)]
            yield t, w

    events = threshold_events_of_rows(tracked(), ACTIVE_THRESHOLD, weight_at)
    rises = [e for e in events if e.rising]
    out: dict = {
        "jump_threshold": ACTIVE_THRESHOLD,
        "jump_times": [e.t for e in rises],
        "jump_coordinates": [e.coordinate for e in rises],
        "saddles": measured_saddles(events, span[0], span[-1], weight_at) if span else [],
        "jump_times_limit": None,
        "jump_times_limit_leading": None,
        "saddles_limit": None,
        "jump_rel_error": None,
        "jump_rel_error_leading": None,
    }
    reason = limit_refused
    if reason is None and (log_u0 is None or log_u0 >= 0):
        reason = "u0 ≥ 1: the α → 0 limit does not apply"
    if reason is not None:
        out["jump_times_limit_refused"] = reason
        return out
    assert log_u0 is not None  # a refusal reason is given otherwise
    limit = saddle_limit(X, y, -float(log_u0), lam=lam, box=box)
    out["jump_times_limit"] = first_order_jump_times(X, y, limit, levels=levels)
    out["jump_times_limit_leading"] = limit.times
    out["saddles_limit"] = limit.supports
    out["jump_rel_error"] = nearest_relative_error(out["jump_times"], out["jump_times_limit"])
    out["jump_rel_error_leading"] = nearest_relative_error(out["jump_times"], limit.times)
    return out
