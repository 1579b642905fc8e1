"""The model contract: what one model file declares and implements, written once.

A model is one class (one file under ``grokode/models/``, or a user's own package) that subclasses
:class:`Model` and is registered by name (:func:`grokode.models.register_model`). It declares

* ``options``: every option :func:`grokode.integrate` and ``grokode integrate --model NAME`` take for it
  (:class:`~grokode.options.Option`: name, kind, default, range, help). The command line, ``grokode sweep``
  and the Python API are built from these declarations; an option a model does not take is an input error
  naming the option and the model;
* :meth:`Model.declare`: what a run holds and how it is summarized and plotted
  (:class:`~grokode.observables.Observables`, recorded in the run's meta);
* the hooks the pipeline (:func:`grokode.pipeline.run_model`) calls in order: :meth:`~Model.check` (optional:
  cross-option rules, derived defaults and memory, before anything is computed), :meth:`~Model.prepare` (the
  :class:`Plan`: data, save times, horizon, dynamics), :meth:`~Model.solve` (the flow or the discrete method),
  :meth:`~Model.observe` (the trajectory's arrays), :meth:`~Model.references` (optional: reference predictors and
  alignment) and :meth:`~Model.summarize` (optional: the model's own summary keys);
* optionally :meth:`Model.derive` (what ``grokode derive NAME`` prints) and :meth:`Model.file_stem`.

The transition, the common summary keys, the recorded options, the resumable state and the rebuilt arrays of a
compact file are the base's, from the declaration and the plan.

Model files import their numerical machinery inside the hooks, so that building the command line (which
reads every registered model's options) stays fast.
"""

from __future__ import annotations

import dataclasses
import math
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..errors import InputError, closest
from ..observables import Observables
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
    """What a run will do, built by :meth:`Model.prepare` and handed to every later hook.

    ``t_eval``, ``t_end``: the saved times and the horizon; ``t_theory`` = ln(α)/rate (None without decay; the
    base's :func:`theory_time`); ``rate``: the decay rate that sets it (λ, or λ + λ_eff for label-noise SGD).
    ``data``: the data set (its ``name`` and ``params`` go to ``meta["dataset"]``); ``dynamics``: the flow or
    discrete stepper :meth:`Model.solve` runs, built here so that later hooks read its results from the plan;
    ``evaluate(name, W)``: the per-time array ``name`` at weight rows ``W`` (k, …), with which the transition is
    located on the dense output; ``recorded``: option values ``meta["options"]`` keeps instead of the config's
    (e.g. n and d of a data file); ``meta``: further meta entries, and ``describe()`` those read once the run is
    solved (e.g. counters of the dynamics).
    """

    t_eval: np.ndarray
    t_end: float
    t_theory: float | None
    rate: float
    data: Any = None
    dynamics: Any = None
    evaluate: Callable[[str, np.ndarray], np.ndarray] | None = None
    recorded: Mapping[str, Any] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)
    describe: Callable[[], dict[str, Any]] | None = None


@dataclass
class References:
    """What :meth:`Model.references` returns: the reference predictors' certificates (``meta["references"]``,
    one entry per predictor, each with its own ``test_value``), the arrays they add to the run (alignment of the
    trajectory with them, the predictors themselves), further meta entries (a solver's certificate) and summary
    entries."""

    predictors: dict[str, dict[str, Any]]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    #: Summary entries of the references (a solver's time, the rich predictor's norm).
    summary: dict[str, Any] = field(default_factory=dict)


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


#: Most constant steps a discrete run can count: beyond 2^53 the time t = steps·η is no longer exact in float64,
#: and the step numbers of the saved times overflow int64 a little later (the run then stopped early, "ok").
MAX_STEPS = 2.0**53


