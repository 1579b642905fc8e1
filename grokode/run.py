"""A run: one model integrated on one data set, with its metrics, transition summary and file format.

:func:`integrate` is what ``grokode integrate`` calls; everything it prints or writes is in the
returned :class:`Run`, which :meth:`Run.save` writes as a self-describing ``.npz`` (see README).
"""

from __future__ import annotations

import json
import math
import os
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._version import __version__
from .analysis.analyze import Analysis, analyze, reference_arrays, theorem_times
from .analysis.transition import Transition, find_transition
from .errors import InputError, require_int, require_nonnegative, require_positive
from .numeric.diagonal import FullDiagonalFlow, ReducedDiagonalFlow
from .numeric.gd import METHOD as GD_METHOD
from .numeric.gd import DiagonalGD
from .numeric.integrate import METHODS, FlowSolution, default_t_eval, integrate_flow
from .numeric.label_noise import METHOD as LN_METHOD
from .numeric.label_noise import LabelNoiseSGD, noise_generator
from .numeric.normalized_gd import NormalizedGD
from .tasks import Dataset, load_npz, make_task
from .tasks.metrics import empirical_metrics, outputs

MODELS = ("diagonal", "matrix", "mlp")
FORMULATIONS = ("reduced", "full")
LOSSES = ("logistic", "exponential", "squared")
#: Keys of :class:`~grokode.analysis.analyze.Analysis` copied into a run's summary.
ANALYSIS_KEYS = ("offset_c0", "t_bias_switch", "T_minus", "T_plus", "cos_kernel_at_Tminus", "cos_rich_at_Tminus",
                 "cos_kernel_at_Tplus", "cos_rich_at_Tplus")


@dataclass
class Run:
    """Arrays of a trajectory (``arrays``), everything needed to reproduce it (``meta``) and its summary."""

    arrays: dict[str, np.ndarray]
    meta: dict
    summary: dict
    transition: Transition | None = None
    analysis: Analysis | None = None
    solution: FlowSolution | None = field(default=None, repr=False)
    dataset: Dataset | None = field(default=None, repr=False)

    def save(self, path: str | os.PathLike, force: bool = False) -> Path:
        """Write ``path`` (.npz) atomically; refuse to overwrite unless ``force``."""
        path = Path(path)
        if path.suffix != ".npz":
            raise InputError(f"output file must end in .npz, got {str(path)!r}")
        if path.exists() and not force:
            raise InputError(f"{str(path)!r} exists (use --force to overwrite)")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **self.arrays, meta=np.array(json.dumps(self.meta)))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path


