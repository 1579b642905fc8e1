"""The model contract: what one model file declares and implements, written once.

A model is one class (one file under ``grokode/models/``, or a user's own package) that subclasses
:class:`Model` and is registered by name (:func:`grokode.models.register_model`). It declares

* ``options``: every option :func:`grokode.integrate` and ``grokode integrate --model NAME`` take for it
  (:class:`~grokode.options.Option`: name, kind, default, range, help). The command line, ``grokode sweep``
  and the Python API are built from these declarations; an option a model does not take is an input error
  naming the option and the model;
* ``derive_options`` and :meth:`Model.derive`: what ``grokode derive NAME`` prints (a sympy
  :class:`~grokode.analytic.model.Derivation`);
* the hooks the pipeline (:func:`grokode.pipeline.run_model`) calls in order, each documented below:
  :meth:`~Model.resolve` (cross-option rules and derived defaults, before anything is computed),
  :meth:`~Model.memory_estimate`, :meth:`~Model.prepare` (data and save times), :meth:`~Model.solve`
  (the flow or the discrete method), :meth:`~Model.observe` (the trajectory's arrays),
  :meth:`~Model.locate_transition`, :meth:`~Model.references` (reference predictors and alignment, optional),
  :meth:`~Model.summarize` (the model's summary keys) and :meth:`~Model.record` (what ``meta`` stores to
  reproduce the run).

Model files import their numerical machinery inside the hooks, so that building the command line (which
reads every registered model's options) stays fast.
"""

from __future__ import annotations

import dataclasses
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..errors import InputError, closest
from ..options import Option, option_table, parse_given

# ----------------------------------------------------------------------------------------------------
# Options most models share (each model picks them and sets its own defaults with ``with_default``)

ALPHA = Option("alpha", "float", "initialization scale α > 0", low=0.0, low_open=True)
LAM = Option("lam", "float", "weight decay λ ≥ 0", low=0.0)
SEED = Option("seed", "int", "seed of the data and initialization generators", default=0, low=0)
T_END = Option("t_end", "float", "horizon in gradient-flow time (default: the model's rule)", low=0.0, low_open=True)
T_EVAL = Option("t_eval", "times", "save exactly these times t1,t2,… (the last is the horizon; with --t-end, they "
                "lie within it and t_end is saved too)")
RTOL = Option("rtol", "float", "relative tolerance of an adaptive flow method", default=1e-6, low=0.0, high=1.0,
              low_open=True, high_open=True)
ATOL = Option("atol", "float", "absolute tolerance of an adaptive flow method (on the solver's state)",
              default=1e-9, low=0.0, low_open=True)
LR = Option("lr", "float", "learning rate η of gradient descent (--method gd)", low=0.0, low_open=True)
NORMALIZED_LR = Option("normalized_lr", "bool", "gd: steps η/L̂(θ), t += η/L̂ (log-time horizons without weight decay)",
                       default=False)
DATA = Option("data", "path", "your own data set (.npz) instead of a generated task")


def with_default(option: Option, default: object, help: str | None = None) -> Option:
    """``option`` with another default (and help line)."""
    return dataclasses.replace(option, default=default, help=help or option.help)


def method_option(choices: tuple[str, ...], default: str = "auto", help: str | None = None) -> Option:
    return Option("method", "str", help or "auto | " + " | ".join(c for c in choices if c != "auto"),
                  default=default, choices=choices)


# ----------------------------------------------------------------------------------------------------
# Save times


@dataclass(frozen=True)
class Plan:
    """What a run will do: its save times, horizon and t_theory = ln(α)/rate (None without weight decay)."""

    t_eval: np.ndarray
    t_end: float
    t_theory: float | None
    rate: float  # λ, or λ + λ_eff for label-noise SGD: the decay rate that sets t_theory


def save_times(t_end: float, t_theory: float | None, *, theorem_window: bool, log_points: int = 400,
               log_start: float | None = None) -> np.ndarray:
    """The default save times of a run to ``t_end``.

    With weight decay: :func:`default_t_eval`, plus T∓ = (1 ∓ c)·t_theory when ``theorem_window`` (the theorem
    check reads w there). Without (t_theory None): ``log_points`` log-spaced times from ``log_start``
    (default min(1e-6, 1e-3·t_end)) to ``t_end``.
    """
    from ..numeric.integrate import default_t_eval

    if t_theory is None:
        start = min(1e-6, 1e-3 * t_end) if log_start is None else log_start
        return np.geomspace(start, t_end, log_points)
    times = default_t_eval(t_end, t_theory)
    if theorem_window:
        from ..analysis.analyze import theorem_times

        times = np.union1d(times, [s for s in theorem_times(t_theory) if 0 < s < t_end])
    return times


