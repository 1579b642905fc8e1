"""Models that predict with a weight vector, f(θ; x) = ⟨w(θ), x⟩, on the paper's linear tasks (docs/math.md#data).

:class:`LinearModel` is what such models share: the tasks (sparse ±1 classification, large-ℓ2-margin data,
sparse regression) or a user's ``--data`` file, the losses, the save times, the trajectory's metrics (training
and test loss and accuracy, population metrics), the transition metric, and the reference predictors with the
theorem check (max ℓ2-margin / min ℓ2-norm kernel predictor, max ℓ1-margin / basis-pursuit rich predictor). A
model of this family (the diagonal net, the separable models) adds its parametrization: its options, its
dynamics (:meth:`LinearModel.solve`) and what its ``record`` adds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import InputError
from ..observables import Observables
from ..options import Option
from . import alpha_axis as axis
from .base import (
    ATOL,
    DATA,
    RTOL,
    SEED,
    T_END,
    T_EVAL,
    Model,
    Plan,
    References,
    check_horizon,
    default_t_end,
    same_data,
    save_times,
    start_data_digest,
    theory_time,
    with_default,
)

TASKS = ("sparse", "margin", "sparse-regression")
LOSSES = ("logistic", "exponential", "squared")
#: Saved times without weight decay (log-spaced, about one per 0.8 decade up to 1e300).
LAM0_POINTS = 400
#: Keys of :class:`~grokode.analysis.analyze.Analysis` copied into the summary.
ANALYSIS_KEYS = ("offset_c0", "t_bias_switch", "T_minus", "T_plus", "cos_kernel_at_Tminus", "cos_rich_at_Tminus",
                 "cos_kernel_at_Tplus", "cos_rich_at_Tplus")

#: A run saves the reduced flow's states instead of w (T×d) when T·d exceeds this many values and the save times
#: are the default ones: w is then recomputed from the states when it is read (docs/file-formats.md).
COMPACT_FROM = 500_000

#: Methods that step a discrete process instead of integrating the flow (the diagonal net's gd, label-noise SGD).
DISCRETE_METHOD_NAMES = ("gd", "label-noise-sgd")
#: Options that generate a data set: with --data they do not apply.
GENERATOR_OPTIONS = ("task", "n", "d", "k", "gamma", "n_test")
#: The options of the data and of the run every linear model takes (each adds α, λ, its method and its own).
DATA_OPTIONS = (
    Option("task", "str", "sparse (±1 inputs, k-sparse teacher) | margin (large ℓ2 margin: misgrokking) | "
           "sparse-regression", default="sparse", choices=TASKS),
    with_default(DATA, None, "your own data (.npz with X (n×d), y (n), optional X_test, y_test) instead of --task"),
    Option("n", "int", "training samples", default=256, low=1),
    Option("d", "int", "input dimension", default=10_000, low=1),
    Option("k", "int", "sparse tasks: teacher sparsity (odd, ≤ d)", default=3, low=1),
    Option("gamma", "float", "margin task: ℓ2 margin γ of the data", default=5.0, low=0.0),
    Option("n_test", "int", "test samples (0: population metrics only)", default=1000, low=0),
    SEED,
    Option("loss", "str", "logistic | exponential | squared (default: squared for regression, else logistic)",
           choices=LOSSES),
)
RUN_OPTIONS = (T_END, T_EVAL, RTOL, ATOL)


class LinearModel(Model):
    """A model f(θ; x) = ⟨w(θ), x⟩ on the paper's linear tasks or user data (see the module docstring).

    Subclasses declare ``options`` (including :data:`DATA_OPTIONS` and :data:`RUN_OPTIONS`), write
    :meth:`solve` (a solution whose ``weights`` are w at the saved times) and :meth:`make_flow`, and may extend
    :meth:`check` (calling :meth:`check_data` first), :meth:`memory_estimate` and :meth:`summarize`.
    """

    #: ‖θ(0)‖ as the figure names it.
    NORM_START = "‖θ(0)‖"

    # -- the declaration -----------------------------------------------------------------------------------
    @classmethod
    def declare(cls, options: Mapping[str, Any]) -> Observables:
        regression = options.get("loss") == "squared"
        return Observables(
            predictor="w", curves="loss" if regression else "accuracy",
            transition=("test_loss_population", "test_loss") if regression else ("test_acc_population", "test_acc"),
            log_metric=regression, higher_is_better=not regression, min_change=0.5 if regression else 0.05,
            alignment="cos", norm_start=cls.NORM_START, per_time=PER_TIME, shaped_like_row=("w_kernel", "w_rich"),
            analysis_keys=ANALYSIS_KEYS, rebuilt_from="state", rebuild=cls.rebuild_weights,
            rebuilt_metrics=TEST_METRICS[:1] if regression else TEST_METRICS, rebuild_metrics=cls.rebuild_test_metrics)

    @property
    def regression(self) -> bool:
        """Whether the run is a regression (the squared loss), else a classification."""
        return self.config["loss"] == "squared"

    @property
    def problem_type(self) -> str:
        return "regression" if self.regression else "classification"

    # -- options -----------------------------------------------------------------------------------------
    def check_data(self) -> None:
        """The data's and the horizon's rules: options of another task, the loss, --t-end with --t-eval."""
        cfg = self.config
        if "data" in self.given:
            self.refuse_unless(False, GENERATOR_OPTIONS, "with --data (the data file fixes the data set)")
            self.refuse_unless(self.uses_seed_with_data(), ("seed",), "with --data (no random draw uses it)")
            cfg["task"] = None
            self._data_shape()  # reads the file's headers: a missing, unreadable or oversized file fails here
        else:
            task = cfg["task"]
            self.refuse_unless(task != "margin", ("k",), "with --task margin (its teacher is dense)")
            self.refuse_unless(task == "margin", ("gamma",), f"with --task {task} (only the margin task has γ)")
            if task in ("sparse", "sparse-regression") and (cfg["k"] % 2 == 0 or cfg["k"] > cfg["d"]):
                raise InputError(f"k must be odd with 1 ≤ k ≤ d = {cfg['d']}, got {cfg['k']}")
        regression_task = cfg["task"] == "sparse-regression"
        if cfg["loss"] is None:
            cfg["loss"] = "squared" if regression_task else "logistic"
        elif regression_task and cfg["loss"] != "squared":
            raise InputError(f"task 'sparse-regression' is a regression task: its labels are not ±1, so loss "
                             f"{cfg['loss']!r} does not apply (use --loss squared)")
        self.refuse_unless("t_eval" not in self.given, ("t_end",), "together with --t-eval (its last time is the "
                           "horizon)")

    def check_memory_and_data(self) -> None:
        """The memory the run needs, then a --data file read and checked (labels, NaN, shapes) during validation;
        :meth:`prepare` reuses it (:meth:`dataset`)."""
        self.require_memory(*self.memory_estimate())
        if "data" in self.given:
            self.dataset()

    def uses_seed_with_data(self) -> bool:
        """Whether the run draws random numbers even on a data file (then --seed applies)."""
        return False

    def check(self) -> None:
        self.check_data()
        self.check_decay_and_horizon()
        self.check_memory_and_data()

    def check_decay_and_horizon(self) -> None:
        """A horizon that float64 integrators resolve (λ = 0 with the squared loss runs to interpolation)."""
        self.refuse_full_formulation_at_fit()
        horizon, name = self._horizon()
        if horizon is not None:
            check_horizon(horizon, name)

    # -- λ = 0 with the squared loss: the run stops at interpolation ------------------------------------------
    def fits_to_interpolation(self) -> bool:
        """Whether the flow ends at an interpolant (squared loss, λ = 0, a flow method; docs/math.md#lam0-regression).
        Gradient descent and label-noise SGD are stepped to their own horizons."""
        return (self.config["lam"] == 0 and self.regression
                and self.config.get("method") not in DISCRETE_METHOD_NAMES)

    def refuse_full_formulation_at_fit(self) -> None:
        """The stop at interpolation is a rule of the reduced flow (in log time): the full formulation needs a
        horizon of the user's."""
        cfg = self.config
        if self.stops_at_fit() and cfg.get("formulation") == "full":
            raise InputError(f"lam={cfg['lam']!r} with squared loss stops at interpolation on the reduced flow (in "
                             "log time); --formulation full integrates in t: pass a horizon --t-end")

    def stops_at_fit(self) -> bool:
        """Whether the run ends at the interpolation rule (no horizon of the user's)."""
        cfg = self.config
        return self.fits_to_interpolation() and cfg["t_end"] is None and cfg["t_eval"] is None

    def implicit_profile(self, data) -> tuple[Any, float] | None:
        """(profile, log of its scale) of the model's λ = 0 closed form w = F(Γ) on ``data``, for the finite-α
        predictor and the activation time; None if the model has none."""
        return None

    def saddle_scale(self, data) -> tuple[int, dict[str, Any] | str] | None:
        """(degree, the α → 0 limit's arguments of :func:`grokode.analysis.saddles.saddle_summary` — ``log_u0`` and
        optionally ``box``, ``levels`` — or the reason it does not apply); None: no staircase."""
        return None

    def make_flow(self, data):
        """The flow of this run on ``data`` (its ``log_rate0`` sets the λ = 0 fitting time scale)."""
        raise NotImplementedError

    def _data_shape(self) -> tuple[int, int]:
        """(n, d) of the training set, read from a data file's headers without loading it (once)."""
        cfg = self.config
        if cfg.get("data") is None:
            return cfg["n"], cfg["d"]
        return self._headers()[0]

    def _headers(self) -> tuple[tuple[int, int], dict]:
        """((n, d), the array headers) of the --data file, read once (a pure function of the option)."""
        if "_data_headers" not in self.__dict__:
            from ..files import npz_array_headers

            path = self.config["data"]
            headers = npz_array_headers(path, "data file")
            if "X" not in headers:
                found = ", ".join(sorted(headers)) or "none"
                raise InputError(f"data file {path!r} has no array 'X' (found: {found})")
            shape = headers["X"][0]
            if len(shape) != 2:
                raise InputError(f"array X in {path!r} must be 2-D, got shape {shape}")
            if min(shape) < 1:
                raise InputError(f"array X in {path!r} is empty (shape {shape}): it needs n ≥ 1 rows and d ≥ 1 "
                                 "columns")
            self.__dict__["_data_headers"] = ((int(shape[0]), int(shape[1])), headers)
        return self.__dict__["_data_headers"]

    def data_bytes(self) -> float:
        """Bytes of the data set once loaded (X, Xᵀ and, for ±1 data, the sign bits; float64 for other data)."""
        cfg = self.config
        n, d = self._data_shape()
        if cfg.get("data") is not None:
            # the loader reads each array and converts it to float64 (then X and Xᵀ are kept)
            return sum(16.0 * float(np.prod(shape, dtype=np.float64))
                       for key, (shape, _) in self._headers()[1].items() if key in ("X", "y", "X_test", "y_test"))
        per_entry = 8.0 if cfg["task"] == "margin" else 2.3  # float64 X and Xᵀ, or int8 X, Xᵀ and sign bits
        return per_entry * (n + cfg["n_test"]) * d

    def memory_estimate(self) -> tuple[float, str]:
        """(bytes, what) the run needs at its peak."""
        cfg = self.config
        n, d = self._data_shape()
        saves = len(cfg["t_eval"]) if cfg["t_eval"] is not None else 400
        weights = 8.0 * saves * d
        if cfg["t_eval"] is None and cfg.get("formulation", "reduced") == "reduced" and cfg.get(
                "method") not in DISCRETE_METHOD_NAMES:  # a reduced flow keeps its states: w is read in blocks
            from ..numeric.lazy_weights import block_rows

            weights = 8.0 * d * block_rows((saves, d))
        trajectory = weights + 8.0 * saves * (n + cfg["n_test"])
        return self.data_bytes() + trajectory + self.solver_bytes(), self.describe_size(saves)

    def solver_bytes(self) -> float:
        """Bytes the dynamics need besides the data and the trajectory (a reduced flow's n×n Jacobian)."""
        n = self._data_shape()[0]
        return 3 * 8.0 * n * n

    def describe_size(self, saves: int) -> str:
        cfg = self.config
        n, d = self._data_shape()
        where = f" on {cfg['data']!r}" if cfg.get("data") is not None else ""
        sizes = f"n={n}" + (f", n_test={cfg['n_test']}" if cfg.get("data") is None and cfg["n_test"] else "") + \
            f", d={d}"
        times = f" and {saves} saved times" if cfg["t_eval"] is not None else ""
        return f"a {self.name} run{where} with {sizes}{times}"

    # -- the run -----------------------------------------------------------------------------------------
    def dataset(self):
        """The run's data set: the --data file or the generated task (built once: a pure function of the config)."""
        if "_dataset" not in self.__dict__:
            from ..tasks import load_npz, make_task

            cfg = self.config
            self.__dict__["_dataset"] = load_npz(cfg["data"], cfg["loss"]) if cfg["data"] is not None else make_task(
                cfg["task"], n=cfg["n"], d=cfg["d"], k=cfg["k"], gamma=cfg["gamma"], n_test=cfg["n_test"],
                seed=cfg["seed"])
        return self.__dict__["_dataset"]

    def data_matrix(self, data):
        """``data.X`` in the form the products read (a :class:`~grokode.numeric.linalg.DataMatrix`: for ±1 data its
        sign bits), built once per data set and shared by the dynamics and the reference predictors."""
        memo = self.__dict__.get("_data_matrix")
        if memo is None or memo[0] is not data:
            from ..numeric.linalg import DataMatrix

            memo = (data, DataMatrix(data.X))
            self.__dict__["_data_matrix"] = memo
        return memo[1]

    def prepare(self) -> Plan:
        data = self.dataset()
        start_data_digest(data)  # the run records it: hashed while the dynamics are set up
        flow = self.make_flow(data)
        self.check_alpha_axis(data, flow)
        return self.plan(self.config["lam"], data, flow)

    def check_alpha_axis(self, data, flow) -> None:
        """The data-dependent refusals of the α axis, before anything is integrated (docs/math.md#alpha-axis):
        no interpolant at λ = 0 with the squared loss, a fitting time below float64's range, an activation at
        degree ≥ 3 the reduced flow cannot resolve."""
        cfg = self.config
        if self.fits_to_interpolation():
            axis.require_interpolant(data, cfg["lam"])
        if self.stops_at_fit():
            axis.require_fit_time(-float(flow.log_rate0), cfg["alpha"])
        found = self.implicit_profile(data)
        if found is not None and cfg.get("formulation", "reduced") == "reduced" and (
                cfg.get("method") not in DISCRETE_METHOD_NAMES):
            profile, log_c = found
            if profile.degree >= 3 and (profile.degree - 2) * log_c < math.log(axis.MIN_BRACKET):
                axis.require_resolvable_activation(profile.degree, log_c, cfg["alpha"],
                                                   self.activation_estimate(data, cfg["lam"]))

    def plan(self, rate: float, data, dynamics, *, recorded: Mapping[str, Any] | None = None) -> Plan:
        """The plan at decay rate ``rate`` (λ, or λ + λ_eff): --t-eval, or the model's horizon rule."""
        cfg = self.config
        t_theory = theory_time(cfg["alpha"], rate)
        parts = {"data": data, "dynamics": dynamics, "evaluate": self.evaluator(data),
                 "recorded": {"n": data.n, "d": data.d, **(recorded or {})}}
        if cfg["t_eval"] is not None:
            t_eval = cfg["t_eval"]
            return Plan(t_eval=t_eval, t_end=float(t_eval[-1]), t_theory=t_theory, rate=rate, **parts)
        if cfg["t_end"] is not None:
            t_end = cfg["t_end"]
        elif t_theory is not None:
            # small α: the incremental-learning phase too (docs/math.md#small-alpha-horizon)
            t_end = default_t_end(cfg["alpha"], rate, self.activation_estimate(data, rate))
        else:
            t_end = axis.LAM0_T_END
        if self.stops_at_fit():
            return Plan(t_eval=axis.fit_save_times(-float(dynamics.log_rate0)), t_end=t_end, t_theory=None,
                        rate=rate, **parts)
        t_eval = save_times(t_end, t_theory, theorem_window=True, log_points=LAM0_POINTS)
        return Plan(t_eval=t_eval, t_end=t_end, t_theory=t_theory, rate=rate, **parts)

    def activation_estimate(self, data, rate: float) -> float:
        """t₁ at small initialization (u0 < 1: w starts far below O(1) and must grow first), NaN otherwise
        (:func:`grokode.models.alpha_axis.activation_estimate`; memoised per rate)."""
        found = self.implicit_profile(data)
        if found is None or not found[1] < 0.0:
            return math.nan
        cache = self.__dict__.setdefault("_activation_times", {})
        if rate not in cache:
            cache[rate] = axis.activation_estimate(found[0], found[1], data, self.config["loss"], rate)
        return cache[rate]

    def evaluator(self, data):
        """evaluate(name, W): the test metrics at weight rows W (the transition on the dense output)."""
        from ..tasks.metrics import empirical_metrics

        loss = self.config["loss"]

        def evaluate(name: str, W: np.ndarray) -> np.ndarray:
            if name == "test_acc_population":
                return np.atleast_1d(data.population_accuracy(W))
            if name == "test_loss_population":
                return np.atleast_1d(data.population_loss(W))
            values = empirical_metrics(data.X_test, data.y_test, W, loss)
            return values[1] if name == "test_acc" else values[0]

        return evaluate

    def observe(self, plan: Plan, solution) -> dict[str, np.ndarray]:
        from ..numeric.lazy_weights import is_lazy
        from ..observables import TrajectoryArrays
        from ..tasks.metrics import empirical_metrics, streamed_metrics, streamed_test_metrics

        data, loss, regression = plan.data, self.config["loss"], self.regression
        kind = "regression" if regression else "classification"
        W = solution.weights
        arrays = TrajectoryArrays({"t": solution.t, "w": W, "param_norm": solution.param_norm})
        compact = self.config["t_eval"] is None and W.size > COMPACT_FROM and self.saves_states() and len(
            solution.frames) == len(solution.t)
        if is_lazy(W):  # w computed from the saved states: every metric in one pass over its rows
            if len(W):  # the alignment's products with the reference predictors in the same pass
                W.plan_projections([p.w for p in self.reference_predictors(data) if p.feasible])
            # a compact file rebuilds the test-set metrics too; they are computed when first read (often never: the
            # transition reads the population metric), by a second pass
            deferred = compact and data.n_test > 0
            metrics, train_outputs = streamed_metrics(data, W, loss, kind, test=not deferred)
            self.__dict__["_train_outputs"] = (W, train_outputs)
            arrays.update(metrics, param_norm=W.param_norm)
            if deferred:
                def test_metrics() -> dict[str, np.ndarray]:
                    return streamed_test_metrics(data, W, loss, kind)

                arrays.defer(dict.fromkeys(self.observables.rebuilt_metrics, test_metrics))
        else:
            arrays["train_loss"], train_acc = empirical_metrics(data.X, data.y, W, loss, self.train_outputs(data, W))
            if not regression:
                arrays["train_acc"] = train_acc
            if data.n_test:
                arrays["test_loss"], test_acc = self.test_set_metrics(data, W)
                if not regression:
                    arrays["test_acc"] = test_acc
            population = data.population_loss(W) if regression else data.population_accuracy(W)
            if population is not None:
                arrays["test_loss_population" if regression else "test_acc_population"] = np.asarray(population)
        if compact:
            # the run is exactly determined by its n-dimensional states and the data (regenerated from the seed or
            # read from the file, checked by checksum): save those, and w is rebuilt from them when read
            arrays["state"] = solution.states
            arrays.update(solution.flow.encode_frames(solution.frames))
        return arrays

    def test_set_metrics(self, data, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(test loss, test accuracy) of the rows of W. A classification at w = 0 (the initial state a run writes at
        its start) has every output 0: each example is a tie and costs ℓ(0) whatever its ±1 label, so a test set not
        drawn yet is not drawn for it (labels of ones give the same numbers, bit for bit)."""
        from ..tasks.metrics import empirical_metrics

        loss = self.config["loss"]
        if not self.regression and not data.test_drawn and not np.any(W):
            zeros = np.zeros((np.atleast_2d(W).shape[0], data.n_test))
            return empirical_metrics(data.X, np.ones(data.n_test), W, loss, zeros)
        return empirical_metrics(data.X_test, data.y_test, W, loss)

    def saves_states(self) -> bool:
        """Whether the run integrates a reduced flow whose states and frames determine w (a compact file)."""
        return self.config.get("formulation") == "reduced" and self.config["method"] not in DISCRETE_METHOD_NAMES

    def train_outputs(self, data, W: np.ndarray) -> np.ndarray:
        """The T×n training outputs XW (a T×n×d product), shared by the metrics and the margins: computed once per
        trajectory (a memo of a pure function of the data and W)."""
        from ..tasks.metrics import outputs

        memo = self.__dict__.get("_train_outputs")
        if memo is None or memo[0] is not W:
            memo = (W, outputs(data.X, W))
            self.__dict__["_train_outputs"] = memo
        return memo[1]

    @classmethod
    def rebuild_weights(cls, meta: dict[str, Any], arrays: Mapping[str, np.ndarray], data=None) -> np.ndarray:
        """w of a run read from a file that stores the reduced flow's states (:data:`COMPACT_FROM`); ``data``: its
        data set (:meth:`rebuilt_data`) if already rebuilt."""
        data = cls.rebuilt_data(meta, "w") if data is None else data
        flow = cls.flow_for(meta["options"], data)
        frames = flow.decode_frames(arrays)
        return flow.weights_of_states(arrays["t"], arrays["state"], frames)

    @classmethod
    def rebuild_test_metrics(cls, meta: dict[str, Any], arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The test-set metrics (:data:`TEST_METRICS`) of a compact file that left them out, computed as the run
        computed them (:func:`~grokode.tasks.metrics.streamed_test_metrics`) on the rebuilt w and the test set,
        regenerated or read like the training set; with w when ``arrays`` has not rebuilt it yet."""
        from ..observables import TrajectoryArrays
        from ..tasks.metrics import streamed_test_metrics

        data = cls.rebuilt_data(meta, "the test metrics")
        pending = arrays.pending if isinstance(arrays, TrajectoryArrays) else ()
        W = cls.rebuild_weights(meta, arrays, data) if "w" in pending else np.asarray(arrays["w"])
        loss = meta["options"]["loss"]
        found = streamed_test_metrics(data, W, loss, "regression" if loss == "squared" else "classification")
        return {"w": W, **found} if "w" in pending else found

    @staticmethod
    def rebuilt_data(meta: dict[str, Any], what: str):
        """The data set of a run read from a compact file: regenerated from the seed or read from its --data file,
        and checked against the run's checksum."""
        from ..tasks import load_npz, make_task

        options, params = meta["options"], meta.get("dataset", {})
        if options.get("data"):
            data = load_npz(options["data"], options["loss"])
        else:
            data = make_task(options["task"], n=options["n"], d=options["d"], k=params.get("k", 3),
                             gamma=params.get("gamma", 5.0), n_test=params.get("n_test", options.get("n_test", 0)),
                             seed=options["seed"])
        if not same_data(meta.get("trajectory", {}).get("data_sha256"), data):
            raise InputError("the data set rebuilt for this run differs from the one it was integrated on (a changed "
                             f"--data file, or another numpy's random streams): {what} cannot be recomputed from "
                             "'state'")
        return data

    @classmethod
    def flow_for(cls, options: Mapping[str, Any], data):
        """The reduced flow a run with these recorded options integrated (for :meth:`rebuild_weights`)."""
        raise InputError(f"model {cls.name!r} cannot rebuild w from saved states")

    def references(self, plan: Plan, solution, arrays: dict[str, np.ndarray]) -> References | None:
        from ..analysis.analyze import reference_arrays

        if not arrays["w"].shape[0]:
            return None
        alignment, predictors = reference_arrays(plan.data, arrays["w"], self.problem_type, self.config["loss"],
                                                 self.train_outputs(plan.data, arrays["w"]),
                                                 pair=self.reference_predictors(plan.data))
        predictors.update(self.decay_reference(plan.data))
        return References(predictors, alignment)

    def reference_predictors(self, data) -> tuple[Any, Any]:
        """(kernel, rich) reference predictors of ``data`` (:class:`~grokode.analysis.predictors.Predictor`), solved
        once per data set: a run whose w is computed from its states projects onto them in its one pass over the
        rows, before its references are assembled."""
        memo = self.__dict__.get("_reference_predictors")
        if memo is None or memo[0] is not data:
            memo = (data, self.solve_reference_predictors(data))
            self.__dict__["_reference_predictors"] = memo
        return memo[1]

    def solve_reference_predictors(self, data) -> tuple[Any, Any]:
        """(kernel, rich): the max ℓ2 / max ℓ1 margin classifiers, or the min ℓ2 / min ℓ1 interpolants."""
        from ..analysis.predictors import predictor_pair

        return predictor_pair(self.data_matrix(data), data.y, self.problem_type)

    def regularizer(self) -> tuple[float, float]:
        """(c₊, c₋): ψ(w) = c_±|w|^{2/L} = min{‖θ‖² : w(θ) = w}; both 1 for the diagonal net (docs/math.md#setting)."""
        return 1.0, 1.0

    def decay_reference(self, data) -> dict[str, dict]:
        """``{"rich_decay": record}`` for regression with weight decay at degree 2, else empty: the weighted lasso
        argmin L(w) + (λ/2)·ψ(w) the flow ends at (:func:`~grokode.analysis.predictors.lasso.weighted_lasso`), the
        rich level of the regime label (docs/math.md#regimes-of-a-run). Label-noise SGD's effective decay is not λ,
        so it has none."""
        cfg = self.config
        found = self.implicit_profile(data)
        if (not self.regression or cfg["lam"] <= 0 or found is None or found[0].degree != 2
                or cfg.get("method") == "label-noise-sgd"):
            return {}
        from ..analysis.analyze import predictor_record
        from ..analysis.predictors.lasso import weighted_lasso

        c_plus, c_minus = self.regularizer()
        lasso = weighted_lasso(self.data_matrix(data), data.y, 0.5 * cfg["lam"], c_plus, c_minus)
        return {"rich_decay": predictor_record(data, lasso, self.problem_type, cfg["loss"])}

    def summarize(self, plan: Plan, solution, arrays, transition, references) -> dict[str, Any]:
        cfg, data = self.config, plan.data
        out: dict[str, Any] = {}
        found = self.implicit_profile(data)
        if self.fits_to_interpolation() and found is not None:
            out.update(axis.implicit_summary(found[0], found[1], data, arrays))
        scale = self.saddle_scale(data)
        if scale is not None and scale[0] == 2 and self.regression and arrays["w"].shape[0]:
            out.update(axis.saddle_summary(data, cfg["lam"], scale[1], solution, arrays, self.weight_at(solution)))
        out["regime"] = self.regime(arrays, references)
        if references is not None and "rich_decay" in references.predictors:
            out["rich_decay_test"] = references.predictors["rich_decay"]["test_value"]
        if cfg["alpha"] <= 1.0:
            out["t_theory"] = None  # ln(α)/λ ≤ 0: there is no kernel phase to time
        t_one = self.activation_estimate(data, plan.rate)
        out["t_activation"] = t_one if math.isfinite(t_one) else None
        return out

    def regime(self, arrays: dict, references: References | None) -> str | None:
        """The run's regime on the α axis (:func:`~grokode.analysis.regime.classify_regime`), None if unreadable."""
        from ..analysis.regime import classify_regime, classify_regression_regime

        if references is None:
            return None
        classification = not self.regression
        metric = next((k for k in (("test_acc_population", "test_acc") if classification else
                                   ("test_loss_population", "test_loss")) if k in arrays), None)
        train = arrays.get("train_acc" if classification else "train_loss")
        kernel = references.predictors["kernel"]["test_value"]
        rich = references.predictors["rich"]["test_value"]
        # with weight decay the flow ends at the decay-aware rich predictor where there is one
        rich_decay = references.predictors.get("rich_decay", {}).get("test_value")
        if metric is None or train is None or kernel is None or rich is None:
            return None
        if classification:
            return classify_regime(arrays["t"], train, arrays[metric], "classification", kernel, rich,
                                   train_loss=arrays["train_loss"])
        return classify_regression_regime(arrays["t"], train, arrays[metric], kernel, rich, rich_decay)

    def file_stem(self) -> str:
        cfg = self.config
        n, d = self._data_shape()
        name = (cfg["data"] and _stem(cfg["data"])) or cfg["task"]
        return f"{self.name}-{name}-n{n}-d{d}-a{cfg['alpha']:.0e}-lam{cfg['lam']:.0e}-s{cfg['seed']}".replace("+", "")


#: The test-set metrics of a regression (the first) and of a classification: a compact file may leave them out.
TEST_METRICS = ("test_loss", "test_acc")
#: The per-time arrays of a linear model's run and their number of dimensions.
PER_TIME = {"w": 2, "param_norm": 1, "train_loss": 1, "train_acc": 1, "test_loss": 1, "test_acc": 1,
            "test_acc_population": 1, "test_loss_population": 1, "cos_kernel": 1, "cos_rich": 1, "margin_l2": 1,
            "margin_l1": 1}


def _stem(path: str) -> str:
    from pathlib import Path

    return Path(path).stem
