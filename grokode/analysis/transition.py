"""Locating the kernel→rich transition in a test-metric curve.

Definition (docs/math.md#regimes): the metric at 0.5·t_theory is the *plateau*, at the horizon the
*final* value; the transition time is the first time after 0.5·t_theory where the metric crosses the
midpoint between them, the width is the time between the 10 % and 90 % crossings. Without weight decay
(λ = 0) there is no t_theory: the caller passes ``t_start`` (the end of the fitting phase) instead, and the
transition is read against ln t (``width_log`` = ln(t90/t10)). A crossing is
bracketed on the saved grid and then located by Brent's method on the dense solution (so it is exact to
``xtol_rel`` of t, not to the grid spacing). No transition when |final − plateau| < ``min_change``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import brentq

from ..errors import InputError, checked_arguments


@dataclass(frozen=True)
class Transition:
    t_theory: float | None
    plateau: float
    final: float
    t_transition: float | None
    t10: float | None
    t90: float | None
    direction: int  # +1 the metric rises (grokking), −1 it falls (misgrokking), 0 no transition

    @property
    def width(self) -> float | None:
        return None if self.t10 is None or self.t90 is None else self.t90 - self.t10

    @property
    def width_log(self) -> float | None:
        """ln(t90/t10): the width in log time, comparable between runs with and without weight decay."""
        if self.t10 is None or self.t90 is None or not (self.t10 > 0 and self.t90 > 0):
            return None
        return abs(math.log(self.t90) - math.log(self.t10))

    def as_dict(self) -> dict:
        return {**asdict(self), "transition_width": self.width, "transition_width_log": self.width_log}


@checked_arguments
def find_transition(t: np.ndarray, values: np.ndarray, t_theory: float | None, *, min_change: float,
                    metric: Callable[[float], float] | None = None, xtol_rel: float = 1e-4,
                    t_start: float | None = None) -> Transition:
    """Plateau, final value, transition time and 10–90 % crossings of a metric curve.

    Parameters
    ----------
    t, values : the saved curve (increasing t).
    t_theory : ln(α)/λ; the search starts at 0.5·t_theory. None (λ = 0): give ``t_start``.
    min_change : smallest |final − plateau| that counts as a transition (0.05 accuracy, 0.5 decades of loss).
    metric : the metric at any t (dense output); without it crossings are linear interpolations of the grid.
    xtol_rel : relative precision of each located crossing time.
    t_start : where the plateau is read and the search starts, instead of 0.5·t_theory. Given, the grid
        is read against ln t: without ``metric`` crossings are interpolated linearly in ln t.
    """
    if not (isinstance(min_change, int | float) and math.isfinite(min_change) and min_change >= 0):
        raise InputError(f"min_change must be a finite number ≥ 0, got {min_change!r}")
    log_time = t_start is not None
    t = np.asarray(t, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if t_start is None:
        if t_theory is None or not math.isfinite(t_theory):
            raise ValueError("find_transition needs t_start when there is no finite t_theory (λ = 0)")
        t_start = 0.5 * t_theory
    ok = np.isfinite(values) & ((t > 0) if log_time else True)
    t, values = t[ok], values[ok]
    if t.size == 0 or t[-1] <= t_start:
        return Transition(t_theory, math.nan, math.nan, None, None, None, 0)

    def at(s: float) -> float:
        if metric is not None:
            return float(metric(s))
        return float(np.interp(math.log(s), np.log(t), values)) if log_time else float(np.interp(s, t, values))

    def between(lo: float, hi: float, v0: float, v1: float, level: float) -> float:
        if log_time:  # saved times are log-spaced here: linear in t would put every crossing near the far end
            return math.exp(math.log(lo) + (level - v0) * (math.log(hi) - math.log(lo)) / (v1 - v0))
        return lo + (level - v0) * (hi - lo) / (v1 - v0)

    plateau = at(t_start) if t_start >= t[0] else float(values[0])
    final = float(values[-1])
    if not abs(final - plateau) >= min_change:
        return Transition(t_theory, plateau, final, None, None, None, 0)
    direction = 1 if final > plateau else -1
    after = t > t_start
    grid_t = np.concatenate([[t_start], t[after]])
    grid_v = np.concatenate([[plateau], values[after]])

    def crossing(p: float) -> float | None:
        level = plateau + p * (final - plateau)
        above = direction * (grid_v - level) >= 0
        k = int(np.argmax(above))
        if not above[k] or k == 0:
            return None if not above[k] else float(grid_t[0])
        lo, hi = float(grid_t[k - 1]), float(grid_t[k])
        if metric is None:
            return between(lo, hi, grid_v[k - 1], grid_v[k], level)
        try:
            return float(brentq(lambda s: at(s) - level, lo, hi, xtol=xtol_rel * lo, rtol=4 * np.finfo(float).eps))
        except ValueError:  # the dense metric disagrees with the grid by rounding at a bracket end
            return between(lo, hi, grid_v[k - 1], grid_v[k], level)

    return Transition(t_theory, plateau, final, crossing(0.5), crossing(0.1), crossing(0.9), direction)


@checked_arguments
def time_to_reach(t: np.ndarray, values: np.ndarray, level: float) -> float | None:
    """First time a rising metric reaches ``level`` (linear between saved times), or None if it never does.

    Unlike the transition time t*, which is read against the curve's final value and so moves with the
    horizon of a run still rising at its end, this depends only on the curve up to the crossing: the
    measure to compare runs of different length (e.g. when test accuracy first reaches 10 %).
    """
    t = np.asarray(t, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if t.shape != values.shape or t.ndim != 1:
        raise ValueError(f"t and values must be 1-D of one length, got shapes {t.shape} and {values.shape}")
    above = np.nonzero(values >= level)[0]
    if above.size == 0:
        return None
    k = int(above[0])
    if k == 0:
        return float(t[0])
    v0, v1 = float(values[k - 1]), float(values[k])
    return float(t[k - 1] + (level - v0) * (t[k] - t[k - 1]) / (v1 - v0)) if math.isfinite(v0) else float(t[k])
