"""The depth-L diagonal linear network on linear classification or regression (docs/math.md#diagonal).

f(θ; x) = ⟨u^{⊙L} − v^{⊙L}, x⟩ from u(0) = v(0) = α/√(2d)·1, trained by gradient flow with weight decay λ
(paper §3.2.3, eq. 4). Its 2d-dimensional flow reduces exactly to n unknowns
(:class:`~grokode.numeric.diagonal.ReducedDiagonalFlow`); the full flow, full-batch gradient descent (the
paper's pipeline), normalized GD (λ = 0, App. B.1) and label-noise SGD (App. B.2) are the other methods.
The kernel predictor is the max ℓ2-margin classifier (min ℓ2-norm interpolant), the rich one the max
ℓ1-margin classifier (basis pursuit) — for L > 2 the rich problem is min Σ|w_j|^{2/L}, and ℓ1 is shown as a
reference only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from ..errors import InputError
from ..options import Option
from .base import (
    ALPHA,
    ATOL,
    DATA,
    LAM,
    LR,
    NORMALIZED_LR,
    RTOL,
    SEED,
    T_END,
    T_EVAL,
    Model,
    Plan,
    check_horizon,
    check_step_count,
    default_t_end,
    fit_time,
    jsonable,
    method_option,
    save_times,
    theory_time,
    undo_log10,
    with_default,
)

TASKS = ("sparse", "margin", "sparse-regression")
LOSSES = ("logistic", "exponential", "squared")
FLOW_METHODS = ("auto", "LSODA", "BDF", "Radau", "RK45", "DOP853", "rkc")
GD, LABEL_NOISE = "gd", "label-noise-sgd"
DISCRETE_METHODS = (GD, LABEL_NOISE)
FORMULATIONS = ("reduced", "full")
MAX_DEPTH = 6
#: Default horizon without weight decay: the float64 end of time. The margin, hence the scale of w, grows only
#: like ln t, and the ℓ1 geometry takes over once it is large against u0² = α²/(2d), so the rise of the test
#: accuracy is spread over ln t ~ poly(α): any horizon short of float64's limit cuts it off. The log-time flow
#: (and normalized GD) cost ~ln(t_end) steps, so going this far is cheap (docs/math.md#no-weight-decay).
LAM0_T_END = 1e300
#: Saved times without weight decay (log-spaced, about one per 0.8 decade up to 1e300).
LAM0_POINTS = 400
#: A dense full-flow Jacobian (implicit methods, --formulation full) is formed only up to this many unknowns.
MAX_FULL_JACOBIAN = 4000

#: Keys of :class:`~grokode.analysis.analyze.Analysis` copied into the summary.
ANALYSIS_KEYS = ("offset_c0", "t_bias_switch", "T_minus", "T_plus", "cos_kernel_at_Tminus", "cos_rich_at_Tminus",
                 "cos_kernel_at_Tplus", "cos_rich_at_Tplus")

GENERATOR_OPTIONS = ("task", "n", "d", "k", "gamma", "n_test")

OPTIONS = (
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
    Option("depth", "int", f"depth L of the diagonal net (2…{MAX_DEPTH}); L ≥ 3 integrates the Γ reduction",
           default=2, low=2, high=MAX_DEPTH),
    Option("formulation", "str", "reduced (n unknowns, exact) | full (the 2d-dimensional (u, v) flow, for checks)",
           default="reduced", choices=FORMULATIONS),
    with_default(ALPHA, 1e3, "initialization scale α > 0 (default 1e3)"),
    with_default(LAM, 1e-3, "weight decay λ ≥ 0 (default 1e-3; 0: classification in log time to t = 1e300)"),
    T_END,
    T_EVAL,
    RTOL,
    ATOL,
    method_option(FLOW_METHODS + DISCRETE_METHODS,
                  help="auto (LSODA, redone with BDF if it gives up) | LSODA | BDF | Radau | RK45 | DOP853 | rkc | "
                       "gd (the paper's gradient descent) | label-noise-sgd"),
    with_default(LR, None, "learning rate η of gd (default 0.01) or label-noise-sgd (default "
                 "1/(4L²u0^(2L−2) max‖x‖²))"),
    NORMALIZED_LR,
    Option("noise", "float", "label-noise-sgd: label noise σ (default 0.5)", low=0.0),
    Option("batch", "int", "label-noise-sgd: minibatch size B ≤ n, drawn without replacement (default 1)", low=1),
    Option("noise_seed", "int", "label-noise-sgd: seed of the noise (default: --seed)", low=0),
)


class DiagonalModel(Model):
    """Depth-L diagonal linear net w = u^L − v^L on the paper's linear tasks or user data (docs/math.md#diagonal)."""

    name: ClassVar[str] = "diagonal"
    title: ClassVar[str] = "diagonal linear network w = u^L − v^L (sparse classification, misgrokking, regression)"
    options: ClassVar[tuple[Option, ...]] = OPTIONS
    derive_options: ClassVar[tuple[Option, ...]] = (
        Option("depth", "int", f"depth L (2…{MAX_DEPTH})", default=2, low=2, high=MAX_DEPTH),
        Option("loss", "str", "logistic | exponential | squared", default="logistic", choices=LOSSES),
    )
    analysis_keys: ClassVar[tuple[str, ...]] = ANALYSIS_KEYS

    # -- options -----------------------------------------------------------------------------------------
    def resolve(self) -> None:
        c = self.config
        method = c["method"]
        discrete = method in DISCRETE_METHODS
        if "data" in self.given:
            self.refuse_unless(False, GENERATOR_OPTIONS, "with --data (the data file fixes the data set)")
            self.refuse_unless(method == LABEL_NOISE, ("seed",), "with --data (no random draw uses it)")
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
        self.refuse_unless(method in DISCRETE_METHODS, ("lr",), f"with --method {method} (a learning rate is for gd "
                           "and label-noise-sgd)")
        self.refuse_unless(method == GD, ("normalized_lr",), f"with --method {method} (it is a variant of gd)")
        self.refuse_unless(method == LABEL_NOISE, ("noise", "batch", "noise_seed"),
                           f"with --method {method} (they are options of label-noise-sgd)")
        self.refuse_unless(not discrete, ("rtol", "atol"), f"with --method {method} (tolerances are for the "
                           "adaptive flow methods; gd and label-noise-sgd take fixed steps)")
        self.refuse_unless(not discrete, ("formulation",), f"with --method {method} (it always steps (u, v))")
        self.refuse_unless("t_eval" not in self.given, ("t_end",), "together with --t-eval (its last time is the "
                           "horizon)")
        if method == GD:
            c["lr"] = c["lr"] if c["lr"] is not None else 0.01
        if method == LABEL_NOISE:
            if self.kind != "regression":
                raise InputError(f"label-noise SGD perturbs regression labels, but the task is classification with "
                                 f"loss {c['loss']!r} (use --task sparse-regression or --loss squared)")
            c["noise"] = 0.5 if c["noise"] is None else c["noise"]
            c["batch"] = 1 if c["batch"] is None else c["batch"]
            c["noise_seed"] = c["seed"] if c["noise_seed"] is None else c["noise_seed"]
            n = self._data_shape()[0]
            if c["batch"] > n:
                raise InputError(f"batch must be at most the number of training samples n={n}, got {c['batch']}")
        if (method == LABEL_NOISE and c["lam"] == 0 and (c["noise"] == 0 or c["depth"] != 2) and c["t_end"] is None
                and c["t_eval"] is None):
            raise InputError(f"lam={c['lam']!r} and noise={c['noise']!r} give no time scale (depth {c['depth']}): "
                             "pass --t-end")
        if c["lam"] == 0 and self.kind == "regression" and method != LABEL_NOISE:
            raise InputError(f"lam={c['lam']!r} needs a classification task: with squared loss and no weight decay "
                             "the flow stops at an interpolant and has no late phase (use lam > 0, or --method "
                             "label-noise-sgd)")
        if c["lam"] == 0 and method == GD and not c["normalized_lr"] and c["t_end"] is None and c["t_eval"] is None:
            raise InputError(f"lam={c['lam']!r}: plain GD cannot reach the log-time horizon of a run without weight "
                             "decay (pass --normalized-lr, or a horizon --t-end)")
        horizon, name = self._horizon()
        if horizon is not None and (c["method"] != LABEL_NOISE or c["t_end"] is not None or c["t_eval"] is not None):
            check_horizon(horizon, name)
        self._check_alpha()
        d = self._data_shape()[1]
        if (c["formulation"] == "full" and not discrete and method in ("auto", "LSODA", "BDF", "Radau")
                and 2 * d > MAX_FULL_JACOBIAN):
            raise InputError(f"--formulation full with --method {method} forms a dense 2d×2d Jacobian; d={d} is too "
                             f"large (2d ≤ {MAX_FULL_JACOBIAN}); use the reduced formulation or an explicit method")
        if "data" in self.given:
            # read and check the file now (labels, NaN, shapes), before anything is computed; prepare() reuses it
            from ..files import require_memory

            require_memory(*self.memory_estimate())
            self.data = self.make_dataset()
        self._check_steps()

    def _check_steps(self) -> None:
        """A constant step η must reach the horizon in at least one and at most 2^53 steps (t = steps·η)."""
        c = self.config
        method = c["method"]
        if method not in DISCRETE_METHODS or c["normalized_lr"]:
            return
        horizon, name = self._horizon()
        if horizon is None or (method == LABEL_NOISE and c["t_end"] is None and c["t_eval"] is None):
            return  # label-noise SGD's default horizon depends on its λ_eff, known once the run is built
        lr = c["lr"] if c["lr"] is not None else self._default_label_noise_lr()
        if lr is not None:
            check_step_count(lr, horizon, name, method)

    def _horizon(self) -> tuple[float | None, str]:
        """(the horizon, its name): --t-eval's last time, --t-end, or the default (2 ln α + 5)/λ (an upper bound
        for label-noise SGD, whose decay rate is λ + λ_eff); None without weight decay (t = 1e300)."""
        c = self.config
        if c["t_eval"] is not None:
            return float(c["t_eval"][-1]), "the last --t-eval time"
        if c["t_end"] is not None:
            return c["t_end"], "t_end"
        if c["lam"] > 0:
            return (default_t_end(c["alpha"], c["lam"]),
                    f"the default horizon t_end = (2 ln α + 5)/λ at lam={c['lam']:g}")
        return None, ""

    def _default_label_noise_lr(self) -> float | None:
        """:func:`label_noise_default_lr` where it is known before the data are drawn: a data file (read by
        then) or ±1 inputs (‖x‖² = d); None for the margin task."""
        c = self.config
        if getattr(self, "data", None) is not None:
            return label_noise_default_lr(self.data, c["alpha"], c["depth"])
        if c["task"] not in ("sparse", "sparse-regression"):
            return None
        d, L = c["d"], c["depth"]
        log_h0 = math.log(4.0 * L * L) + (L - 1) * (2.0 * math.log(c["alpha"]) - math.log(2.0 * d)) + math.log(d)
        return math.exp(-log_h0) if abs(log_h0) < 700.0 else None

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

    def _check_alpha(self) -> None:
        c = self.config
        d = self._data_shape()[1]
        ell0 = math.log(c["alpha"]) - 0.5 * math.log(2.0 * d)  # log u0, u0 = α/√(2d)
        if c["depth"] > 2 and (c["depth"] - 2) * ell0 > 650.0:
            raise InputError(f"alpha={c['alpha']:g} is too large for depth {c['depth']} in float64 "
                             f"(u0^(L-2) = e^{(c['depth'] - 2) * ell0:.0f})")
        if c["method"] in DISCRETE_METHODS and c["depth"] * ell0 > 709.0:
            raise InputError(f"alpha={c['alpha']:g}: u0^L overflows float64 in the (u, v) parametrization "
                             f"--method {c['method']} steps")

    def memory_estimate(self) -> tuple[float, str]:
        c = self.config
        n, d = self._data_shape()
        if c.get("data") is not None:
            # the loader reads each array and converts it to float64 (then X and Xᵀ are kept)
            data_bytes = sum(16.0 * float(np.prod(shape, dtype=np.float64))
                             for key, (shape, _) in self._headers.items() if key in ("X", "y", "X_test", "y_test"))
        else:
            per_entry = 8.0 if c["task"] == "margin" else 2.3  # float64 X and Xᵀ, or int8 X, Xᵀ and sign bits
            data_bytes = per_entry * (n + c["n_test"]) * d
        saves = len(c["t_eval"]) if c["t_eval"] is not None else 400
        rows = 3.0 if c["method"] in DISCRETE_METHODS else 1.0  # GD also keeps (u, v) at every save
        trajectory = 8.0 * saves * d * rows + 8.0 * saves * (n + c["n_test"])
        jac = 0.0
        if c["formulation"] == "full" and c["method"] in ("auto", "LSODA", "BDF", "Radau"):
            jac = 3 * 8.0 * (2 * d) ** 2
        elif c["method"] not in DISCRETE_METHODS:
            jac = 3 * 8.0 * n * n
        where = f" on {c['data']!r}" if c.get("data") is not None else ""
        sizes = f"n={n}" + (f", n_test={c['n_test']}" if c.get("data") is None and c["n_test"] else "") + f", d={d}"
        times = f" and {saves} saved times" if c["t_eval"] is not None else ""
        return data_bytes + trajectory + jac, f"a diagonal run{where} with {sizes}{times}"

    # -- derivation --------------------------------------------------------------------------------------
    @classmethod
    def derive(cls, **given: Any):
        from ..analytic import derive_model

        opts = cls.parse_derive_options(given)
        return derive_model("diagonal", depth=opts["depth"], loss=opts["loss"])

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
        self.label_noise = None
        lam_eff = None
        if c["method"] == LABEL_NOISE:
            from ..numeric.label_noise import LabelNoiseSGD, noise_generator

            if c["lr"] is None:
                c["lr"] = label_noise_default_lr(self.data, c["alpha"], c["depth"])
            self.label_noise = LabelNoiseSGD(self.data.X, self.data.y, alpha=c["alpha"], lam=c["lam"], lr=c["lr"],
                                             noise=c["noise"], batch=c["batch"], depth=c["depth"],
                                             rng=noise_generator(c["noise_seed"]))
            lam_eff = self.label_noise.lam_eff
        self.lam_eff = lam_eff
        rate = c["lam"] + (lam_eff or 0.0)
        t_theory = theory_time(c["alpha"], rate)
        if c["t_eval"] is not None:
            t_eval = c["t_eval"]
            return Plan(t_eval=t_eval, t_end=float(t_eval[-1]), t_theory=t_theory, rate=rate)
        if c["t_end"] is not None:
            t_end = c["t_end"]
        elif t_theory is not None:
            t_end = default_t_end(c["alpha"], rate)
        elif c["method"] == LABEL_NOISE:
            raise InputError(f"lam={c['lam']!r} and noise={c['noise']!r} give no time scale (depth {c['depth']}): "
                             "pass --t-end")
        else:
            t_end = LAM0_T_END
        t_eval = save_times(t_end, t_theory, theorem_window=True, log_points=LAM0_POINTS)
        return Plan(t_eval=t_eval, t_end=t_end, t_theory=t_theory, rate=rate)

    def make_flow(self):
        from ..numeric.diagonal import FullDiagonalFlow, ReducedDiagonalFlow

        c = self.config
        cls = ReducedDiagonalFlow if c["formulation"] == "reduced" else FullDiagonalFlow
        return cls(self.data.X, self.data.y, alpha=c["alpha"], lam=c["lam"], depth=c["depth"], loss=c["loss"])

    def solve(self, plan: Plan, progress: Callable[[float], None] | None):
        c = self.config
        if self.label_noise is not None:
            return self.label_noise.run(plan.t_eval, progress=progress)
        if c["method"] == GD:  # the discrete pipeline, always on the full (u, v) parametrization
            from ..numeric.gd import DiagonalGD
            from ..numeric.normalized_gd import NormalizedGD

            cls = NormalizedGD if c["normalized_lr"] else DiagonalGD
            gd = cls(self.data.X, self.data.y, alpha=c["alpha"], lam=c["lam"], lr=c["lr"], depth=c["depth"],
                     loss=c["loss"])
            return gd.run(plan.t_eval, progress=progress)
        from ..numeric.integrate import integrate_flow

        return integrate_flow(self.make_flow(), plan.t_eval, method=c["method"], rtol=c["rtol"], atol=c["atol"],
                              progress=progress)

    def observe(self, plan: Plan, sol) -> dict[str, np.ndarray]:
        from ..tasks.metrics import empirical_metrics, outputs

        ds, loss, kind = self.data, self.config["loss"], self.kind
        W = sol.weights
        arrays: dict[str, np.ndarray] = {"t": sol.t, "w": W, "param_norm": sol.param_norm}
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
        return arrays

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

        def dense_metric(s: float) -> float:
            return metric(sol.weight_at(s)[None, :])[0]

        transition = find_transition(
            sol.t, metric(arrays["w"]), plan.t_theory, min_change=0.05 if self.kind == "classification" else 0.5,
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
        if self.config["method"] == LABEL_NOISE:
            out["lam_eff"] = self.lam_eff
        if references is not None:
            for name in ("kernel", "rich"):
                out[f"{name}_test"] = references[name]["test_value"]
        return out

    def weight_at(self, sol):
        return sol.weight_at if sol.pieces else None

    def record(self, plan: Plan) -> tuple[dict[str, Any], dict[str, Any]]:
        c, ds = self.config, self.data
        options = {"model": self.name, "depth": c["depth"], "task": c["task"], "data": c["data"], "n": ds.n,
                   "d": ds.d, "k": c["k"], "gamma": c["gamma"], "n_test": c["n_test"], "seed": c["seed"],
                   "loss": c["loss"], "alpha": c["alpha"], "lam": c["lam"], "t_end": plan.t_end, "rtol": c["rtol"],
                   "atol": c["atol"], "method": c["method"], "formulation": c["formulation"], "lr": c["lr"],
                   "normalized_lr": c["normalized_lr"], "noise": c["noise"], "batch": c["batch"],
                   "noise_seed": c["noise_seed"]}
        dataset = {"name": ds.name, "kind": self.kind, **jsonable(ds.params)}
        return options, dataset

    def file_stem(self) -> str:
        c = self.config
        n, d = self._data_shape()
        name = (c["data"] and _stem(c["data"])) or c["task"]
        stem = (f"{self.name}-L{c['depth']}-{name}-n{n}-d{d}-a{c['alpha']:.0e}-lam{c['lam']:.0e}-s{c['seed']}"
                + (f"-gd{c['lr']:g}" if c["method"] == GD else "") + ("n" if c["normalized_lr"] else "")
                + (f"-lnsgd-s{c['noise']:g}-b{c['batch']}" if c["method"] == LABEL_NOISE else ""))
        return stem.replace("+", "")


def _stem(path: str) -> str:
    from pathlib import Path

    return Path(path).stem


def label_noise_default_lr(ds, alpha: float, depth: int) -> float:
    """η = 1/H₀, H₀ = 4L²u₀^{2L−2}·max‖x_i‖²: a bound on the top eigenvalue of a minibatch's loss Hessian at
    initialization (its Gauss-Newton part (2/B)·J_BᵀJ_B, trace-bounded), so η is half the step at which
    one-sample GD would diverge in the kernel phase."""
    X = np.asarray(ds.X, dtype=np.float64)
    u0_sq = alpha**2 / (2.0 * ds.d)
    h0 = 4.0 * depth**2 * u0_sq ** (depth - 1) * float(np.max(np.einsum("ij,ij->i", X, X)))
    return 1.0 / h0