#: Shortest horizon a run takes. Near t = 0 the fixed-floor integrators (rkc, ros2) cannot step below
#: 10·eps ≈ 2.2e-15, so a horizon under 1e-12 leaves them too few steps; it comes from a t_end (or λ, through the
#: default horizon ∝ 1/λ) that is off by many orders of magnitude.
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

    The contract (docs/extending.md): a model declares ``name``, ``title``, ``options`` (and ``derive_options``)
    and writes four hooks — :meth:`declare`, :meth:`prepare`, :meth:`solve`, :meth:`observe` — plus any of five
    optional ones: :meth:`check`, :meth:`references`, :meth:`summarize`, :meth:`derive`, :meth:`file_stem`.
    Everything else is the base's, from the declaration and the plan: the transition, the summary's common
    keys, the recorded options and data set, the resumable state, the dense w(t) and the rebuilt arrays of a
    compact file.

    ``self.config`` holds every option's value once :meth:`check` has run (defaults filled in), ``self.given``
    only the options the user gave (parsed). Hooks pass what they build as values (the :class:`Plan`, the
    solution, the arrays): none reads state another hook left on ``self``. A model may memoise a pure function
    of its config on ``self`` (e.g. the data set, read once whether :meth:`check` or :meth:`prepare` asks first).
    """

    #: Registered name (``--model NAME``).
    name: ClassVar[str]
    #: One line for ``--help`` and the documentation.
    title: ClassVar[str]
    #: Every option :func:`grokode.integrate` takes for this model.
    options: ClassVar[tuple[Option, ...]]
    #: Options of ``grokode derive NAME``.
    derive_options: ClassVar[tuple[Option, ...]] = ()

    #: The hooks a model writes, and the optional ones (the contract, counted by tests/models/test_contract.py).
    REQUIRED_HOOKS: ClassVar[tuple[str, ...]] = ("declare", "prepare", "solve", "observe")
    OPTIONAL_HOOKS: ClassVar[tuple[str, ...]] = ("check", "references", "summarize", "derive", "file_stem")

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
        #: (bytes, what) the run needs at its peak, as :meth:`check` declared it (:meth:`require_memory`); a sweep
        #: sizes its local workers with it.
        self.memory_need: tuple[float, str] = (0.0, f"a {self.name} run")
        self.check()

    # -- the hooks a model writes ----------------------------------------------------------------------------
    @classmethod
    @abstractmethod
    def declare(cls, options: Mapping[str, Any]) -> Observables:
        """What a run with these options holds, how it is summarized and plotted (:class:`~grokode.observables.
        Observables`). ``options`` are a run's resolved config or the options its file recorded."""

    @abstractmethod
    def prepare(self) -> Plan:
        """The run's :class:`Plan`: its data set, save times, horizon and stopping rule, and its dynamics."""

    @abstractmethod
    def solve(self, plan: Plan, progress: Callable[[float], None] | None) -> Any:
        """Integrate the flow (or run the discrete method) and return its solution, whatever its status."""

    @abstractmethod
    def observe(self, plan: Plan, solution: Any) -> dict[str, np.ndarray]:
        """The trajectory file's arrays: ``t``, ``param_norm`` and the declared arrays at the saved times. It is also
        called on partial solutions (the initial state, checkpoints)."""

    # -- optional hooks --------------------------------------------------------------------------------------
    def check(self) -> None:
        """Cross-option rules (an option the chosen task or method does not take is an InputError naming it),
        defaults that depend on other options, and the memory the run needs (:meth:`require_memory`). Runs
        before anything is computed."""
        return None

    def references(self, plan: Plan, solution: Any, arrays: dict[str, np.ndarray]) -> References | None:
        """The reference predictors (kernel, rich), their certificates and the run's alignment with them; None when
        the model has none (the theorem check is then skipped)."""
        return None

    def summarize(self, plan: Plan, solution: Any, arrays: dict[str, np.ndarray], transition: Any,
                  references: References | None) -> dict[str, Any]:
        """The model's own summary keys (the common ones are the base's, :meth:`summary`)."""
        return {}

    @classmethod
    def derive(cls, **given: Any):
        """The sympy derivation ``grokode derive NAME`` prints (a :class:`~grokode.analytic.model.Derivation`)."""
        raise InputError(f"model {cls.name!r} has no symbolic derivation")

    def file_stem(self) -> str:
        """A descriptive default file name (without suffix) for ``runs/``."""
        return self.name

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

    @classmethod
    def parse_derive_options(cls, given: Mapping[str, Any]) -> dict[str, Any]:
        table = option_table(cls.derive_options)
        parsed = parse_given(table, given, f"grokode derive {cls.name}")
        return {**{o.name: o.default for o in cls.derive_options}, **parsed}

    def _horizon(self) -> tuple[float | None, str]:
        """(the horizon, its name): --t-eval's last time, --t-end, or the default (2 ln α + 5)/λ of the linear and
        matrix models (an upper bound for label-noise SGD, whose decay rate is λ + λ_eff); None without weight decay
        (t = 1e300). Models with another default rule (the mlp) do not use it."""
        cfg = self.config
        if cfg["t_eval"] is not None:
            return float(cfg["t_eval"][-1]), "the last --t-eval time"
        if cfg["t_end"] is not None:
            return cfg["t_end"], "t_end"
        if cfg["lam"] > 0:
            return (default_t_end(cfg["alpha"], cfg["lam"]),
                    f"the default horizon t_end = (2 ln α + 5)/λ at lam={cfg['lam']:g}")
        return None, ""

    # -- helpers for the hooks -----------------------------------------------------------------------------
    def refuse_unless(self, condition: bool, names: tuple[str, ...], reason: str) -> None:
        """InputError naming every option of ``names`` the user gave, unless ``condition`` holds."""
        if condition:
            return
        given = [n for n in names if n in self.given]
        if given:
            flags = ", ".join("--" + n.replace("_", "-") for n in given)
            verb = "does" if len(given) == 1 else "do"
            raise InputError(f"{flags} {verb} not apply to model {self.name!r} {reason}")

    def require_memory(self, need: float, what: str) -> None:
        """Declare the memory the run needs at its peak (``memory_need``): MemoryLimitError (an input error) when
        ``need`` bytes for ``what`` do not fit the machine."""
        from ..files import require_memory

        self.memory_need = (float(need), what)
        require_memory(need, what)

    # -- what the base derives from the declaration and the plan ------------------------------------------------
    @property
    def observables(self) -> Observables:
        """This run's declaration (:meth:`declare` of the resolved config)."""
        return self.declare(self.config)

    @staticmethod
    def weight_at(solution: Any) -> Callable[[float], np.ndarray] | None:
        """w(t) at any reached time from the solver's dense output (None without one)."""
        return solution.weight_at if solution.pieces else None

    def transition(self, plan: Plan, solution: Any, arrays: Mapping[str, np.ndarray]) -> tuple[Any, str | None]:
        """(Transition or None, the metric's name): the declared metric's jump, located on the dense output when
        the plan can evaluate the metric there. Without a t_theory (λ = 0) the plateau is read once the training
        set is fitted (accuracy 1), else from the first saved time after 0."""
        from ..analysis.transition import find_transition

        declared = self.observables
        key = next((k for k in declared.transition if k in arrays), None)
        name = None if key is None else ("log10_" + key if declared.log_metric else key)
        t = np.asarray(arrays["t"])
        if key is None or not t.size:
            return None, name

        def metric(values: np.ndarray) -> np.ndarray:
            if not declared.log_metric:
                return np.asarray(values)
            with np.errstate(divide="ignore"):
                return np.log10(values)

        dense = None
        weight_at = self.weight_at(solution)
        if plan.evaluate is not None and weight_at is not None:
            evaluate = plan.evaluate
            # before the flow's start (small α: 1e-6 of its activation time scale) w grows linearly along a fixed
            # direction, so the metric there is the one at the start; a continued run's earlier rows come first
            start = min(float(solution.flow.to_time(solution.pieces[0].lo)), float(t[0]))

            def dense(s: float) -> float:
                return float(metric(evaluate(key, weight_at(max(s, start))[None, ...]))[0])

        t_start = None
        if plan.t_theory is None:
            positive = t > 0
            fitted = positive & (np.asarray(arrays.get("train_acc", np.zeros(t.size))) >= 1.0) if (
                declared.curve.accuracy) else np.zeros(t.size, dtype=bool)
            first = fitted if np.any(fitted) else positive
            t_start = float(t[np.argmax(first)]) if np.any(first) else float(t[-1])
        return find_transition(t, metric(arrays[key]), plan.t_theory, min_change=declared.min_change, metric=dense,
                               t_start=t_start), name

    def summary(self, plan: Plan, solution: Any, arrays: Mapping[str, np.ndarray], transition: Any, metric: str | None,
                references: References | None) -> dict[str, Any]:
        """The summary keys every model has: the plateau and final value of the transition metric (a loss read as
        log10 is reported as the loss), the last training value, the metric's name and the references' test
        values; the model's :meth:`summarize` adds its own."""
        declared = self.observables

        def value(v: float | None) -> float | None:
            return undo_log10(v) if declared.log_metric else (None if v is None else float(v))

        train = arrays.get(f"train_{declared.curve.key}")
        out: dict[str, Any] = {
            "test_plateau": value(transition.plateau) if transition else None,
            "test_final": value(transition.final) if transition else None,
            "train_final": float(train[-1]) if train is not None and len(train) else None,
            "transition_metric": metric,
        }
        if references is not None:
            for name in ("kernel", "rich"):
                out[f"{name}_test"] = references.predictors[name]["test_value"]
        return out

    def record(self, plan: Plan) -> tuple[dict[str, Any], dict[str, Any]]:
        """(options, dataset) for ``meta``: the model's name, every resolved option (the plan's ``recorded`` values
        win) and the horizon; the data set's name, kind and parameters. Enough to reproduce the run."""
        options = {"model": self.name, **jsonable({k: v for k, v in self.config.items() if k != "t_eval"}),
                   **plan.recorded, "t_end": plan.t_end}
        kind = "classification" if self.observables.curve.accuracy else "regression"
        if plan.data is None:
            return options, {"name": self.name, "kind": kind}
        return options, {"name": plan.data.name, "kind": kind, **jsonable(dict(plan.data.params))}

    def extra_meta(self, plan: Plan, references: References | None) -> dict[str, Any]:
        """The plan's and the references' meta entries."""
        return {**plan.meta, **(plan.describe() if plan.describe is not None else {}),
                **(references.meta if references is not None else {})}

    @classmethod
    def rebuild(cls, key: str, meta: dict[str, Any], arrays: Mapping[str, np.ndarray]
                ) -> np.ndarray | Mapping[str, np.ndarray]:
        """A derived array of a run read from a compact file (``meta["trajectory"]["derived"]``): the predictor, or
        the arrays the declaration's ``rebuild_metrics`` computes together (a mapping that holds ``key``)."""
        declared = cls.declare(meta["options"])
        if key == declared.predictor and declared.rebuild is not None:
            return declared.rebuild(meta, arrays)
        if key in declared.rebuilt_metrics and declared.rebuild_metrics is not None:
            return declared.rebuild_metrics(meta, arrays)
        raise InputError(f"model {cls.name!r} cannot rebuild {key!r}")