def load_run(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """Read a trajectory file: (arrays, meta)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"trajectory file {str(path)!r} not found")
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files if k != "meta"}
        meta = json.loads(str(z["meta"])) if "meta" in z.files else {}
    return arrays, meta


def default_t_end(alpha: float, lam: float) -> float:
    """(2·ln α + 5)/λ: long enough to pass the transition near ln(α)/λ and settle."""
    return (2.0 * math.log(alpha) + 5.0) / lam


#: Default horizon without weight decay (issue #9): the float64 end of time. The margin, hence the
#: scale of w, grows only like ln t, and the ℓ1 (rich) geometry takes over once it is large against
#: u0² = α²/(2d) (Moroshko et al. 2020: ln(1/L̂) must exceed ~α²-scale quantities), so the rise of the
#: test accuracy is spread over ln t ~ poly(α) — any horizon short of float64's limit cuts it off. The
#: log-time flow (and normalized-lr GD) cost ~ln(t_end) steps, so going this far is cheap.
LAM0_T_END = 1e300
LAM0_POINTS = 400  # saved times, log-spaced (about one per 0.8 decade up to 1e300)


def _dataset(task, data, loss, n, d, k, gamma, n_test, seed) -> tuple[Dataset, str]:
    if data is not None:
        loss = loss or "logistic"
        return load_npz(data, loss), loss
    ds = make_task(task, n=n, d=d, k=k, gamma=gamma, n_test=n_test, seed=seed)
    loss = loss or ("squared" if ds.kind == "regression" else "logistic")
    if ds.kind == "regression" and loss != "squared":
        raise InputError(f"task {task!r} is a regression task: its labels are not ±1, so loss {loss!r} does not apply")
    return ds, loss


def integrate(*, model: str = "diagonal", depth: int = 2, task: str | None = None, data: str | None = None,
              n: int = 256, d: int | None = None, k: int = 3, gamma: float = 5.0, n_test: int = 1000, seed: int = 0,
              loss: str | None = None, alpha: float | None = None, lam: float | None = None, t_end: float | None = None,
              t_eval: np.ndarray | None = None, rtol: float = 1e-6, atol: float = 1e-9, method: str = "auto",
              formulation: str = "reduced", frac: float | None = None, rank: int = 1, lr: float | None = None,
              normalized_lr: bool = False, noise: float | None = None, batch: int | None = None,
              noise_seed: int | None = None, p: int | None = None, width: int | None = None,
              progress: Callable[[float], None] | None = None) -> Run:
    """Integrate the gradient flow of ``model`` on a task (or ``data``) through the kernel→rich transition.

    Returns a :class:`Run` whose ``arrays`` are the trajectory file's arrays (``t``, ``w``, metrics,
    ``param_norm``) and whose ``summary`` holds ``t_theory``, ``t_transition``, ``transition_width``,
    ``test_plateau``, ``test_final``, ``train_final``, ``wall_seconds``, ``rhs_evals``, ``jac_evals``,
    ``status``. ``method="gd"`` runs gradient descent with learning rate ``lr`` (default 0.01) instead of
    integrating the flow (see :mod:`grokode.numeric.gd`). Bad arguments raise
    :class:`grokode.errors.InputError` naming the value.
    ``task``/``d``/``alpha`` default by model (diagonal: sparse, 10⁴, 1e3). ``model="matrix"`` runs
    :func:`grokode.matrix_run.integrate_matrix` (defaults multiplication, d = 30, α = 100; ``frac``, ``rank``).
    ``model="mlp"`` runs :func:`grokode.mlp_run.integrate_mlp` (modular addition; ``p``, ``width``, ``frac``, ``lr``;
    defaults in :data:`grokode.mlp_run.DEFAULTS`).

    Without weight decay (``lam=0``, classification only; issue #9) there is no t_theory: the horizon
    defaults to :data:`LAM0_T_END`, times are log-spaced, and the transition is read against ln t
    (``transition_width_log``). ``normalized_lr`` makes ``method="gd"`` take steps η/L̂(θ)
    (:mod:`grokode.numeric.normalized_gd`). ``method="label-noise-sgd"`` (regression; ``noise`` σ,
    ``batch`` B, ``noise_seed``) runs :mod:`grokode.numeric.label_noise`.
    """
    wall0 = time.perf_counter()
    if model not in MODELS:
        raise InputError(f"unknown model {model!r} (choose {', '.join(MODELS)})")
    if model == "mlp":
        from .mlp_run import DEFAULTS as MLP
        from .mlp_run import integrate_mlp
        if data is not None:
            raise InputError("the mlp model generates its data (--task modadd): --data is not supported")
        opts = {"p": p, "width": width, "frac": frac, "alpha": alpha, "lam": lam}
        return integrate_mlp(task=task or MLP["task"], **{k: MLP[k] if v is None else v for k, v in opts.items()},
                             seed=seed, t_end=t_end, t_eval=t_eval, rtol=rtol, atol=atol, method=method, lr=lr,
                             normalized_lr=normalized_lr, progress=progress)
    if p is not None or width is not None:
        raise InputError(f"p and width are options of the mlp model (model is {model!r})")
    lam = 1e-3 if lam is None else lam
    if model == "matrix":
        from .matrix_run import DEFAULTS, integrate_matrix
        return integrate_matrix(task=task or DEFAULTS["task"], data=data, d=DEFAULTS["d"] if d is None else d,
                                frac=DEFAULTS["frac"] if frac is None else frac, rank=rank, seed=seed,
                                alpha=DEFAULTS["alpha"] if alpha is None else alpha,
                                lam=lam, t_end=t_end, t_eval=t_eval, rtol=rtol, atol=atol, method=method,
                                progress=progress)
    task, d, alpha = task or "sparse", 10_000 if d is None else d, 1e3 if alpha is None else alpha
    if formulation not in FORMULATIONS:
        raise InputError(f"unknown formulation {formulation!r} (choose {', '.join(FORMULATIONS)})")
    if method not in METHODS and method not in (GD_METHOD, LN_METHOD):
        raise InputError(f"unknown method {method!r} (choose {', '.join(METHODS)}, {GD_METHOD}, {LN_METHOD})")
    if lr is not None and method not in (GD_METHOD, LN_METHOD):
        raise InputError(f"lr={lr!r} is only used with method {GD_METHOD!r} or {LN_METHOD!r} (method is {method!r})")
    if normalized_lr and method != GD_METHOD:
        raise InputError(f"the normalized learning rate is a variant of method {GD_METHOD!r} (method is {method!r})")
    for name, value in (("noise", noise), ("batch", batch), ("noise_seed", noise_seed)):
        if value is not None and method != LN_METHOD:
            raise InputError(f"{name}={value!r} is only used with method {LN_METHOD!r} (method is {method!r})")
    if method == GD_METHOD:
        lr = require_positive("lr", 0.01 if lr is None else lr)
    elif method == LN_METHOD:
        lr = None if lr is None else require_positive("lr", lr)
        noise = require_nonnegative("noise", 0.5 if noise is None else noise)
        batch = require_int("batch", 1 if batch is None else batch, 1)
        noise_seed = require_int("noise_seed", seed if noise_seed is None else noise_seed, 0)
    if loss is not None and loss not in LOSSES:
        raise InputError(f"unknown loss {loss!r} (choose {', '.join(LOSSES)})")
    depth = require_int("depth", depth, 2)
    alpha = require_positive("alpha", alpha)
    lam = require_nonnegative("lam", lam)
    rtol = require_positive("rtol", rtol)
    atol = require_positive("atol", atol)
    ds, loss = _dataset(task, data, loss, n, d, k, gamma, n_test, seed)
    kind = "regression" if loss == "squared" else "classification"
    if method == LN_METHOD and kind != "regression":
        raise InputError(f"label-noise SGD perturbs regression labels, but the task is {kind} with loss {loss!r} "
                         "(use --task sparse-regression or --loss squared)")
    if lam == 0 and kind == "regression" and method != LN_METHOD:
        raise InputError(f"lam={lam!r} needs a classification task: with squared loss and no weight decay the flow "
                         "stops at an interpolant and has no late phase (use lam > 0, or --method label-noise-sgd)")
    ln_sgd = None
    if method == LN_METHOD:
        if lr is None:
            lr = _label_noise_default_lr(ds, alpha, depth)
        ln_sgd = LabelNoiseSGD(ds.X, ds.y, alpha=alpha, lam=lam, lr=lr, noise=noise, batch=batch, depth=depth,
                               rng=noise_generator(noise_seed))
    # the rate at which u_j v_j decays: λ, plus label noise's implicit λ_eff (depth 2)
    lam_eff = ln_sgd.lam_eff if ln_sgd is not None else None
    rate = lam + (lam_eff or 0.0)
    t_theory = (math.log(alpha) / rate if alpha > 1 else 0.0) if rate > 0 else None
    if t_eval is None:
        if t_end is not None:
            t_end = require_positive("t_end", t_end)
        elif t_theory is not None:
            t_end = default_t_end(max(alpha, math.e), rate)
        elif method == GD_METHOD and not normalized_lr:
            raise InputError(f"lam={lam!r}: plain GD cannot reach the log-time horizon of a run without weight decay "
                             "(pass --normalized-lr, or a horizon --t-end)")
        elif method == LN_METHOD:
            raise InputError(f"lam={lam!r} and noise={noise!r} give no time scale (depth {depth}): pass --t-end")
        else:
            t_end = LAM0_T_END
        if t_theory is None:
            t_eval = np.geomspace(min(1e-6, 1e-3 * t_end), t_end, LAM0_POINTS)
        else:
            # the theorem check reads w at T∓ = (1 ∓ c)·t_theory: save those times exactly
            t_eval = np.union1d(default_t_eval(t_end, t_theory),
                                [s for s in theorem_times(t_theory) if 0 < s < t_end])
    else:
        t_eval = np.asarray(t_eval, dtype=np.float64)
        if t_eval.ndim != 1 or t_eval.size == 0 or not np.all(np.isfinite(t_eval)) or np.any(t_eval < 0) or np.any(
                np.diff(t_eval) <= 0):
            raise InputError(f"t_eval must be increasing non-negative finite times, got {t_eval.tolist()[:5]}…")
        t_end = float(t_eval[-1])
    if ln_sgd is not None:
        sol = ln_sgd.run(t_eval, progress=progress)
    elif method == GD_METHOD:  # the discrete pipeline, always on the full (u, v) parametrization
        gd_cls = NormalizedGD if normalized_lr else DiagonalGD
        gd = gd_cls(ds.X, ds.y, alpha=alpha, lam=lam, lr=lr, depth=depth, loss=loss)
        sol = gd.run(t_eval, progress=progress)
    else:
        flow_cls = ReducedDiagonalFlow if formulation == "reduced" else FullDiagonalFlow
        flow = flow_cls(ds.X, ds.y, alpha=alpha, lam=lam, depth=depth, loss=loss)
        sol = integrate_flow(flow, t_eval, method=method, rtol=rtol, atol=atol, progress=progress)
    W = sol.weights
    arrays: dict[str, np.ndarray] = {"t": sol.t, "w": W, "param_norm": sol.param_norm}
    F_train = outputs(ds.X, W)  # T×n outputs, shared by the metrics and the margins (a T×n×d product)
    arrays["train_loss"], train_acc = empirical_metrics(ds.X, ds.y, W, loss, F_train)
    if kind == "classification":
        arrays["train_acc"] = train_acc
    if ds.X_test is not None:
        arrays["test_loss"], test_acc = empirical_metrics(ds.X_test, ds.y_test, W, loss)
        if kind == "classification":
            arrays["test_acc"] = test_acc
    pop = ds.population_accuracy(W) if kind == "classification" else ds.population_loss(W)
    if pop is not None:
        arrays["test_acc_population" if kind == "classification" else "test_loss_population"] = np.asarray(pop)

    references = None
    if W.shape[0]:
        alignment, references = reference_arrays(ds, W, kind, loss, F_train)
        arrays.update(alignment)

    metric_name, metric = _transition_metric(ds, kind, loss, arrays)
    transition = None
    if metric is not None and sol.t.size:
        def dense_metric(s: float) -> float:
            return metric(sol.weight_at(s)[None, :])[0]
        transition = find_transition(sol.t, metric(W), t_theory, min_change=0.05 if kind == "classification" else 0.5,
                                     metric=dense_metric if sol.pieces else None,
                                     t_start=None if t_theory is not None else _fit_time(sol.t, arrays, kind))
    wall = time.perf_counter() - wall0
    summary = {
        **solution_summary(sol, transition, t_theory, t_end, undo=lambda v: _undo_log(v, kind)),
        "test_final": _undo_log(transition.final, kind) if transition else None,
        "train_final": float(arrays["train_acc" if kind == "classification" else "train_loss"][-1]) if W.size else None,
        "transition_metric": metric_name,
        "wall_seconds": wall,
    }
    if ln_sgd is not None:
        summary["lam_eff"] = lam_eff
    meta = {
        "grokode_version": __version__,
        "options": {"model": model, "depth": depth, "task": None if data else task, "data": data, "n": ds.n, "d": ds.d,
                    "k": k, "gamma": gamma, "n_test": n_test, "seed": seed, "loss": loss, "alpha": alpha, "lam": lam,
                    "t_end": t_end, "rtol": rtol, "atol": atol, "method": method, "formulation": formulation,
                    "lr": lr, "normalized_lr": normalized_lr, "noise": noise, "batch": batch,
                    "noise_seed": noise_seed},
        "dataset": {"name": ds.name, "kind": kind, **_jsonable(ds.params)},
        "solver": {**sol.stats.__dict__},
        "summary": summary,
        "references": references,
        "versions": _versions(),
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()},
    }
    analysis = None
    if references is not None:
        analysis = analyze(arrays, meta, weight_at=sol.weight_at if sol.pieces else None)
        summary.update({key: getattr(analysis, key) for key in ANALYSIS_KEYS})
        for name in ("kernel", "rich"):
            summary[f"{name}_test"] = references[name]["test_value"]
    summary["wall_seconds"] = time.perf_counter() - wall0
    return Run(arrays=arrays, meta=meta, summary=summary, transition=transition, analysis=analysis, solution=sol,
               dataset=ds)


def solution_summary(sol, transition: Transition | None, t_theory: float | None, t_end: float,
                     undo: Callable[[float], float | None] = lambda v: v) -> dict:
    """The summary keys every model shares: the located transition and the solver's account of the run.

    ``undo`` maps the transition metric back to the reported scale (10^v where the metric is log10 of a loss).
    """
    return {
        "t_theory": t_theory,
        "t_transition": transition.t_transition if transition else None,
        "transition_width": transition.width if transition else None,
        "log_t_transition": math.log(transition.t_transition) if transition and transition.t_transition else None,
        "transition_width_log": transition.width_log if transition else None,
        "test_plateau": undo(transition.plateau) if transition else None,
        "direction": transition.direction if transition else None,
        "rhs_evals": sol.stats.nfev,
        "jac_evals": sol.stats.njev,
        "gd_steps_equivalent_lr0.01": int(math.ceil(t_end / 0.01)) if t_end <= 1e15 else None,
        "status": sol.status,
        "message": sol.message,
        "t_reached": sol.t_reached,
    }


def _fit_time(t: np.ndarray, arrays: dict, kind: str) -> float:
    """Without a t_theory (λ = 0) the plateau is read where fitting ends: the first saved time with training
    accuracy 1 (classification), else the first saved time after 0."""
    positive = t > 0
    if kind == "classification":
        fitted = positive & (arrays["train_acc"] >= 1.0)
        if np.any(fitted):
            return float(t[np.argmax(fitted)])
    return float(t[np.argmax(positive)]) if np.any(positive) else float(t[-1])


def _label_noise_default_lr(ds: Dataset, alpha: float, depth: int) -> float:
    """η = 1/H₀, H₀ = 4L²u₀^{2L−2}·max‖x_i‖²: a bound on the top eigenvalue of a minibatch's loss Hessian at
    initialization (its Gauss-Newton part (2/B)·J_BᵀJ_B, trace-bounded), so η is half the step at which
    one-sample GD would diverge in the kernel phase."""
    X = np.asarray(ds.X, dtype=np.float64)
    u0_sq = alpha**2 / (2.0 * ds.d)
    h0 = 4.0 * depth**2 * u0_sq ** (depth - 1) * float(np.max(np.einsum("ij,ij->i", X, X)))
    return 1.0 / h0


def _undo_log(value: float, kind: str) -> float:
    return float(10.0**value) if kind == "regression" else float(value)


def _transition_metric(ds: Dataset, kind: str, loss: str, arrays: dict):
    """The curve whose jump is the transition: population accuracy if known, else the test set's metric."""
    if kind == "classification":
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


def _jsonable(params: dict) -> dict:
    out = {}
    for key, value in params.items():
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, str | int | float | bool | type(None)):
            out[key] = value
    return out


def _versions() -> dict:
    import numba
    import scipy
    import sympy
    return {"numpy": np.__version__, "scipy": scipy.__version__, "numba": numba.__version__, "sympy": sympy.__version__}