def theory_time(alpha: float, rate: float) -> float | None:
    """t_theory = ln(α)/rate (0 for α ≤ 1), None without decay (rate 0)."""
    if rate <= 0:
        return None
    return math.log(alpha) / rate if alpha > 1 else 0.0


#: The default horizon adds ACTIVATION_MARGIN·t₁ (the first activation at small α) to (2 ln α + 5)/λ.
ACTIVATION_MARGIN = 4.0


def default_t_end(alpha: float, rate: float, t_activation: float = math.nan) -> float:
    """(2·ln α + 5)/rate (α below e counts as e): long enough to pass the transition near ln(α)/rate and settle;
    plus :data:`ACTIVATION_MARGIN`·``t_activation`` when that is finite (small α: the first activation t₁ comes
    first, docs/math.md#small-alpha-horizon)."""
    margin = ACTIVATION_MARGIN * t_activation if math.isfinite(t_activation) else 0.0
    return (2.0 * math.log(max(alpha, math.e)) + 5.0) / rate + margin


def fit_time(t: np.ndarray, arrays: dict, kind: str) -> float:
    """Without a t_theory (λ = 0) the plateau is read where fitting ends: the first saved time with training
    accuracy 1 (classification), else the first saved time after 0."""
    positive = t > 0
    if kind == "classification" and "train_acc" in arrays:
        fitted = positive & (arrays["train_acc"] >= 1.0)
        if np.any(fitted):
            return float(t[np.argmax(fitted)])
    return float(t[np.argmax(positive)]) if np.any(positive) else float(t[-1])


#: Most constant steps a discrete run can count: beyond 2^53 the time t = steps·η is no longer exact in float64,
#: and the step numbers of the saved times overflow int64 a little later (the run then stopped early, "ok").
MAX_STEPS = 2.0**53


#: Shortest horizon a run takes. Near t = 0 the fixed-floor integrators (rkc, ros2) cannot step below
#: 10·eps ≈ 2.2e-15, so a horizon under 1e-12 leaves them too few steps; it comes from a t_end (or λ, through the
#: default horizon ∝ 1/λ) that is off by many orders of magnitude (λ = 1e300 made the matrix flow fail at t = 0
#: and an mlp flow run without end).
MIN_HORIZON = 1e-12


def check_horizon(horizon: float, name: str) -> None:
    """InputError when the run's horizon is shorter than :data:`MIN_HORIZON`."""
    if horizon < MIN_HORIZON:
        raise InputError(f"{name} = {horizon:g} is shorter than {MIN_HORIZON:g}, below what float64 integrators "
                         "resolve near t = 0")


def check_step_count(lr: float, horizon: float, horizon_name: str, method: str) -> None:
    """InputError unless a constant step ``lr`` reaches ``horizon`` in at least one and at most MAX_STEPS steps."""
    if lr > horizon:
        raise InputError(f"lr={lr:g} is longer than {horizon_name} = {horizon:g}: --method {method} (t = steps·lr) "
                         "would not take a single step")
    if horizon / lr > MAX_STEPS:
        raise InputError(f"{horizon_name} = {horizon:g} at lr={lr:g} is {horizon / lr:.3g} steps of --method {method}, "
                         "more than the 2^53 a run can count (t = steps·lr)")


def jsonable(params: dict) -> dict:
    """The JSON-able entries of a parameter dict (numpy scalars become Python numbers)."""
    out = {}
    for key, value in params.items():
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, str | int | float | bool | type(None)):
            out[key] = value
    return out


# ----------------------------------------------------------------------------------------------------
# The contract