def data_digest(data: Any) -> str | None:
    """SHA-256 of every array of a data set (a dataclass: its fields that are arrays), or None without one: identifies
    the data a saved run (its states, its resume point) belongs to. Waits for the one :func:`start_data_digest`
    began, if any.

    A generated task whose test set is drawn only when read (``Dataset.test_draw``) is identified by its training
    set (:func:`training_digest`): its test set follows from the same seed, and the digest neither draws it nor
    depends on whether it was drawn. A file written before identifies it by :func:`full_data_digest`.
    """
    try:
        pending = _PENDING_DIGESTS.pop(data, None)
    except TypeError:  # not hashable or not weakly referable: no digest was started
        pending = None
    return _digest(data) if pending is None else pending.result()


def full_data_digest(data: Any) -> str | None:
    """SHA-256 of every array of a data set, its test set drawn if it was not: :func:`data_digest` before generated
    test sets were drawn when read (what files written then record)."""
    return _digest(data, full=True)


def training_digest(data: Any) -> str:
    """SHA-256 of a data set's training inputs and labels (the bytes of X, then of y)."""
    import hashlib

    h = hashlib.sha256()
    for a in (data.X, data.y):
        h.update(np.ascontiguousarray(a).reshape(-1).view(np.uint8).data)  # the bytes, without a copy
    return h.hexdigest()


