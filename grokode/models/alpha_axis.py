"""The α axis of the linear models: runs without weight decay that stop at interpolation, the finite-α predictor,
the first activation at small α and the saddle-to-saddle staircase (docs/math.md#alpha-axis).

Functions of explicit arguments (the model's profile and log scale, the data set, the run's arrays), called by
:class:`~grokode.models.linear.LinearModel`'s hooks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..errors import InputError

#: Default horizon without weight decay: the float64 end of time. The margin, hence the scale of w, grows only
#: like ln t, and the ℓ1 geometry takes over once it is large against u0² = α²/(2d), so the rise of the test
#: accuracy is spread over ln t ~ poly(α): any horizon short of float64's limit cuts it off. The log-time flow
#: (and normalized GD) cost ~ln(t_end) steps, so going this far is cheap (docs/math.md#no-weight-decay).
LAM0_T_END = 1e300
#: Squared loss at λ = 0: the run is saved at FIT_POINTS log-spaced times over [1e-3, 1e9]·T (T the time scale on
#: which the flow leaves w = 0), then FIT_TAIL_POINTS more up to 1e300; it stops at interpolation, usually within
#: the first range.
FIT_POINTS = 400
FIT_TAIL_POINTS = 60
#: Squared loss at λ = 0: fitting on a time scale below this is refused (float64 times; α ≳ 1e150).
MIN_FIT_TIME = 1e-290
#: Degree L ≥ 3: the reduced flow resolves the first activation only when u0^{L−2} ≥ MIN_BRACKET (below it the
#: step falls under float64's spacing).
MIN_BRACKET = 1e-7


def fit_save_times(log_T: float) -> np.ndarray:
    """Save times of a λ = 0 squared-loss run: dense over [1e-3, 1e9]·T, then sparse up to :data:`LAM0_T_END`."""
    lo, hi = log_T + math.log(1e-3), min(log_T + math.log(1e9), math.log(LAM0_T_END))
    dense = np.exp(np.linspace(lo, hi, FIT_POINTS))
    tail = (np.exp(np.linspace(hi, math.log(LAM0_T_END), FIT_TAIL_POINTS))[1:] if hi < math.log(LAM0_T_END)
            else np.empty(0))
    return np.unique(np.concatenate([dense, tail]))


def require_interpolant(data, lam: float) -> None:
    """λ = 0 with the squared loss: InputError (before anything is integrated) when Xw = y has no solution."""
    from ..analysis.implicit_bias import interpolant_exists

    X = np.asarray(data.X, dtype=np.float64)
    exists, rank = interpolant_exists(X, data.y)
    if not exists:
        raise InputError(f"lam={lam!r} with squared loss: no interpolant exists (rank X = {rank} < n = {X.shape[0]} "
                         "and y is not in the range of X), so the flow has no end to stop at (use lam > 0 or --t-end)")


def require_fit_time(log_T: float, alpha: float) -> None:
    """λ = 0 with the squared loss: InputError when fitting happens at times float64 cannot hold (t < 1e-290)."""
    if log_T < math.log(MIN_FIT_TIME):
        raise InputError(f"alpha={alpha:g} with lam=0: the flow fits the data on a time scale t ≈ 1e"
                         f"{log_T / math.log(10.0):.0f} (it shrinks like α^-(2L-2) at degree L), below what float64 "
                         f"times hold ({MIN_FIT_TIME:g}); use a smaller α")


def activation_estimate(profile, log_c: float, data, loss: str, rate: float) -> float:
    """t₁: when the first coordinate's |w_j| reaches 1 under the initial gradient (0 at large α, inf if never;
    :func:`~grokode.analysis.alpha_axis.activation_time`) at decay rate ``rate``."""
    from ..analysis.alpha_axis import activation_time
    from ..numeric.generated import LOSS_NAMES, loss_residual

    loss_id = LOSS_NAMES.index(loss)
    r0 = np.array([loss_residual(loss_id, 0.0, float(v)) for v in data.y])
    g = np.asarray(data.X.T @ r0, dtype=np.float64) / data.n
    return activation_time(profile, log_c, profile.degree, rate, g)


def require_resolvable_activation(degree: int, log_c: float, alpha: float, t_one: float) -> None:
    """Degree L ≥ 3 at small α: InputError with the estimate of t₁ when the reduced flow cannot resolve the first
    activation (its bracket must shrink by u0^{−(L−2)}; it fails below :data:`MIN_BRACKET`)."""
    if degree < 3 or (degree - 2) * log_c >= math.log(MIN_BRACKET) or not math.isfinite(t_one):
        return  # an infinite t₁: the decay wins, nothing activates, and the run decays to w = 0 (it finishes)
    alpha_min = alpha * math.exp((math.log(MIN_BRACKET) / (degree - 2)) - log_c)
    raise InputError(f"alpha={alpha:g} at degree {degree}: the first coordinate activates only at t ≈ {t_one:.3g} "
                     f"(≈ u0^-(L-2)/(L(L-2)·max|g|), u0^(L-2) = {math.exp((degree - 2) * log_c):.1e}); the reduced "
                     f"flow cannot resolve an activation with u0^(L-2) < {MIN_BRACKET:g}: use alpha ≥ {alpha_min:.3g}")


def implicit_summary(profile, log_c: float, data, arrays: dict) -> dict[str, Any]:
    """λ = 0, squared loss: ``w_implicit`` (into ``arrays``) and its summary keys (docs/math.md#finite-alpha)."""
    from ..analysis.implicit_bias import implicit_interpolant, relative_distance

    pred = implicit_interpolant(np.asarray(data.X, dtype=np.float64), data.y, profile, log_c)
    arrays["w_implicit"] = pred.w
    W = arrays["w"]
    out = {
        "dist_implicit_final": relative_distance(W[-1], pred.w) if W.shape[0] else None,
        "implicit_residual": pred.residual,
        "implicit_dual_grad_norm": pred.grad_norm,
        "implicit_newton_steps": pred.iterations,
        "implicit_converged": pred.converged,
    }
    for key, name in (("w_kernel", "min_l2"), ("w_rich", "min_l1")):
        out[f"implicit_dist_{name}"] = relative_distance(pred.w, arrays[key]) if key in arrays else None
    return out


def saddle_summary(data, lam: float, limit: dict[str, Any] | str, solution, arrays: dict,
                   weight_at: Callable[[float], np.ndarray] | None) -> dict[str, Any]:
    """Degree 2, squared loss: the measured jumps and plateaus and their α → 0 prediction
    (:func:`grokode.analysis.saddles.saddle_summary`; ``limit``: its arguments, or why it does not apply)."""
    from ..analysis.saddles import saddle_summary as summary

    times = np.asarray(arrays["t"], dtype=np.float64)
    W = arrays["w"]
    flow = solution.flow if weight_at is not None else None
    # the solver's step ends bracket crossings that fall between two saved times; w there is computed as the
    # rows are read, so the merged sequence never holds more than one w
    ends = [(float(flow.to_time(p.hi)), p) for p in solution.pieces] if flow is not None else []
    saved = set(times.tolist())
    ends = [(t, p) for t, p in ends if t < times[-1] and t not in saved]
    order = sorted([(float(t), k, None) for k, t in enumerate(times)] + [(t, -1, p) for t, p in ends],
                   key=lambda item: item[0])

    def rows() -> Iterator[tuple[float, np.ndarray]]:
        for t, k, piece in order:  # a piece (a step's end) comes only from a flow's solution
            yield t, (W[k] if piece is None else solution.flow.weight(piece.hi, piece.dense(piece.hi), piece.frame))

    def saved_weight(s: float) -> np.ndarray:
        return W[max(0, int(np.searchsorted(times, s, side="right")) - 1)]

    def dense_or_saved(t: float) -> np.ndarray:
        # before the flow's start (the saved initial state at t = 0 and a crossing located next to it) there is
        # no dense output: the saved rows are read there
        if weight_at is None:
            return saved_weight(t)
        try:
            return weight_at(t)
        except InputError:
            return saved_weight(t)

    arguments = limit if isinstance(limit, dict) else {"log_u0": None, "limit_refused": limit}
    return summary(np.asarray(data.X, dtype=np.float64), data.y, rows(), dense_or_saved, lam=lam, **arguments)
