"""The transition scaling law of a sweep: λ·t* = ln α − c₀ (paper's ln(α)/λ law), and the width against α.

For each λ the points (ln α, λ·t_transition) of the runs that have a transition are fitted by ordinary
least squares, λ·t* = slope·ln α + intercept; the law predicts slope 1 and intercept −c₀ with c₀ independent
of α. ``c0_mean`` is the mean of the per-run offsets ln α − λ·t* (equal to −intercept when slope = 1). The
width law is read the same way: λ·width against ln α, whose slope is 0 when the width is ∝ 1/λ and
independent of α.

A line through fewer than 3 distinct ln α fits them exactly: its R² is 1 (or undefined) by construction and
says nothing about the law. Such fits carry ``underdetermined = True`` (figures print "R² n/a").
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import InputError, checked_arguments


@dataclass(frozen=True)
class ScalingFit:
    """Least-squares line λ·t* = slope·ln α + intercept for one λ, with R², c₀ and the width law.

    ``underdetermined`` is True when the points span fewer than 3 distinct values of α: the line then passes
    through every point and R² (1, or NaN) is no evidence for the law. Fields added later have defaults, so
    ``as_dict`` keeps every earlier key.
    """

    lam: float
    n_points: int
    slope: float
    intercept: float
    r2: float
    c0_mean: float
    c0_std: float
    lam_width_mean: float
    lam_width_slope: float
    underdetermined: bool = False
    #: the values of the model options the sweep varies (``{"n": 16}``) shared by the fit's rows; empty when none vary
    options: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``λ = 0.001``, with the varied options: ``λ = 0.001, n = 16``."""
        return ", ".join([f"λ = {self.lam:g}", *(f"{k} = {v:g}" if isinstance(v, (int, float)) else f"{k} = {v}"
                                                for k, v in self.options.items())])

    def holds(self, row: dict) -> bool:
        """Whether ``row`` (a sweep row) is one of this fit's: its λ, and its values of the varied options."""
        return float(row["lam"]) == self.lam and all(_option(row, k) == v for k, v in self.options.items())

    def as_dict(self) -> dict:
        """Fields as a dict, NaN (undetermined) as None so that it is valid JSON."""
        return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in asdict(self).items()}


def line_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Ordinary least squares y ≈ slope·x + intercept: (slope, intercept, R²); NaN where undetermined.

    R² = 1 − SS_res/SS_tot; it is 1 for a perfect fit of non-constant data and NaN for constant y.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size < 2 or np.ptp(x) == 0:
        return math.nan, math.nan, math.nan
    xm, ym = x.mean(), y.mean()
    slope = float(np.sum((x - xm) * (y - ym)) / np.sum((x - xm) ** 2))
    intercept = float(ym - slope * xm)
    ss_tot = float(np.sum((y - ym) ** 2))
    ss_res = float(np.sum((y - slope * x - intercept) ** 2))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else math.nan
    return slope, intercept, r2


@checked_arguments
def fit_scaling(rows: list[dict], by: list[str] | tuple = ()) -> list[ScalingFit]:
    """One :class:`ScalingFit` per λ (ascending) from sweep rows (keys alpha, lam, t_transition, transition_width);
    with ``by`` (model options the sweep varies, read from the rows' ``options``), one per λ and values of them.

    Rows without a transition (``t_transition`` None/NaN), with status other than ``ok`` or with α ≤ 1 (no kernel
    phase: the law is about ln α > 0; a small-α run's t* is its activation, docs/math.md#small-alpha-horizon) are
    left out; ``n_points`` says how many were used.
    """
    bad = next((r for r in rows if not isinstance(r, dict) or "lam" not in r or "alpha" not in r), None)
    if bad is not None:
        raise InputError(f"rows must be sweep rows (dicts with alpha, lam, t_transition, …), got {bad!r:.80}")
    by_lam: dict[tuple, list[dict]] = {}
    for r in rows:
        by_lam.setdefault((float(r["lam"]), *(_option(r, k) for k in by)), []).append(r)
    fits = []
    for group in sorted(by_lam, key=lambda g: tuple((v is None, v) for v in g)):
        lam, options = group[0], dict(zip(by, group[1:], strict=True))
        use = [r for r in by_lam[group] if r.get("status", "ok") == "ok" and _finite(r.get("t_transition"))
               and float(r["alpha"]) > 1]
        ln_a = np.array([math.log(float(r["alpha"])) for r in use])
        y = np.array([lam * float(r["t_transition"]) for r in use])
        slope, intercept, r2 = line_fit(ln_a, y)
        offsets = ln_a - y
        wide = [(math.log(float(r["alpha"])), lam * float(r["transition_width"])) for r in use
                if _finite(r.get("transition_width"))]
        w_x = np.array([w[0] for w in wide])
        w_y = np.array([w[1] for w in wide])
        fits.append(ScalingFit(
            lam=lam, n_points=len(use), slope=slope, intercept=intercept, r2=r2,
            c0_mean=float(offsets.mean()) if offsets.size else math.nan,
            c0_std=float(offsets.std(ddof=1)) if offsets.size > 1 else math.nan,
            lam_width_mean=float(w_y.mean()) if w_y.size else math.nan,
            lam_width_slope=line_fit(w_x, w_y)[0],
            underdetermined=bool(np.unique(ln_a).size < 3), options=options))
    return fits


def _option(row: dict, name: str):
    """The value of the model option ``name`` in a sweep row's ``options`` (None when absent)."""
    try:
        options = json.loads(row.get("options") or "{}")
    except (TypeError, ValueError):
        return None
    return options.get(name) if isinstance(options, dict) else None


def _finite(value) -> bool:
    return value is not None and value != "" and math.isfinite(float(value))