def same_data(expected: str | None, data: Any) -> bool:
    """Whether a digest recorded by a run (any grokode version's: :func:`data_digest`, :func:`full_data_digest`, or
    :func:`training_digest` in compact files of format 1) identifies ``data``; None (not recorded) matches."""
    if expected is None or expected in (data_digest(data), training_digest(data)):
        return True
    return expected == full_data_digest(data)


class _DigestThread:
    """:func:`_digest` of a data set on a worker thread (hashlib hashes a large buffer without holding the GIL)."""

    def __init__(self, data: Any):
        import threading

        self._value: str | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(data,), name="grokode-data-digest", daemon=True)
        self._thread.start()

    def _run(self, data: Any) -> None:
        try:
            self._value = _digest(data)
        except BaseException as exc:  # handed to the caller of result()
            self._error = exc

    def result(self) -> str | None:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


#: Digests being computed, by data set (weakly: a data set that is dropped drops its entry).
_PENDING_DIGESTS: weakref.WeakKeyDictionary[Any, _DigestThread] = weakref.WeakKeyDictionary()


def start_data_digest(data: Any) -> None:
    """Begin :func:`data_digest` of ``data`` on a worker thread: hashing its arrays (tens of MB at paper scale) then
    overlaps the rest of a run's preparation, and :func:`data_digest` returns the same value."""
    if data is not None and dataclasses.is_dataclass(data) and not isinstance(data, type):
        try:
            if data not in _PENDING_DIGESTS:
                _PENDING_DIGESTS[data] = _DigestThread(data)
        except TypeError:  # not hashable or not weakly referable: data_digest computes it when asked
            pass


def _digest(data: Any, full: bool = False) -> str | None:
    import hashlib

    if data is None or not dataclasses.is_dataclass(data):
        return None
    if not full and getattr(data, "test_draw", None) is not None:
        return training_digest(data)
    h = hashlib.sha256()
    for f in dataclasses.fields(data):
        value = getattr(data, f.name)
        if isinstance(value, np.ndarray):
            h.update(f.name.encode())
            h.update(str(value.dtype).encode() + str(value.shape).encode())
            h.update(np.ascontiguousarray(value).reshape(-1).view(np.uint8).data)  # the bytes, without a copy
    return h.hexdigest()


def undo_log10(value: float | None) -> float | None:
    """10^v for a metric read as log10 of a loss (None stays None, non-finite becomes None)."""
    if value is None or not math.isfinite(value):
        return None
    return float(10.0**value)
