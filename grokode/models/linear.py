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
from typing import Any, ClassVar

import numpy as np

from ..errors import InputError
from ..options import Option
from .base import (
    ATOL,
    DATA,
    RTOL,
    SEED,
    T_END,
    T_EVAL,
    Model,
    Plan,
    check_horizon,
    default_t_end,
    fit_time,
    jsonable,
    save_times,
    theory_time,
    undo_log10,
    with_default,
)

TASKS = ("sparse", "margin", "sparse-regression")
LOSSES = ("logistic", "exponential", "squared")
#: Default horizon without weight decay: the float64 end of time. The margin, hence the scale of w, grows only
#: like ln t, and the ℓ1 geometry takes over once it is large against u0² = α²/(2d), so the rise of the test
#: accuracy is spread over ln t ~ poly(α): any horizon short of float64's limit cuts it off. The log-time flow
#: (and normalized GD) cost ~ln(t_end) steps, so going this far is cheap (docs/math.md#no-weight-decay).
LAM0_T_END = 1e300
#: Saved times without weight decay (log-spaced, about one per 0.8 decade up to 1e300).
LAM0_POINTS = 400
#: Squared loss at λ = 0: the run is saved at FIT_POINTS log-spaced times over [1e-3, 1e9]·T (T the time scale on
#: which the flow leaves w = 0, :meth:`LinearModel.log_fit_time_scale`), then FIT_TAIL_POINTS more up to 1e300;
#: it stops at interpolation, usually within the first range.
FIT_POINTS = 400
FIT_TAIL_POINTS = 60
#: Squared loss at λ = 0: fitting on a time scale below this is refused (float64 times; α ≳ 1e150).
MIN_FIT_TIME = 1e-290
#: Degree L ≥ 3: the reduced flow resolves the first activation only when u0^{L−2} ≥ MIN_BRACKET (measured on n 20,
#: d 40 at L = 3…6: 1e-7 and 8e-7 ran, 9e-8 and 1e-8 failed with a step below float64's spacing).
MIN_BRACKET = 1e-7
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

    Subclasses declare ``options`` (including :data:`DATA_OPTIONS` and :data:`RUN_OPTIONS`), implement
    :meth:`solve` (a solution whose ``weights`` are w at the saved times) and may extend :meth:`resolve`
    (calling :meth:`resolve_data` first), :meth:`memory_estimate`, :meth:`summarize` and :meth:`record`.
    """

    analysis_keys: ClassVar[tuple[str, ...]] = ANALYSIS_KEYS
    #: Rate of the decay that sets t_theory, if not λ (label-noise SGD adds λ_eff).
    lam_eff: float | None = None

    # -- options -----------------------------------------------------------------------------------------
    def resolve_data(self) -> None:
        """The data's and the horizon's rules: options of another task, the loss, --t-end with --t-eval."""
        c = self.config
        if "data" in self.given:
            self.refuse_unless(False, GENERATOR_OPTIONS, "with --data (the data file fixes the data set)")
            self.refuse_unless(self.uses_seed_with_data(), ("seed",), "with --data (no random draw uses it)")
            c["task"] = None
            self._data_shape()  # reads the file's headers: a missing, unreadable or oversized file fails here
        else:
            task = c["task"]
            self.refuse_unless(task != "margin", ("k",), "with --task margin (its teacher is dense)")
            self.refuse_unless(task == "margin", ("gamma",), f"with --task {task} (only the margin task has γ)")
            if task in ("sparse", "sparse-regression") and (c["k"] % 2 == 0 or c["k"] > c["d"]):
                raise InputError(f"k must be odd with 1 ≤ k ≤ d = {c['d']}, got {c['k']}")
        regression_task = c["task"] == "sparse-regression"
        if c["loss"] is None:
            c["loss"] = "squared" if regression_task else "logistic"
        elif regression_task and c["loss"] != "squared":
            raise InputError(f"task 'sparse-regression' is a regression task: its labels are not ±1, so loss "
                             f"{c['loss']!r} does not apply (use --loss squared)")
        self.kind = "regression" if c["loss"] == "squared" else "classification"
        self.refuse_unless("t_eval" not in self.given, ("t_end",), "together with --t-eval (its last time is the "
                           "horizon)")

    def read_data_now(self) -> None:
        """Read and check a --data file (labels, NaN, shapes) during validation; :meth:`prepare` reuses it."""
        if "data" in self.given:
            from ..files import require_memory

            require_memory(*self.memory_estimate())
            self.data = self.make_dataset()

    def uses_seed_with_data(self) -> bool:
        """Whether the run draws random numbers even on a data file (then --seed applies)."""
        return False

    def resolve(self) -> None:
        self.resolve_data()
        self.check_decay_and_horizon()
        self.read_data_now()

    def check_decay_and_horizon(self) -> None:
        """A horizon that float64 integrators resolve (λ = 0 with the squared loss runs to interpolation)."""
        self.refuse_full_formulation_at_fit()
        horizon, name = self._horizon()
        if horizon is not None:
            check_horizon(horizon, name)


    # -- λ = 0 with the squared loss: the run stops at interpolation, and the finite-α predictor ----------
    def fits_to_interpolation(self) -> bool:
        """Whether the flow ends at an interpolant (squared loss, λ = 0, a flow method; docs/math.md#lam0-regression).
        Gradient descent and label-noise SGD are stepped to their own horizons."""
        return (self.config["lam"] == 0 and self.kind == "regression"
                and self.config.get("method") not in DISCRETE_METHOD_NAMES)

    def refuse_full_formulation_at_fit(self) -> None:
        """The stop at interpolation is a rule of the reduced flow (in log time): the full formulation needs a
        horizon of the user's."""
        c = self.config
        if self.stops_at_fit() and c.get("formulation") == "full":
            raise InputError(f"lam={c['lam']!r} with squared loss stops at interpolation on the reduced flow (in log "
                             "time); --formulation full integrates in t: pass a horizon --t-end")

    def stops_at_fit(self) -> bool:
        """Whether the run ends at the interpolation rule (no horizon of the user's)."""
        c = self.config
        return self.fits_to_interpolation() and c["t_end"] is None and c["t_eval"] is None

    def check_interpolant(self) -> None:
        """λ = 0 with the squared loss: InputError (before anything is integrated) when Xw = y has no solution."""
        if not self.fits_to_interpolation():
            return
        from ..analysis.implicit_bias import interpolant_exists

        X = np.asarray(self.data.X, dtype=np.float64)
        exists, rank = interpolant_exists(X, self.data.y)
        if not exists:
            n = X.shape[0]
            raise InputError(f"lam={self.config['lam']!r} with squared loss: no interpolant exists (rank X = {rank} < "
                             f"n = {n} and y is not in the range of X), so the flow has no end to stop at (use "
                             "lam > 0 or --t-end)")

    def implicit_profile(self):
        """(profile, log of its scale) of the model's λ = 0 closed form w = F(Γ), for the finite-α predictor;
        None if the model has none."""
        return None

    def implicit_summary(self, arrays: dict) -> dict[str, Any]:
        """λ = 0, squared loss: ``w_implicit`` (into ``arrays``) and its summary keys (docs/math.md#finite-alpha)."""
        found = self.implicit_profile()
        if not self.fits_to_interpolation() or found is None:
            return {}
        from ..analysis.implicit_bias import implicit_interpolant, relative_distance

        profile, log_c = found
        pred = implicit_interpolant(np.asarray(self.data.X, dtype=np.float64), self.data.y, profile, log_c)
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

    def _data_shape(self) -> tuple[int, int]:
        """(n, d) of the training set, read from a data file's headers without loading it."""
        c = self.config
        if c.get("data") is None:
            return c["n"], c["d"]
        if getattr(self, "_shape", None) is None:
            from ..files import npz_array_headers

            headers = npz_array_headers(c["data"], "data file")
            if "X" not in headers:
                found = ", ".join(sorted(headers)) or "none"
                raise InputError(f"data file {c['data']!r} has no array 'X' (found: {found})")
            shape = headers["X"][0]
            if len(shape) != 2:
                raise InputError(f"array X in {c['data']!r} must be 2-D, got shape {shape}")
            if min(shape) < 1:
                raise InputError(f"array X in {c['data']!r} is empty (shape {shape}): it needs n ≥ 1 rows and d ≥ 1 "
                                 "columns")
            self._shape = (int(shape[0]), int(shape[1]))
            self._headers = headers
        return self._shape

    def data_bytes(self) -> float:
        """Bytes of the data set once loaded (X, Xᵀ and, for ±1 data, the sign bits; float64 for other data)."""
        c = self.config
        n, d = self._data_shape()
        if c.get("data") is not None:
            # the loader reads each array and converts it to float64 (then X and Xᵀ are kept)
            return sum(16.0 * float(np.prod(shape, dtype=np.float64))
                       for key, (shape, _) in self._headers.items() if key in ("X", "y", "X_test", "y_test"))
        per_entry = 8.0 if c["task"] == "margin" else 2.3  # float64 X and Xᵀ, or int8 X, Xᵀ and sign bits
        return per_entry * (n + c["n_test"]) * d

    def memory_estimate(self) -> tuple[float, str]:
        c = self.config
        n, d = self._data_shape()
        saves = len(c["t_eval"]) if c["t_eval"] is not None else 400
        weights = 8.0 * saves * d
        if c["t_eval"] is None and c.get("formulation", "reduced") == "reduced" and c.get(
                "method") not in DISCRETE_METHOD_NAMES:  # a reduced flow keeps its states: w is read in blocks
            from ..numeric.lazy_weights import BLOCK_BYTES, CACHE_BYTES

            weights = min(weights, float(max(CACHE_BYTES, BLOCK_BYTES)))
        trajectory = weights + 8.0 * saves * (n + c["n_test"])
        return self.data_bytes() + trajectory + self.solver_bytes(), self.describe_size(saves)

    def solver_bytes(self) -> float:
        """Bytes the dynamics need besides the data and the trajectory (a reduced flow's n×n Jacobian)."""
        n = self._data_shape()[0]
        return 3 * 8.0 * n * n

    def describe_size(self, saves: int) -> str:
        c = self.config
        n, d = self._data_shape()
        where = f" on {c['data']!r}" if c.get("data") is not None else ""
        sizes = f"n={n}" + (f", n_test={c['n_test']}" if c.get("data") is None and c["n_test"] else "") + f", d={d}"
        times = f" and {saves} saved times" if c["t_eval"] is not None else ""
        return f"a {self.name} run{where} with {sizes}{times}"

    # -- the run -----------------------------------------------------------------------------------------
    def make_dataset(self):
        from ..tasks import load_npz, make_task

        c = self.config
        if c["data"] is not None:
            return load_npz(c["data"], c["loss"])
        return make_task(c["task"], n=c["n"], d=c["d"], k=c["k"], gamma=c["gamma"], n_test=c["n_test"],
                         seed=c["seed"])

    def prepare(self) -> Plan:
        c = self.config
        if getattr(self, "data", None) is None:
            self.data = self.make_dataset()
        self.check_alpha_axis()
        return self.plan(c["lam"])

    def check_alpha_axis(self) -> None:
        """The data-dependent refusals of the α axis, before anything is integrated (docs/math.md#alpha-axis):
        no interpolant at λ = 0 with the squared loss, a fitting time below float64's range, an activation at
        degree ≥ 3 the reduced flow cannot resolve."""
        self.check_interpolant()
        self.check_fit_time()
        self.check_activation()

    def plan(self, rate: float) -> Plan:
        """The save times for decay rate ``rate`` (λ, or λ + λ_eff): --t-eval, or the model's horizon rule."""
        c = self.config
        t_theory = theory_time(c["alpha"], rate)
        if c["t_eval"] is not None:
            t_eval = c["t_eval"]
            return Plan(t_eval=t_eval, t_end=float(t_eval[-1]), t_theory=t_theory, rate=rate)
        if c["t_end"] is not None:
            t_end = c["t_end"]
        elif t_theory is not None:
            # small α: the incremental-learning phase too (docs/math.md#small-alpha-horizon)
            t_one = self.activation_estimate(rate) if self.small_initialization() else math.nan
            t_end = default_t_end(c["alpha"], rate, t_one)
        else:
            t_end = LAM0_T_END
        if self.stops_at_fit():
            return Plan(t_eval=fit_save_times(self.log_fit_time_scale()), t_end=t_end, t_theory=None, rate=rate)
        t_eval = save_times(t_end, t_theory, theorem_window=True, log_points=LAM0_POINTS)
        return Plan(t_eval=t_eval, t_end=t_end, t_theory=t_theory, rate=rate)

    def small_initialization(self) -> bool:
        """Whether the profile's scale is below 1 (u0 < 1: w starts far below O(1) and must grow first)."""
        found = self.implicit_profile()
        return found is not None and found[1] < 0.0

    def activation_estimate(self, rate: float | None = None) -> float:
        """t₁: when the first coordinate's |w_j| reaches 1 under the initial gradient (0 at large α, inf if never;
        :func:`~grokode.analysis.alpha_axis.activation_time`), at decay rate ``rate`` (default λ); NaN for a model
        without a profile."""
        lam = self.config["lam"] if rate is None else rate
        cache = self.__dict__.setdefault("_t_one", {})
        if lam not in cache:
            found = self.implicit_profile()
            if found is None:
                cache[lam] = math.nan
            else:
                from ..analysis.alpha_axis import activation_time
                from ..numeric.generated import LOSS_NAMES, loss_residual
                from ..tasks.metrics import transposed_product

                profile, log_c = found
                loss_id = LOSS_NAMES.index(self.config["loss"])
                r0 = np.array([loss_residual(loss_id, 0.0, float(v)) for v in self.data.y])
                g = transposed_product(self.data.X, r0) / self.data.n  # int8 X is not converted whole
                cache[lam] = activation_time(profile, log_c, profile.degree, lam, g)
        return cache[lam]

    def check_activation(self) -> None:
        """Degree L ≥ 3 at small α: InputError with the estimate of t₁ when the reduced flow cannot resolve the
        first activation (its bracket must shrink by u0^{−(L−2)}; measured to fail below :data:`MIN_BRACKET`)."""
        found = self.implicit_profile()
        c = self.config
        if found is None or c.get("formulation", "reduced") != "reduced" or c.get("method") in DISCRETE_METHOD_NAMES:
            return
        profile, log_c = found
        L = profile.degree
        if L < 3 or (L - 2) * log_c >= math.log(MIN_BRACKET):
            return
        t_one = self.activation_estimate()
        if not math.isfinite(t_one):
            return  # the decay wins: nothing activates, and the run decays to w = 0 (it finishes)
        alpha_min = c["alpha"] * math.exp((math.log(MIN_BRACKET) / (L - 2)) - log_c)
        raise InputError(f"alpha={c['alpha']:g} at degree {L}: the first coordinate activates only at t ≈ {t_one:.3g} "
                         f"(≈ u0^-(L-2)/(L(L-2)·max|g|), u0^(L-2) = {math.exp((L - 2) * log_c):.1e}); the reduced "
                         f"flow cannot resolve an activation with u0^(L-2) < {MIN_BRACKET:g}: use alpha ≥ "
                         f"{alpha_min:.3g}")

    def log_fit_time_scale(self) -> float:
        """log T of the time scale on which the flow leaves w = 0: T = 1/max(kernel rate, activation rate) of the
        reduced flow at its start (``log_rate0``); its start is at 10⁻⁶T."""
        return -float(self.make_flow().log_rate0)  # type: ignore[attr-defined]  # each reduced model has one

    def check_fit_time(self) -> None:
        """λ = 0 with the squared loss: InputError when fitting happens at times float64 cannot hold (t < 1e-290)."""
        if not self.stops_at_fit():
            return
        log_T = self.log_fit_time_scale()
        if log_T < math.log(MIN_FIT_TIME):
            raise InputError(f"alpha={self.config['alpha']:g} with lam=0: the flow fits the data on a time scale "
                             f"t ≈ 1e{log_T / math.log(10.0):.0f} (it shrinks like α^-(2L-2) at degree L), below what "
                             f"float64 times hold ({MIN_FIT_TIME:g}); use a smaller α")

    def observe(self, plan: Plan, sol) -> dict[str, np.ndarray]:
        from ..numeric.lazy_weights import is_lazy
        from ..tasks.metrics import empirical_metrics, outputs, streamed_metrics

        ds, loss, kind = self.data, self.config["loss"], self.kind
        W = sol.weights
        arrays: dict[str, np.ndarray] = {"t": sol.t, "w": W, "param_norm": sol.param_norm}
        if is_lazy(W):  # w computed from the saved states: every metric in one pass over its rows
            metrics, self._F_train = streamed_metrics(ds, W, loss, kind)
            arrays.update(metrics, param_norm=W.param_norm)
        else:
            self._F_train = outputs(ds.X, W)  # T×n outputs, shared by the metrics and the margins (a T×n×d product)
            arrays["train_loss"], train_acc = empirical_metrics(ds.X, ds.y, W, loss, self._F_train)
            if kind == "classification":
                arrays["train_acc"] = train_acc
            if ds.X_test is not None:
                arrays["test_loss"], test_acc = empirical_metrics(ds.X_test, ds.y_test, W, loss)
                if kind == "classification":
                    arrays["test_acc"] = test_acc
            pop = ds.population_accuracy(W) if kind == "classification" else ds.population_loss(W)
            if pop is not None:
                key = "test_acc_population" if kind == "classification" else "test_loss_population"
                arrays[key] = np.asarray(pop)
        flow = getattr(sol, "flow", None)  # a discrete method's solution has no flow, and stores its w
        if self.config["t_eval"] is None and W.size > COMPACT_FROM and hasattr(flow, "encode_frames") and len(
                sol.frames) == len(sol.t):
            # the run is exactly determined by its n-dimensional states and the data (regenerated from the seed or
            # read from the file, checked by checksum): save those, and w is rebuilt from them when read
            arrays["state"] = sol.states
            arrays.update(sol.flow.encode_frames(sol.frames))
            self.derived = ("w",)
        return arrays

    def extra_meta(self) -> dict[str, Any]:
        if not getattr(self, "derived", ()):
            return {}
        return {"trajectory": {"derived": list(self.derived), "from": "state", "data_sha256": data_digest(self.data)}}

    @classmethod
    def rebuild(cls, key: str, meta: dict[str, Any], arrays) -> np.ndarray:
        """A derived array (``w``) of a run read from a file that stores the reduced flow's states."""
        from ..tasks import load_npz, make_task

        o, params = meta["options"], meta.get("dataset", {})
        if key != "w":
            raise InputError(f"{key!r} cannot be rebuilt from the saved states")
        if o.get("data"):
            ds = load_npz(o["data"], o["loss"])
        else:
            ds = make_task(o["task"], n=o["n"], d=o["d"], k=params.get("k", 3), gamma=params.get("gamma", 5.0),
                           n_test=params.get("n_test", o.get("n_test", 0)), seed=o["seed"])
        expected = meta.get("trajectory", {}).get("data_sha256")
        if expected is not None and data_digest(ds) != expected:
            raise InputError("the data set rebuilt for this run differs from the one it was integrated on (a changed "
                             f"--data file, or another numpy's random streams): w cannot be recomputed from {key!r}")
        flow = cls.flow_for(o, ds)
        frames = flow.decode_frames(arrays)
        return flow.weights_of_states(arrays["t"], arrays["state"], frames)

    @classmethod
    def flow_for(cls, options: dict[str, Any], data):
        """The reduced flow a run with these recorded options integrated (for :meth:`rebuild`)."""
        raise InputError(f"model {cls.name!r} cannot rebuild w from saved states")

    def transition_metric(self, arrays: dict[str, np.ndarray]):
        """(name, metric(W) → values) of the curve whose jump is the transition, or (None, None).

        The population accuracy if known, else the test set's; for regression log10 of the test loss.
        """
        from ..tasks.metrics import empirical_metrics

        ds, loss = self.data, self.config["loss"]
        if self.kind == "classification":
            if "test_acc_population" in arrays:
                return "test_acc_population", lambda W: np.atleast_1d(ds.population_accuracy(W))
            if ds.X_test is not None:
                return "test_acc", lambda W: empirical_metrics(ds.X_test, ds.y_test, W, loss)[1]
            return None, None
        if "test_loss_population" in arrays:
            return "log10_test_loss_population", lambda W: np.log10(np.atleast_1d(ds.population_loss(W)))
        if ds.X_test is not None:
            return "log10_test_loss", lambda W: np.log10(empirical_metrics(ds.X_test, ds.y_test, W, loss)[0])
        return None, None

    def locate_transition(self, plan: Plan, sol, arrays: dict[str, np.ndarray]):
        from ..analysis.transition import find_transition

        name, metric = self.transition_metric(arrays)
        self._metric_name = name
        if metric is None or not sol.t.size:
            return None, name

        # before the flow's start (small α: 1e-6 of its activation time scale) w grows linearly along a fixed
        # direction, so the metric there is the one at the start
        t_start = float(sol.flow.to_time(sol.pieces[0].lo)) if sol.pieces else 0.0
        if sol.t.size:  # a continued run's pieces start where it resumed; its earlier saved rows are read below
            t_start = min(t_start, float(sol.t[0]))

        def dense_metric(s: float) -> float:
            return metric(sol.weight_at(max(s, t_start))[None, :])[0]

        from ..numeric.lazy_weights import is_lazy
        from ..tasks.metrics import saved_metric

        saved = saved_metric(arrays, name) if is_lazy(arrays["w"]) else metric(arrays["w"])
        transition = find_transition(
            sol.t, saved, plan.t_theory, min_change=0.05 if self.kind == "classification" else 0.5,
            metric=dense_metric if sol.pieces else None,
            t_start=None if plan.t_theory is not None else fit_time(sol.t, arrays, self.kind))
        return transition, name

    def references(self, plan: Plan, sol, arrays: dict[str, np.ndarray]) -> dict | None:
        from ..analysis.analyze import reference_arrays

        if not arrays["w"].shape[0]:
            return None
        alignment, references = reference_arrays(self.data, arrays["w"], self.kind, self.config["loss"],
                                                 self._F_train)
        arrays.update(alignment)
        return references

    def summarize(self, plan: Plan, sol, arrays, transition, references) -> dict[str, Any]:
        def undo(v):
            return undo_log10(v) if self.kind == "regression" else (None if v is None else float(v))

        W = arrays["w"]
        out = {
            "test_plateau": undo(transition.plateau) if transition else None,
            "test_final": undo(transition.final) if transition else None,
            "train_final": float(arrays["train_acc" if self.kind == "classification" else "train_loss"][-1])
            if W.size else None,
            "transition_metric": self._metric_name,
        }
        if references is not None:
            for name in ("kernel", "rich"):
                out[f"{name}_test"] = references[name]["test_value"]
        out.update(self.implicit_summary(arrays))
        out.update(self.saddle_summary(sol, arrays))
        out["regime"] = self.regime(arrays, references)
        if self.config["alpha"] <= 1.0:
            out["t_theory"] = None  # ln(α)/λ ≤ 0: there is no kernel phase to time
        t_one = self.activation_estimate(plan.rate) if self.small_initialization() else math.nan
        out["t_activation"] = t_one if math.isfinite(t_one) else None
        return out

    def regime(self, arrays: dict, references: dict | None) -> str | None:
        """The run's regime on the α axis (:func:`~grokode.analysis.regime.classify_regime`), None if unreadable."""
        from ..analysis.regime import classify_regime, classify_regression_regime

        if references is None:
            return None
        classification = self.kind == "classification"
        metric = next((k for k in (("test_acc_population", "test_acc") if classification else
                                   ("test_loss_population", "test_loss")) if k in arrays), None)
        train = arrays.get("train_acc" if classification else "train_loss")
        kernel, rich = references["kernel"]["test_value"], references["rich"]["test_value"]
        if metric is None or train is None or kernel is None or rich is None:
            return None
        if classification:
            return classify_regime(arrays["t"], train, arrays[metric], self.kind, kernel, rich,
                                   train_loss=arrays["train_loss"])
        return classify_regression_regime(arrays["t"], train, arrays[metric], kernel, rich)

    # -- degree 2 with the squared loss: the saddle-to-saddle staircase (docs/math.md#saddle-to-saddle) ---------
    def saddle_scale(self) -> tuple[int, dict[str, Any] | str] | None:
        """(degree, the α → 0 limit's arguments of :func:`grokode.analysis.saddles.saddle_summary` — ``log_u0`` and
        optionally ``box``, ``levels`` — or the reason it does not apply); None: no staircase."""
        return None

    def saddle_summary(self, sol, arrays: dict) -> dict[str, Any]:
        """Degree 2, squared loss: the measured jumps and plateaus, and their α → 0 prediction
        (:func:`grokode.analysis.saddles.saddle_summary`)."""
        found = self.saddle_scale()
        W = arrays["w"]
        if found is None or found[0] != 2 or self.kind != "regression" or not W.shape[0]:
            return {}
        from ..analysis.saddles import saddle_summary

        times = np.asarray(arrays["t"], dtype=np.float64)
        weight_at = self.weight_at(sol)
        # the solver's step ends bracket crossings that fall between two saved times; w there is computed as the
        # rows are read, so the merged sequence never holds more than one w
        ends = [(float(sol.flow.to_time(p.hi)), p) for p in sol.pieces] if weight_at is not None else []
        saved = set(times.tolist())
        ends = [(t, p) for t, p in ends if t < times[-1] and t not in saved]
        order = sorted([(float(t), k, None) for k, t in enumerate(times)] + [(t, -1, p) for t, p in ends],
                       key=lambda item: item[0])

        def rows():
            for t, k, piece in order:
                yield t, (W[k] if piece is None else sol.flow.weight(piece.hi, piece.dense(piece.hi), piece.frame))

        saved_weight = _saved_weight(arrays["t"], W)

        def dense_or_saved(t: float) -> np.ndarray:
            # before the flow's start (the saved initial state at t = 0 and a crossing located next to it) there is
            # no dense output: the saved rows are read there
            if weight_at is None:
                return saved_weight(t)
            try:
                return weight_at(t)
            except InputError:
                return saved_weight(t)

        limit = found[1] if isinstance(found[1], dict) else {"log_u0": None, "limit_refused": found[1]}
        return saddle_summary(np.asarray(self.data.X, dtype=np.float64), self.data.y, rows(), dense_or_saved,
                              lam=self.config["lam"], **limit)

    def weight_at(self, sol):
        return sol.weight_at if sol.pieces else None

    def record(self, plan: Plan) -> tuple[dict[str, Any], dict[str, Any]]:
        c, ds = self.config, self.data
        options = {"model": self.name, "task": c["task"], "data": c["data"], "n": ds.n, "d": ds.d, "k": c["k"],
                   "gamma": c["gamma"], "n_test": c["n_test"], "seed": c["seed"], "loss": c["loss"],
                   "alpha": c["alpha"], "lam": c["lam"], "t_end": plan.t_end, "rtol": c["rtol"], "atol": c["atol"],
                   "method": c["method"]}
        dataset = {"name": ds.name, "kind": self.kind, **jsonable(ds.params)}
        return options, dataset

    def file_stem(self) -> str:
        c = self.config
        n, d = self._data_shape()
        name = (c["data"] and _stem(c["data"])) or c["task"]
        return f"{self.name}-{name}-n{n}-d{d}-a{c['alpha']:.0e}-lam{c['lam']:.0e}-s{c['seed']}".replace("+", "")


def fit_save_times(log_T: float) -> np.ndarray:
    """Save times of a λ = 0 squared-loss run: dense over [1e-3, 1e9]·T, then sparse up to :data:`LAM0_T_END`."""
    lo, hi = log_T + math.log(1e-3), min(log_T + math.log(1e9), math.log(LAM0_T_END))
    dense = np.exp(np.linspace(lo, hi, FIT_POINTS))
    tail = (np.exp(np.linspace(hi, math.log(LAM0_T_END), FIT_TAIL_POINTS))[1:] if hi < math.log(LAM0_T_END)
            else np.empty(0))
    return np.unique(np.concatenate([dense, tail]))


def _saved_weight(t: np.ndarray, W: np.ndarray):
    """w(t) read at the saved time at or before t (methods without a dense output)."""
    def weight_at(s: float) -> np.ndarray:
        return W[max(0, int(np.searchsorted(t, s, side="right")) - 1)]
    return weight_at


def data_digest(ds) -> str:
    """SHA-256 of a data set's training inputs and labels: identifies the data a saved state belongs to."""
    import hashlib

    h = hashlib.sha256()
    for a in (ds.X, ds.y):
        h.update(np.ascontiguousarray(a).reshape(-1).view(np.uint8))  # the bytes, without a copy
    return h.hexdigest()


def _stem(path: str) -> str:
    from pathlib import Path

    return Path(path).stem
