"""From a trajectory to the paper's claims: transition, implicit-bias switch and the theorem check.

Paper Thm 3.4/3.9 (kernel regime): at T⁻ = (1−c)·ln(α)/λ the normalized predictor tends, as α → ∞, to the kernel
predictor; Thm 3.5/3.10 (rich regime): at T⁺ = (1+c)·ln(α)/λ its direction tends to a KKT point of the min-norm
problem, for the depth-2 diagonal net the max ℓ1-margin classifier / basis pursuit (docs/math.md#regimes, #diagonal);
for matrix completion the zero-filled observations and the minimum nuclear-norm completion (Cor. 3.11,
docs/math.md#matrix). :func:`analyze` measures cos(w(T⁻), w_kernel) and cos(w(T⁺), w_rich) on one run (for matrix runs
the relative Frobenius distances ‖W − W_ref‖/‖W_ref‖); :func:`theorem_trend` checks on runs at several α that both
tend to 1 (distances to 0).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import InputError, checked_arguments
from ..numeric.lazy_weights import LazyWeights
from ..tasks import Dataset
from ..tasks.metrics import empirical_metrics
from .alignment import bias_switch_time, cosine, normalized_margins, row_norms
from .predictors import predictor_pair

#: Default c of the theorem check: T∓ = (1 ∓ c)·t_theory.
THEOREM_C = 0.5


def theorem_times(t_theory: float, c: float = THEOREM_C) -> tuple[float, float]:
    """(T⁻, T⁺) = ((1−c)·t_theory, (1+c)·t_theory)."""
    if not 0 < c < 1:
        raise InputError(f"c must lie in (0, 1), got {c!r}")
    return (1.0 - c) * t_theory, (1.0 + c) * t_theory


def predictor_score(ds: Dataset, w: np.ndarray, problem: str, loss: str) -> tuple[str | None, float | None]:
    """The predictor's own test metric (``problem``: "classification" or "regression"), the same one the run's
    transition is located on."""
    if problem == "classification":
        pop = ds.population_accuracy(w)
        if pop is not None:
            return "test_acc_population", float(pop)
        if ds.n_test:
            return "test_acc", float(empirical_metrics(ds.X_test, ds.y_test, w[None, :], loss)[1][0])
        return None, None
    pop = ds.population_loss(w[None, :])
    if pop is not None:
        return "test_loss_population", float(np.asarray(pop).ravel()[0])
    if ds.n_test:
        return "test_loss", float(empirical_metrics(ds.X_test, ds.y_test, w[None, :], loss)[0][0])
    return None, None


def reference_arrays(ds: Dataset, W: np.ndarray, problem: str, loss: str, F: np.ndarray | None = None, *,
                     pair: tuple | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """Solve the kernel and rich reference predictors of ``ds`` and align every row of ``W`` with them.

    ``F``: the training outputs ``outputs(ds.X, W)`` if the caller has them (they are a T×n×d product);
    ``pair``: the (kernel, rich) predictors if the caller has solved them (a model's ``reference_predictors``, on the
    run's shared :class:`~grokode.numeric.linalg.DataMatrix`).

    Returns
    -------
    arrays : ``w_kernel``, ``w_rich`` (d,), ``cos_kernel``, ``cos_rich`` (T,) and for classification
        ``margin_l2``, ``margin_l1`` (T,): the trajectory file's alignment arrays.
    references : per predictor its kind, feasibility, norm, margin, certified gap, message and own test
        metric (JSON-ready; stored in the file's ``meta``).
    """
    kernel, rich = predictor_pair(ds.X, ds.y, problem) if pair is None else pair
    arrays = {"w_kernel": kernel.w, "w_rich": rich.w}
    if isinstance(W, LazyWeights):  # weights computed when read: both products in one pass over the rows
        W.project([p.w for p in (kernel, rich) if p.feasible])
    norms = row_norms(W if isinstance(W, LazyWeights) else np.atleast_2d(W))
    for name, p in (("kernel", kernel), ("rich", rich)):
        arrays[f"cos_{name}"] = cosine(W, p.w, norms[0]) if p.feasible else np.full(W.shape[0], np.nan)
    if problem == "classification":
        arrays["margin_l2"], arrays["margin_l1"] = normalized_margins(ds.X, ds.y, W, F, norms)
    references = {}
    for name, p in (("kernel", kernel), ("rich", rich)):
        references[name] = predictor_record(ds, p, problem, loss)
    return arrays, references


def predictor_record(ds: Dataset, p, problem: str, loss: str) -> dict:
    """What a run's meta keeps of a reference predictor: kind, feasibility, norm, margin, certified gap, message
    and its own value of the run's test metric."""
    metric, score = predictor_score(ds, p.w, problem, loss) if p.feasible else (None, None)
    return {"kind": p.kind, "feasible": p.feasible, "norm": finite_or_none(p.norm), "margin": finite_or_none(p.margin),
            "gap": finite_or_none(p.gap), "message": p.message, "test_metric": metric, "test_value": score}


@dataclass(frozen=True)
class Analysis:
    """The transition report of one run (all times in gradient-flow time t).

    ``measure`` is "cos" (diagonal runs: ``cos_*`` fields) or "dist" (matrix runs: ``dist_*`` fields, the
    relative Frobenius distance to each predictor); the other family is None.

    Without weight decay (λ = 0) there is no t_theory and no theorem window: ``t_theory``,
    ``T_minus``, ``T_plus``, the cosines at T∓ and ``offset_c0`` are None.
    """

    alpha: float
    lam: float
    t_theory: float | None
    t_transition: float | None
    transition_width: float | None
    offset_c0: float | None
    t_bias_switch: float | None
    direction: int | None
    c: float
    T_minus: float | None
    T_plus: float | None
    cos_kernel_at_Tminus: float | None
    cos_rich_at_Tminus: float | None
    cos_kernel_at_Tplus: float | None
    cos_rich_at_Tplus: float | None
    references: dict
    measure: str = "cos"
    dist_kernel_at_Tminus: float | None = None
    dist_rich_at_Tminus: float | None = None
    dist_kernel_at_Tplus: float | None = None
    dist_rich_at_Tplus: float | None = None

    @property
    def kernel_at_Tminus(self) -> float | None:
        return self.cos_kernel_at_Tminus if self.measure == "cos" else self.dist_kernel_at_Tminus

    @property
    def rich_at_Tplus(self) -> float | None:
        return self.cos_rich_at_Tplus if self.measure == "cos" else self.dist_rich_at_Tplus

    def as_dict(self) -> dict:
        return asdict(self)


def finite_or_none(x) -> float | None:
    """``x`` as a float, or None when it is missing or not finite (strict JSON has no NaN)."""
    return float(x) if x is not None and math.isfinite(x) else None


def _value_at(t: np.ndarray, values: np.ndarray, s: float) -> float | None:
    """values(s) on the saved grid: exact if s was saved, linear interpolation inside, None outside."""
    ok = np.isfinite(values)
    t, values = t[ok], values[ok]
    if t.size == 0 or s < t[0] or s > t[-1] * (1 + 1e-12):
        return None
    hit = np.flatnonzero(np.isclose(t, s, rtol=1e-12, atol=0))
    return float(values[hit[0]]) if hit.size else float(np.interp(s, t, values))


@checked_arguments
def analyze(arrays: dict[str, np.ndarray], meta: dict, *, c: float = THEOREM_C,
            weight_at: Callable[[float], np.ndarray] | None = None) -> Analysis:
    """The transition report of a run from its arrays and meta (as written by :meth:`grokode.Run.save`).

    Parameters
    ----------
    arrays, meta : a trajectory (``load_run(path)`` or ``run.arrays, run.meta``); its meta's declaration
        (``meta["observables"]``) names the alignment measure, and the arrays must hold its alignment arrays:
        ``cos_kernel``, ``cos_rich``, ``w_kernel``, ``w_rich`` (measure "cos") or ``dist_kernel``, ``dist_rich``
        ("dist").
    c : T∓ = (1 ∓ c)·ln(α)/λ.
    weight_at : w at any reached t (a run's dense output); makes T∓ cosines and the switch time exact
        when they were not saved; without it they are interpolated on the saved grid, except the switch time
        a run recorded in its summary (located on its dense output), which is read back so that ``analyze`` of a
        file reports what ``integrate`` reported.
    """
    declared = meta.get("observables")
    measure = declared.get("alignment") if isinstance(declared, dict) else None
    if measure not in ("cos", "dist"):
        raise InputError("the run declares no reference predictors to check the theorems against (its meta "
                         "'observables' has no alignment measure)")
    needed = ("t", "cos_kernel", "cos_rich", "w_kernel", "w_rich") if measure == "cos" else (
        "t", "dist_kernel", "dist_rich")
    missing = [k for k in needed if k not in arrays]
    if missing:
        raise InputError(f"the trajectory has no {', '.join(missing)} (written by grokode ≥ 0.2; re-run integrate)")
    options, summary = meta.get("options", {}), meta.get("summary", {})
    alpha, lam = float(options["alpha"]), float(options["lam"])
    # a run records its t_theory (label-noise SGD: ln α/(λ + λ_eff); None at λ = 0)
    if "t_theory" in summary:
        t_theory = summary["t_theory"]
    else:
        t_theory = (math.log(alpha) / lam if alpha > 1 else 0.0) if lam > 0 else None
    rate = lam + float(summary.get("lam_eff") or 0.0)
    T_minus, T_plus = theorem_times(t_theory, c) if t_theory is not None else (None, None)
    t = np.asarray(arrays["t"], dtype=np.float64)
    t_reached = float(summary.get("t_reached") or (t[-1] if t.size else 0.0))
    values = {}
    if measure == "cos":
        w_kernel, w_rich = arrays["w_kernel"], arrays["w_rich"]

        def at(name: str, s: float | None, ref: np.ndarray) -> float | None:
            if s is None:
                return None
            if weight_at is not None and 0 < s <= t_reached:
                return finite_or_none(float(cosine(weight_at(s), ref)))
            return _value_at(t, arrays[name], s)

        difference = None
        if weight_at is not None:
            def difference(s: float) -> float:
                w = weight_at(s)
                return float(cosine(w, w_rich) - cosine(w, w_kernel))

        if weight_at is None and "t_bias_switch" in summary:
            # one definition: the crossing the run located on its dense output when it was integrated; the saved
            # grid alone would place it by linear interpolation, a little elsewhere
            switch = summary["t_bias_switch"]
        else:
            switch = bias_switch_time(t, arrays["cos_kernel"], arrays["cos_rich"], difference)
        for name, ref in (("kernel", w_kernel), ("rich", w_rich)):
            for label, s in (("Tminus", T_minus), ("Tplus", T_plus)):
                values[f"cos_{name}_at_{label}"] = at(f"cos_{name}", s, ref)
    else:  # closer is better: the rich predictor takes over when dist_rich falls below dist_kernel
        switch = bias_switch_time(t, -arrays["dist_kernel"], -arrays["dist_rich"])
        for name in ("kernel", "rich"):
            for label, s in (("Tminus", T_minus), ("Tplus", T_plus)):
                values[f"dist_{name}_at_{label}"] = None if s is None else _value_at(t, arrays[f"dist_{name}"], s)
                values[f"cos_{name}_at_{label}"] = None

    t_star = summary.get("t_transition")
    return Analysis(
        alpha=alpha, lam=lam, t_theory=t_theory, t_transition=t_star,
        transition_width=summary.get("transition_width"),
        offset_c0=math.log(alpha) - rate * t_star if t_star is not None and rate > 0 and alpha > 1 else None,
        t_bias_switch=switch, direction=summary.get("direction"), c=c, T_minus=T_minus, T_plus=T_plus,
        references=meta.get("references", {}), measure=measure, **values,
    )


@dataclass(frozen=True)
class TheoremTrend:
    """The kernel predictor at T⁻ and the rich one at T⁺ across α, and whether both are approached.

    ``kernel``/``rich`` hold cosines (``measure`` "cos": they must tend to 1) or relative distances ("dist":
    they must tend to 0). The check is read on the deficits (1 − cos, or the distance): they do not grow
    with α (each at most ``1 + slack`` times the previous one, or below ``floor`` where rounding dominates)
    and the last is below the first. At fixed λ the rich deficit levels off at a λ-dependent value:
    Thm 3.5 takes a sequence of (α, λ) with λ → 0 too, and at finite λ the late-phase direction is that of
    the weight-decayed optimum, close to but not exactly the max-margin one. The kernel deficit keeps
    falling with α at fixed λ.
    """

    alphas: list[float]
    measure: str
    kernel_at_Tminus: list[float | None]
    rich_at_Tplus: list[float | None]
    kernel_converges: bool
    rich_converges: bool

    def deficits(self, values: list[float | None]) -> list[float | None]:
        if self.measure == "dist":
            return list(values)
        return [None if v is None else max(1.0 - v, 0.0) for v in values]

    def as_dict(self) -> dict:
        return asdict(self)


def _converges(deficits: list[float | None], slack: float, floor: float) -> bool:
    if len(deficits) < 2 or any(v is None for v in deficits):
        return False
    steady = all(b <= (1 + slack) * a + floor for a, b in zip(deficits, deficits[1:], strict=False))
    return steady and (deficits[-1] < deficits[0] or deficits[-1] <= floor)


@checked_arguments
def theorem_trend(analyses: Sequence[Analysis], slack: float = 0.05, floor: float = 1e-6) -> TheoremTrend:
    """Theorem check across runs that differ in α: sorted by α, with a verdict per theorem."""
    bad = next((a for a in analyses if not isinstance(a, Analysis)), None)
    if bad is not None:
        raise InputError(f"theorem_trend takes Analysis objects (grokode.analyze(...)), got {bad!r:.80}")
    if len(analyses) < 2:
        raise InputError(f"the theorem trend needs runs at ≥ 2 values of α, got {len(analyses)} run(s)")
    measures = {a.measure for a in analyses}
    if len(measures) != 1:
        raise InputError("the runs mix models (cosines and distances); give runs of one model")
    runs = sorted(analyses, key=lambda a: a.alpha)
    alphas = [a.alpha for a in runs]
    if len(set(alphas)) != len(alphas):
        raise InputError(f"the runs must have distinct α, got {alphas}")
    trend = TheoremTrend(alphas, measures.pop(), [a.kernel_at_Tminus for a in runs], [a.rich_at_Tplus for a in runs],
                         False, False)
    return TheoremTrend(trend.alphas, trend.measure, trend.kernel_at_Tminus, trend.rich_at_Tplus,
                        _converges(trend.deficits(trend.kernel_at_Tminus), slack, floor),
                        _converges(trend.deficits(trend.rich_at_Tplus), slack, floor))
