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
    model: Annotated[str, typer.Argument(help="diagonal")],
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
            f"-s{o['seed']}" + (f"-gd{o['lr']:g}" if o.get("method") == "gd" else "")).replace("+", "")
    path = Path("runs") / f"{stem}.npz"
    k = 2
    while path.exists():  # a default name never overwrites: number the next run instead
        path = Path("runs") / f"{stem}-{k}.npz"
        k += 1
    return path


@app.command()
def integrate(
    model: Annotated[str, typer.Option(help="diagonal")] = "diagonal",
    depth: Annotated[int, typer.Option(help="depth L (≥ 3 uses the Γ reduction)")] = 2,
    task: Annotated[str, typer.Option(help="sparse | margin | sparse-regression")] = "sparse",
    data: Annotated[str | None, typer.Option(help="user data .npz (keys X, y, optional X_test, y_test)")] = None,
    n: Annotated[int, typer.Option(help="training samples")] = 256,
    d: Annotated[int, typer.Option(help="input dimension")] = 10_000,
    k: Annotated[int, typer.Option(help="teacher sparsity (odd)")] = 3,
    gamma: Annotated[float, typer.Option(help="ℓ2 margin of the margin task")] = 5.0,
    n_test: Annotated[int, typer.Option(help="test samples (0: population metrics only)")] = 1000,
    seed: Annotated[int, typer.Option(help="seed of the data generator")] = 0,
    loss: Annotated[str | None, typer.Option(help="logistic | exponential | squared (default by task)")] = None,
    alpha: Annotated[float, typer.Option(help="initialization scale α")] = 1e3,
    lam: Annotated[float, typer.Option(help="weight decay λ")] = 1e-3,
    t_end: Annotated[float | None, typer.Option(help="horizon (default (2 ln α + 5)/λ)")] = None,
    t_eval: Annotated[str | None, typer.Option(help="save exactly these times: t1,t2,…")] = None,
    rtol: Annotated[float, typer.Option(help="relative tolerance")] = 1e-6,
    atol: Annotated[float, typer.Option(help="absolute tolerance (on the scaled state)")] = 1e-9,
    method: Annotated[str, typer.Option(help="auto | LSODA | BDF | Radau | RK45 | DOP853 | gd")] = "auto",
    lr: Annotated[float | None, typer.Option(help="learning rate of --method gd (default 0.01)")] = None,
    formulation: Annotated[str, typer.Option(help="reduced (n unknowns) | full (2d unknowns)")] = "reduced",
    out_path: Annotated[str | None, typer.Option("--out", help="trajectory file (.npz)")] = None,
    plot: Annotated[str | None, typer.Option(help="PNG path (default: next to --out)")] = None,
    no_plot: Annotated[bool, typer.Option("--no-plot", help="do not write a plot")] = False,
    force: Annotated[bool, typer.Option(help="overwrite an existing --out")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object on stdout, nothing else")] = False,
) -> None:
    """Integrate the gradient flow through the kernel→rich transition; write trajectory and plot."""
    from . import run as run_mod
    from .analysis.plots import plot_run

    options = {"model": model, "depth": depth, "task": task, "data": data, "n": n, "d": d, "k": k, "gamma": gamma,
               "n_test": n_test, "seed": seed, "loss": loss, "alpha": alpha, "lam": lam, "t_end": t_end,
               "t_eval": _parse_times(t_eval), "rtol": rtol, "atol": atol, "method": method,
               "formulation": formulation, "lr": lr}
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
        title = f"{model} L={depth}, {result.meta['dataset']['name']}, α={alpha:g}, λ={lam:g}"
        summary["plot"] = str(plot_run(result.arrays, summary, png, title))
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


def _print_summary(summary: dict) -> None:
    table = Table(title="grokode integrate", show_header=False, title_justify="left")
    table.add_column("key", no_wrap=True)
    table.add_column("value", overflow="fold")
    for key in ("status", "t_theory", "t_transition", "transition_width", "test_plateau", "test_final",
                "train_final", "transition_metric", "rhs_evals", "jac_evals", "gd_steps_equivalent_lr0.01",
                "wall_seconds", "out", "plot"):
        if key in summary:
            table.add_row(key, _fmt(summary[key]))
    out.print(table)


def main(argv: list[str] | None = None) -> None:
    """Entry point: runs the app, turning bad input into one line on stderr and exit code 2."""
    try:
        code = app(args=argv, standalone_mode=False)
        if isinstance(code, int) and code:  # click returns (not raises) typer.Exit's code when not standalone
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
