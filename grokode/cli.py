"""The ``grokode`` command line: a thin shell over the library (parse, call, print).

Errors in the input print one line on stderr and exit with code 2; a failed integration (or a diverged
gradient descent) exits 1 after
writing what it finished; an interrupted one (Ctrl-C) exits 130 after writing what it finished.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from .errors import InputError

try:  # recent typer vendors click; older typer uses the click package
    from typer._click.exceptions import NoArgsIsHelpError, UsageError
except ImportError:  # pragma: no cover
    from click.exceptions import NoArgsIsHelpError, UsageError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="grokode: derive, integrate and analyse grokking as a gradient-flow ODE.")
err = Console(stderr=True)
out = Console()


@app.command()
def derive(
    model: Annotated[str, typer.Argument(help="diagonal | matrix | mlp")],
    depth: Annotated[int, typer.Option(help="depth L ≥ 2 of the diagonal net")] = 2,
    loss: Annotated[str, typer.Option(help="logistic | exponential | squared")] = "logistic",
    format: Annotated[str, typer.Option("--format", help="text | latex | json")] = "text",
) -> None:
    """Print the sympy derivation of a model: flow, NTK, closed form, conservation law, reduced flow."""
    from .analytic import FORMATS, derive_model, render

    if format not in FORMATS:
        raise InputError(f"unknown format {format!r} (choose {', '.join(FORMATS)})")
    derivation = derive_model(model, depth=depth, loss=loss)
    typer.echo(render(derivation, format), nl=False)


def _parse_times(text: str | None) -> np.ndarray | None:
    if text is None:
        return None
    try:
        return np.array([float(s) for s in text.split(",") if s.strip()], dtype=np.float64)
    except ValueError:
        raise InputError(f"--t-eval must be a comma-separated list of numbers, got {text!r}") from None


def _default_out(options: dict) -> Path:
    o = options
    name = o["data"] and Path(o["data"]).stem or o["task"]
    stem = (f"{o['model']}-L{o['depth']}-{name}-n{o['n']}-d{o['d']}-a{o['alpha']:.0e}-lam{o['lam']:.0e}"
            f"-s{o['seed']}" + (f"-gd{o['lr']:g}" if o.get("method") == "gd" else "")
            + ("n" if o.get("normalized_lr") else "")
            + (f"-lnsgd{o['lr']:.3g}-s{o['noise']:g}-b{o['batch']}" if o.get("method") == "label-noise-sgd" else "")
            ).replace("+", "")
    path = Path("runs") / f"{stem}.npz"
    k = 2
    while path.exists():  # a default name never overwrites: number the next run instead
        path = Path("runs") / f"{stem}-{k}.npz"
        k += 1
    return path


@app.command()
def integrate(
    model: Annotated[str, typer.Option(help="diagonal | matrix | mlp")] = "diagonal",
    depth: Annotated[int, typer.Option(help="depth L (≥ 3 uses the Γ reduction)")] = 2,
    task: Annotated[str | None, typer.Option(
        help="sparse | margin | sparse-regression (default sparse); matrix: multiplication | lowrank; "
             "mlp: modadd")] = None,
    data: Annotated[str | None, typer.Option(
        help="user data .npz (keys X, y, optional X_test, y_test; matrix: M, train_mask, optional test_mask)")] = None,
    n: Annotated[int, typer.Option(help="training samples")] = 256,
    d: Annotated[int | None, typer.Option(help="input dimension (default 10000); matrix: size (30)")] = None,
    frac: Annotated[float | None, typer.Option(
        help="matrix: fraction of entries observed (0.25); mlp: training fraction of the p² pairs (0.7)")] = None,
    p: Annotated[int | None, typer.Option("--p", help="mlp: modulus p (default 31; paper 97)")] = None,
    width: Annotated[int | None, typer.Option(help="mlp: hidden width (default 256; paper 1024)")] = None,
    rank: Annotated[int, typer.Option(help="matrix: rank of the lowrank task")] = 1,
    k: Annotated[int, typer.Option(help="teacher sparsity (odd)")] = 3,
    gamma: Annotated[float, typer.Option(help="ℓ2 margin of the margin task")] = 5.0,
    n_test: Annotated[int, typer.Option(help="test samples (0: population metrics only)")] = 1000,
    seed: Annotated[int, typer.Option(help="seed of the data generator")] = 0,
    loss: Annotated[str | None, typer.Option(help="logistic | exponential | squared (default by task)")] = None,
    alpha: Annotated[float | None, typer.Option(
        help="initialization scale α (default 1e3; matrix: 100; mlp: 4)")] = None,
    lam: Annotated[float | None, typer.Option(
        help="weight decay λ ≥ 0 (default 1e-3; mlp: 2e-3; 0: classification in log time to t = 1e300)")] = None,
    t_end: Annotated[float | None, typer.Option(help="horizon (default (2 ln α + 5)/λ; λ = 0: 1e300)")] = None,
    t_eval: Annotated[str | None, typer.Option(help="save exactly these times: t1,t2,…")] = None,
    rtol: Annotated[float, typer.Option(help="relative tolerance")] = 1e-6,
    atol: Annotated[float, typer.Option(help="absolute tolerance (on the scaled state)")] = 1e-9,
    method: Annotated[str, typer.Option(
        help="auto | LSODA | BDF | Radau | RK45 | DOP853 | rkc | ros2 | gd | label-noise-sgd")] = "auto",
    lr: Annotated[float | None, typer.Option(
        help="learning rate η of gd (0.01; mlp 0.1) or label-noise-sgd (1/(4L²u0^(2L-2) max‖x‖²))")] = None,
    normalized_lr: Annotated[bool, typer.Option(
        "--normalized-lr", help="gd: step η/L̂(θ), t += η/L̂ (reaches log-time horizons at λ = 0)")] = False,
    noise: Annotated[float | None, typer.Option(help="label-noise-sgd: label noise σ (default 0.5)")] = None,
    batch: Annotated[int | None, typer.Option(help="label-noise-sgd: minibatch size B ≤ n, no replacement (1)")] = None,
    noise_seed: Annotated[int | None, typer.Option(help="label-noise-sgd: seed of the noise (default --seed)")] = None,
    formulation: Annotated[str, typer.Option(help="reduced (n unknowns) | full (2d unknowns)")] = "reduced",
    out_path: Annotated[str | None, typer.Option("--out", help="trajectory file (.npz)")] = None,
    plot: Annotated[str | None, typer.Option(help="PNG path (default: next to --out)")] = None,
    no_plot: Annotated[bool, typer.Option("--no-plot", help="do not write a plot")] = False,
    force: Annotated[bool, typer.Option(help="overwrite an existing --out")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object on stdout, nothing else")] = False,
) -> None:
    """Integrate the gradient flow through the kernel→rich transition; write trajectory and plot."""
    from . import run as run_mod
    from .analysis.plots import plot_run, save_figure

    options = {"model": model, "depth": depth, "task": task, "data": data, "n": n, "d": d, "k": k, "gamma": gamma,
               "n_test": n_test, "seed": seed, "loss": loss, "alpha": alpha, "lam": lam, "t_end": t_end,
               "t_eval": _parse_times(t_eval), "rtol": rtol, "atol": atol, "method": method,
               "formulation": formulation, "frac": frac, "rank": rank, "lr": lr, "normalized_lr": normalized_lr,
               "noise": noise, "batch": batch, "noise_seed": noise_seed, "p": p, "width": width}
    if data is not None and not Path(data).is_file():
        raise InputError(f"data file {data!r} not found")
    target = Path(out_path) if out_path else None
    if target is not None and target.exists() and not force:
        raise InputError(f"{out_path!r} exists (use --force to overwrite)")
    if target is not None and target.suffix != ".npz":
        raise InputError(f"--out must end in .npz, got {out_path!r}")
    with _LazyProgress("integrating") as bar:
        result = run_mod.integrate(**options, progress=bar)
    if target is None:
        meta_opts = result.meta["options"]
        target = _default_out({**meta_opts, "data": data})
    saved = result.save(target, force=True if out_path is None else force)
    summary = {**result.summary, "out": str(saved)}
    if not no_plot and result.arrays["t"].size:
        png = Path(plot) if plot else saved.with_suffix(".png")
        a = result.meta["options"]["alpha"]
        lam_used = result.meta["options"]["lam"]
        title = f"{model} L={depth}, {result.meta['dataset']['name']}, α={a:g}, λ={lam_used:g}"
        fig = plot_run(result.arrays, summary, title=title, lam=lam_used, model=model)
        summary["plot"] = str(save_figure(fig, png))
    if as_json:
        typer.echo(json.dumps(summary, default=_json_default))
    else:
        _print_summary(summary)
    if result.summary["status"] in ("failed", "diverged"):
        err.print(f"grokode: error: {result.summary['message']} (partial trajectory written)")
        raise typer.Exit(1)
    if result.summary["status"] == "ok" and result.summary.get("message"):
        err.print(f"grokode: {result.summary['message']}")  # e.g. GD took uphill steps: it is not following the flow
    if result.summary["status"] == "interrupted":
        err.print("grokode: interrupted (partial trajectory written)")
        raise typer.Exit(130)


@app.command()
def analyze(
    runs: Annotated[list[str], typer.Argument(help="trajectory file(s) written by integrate; several α → trend")],
    c: Annotated[float, typer.Option(help="theorem window: T∓ = (1 ∓ c)·ln(α)/λ")] = 0.5,
    plot: Annotated[str | None, typer.Option(help="PNG: the 3-panel story of one run, or the trend of several")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object on stdout, nothing else")] = False,
) -> None:
    """Transition report and theorem check (kernel at T⁻, rich at T⁺) of one run, or the trend over runs."""
    from .analysis.analyze import analyze as analyze_run
    from .analysis.analyze import theorem_trend
    from .analysis.plots import plot_run, plot_trend, save_figure
    from .run import load_run

    if not 0 < c < 1:
        raise InputError(f"--c must lie in (0, 1), got {c!r}")
    if plot is not None and Path(plot).suffix.lower() != ".png":
        raise InputError(f"--plot must end in .png, got {plot!r}")
    loaded = [(path, *load_run(path)) for path in runs]
    mlp = [path for path, _, meta in loaded if meta.get("options", {}).get("model") == "mlp"]
    if mlp:
        # no convex reference predictors for the ReLU net (its max-margin problem is non-convex): the
        # transition report is the run's own summary, and there is no theorem check or trend
        if len(loaded) > 1:
            raise InputError(f"{mlp[0]!r} is an mlp run: the theorem trend needs reference predictors, which the "
                             "mlp model has none of; analyze mlp runs one at a time")
        path, arrays, meta = loaded[0]
        o, summary = meta["options"], meta["summary"]
        if plot is not None:
            save_figure(plot_run(arrays, summary, title=f"{Path(path).name}: α={o['alpha']:g}, λ={o['lam']:g}",
                                 lam=o["lam"], model="mlp"), plot)
        if as_json:
            typer.echo(json.dumps({"run": path, **summary, **({"plot": plot} if plot else {})},
                                  default=_json_default))
        else:
            _print_summary(summary, f"grokode analyze {path} (mlp: the run's transition report)")
        return
    reports = [analyze_run(arrays, meta, c=c) for _, arrays, meta in loaded]
    trend = theorem_trend(reports) if len(reports) > 1 else None
    if plot is not None:
        if trend is None:
            path, arrays, meta = loaded[0]
            o = meta["options"]
            title = f"{Path(path).name}: α={o['alpha']:g}, λ={o['lam']:g}"
            save_figure(plot_run(arrays, {**meta["summary"], **reports[0].as_dict()}, title=title, lam=o["lam"],
                                 model=o.get("model", "diagonal")), plot)
        else:
            deficits = {"kernel at T⁻": trend.deficits(trend.kernel_at_Tminus),
                        "rich at T⁺": trend.deficits(trend.rich_at_Tplus)}
            ylabel = "1 − cos" if trend.measure == "cos" else "relative distance"
            save_figure(plot_trend(trend.alphas, deficits, title=f"theorem check, c={c:g}", ylabel=ylabel), plot)
    if as_json:
        runs_json = [{"run": path, **r.as_dict()} for (path, _, _), r in zip(loaded, reports, strict=True)]
        obj = runs_json[0] if trend is None else {"runs": runs_json, "trend": trend.as_dict()}
        if plot is not None:
            obj["plot"] = plot
        typer.echo(json.dumps(obj, default=_json_default))
        return
    for (path, _, _), report in zip(loaded, reports, strict=True):
        _print_analysis(path, report)
    if trend is None:
        out.print("Thm 3.4/3.5 predict cos(w, kernel) → 1 at T⁻ and cos(w, rich) → 1 at T⁺ as α → ∞: "
                  "pass runs at several α to see the trend.")
    else:
        _print_trend(trend, c)


def _print_analysis(path: str, a) -> None:
    table = Table(title=f"grokode analyze {path}", show_header=False, title_justify="left")
    table.add_column("key", no_wrap=True)
    table.add_column("value", overflow="fold")
    rows = [("α, λ", f"{a.alpha:g}, {a.lam:g}"), ("t_theory = ln(α)/λ", _fmt(a.t_theory)),
            ("t_transition", _fmt(a.t_transition)), ("transition_width (10–90 %)", _fmt(a.transition_width)),
            ("offset_c0 = ln α − λ t*", _fmt(a.offset_c0)), ("t_bias_switch (cos_rich > cos_kernel)",
                                                             _fmt(a.t_bias_switch))]
    for name in ("kernel", "rich"):
        ref = a.references.get(name) or {}
        if ref:
            detail = (f"{ref['kind']}: margin {_fmt(ref['margin'])}, gap {_fmt(ref['gap'])}, "
                      f"test {_fmt(ref['test_value'])}")
            rows.append((f"{name} predictor", detail if ref["feasible"] else ref["message"]))
    for key, value in rows:
        table.add_row(key, value)
    out.print(table)
    theorem = Table(title=f"theorem check (c = {a.c:g})", title_justify="left")
    m = a.measure
    names = ("cos(w, kernel)", "cos(w, rich)") if m == "cos" else ("‖W − W_kernel‖/‖W_kernel‖", "‖W − W_rich‖/‖W_rich‖")
    for col in ("time", "t", *names):
        theorem.add_column(col)
    for label, s, tag in (("T⁻ = (1−c)·t_theory", a.T_minus, "Tminus"), ("T⁺ = (1+c)·t_theory", a.T_plus, "Tplus")):
        kernel, rich = getattr(a, f"{m}_kernel_at_{tag}"), getattr(a, f"{m}_rich_at_{tag}")
        theorem.add_row(label, _fmt(s), _fmt(kernel), _fmt(rich))
    out.print(theorem)


def _print_trend(trend, c: float) -> None:
    table = Table(title=f"theorem check across α (c = {c:g})", title_justify="left")
    m = "cos" if trend.measure == "cos" else "distance"
    for col in ("α", f"{m}(w(T⁻), kernel)", "deficit", f"{m}(w(T⁺), rich)", "deficit"):
        table.add_column(col)
    rows = zip(trend.alphas, trend.kernel_at_Tminus, trend.deficits(trend.kernel_at_Tminus), trend.rich_at_Tplus,
               trend.deficits(trend.rich_at_Tplus), strict=True)
    for a, k, dk, r, dr in rows:
        table.add_row(f"{a:g}", _fmt(k), _fmt(dk), _fmt(r), _fmt(dr))
    out.print(table)
    verdict = {True: "yes", False: "NO"}
    goal = "tends to 1" if trend.measure == "cos" else "tends to 0"
    out.print(f"{m} to the kernel predictor at T⁻ {goal} as α grows: {verdict[trend.kernel_converges]}; "
              f"to the rich predictor at T⁺: {verdict[trend.rich_converges]}")


class _LazyProgress:
    """A rich progress bar on stderr that appears with the first update (so input errors print cleanly)."""

    def __init__(self, label: str):
        self.label = label
        self.bar = None

    def __call__(self, fraction: float) -> None:
        if self.bar is None:
            self.bar = Progress(TextColumn(f"[bold]{self.label}"), BarColumn(), TextColumn("{task.percentage:>5.1f}%"),
                                TimeElapsedColumn(), TimeRemainingColumn(), console=err, transient=True)
            self.bar.start()
            self.job = self.bar.add_task(self.label, total=1.0)
        self.bar.update(self.job, completed=fraction)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value)}")


def _fmt(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    return str(value)


def _print_summary(summary: dict, title: str = "grokode integrate") -> None:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("key", no_wrap=True)
    table.add_column("value", overflow="fold")
    for key in ("status", "t_theory", "t_transition", "transition_width", "log_t_transition", "transition_width_log",
                "lam_eff", "offset_c0", "t_bias_switch",
                "test_plateau", "test_final", "train_final", "t_train_fit", "t_test_10",
                "transition_metric", "kernel_test", "rich_test",
                "cos_kernel_at_Tminus", "cos_rich_at_Tplus", "rhs_evals", "jac_evals", "gd_steps_equivalent_lr0.01",
                "wall_seconds", "out", "plot"):
        if key in summary:
            table.add_row(key, _fmt(summary[key]))
    out.print(table)


@app.command()
def sweep(
    alpha: Annotated[str, typer.Option(help="α grid: LO:HI:N (N log-spaced values) or a comma list")] = "1e2:1e8:7",
    lam: Annotated[str, typer.Option(help="λ grid: LO:HI:N (N log-spaced values) or a comma list")] = "1e-3,1e-4",
    seeds: Annotated[str, typer.Option(help="seeds: s1,s2,… or LO:HI (inclusive)")] = "0",
    model: Annotated[str, typer.Option(help="diagonal | matrix | mlp")] = "diagonal",
    depth: Annotated[int, typer.Option(help="depth L")] = 2,
    task: Annotated[str | None, typer.Option(
        help="sparse | margin | sparse-regression (matrix: multiplication | lowrank; mlp: modadd)")] = None,
    n: Annotated[int, typer.Option(help="training samples")] = 256,
    d: Annotated[int | None, typer.Option(help="input dimension (matrix: size; default 10000 / 30)")] = None,
    k: Annotated[int, typer.Option(help="teacher sparsity (odd)")] = 3,
    gamma: Annotated[float, typer.Option(help="ℓ2 margin of the margin task")] = 5.0,
    n_test: Annotated[int, typer.Option(help="test samples")] = 1000,
    loss: Annotated[str | None, typer.Option(help="logistic | exponential | squared (default by task)")] = None,
    t_end: Annotated[float | None, typer.Option(help="horizon (default (2 ln α + 5)/λ per point)")] = None,
    rtol: Annotated[float, typer.Option(help="relative tolerance")] = 1e-6,
    atol: Annotated[float, typer.Option(help="absolute tolerance")] = 1e-9,
    method: Annotated[str, typer.Option(help="auto | LSODA | BDF | Radau | RK45 | DOP853 | rkc | ros2 | gd")] = "auto",
    formulation: Annotated[str, typer.Option(help="reduced | full")] = "reduced",
    frac: Annotated[float | None, typer.Option(help="matrix: observed fraction (0.25); mlp: training fraction")] = None,
    rank: Annotated[int, typer.Option(help="matrix: rank of the lowrank task")] = 1,
    p: Annotated[int | None, typer.Option("--p", help="mlp: modulus p")] = None,
    width: Annotated[int | None, typer.Option(help="mlp: hidden width")] = None,
    lr: Annotated[float | None, typer.Option(help="mlp: learning rate of --method gd")] = None,
    out_path: Annotated[str, typer.Option("--out", help="sweep file (.csv, or .parquet with pyarrow)")] = "sweep.csv",
    workers: Annotated[int | None, typer.Option(help="local worker processes (default: one per core)")] = None,
    scheduler: Annotated[str | None, typer.Option(help="tcp://HOST:PORT of a running Dask scheduler")] = None,
    fresh: Annotated[bool, typer.Option("--fresh/--resume", help="start the file over / skip recorded points")] = False,
    retries: Annotated[int, typer.Option(help="Dask retries of a point whose task or worker dies")] = 2,
    keep_runs: Annotated[str | None, typer.Option(help="directory for each point's trajectory .npz")] = None,
    plot: Annotated[str | None, typer.Option(help="PNG path (default: next to --out)")] = None,
    no_plot: Annotated[bool, typer.Option("--no-plot", help="do not write a plot")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object on stdout, nothing else")] = False,
) -> None:
    """Integrate a grid over α, λ and seeds on Dask; fit λ·t* against ln α per λ."""
    from . import sweep as sw
    from .analysis.plots import plot_scaling, save_figure
    from .analysis.scaling import fit_scaling

    points = sw.grid_points(sw.parse_grid("alpha", alpha), sw.parse_grid("lam", lam), sw.parse_seeds(seeds))
    options = {"model": model, "depth": depth, "task": task, "n": n, "d": d, "k": k, "gamma": gamma,
               "n_test": n_test, "loss": loss, "t_end": t_end, "rtol": rtol, "atol": atol, "method": method,
               "formulation": formulation, "frac": frac, "rank": rank}
    options.update({k: v for k, v in (("p", p), ("width", width), ("lr", lr)) if v is not None})
    try:
        with _SweepProgress() as bar:
            result = sw.sweep(points, options, out_path, workers=workers, scheduler=scheduler, resume=not fresh,
                              keep_runs=keep_runs, retries=retries, progress=bar)
    except KeyboardInterrupt:
        typer.echo(f"grokode: interrupted; finished points are in {out_path!r}, re-run to resume", err=True)
        raise typer.Exit(130) from None
    fits = fit_scaling(result.rows)
    summary = {"out": str(result.path), "points": len(result.rows), "ran": result.ran, "skipped": result.skipped,
               "failed": len(result.failed), "fits": [f.as_dict() for f in fits]}
    if not no_plot and any(f.n_points for f in fits):
        png = Path(plot) if plot else result.path.with_suffix(".png")
        summary["plot"] = str(save_figure(plot_scaling(result.rows, fits), png))  # title from the rows' options
    if as_json:
        typer.echo(json.dumps(summary, default=_json_default))
    else:
        _print_sweep(summary)
    for r in result.failed:
        typer.echo(f"grokode: point α={r['alpha']:g} λ={r['lam']:g} seed={r['seed']}: {r['status']}: {r['error']}",
                   err=True)
    if result.failed:
        raise typer.Exit(1)


class _SweepProgress:
    """Points done / total with ETA on stderr (rich)."""

    def __init__(self):
        self.bar = Progress(TextColumn("[bold]sweep"), BarColumn(), TextColumn("{task.completed}/{task.total} points"),
                            TextColumn("{task.description}"), TimeElapsedColumn(), TimeRemainingColumn(),
                            console=err, transient=True)
        self.job = None
        self.failed = 0

    def __call__(self, done: int, total: int, row: dict | None) -> None:
        if self.job is None:
            self.bar.start()
            self.job = self.bar.add_task("", total=total, completed=done)
        self.failed += row is not None and row["status"] != "ok"
        self.bar.update(self.job, completed=done, description=f"({self.failed} failed)" if self.failed else "")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.bar.stop()


def _print_sweep(summary: dict) -> None:
    def g(value, spec: str) -> str:
        return "—" if value is None or not math.isfinite(value) else format(value, spec)

    table = Table(title=f"λ·t* = slope·ln α + intercept  ({summary['out']})", title_justify="left", box=box.SIMPLE,
                  pad_edge=False)
    for col in ("λ", "points", "slope", "intercept", "R²", "c₀ mean", "c₀ sd", "λ·width"):
        table.add_column(col, justify="right", no_wrap=True)
    for f in summary["fits"]:
        table.add_row(f"{f['lam']:g}", str(f["n_points"]), g(f["slope"], ".4f"), g(f["intercept"], ".3f"),
                      g(f["r2"], ".5f"), g(f["c0_mean"], ".3f"), g(f["c0_std"], ".3f"), g(f["lam_width_mean"], ".3f"))
    out.print(table)
    out.print(f"{summary['points']} points: {summary['ran']} run now, {summary['skipped']} already in the file, "
              f"{summary['failed']} failed" + (f"; plot {summary['plot']}" if "plot" in summary else ""))


def main(argv: list[str] | None = None) -> None:
    """Entry point: runs the app, turning bad input into one line on stderr and exit code 2."""
    try:
        code = app(args=argv, standalone_mode=False)  # without standalone mode click returns typer.Exit's code
        if isinstance(code, int) and code:
            sys.exit(code)
    except InputError as exc:
        print(f"grokode: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except NoArgsIsHelpError as exc:
        print(exc.ctx.get_help() if exc.ctx else "", file=sys.stderr)
        sys.exit(0)
    except UsageError as exc:
        print(f"grokode: error: {exc.format_message()}".replace("\n", " "), file=sys.stderr)
        sys.exit(2)
    except typer.Abort:
        print("grokode: interrupted", file=sys.stderr)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