class Model(ABC):
    """A homogeneous model trained by gradient flow from θ(0) = α·θ̄ with weight decay λ (docs/math.md#setting).

    Subclasses set the class attributes and implement the hooks; the pipeline calls them in the order they
    are listed. ``self.config`` holds every option's value after :meth:`resolve` (defaults filled in),
    ``self.given`` only the options the user gave (parsed). Hooks may keep what they build on ``self``
    (the data set, the dynamics): one instance serves one run.
    """

    #: Registered name (``--model NAME``).
    name: ClassVar[str]
    #: One line for ``--help`` and the documentation.
    title: ClassVar[str]
    #: Every option :func:`grokode.integrate` takes for this model.
    options: ClassVar[tuple[Option, ...]]
    #: Options of ``grokode derive NAME``.
    derive_options: ClassVar[tuple[Option, ...]] = ()
    #: Summary keys copied from :class:`~grokode.analysis.analyze.Analysis` when the model has references.
    analysis_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **given: Any):
        table = option_table(self.options)
        self._refuse_other_models_options(table, given)
        self.given: dict[str, Any] = parse_given(table, given, f"model {self.name!r}")
        t_eval = self.given.get("t_eval")
        if t_eval is not None and not t_eval[-1] > 0:
            shown = given["t_eval"] if isinstance(given["t_eval"], str) else t_eval.tolist()
            raise InputError(f"t_eval must end at a horizon > 0 (its last time), got {shown!r}")
        if t_eval is not None and self.given.get("t_end") is not None:
            self._join_t_end(np.asarray(t_eval), float(self.given.pop("t_end")))
        self.config: dict[str, Any] = {o.name: o.default for o in self.options}
        self.config.update(self.given)
        self.resolve()

    # -- options -----------------------------------------------------------------------------------------
    def _join_t_end(self, t_eval: np.ndarray, t_end: float) -> None:
        """--t-end with --t-eval, as scipy's ``solve_ivp`` takes them: the saved times must lie in [0, t_end]; a
        horizon after the last of them is saved too (it is where the run ends). Only a contradiction is refused."""
        if t_eval[-1] > t_end:
            raise InputError(f"t_eval reaches t={t_eval[-1]:g}, after the horizon t_end={t_end:g}: the saved times "
                             "must lie within the run")
        if t_end > t_eval[-1]:
            self.given["t_eval"] = np.append(t_eval, t_end)

    def _refuse_other_models_options(self, table: Mapping[str, Option], given: Mapping[str, Any]) -> None:
        """An option of another model is an error that says whose option it is."""
        from . import get_model, model_names

        unknown = sorted(k for k, v in given.items() if k not in table and v is not None and v is not False)
        if not unknown:
            return
        owners = {k: [m for m in model_names() if any(o.name == k for o in get_model(m).options)] for k in unknown}
        flags = ", ".join("--" + k.replace("_", "-") for k in unknown)
        known = [f"--{k.replace('_', '-')} is an option of model {', '.join(repr(m) for m in owners[k])}"
                 for k in unknown if owners[k]]
        near = {k: closest(k, table) for k in unknown if not owners[k]}
        known += [f"did you mean --{n.replace('_', '-')}?" for n in near.values() if n]
        why = f" ({'; '.join(known)})" if known else ""
        raise InputError(f"model {self.name!r} does not take {flags}{why}; its options: "
                         f"{', '.join(sorted(o.flag for o in table.values()))}")

    @classmethod
    def option(cls, name: str) -> Option:
        return option_table(cls.options)[name]

    def resolve(self) -> None:
        """Cross-option rules (an option the chosen task or method does not take is an InputError naming it)
        and defaults that depend on other options. Runs before anything is computed."""
        return None

    def _horizon(self) -> tuple[float | None, str]:
        """(the horizon, its name): --t-eval's last time, --t-end, or the default (2 ln α + 5)/λ of the linear and
        matrix models (an upper bound for label-noise SGD, whose decay rate is λ + λ_eff); None without weight decay
        (t = 1e300). Models with another default rule (the mlp) do not use it."""
        c = self.config
        if c["t_eval"] is not None:
            return float(c["t_eval"][-1]), "the last --t-eval time"
        if c["t_end"] is not None:
            return c["t_end"], "t_end"
        if c["lam"] > 0:
            return (default_t_end(c["alpha"], c["lam"]),
                    f"the default horizon t_end = (2 ln α + 5)/λ at lam={c['lam']:g}")
        return None, ""

    def memory_estimate(self) -> tuple[float, str]:
        """(bytes, what) the run will need at its peak; the pipeline refuses runs that do not fit."""
        return 0.0, "this run"

    # -- derivation --------------------------------------------------------------------------------------
    @classmethod
    def derive(cls, **given: Any):
        """The sympy derivation ``grokode derive NAME`` prints (a :class:`~grokode.analytic.model.Derivation`)."""
        raise InputError(f"model {cls.name!r} has no symbolic derivation")

    @classmethod
    def parse_derive_options(cls, given: Mapping[str, Any]) -> dict[str, Any]:
        table = option_table(cls.derive_options)
        parsed = parse_given(table, given, f"grokode derive {cls.name}")
        return {**{o.name: o.default for o in cls.derive_options}, **parsed}

    # -- the run -----------------------------------------------------------------------------------------
    @abstractmethod
    def prepare(self) -> Plan:
        """Build the data set (kept on ``self``) and the save times."""

    @abstractmethod
    def solve(self, plan: Plan, progress: Callable[[float], None] | None) -> Any:
        """Integrate the flow (or run the discrete method) and return its solution, whatever its status."""

    @abstractmethod
    def observe(self, plan: Plan, sol: Any) -> dict[str, np.ndarray]:
        """The trajectory file's arrays: ``t``, ``param_norm`` and the model's metrics at the saved times."""

    @abstractmethod
    def locate_transition(self, plan: Plan, sol: Any, arrays: dict[str, np.ndarray]) -> tuple[Any, str]:
        """(Transition or None, name of the transition metric)."""

    def references(self, plan: Plan, sol: Any, arrays: dict[str, np.ndarray]) -> dict | None:
        """Reference predictors (kernel, rich) and their certificates; adds alignment arrays to ``arrays``.

        None when the model has no convex reference predictors (the theorem check is then skipped).
        """
        return None

    @abstractmethod
    def summarize(self, plan: Plan, sol: Any, arrays: dict[str, np.ndarray], transition: Any, references: dict | None
                  ) -> dict[str, Any]:
        """The model's summary keys: ``test_final``, ``train_final``, ``transition_metric`` and its own."""

    @abstractmethod
    def record(self, plan: Plan) -> tuple[dict[str, Any], dict[str, Any]]:
        """(options, dataset) for ``meta``: enough to reproduce the run (data regenerate from the seed)."""

    def extra_meta(self) -> dict[str, Any]:
        """Anything else ``meta`` should keep (e.g. the nuclear-norm solver's certificate)."""
        return {}

    #: Arrays of the run that are not written to its file but rebuilt from others when read (:meth:`rebuild`).
    derived: tuple[str, ...] = ()

    @classmethod
    def rebuild(cls, key: str, meta: dict[str, Any], arrays) -> np.ndarray:
        """A derived array of a run read from its file (``meta["trajectory"]["derived"]``)."""
        raise InputError(f"model {cls.name!r} cannot rebuild {key!r}")

    def file_stem(self) -> str:
        """A descriptive default file name (without suffix) for ``runs/``."""
        return self.name

    def stored_weights(self, arrays: dict[str, np.ndarray]) -> np.ndarray:
        """The solver's "weights" rows (what :meth:`observe` reads from ``sol.weights``) of a run read from its file,
        for a run that continues it (:func:`grokode.resume`)."""
        t = arrays["t"]
        if "w" in arrays:
            return np.asarray(arrays["w"], dtype=np.float64)
        if "W" in arrays:
            return np.asarray(arrays["W"], dtype=np.float64).reshape(len(t), -1)
        raise InputError(f"model {self.name!r} cannot continue a saved run")

    def weight_at(self, sol: Any) -> Callable[[float], np.ndarray] | None:
        """w(t) at any reached time from the solver's dense output, for exact theorem-check times."""
        return None

    # -- helpers for subclasses --------------------------------------------------------------------------
    def refuse_unless(self, condition: bool, names: tuple[str, ...], reason: str) -> None:
        """InputError naming every option of ``names`` the user gave, unless ``condition`` holds."""
        if condition:
            return
        given = [n for n in names if n in self.given]
        if given:
            flags = ", ".join("--" + n.replace("_", "-") for n in given)
            verb = "does" if len(given) == 1 else "do"
            raise InputError(f"{flags} {verb} not apply to model {self.name!r} {reason}")


def undo_log10(value: float | None) -> float | None:
    """10^v for a metric read as log10 of a loss (None stays None, non-finite becomes None)."""
    if value is None or not math.isfinite(value):
        return None
    return float(10.0**value)
