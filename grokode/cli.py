"""The ``grokode`` command line: a thin shell over the library, built from the model registry.

``integrate``, ``sweep`` and ``derive`` take every option some registered model declares
(:attr:`grokode.models.base.Model.options`); the chosen model validates them, so an option it does not take
is an error naming both. Bad input prints one line ``grokode: error: …`` and exits 2, before anything is
computed; a failed integration (or a diverged gradient descent) exits 1 after writing what it finished; an
interrupted one (Ctrl-C, SIGTERM) exits 130 after writing what it finished.
"""

from __future__ import annotations

import contextlib
import inspect
import signal
import sys
import threading
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer

from ._version import __version__
from .errors import GrokodeWarning, InputError, OutputError

try:  # recent typer vendors click; older typer uses the click package
    from typer._click.exceptions import NoArgsIsHelpError, UsageError
except ImportError:  # pragma: no cover
    from click.exceptions import NoArgsIsHelpError, UsageError  # type: ignore[assignment]

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="grokode: derive, integrate and analyse grokking as a gradient-flow ODE.")
#: Options every run takes whatever its model (the others are listed under their models in --help).
OUTPUT_PANEL = "Output"


def _flags_take_no_value() -> None:
    """--help shows no value type for a flag (recent typer labels every flag ``<bool>``, --help and --version
    included, as if it took a value)."""
    from typer.core import TyperOption

    typed = getattr(TyperOption, "display_type_rich", None)
    if typed is None or getattr(typed, "flags_untyped", False):
        return

    def display_type_rich(self, ctx):
        return None if self.is_flag else typed(self, ctx)

    display_type_rich.flags_untyped = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flags_take_no_value()


def _consoles():
    from rich.console import Console

    return Console(stderr=True), Console()


@app.callback(invoke_without_command=True)
def _root(version: Annotated[bool, typer.Option("--version", help="print the version and exit",
                                                is_eager=True)] = False) -> None:
    if version:
        typer.echo(f"grokode {__version__}")
        raise typer.Exit()


# ----------------------------------------------------------------------------------------------------
# Options from the registry


def _registry_options(kind: str) -> dict[str, tuple[Any, list[str]]]:
    """name → (option, models that take it) over every registered model; ``kind`` "run" or "derive"."""
    from .models import get_model, model_names

    table: dict[str, tuple[Any, list[str]]] = {}
    for name in model_names():
        cls = get_model(name)
        for opt in cls.options if kind == "run" else cls.derive_options:
            if opt.name in table:
                table[opt.name][1].append(name)
            else:
                table[opt.name] = (opt, [name])
    return table


def _help(opt, models: list[str], everyone: list[str]) -> str:
    from .models import get_model

    helps = {name: next(o.help for o in (get_model(name).options + get_model(name).derive_options)
                        if o.name == opt.name) for name in models}
    if len(set(helps.values())) == 1:
        text = opt.help
    else:
        text = "; ".join(f"{name}: {h}" for name, h in helps.items())
    return text if models == everyone else f"{text} [{', '.join(models)}]"


def _with_options(fn, kind: str, skip: tuple[str, ...] = ()):
    """``fn`` with one keyword parameter per registry option (text, default None: "not given")."""
    from .models import model_names

    everyone = model_names()
    params = [p for p in inspect.signature(fn, eval_str=True).parameters.values()
              if p.kind is not inspect.Parameter.VAR_KEYWORD]
    for name, (opt, models) in _registry_options(kind).items():
        if name in skip:
            continue
        panel = "Options of every model" if models == everyone else f"Model options ({', '.join(models)})"
        if opt.kind == "bool":
            info = typer.Option(opt.flag, help=_help(opt, models, everyone), rich_help_panel=panel)
            params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=False,
                                            annotation=Annotated[bool, info]))
        else:
            metavar = opt.metavar if len({_metavar(name, m) for m in models}) == 1 else "TEXT"
            info = typer.Option(opt.flag, help=_help(opt, models, everyone), metavar=metavar,
                                rich_help_panel=panel, show_default=False)
            params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                                            annotation=Annotated[str | None, info]))

    def command(**kwargs):
        return fn(**kwargs)

    command.__name__, command.__doc__ = fn.__name__, fn.__doc__
    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]  # typer reads the options here
    return command


def _metavar(option: str, model: str) -> str:
    from .models import get_model

    cls = get_model(model)
    return next(o.metavar for o in cls.options + cls.derive_options if o.name == option)


def _model_options(kwargs: dict) -> dict:
    """The options the user gave (None and False mean "not given")."""
    return {k: v for k, v in kwargs.items() if v is not None and v is not False}


# ----------------------------------------------------------------------------------------------------
# derive


def derive(model: Annotated[str, typer.Argument(help="a registered model: diagonal | matrix | mlp | …")],
           format: Annotated[str, typer.Option("--format", help="text | latex | json")] = "text", **options) -> None:
    """Print the sympy derivation of a model: flow, NTK, closed form, conservation law, reduced flow.

    Cached in ~/.cache/grokode/derive ($GROKODE_CACHE_DIR, else $XDG_CACHE_HOME/grokode, if set).

    One cache for every clone and install of grokode; deleting that directory clears it.
    """
    from .derivation import derivation_text

    typer.echo(derivation_text(model, _model_options(options), format), nl=False)


# ----------------------------------------------------------------------------------------------------
# integrate


def integrate(model: Annotated[str, typer.Option(help="diagonal | matrix | mlp | … (grokode.models)")] = "diagonal",
              out_path: Annotated[str | None, typer.Option("--out", help="trajectory file (.npz; default "
                                  "runs/<descriptive name>.npz)", rich_help_panel=OUTPUT_PANEL)] = None,
              plot: Annotated[str | None, typer.Option(help="figure (.png, .pdf or .svg; default: next to --out)",
                                                      rich_help_panel=OUTPUT_PANEL)] = None,
              no_plot: Annotated[bool, typer.Option("--no-plot", help="write no figure",
                                                    rich_help_panel=OUTPUT_PANEL)] = False,
              force: Annotated[bool, typer.Option("--force", help="overwrite existing --out/--plot files",
                                                  rich_help_panel=OUTPUT_PANEL)] = False,
              as_json: Annotated[bool, typer.Option("--json", help="print one JSON object on stdout, nothing else",
                                                    rich_help_panel=OUTPUT_PANEL)] = False,
              resume: Annotated[str | None, typer.Option(
                  "--resume", metavar="RUN.npz", rich_help_panel="Long runs",
                  help="continue the interrupted or failed run in this file from its last saved state (options, data "
                       "and solver settings come from the file; only --t-end, to extend, and --method may be given); "
                       "the file is replaced atomically when the new version is complete, or --out writes elsewhere"
              )] = None,
              checkpoint_every: Annotated[str | None, typer.Option(
                  "--checkpoint-every", metavar="DURATION", rich_help_panel="Long runs",
                  help="rewrite the trajectory file atomically with what is finished every DURATION (30s, 10m, 1h) "
                       "of wall time; --resume continues from the last one")] = None,
              **options) -> None:
    """Integrate the gradient flow through the kernel→rich transition; write trajectory and figure."""
    from . import pipeline
    from .files import check_output_path
    from .outputs import parse_duration
    from .result import FIGURE_SUFFIXES

    if no_plot and plot is not None:
        raise InputError("--plot and --no-plot contradict each other")
    if force and out_path is None and plot is None:
        raise InputError("--force overwrites an existing --out or --plot, and neither was given (the default file "
                         "names are numbered, never overwritten)")
    _require_path("--out", out_path)
    _require_path("--plot", plot)
    every = parse_duration(checkpoint_every, "--checkpoint-every")
    if as_json:
        _require_json_names(out_path, plot, options.get("data"))
    if plot is not None:  # an explicit figure is never overwritten without --force (a default one never exists)
        check_output_path(plot, FIGURE_SUFFIXES, force=force, what="plot file")
    if resume is not None:
        run = _resume(resume, model, out_path, plot, force, every, options)
    else:
        instance = pipeline.build(model, **_model_options(options))
        if out_path is not None:
            outputs = pipeline.Outputs.checked(out_path, None if no_plot else plot or Path(out_path).with_suffix(
                ".png"), force)
        else:  # runs/<stem>.npz, or the first free stem-2, stem-3, … taken when the file is written
            default = check_output_path(Path("runs") / f"{instance.file_stem()}.npz", (".npz",), force=True,
                                        what="output file")
            outputs = pipeline.Outputs(out=default, plot=None if no_plot else Path(plot) if plot else None,
                                       force=force, numbered=True, plot_beside=not no_plot and plot is None)
        with _LazyProgress("integrating") as bar:
            run = pipeline.run_model(instance, outputs=outputs, progress=bar, checkpoint_every=every)
    _finish_run(run, as_json)


def _resume(path: str, model: str, out_path, plot, force: bool, every, options: dict):
    """``integrate --resume``: only --t-end and --method (and the output options) may be given."""
    from . import resuming as rs

    given = _model_options(options)
    others = sorted(set(given) - set(rs.RESUME_OPTIONS))
    if model != "diagonal":
        others.insert(0, "model")
    if others:
        flags = ", ".join("--" + k.replace("_", "-") for k in others)
        raise InputError(f"{flags} cannot be given with --resume: the options come from the file (only --t-end, to "
                         "extend, and --method may change)")
    _require_path("--resume", path)
    with _LazyProgress("integrating") as bar:
        return rs.resume(path, t_end=given.get("t_end"), method=given.get("method"), out=out_path, plot=plot,
                         force=force, progress=bar, checkpoint_every=every)


def _finish_run(run, as_json: bool) -> None:
    if as_json:
        typer.echo(run.to_json())
    else:
        _print_summary(run.summary)
    status = str(run.status)
    if status in ("failed", "diverged"):
        _say(f"grokode: error: {run.message} (partial trajectory written)")
        raise typer.Exit(1)
    if status == "interrupted" or run.signal_received:
        if "out" in run.summary:
            _say("grokode: interrupted (what was finished is written)")
        else:
            _say("grokode: interrupted (no --out: nothing was written)")
        raise typer.Exit(130)
    if run.message:
        _say(f"grokode: {run.message}")  # e.g. GD took uphill steps: it is not following the flow


def _require_path(flag: str, value: str | None) -> None:
    """An option that names a file or directory cannot be given as empty text (it would mean "here")."""
    if value is not None and not value.strip():
        raise InputError(f"{flag} must be a path, got {value!r}")


def _require_json_names(*names: str | None) -> None:
    """With --json, a file name that is not valid UTF-8 (undecodable bytes reach Python as lone surrogates) is
    refused before computing: strict JSON cannot carry it."""
    for name in names:
        if name is None:
            continue
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            raise InputError(f"the file name {name!r} is not valid UTF-8, so --json cannot print it: rename the file "
                             "or leave out --json") from None


def _parse(name: str, kind: str, value: str | None, **limits: Any) -> Any:
    """A command option (``c``, ``workers``, …) parsed like a model option: messages name the value."""
    from .options import Option

    return Option(name, kind, "", **limits).parse(value)


# ----------------------------------------------------------------------------------------------------
# analyze


@app.command()
def analyze(
    runs: Annotated[list[str], typer.Argument(help="trajectory file(s) written by integrate; several α → trend")],
    c: Annotated[str, typer.Option(help="theorem window: T∓ = (1 ∓ c)·ln(α)/λ, 0 < c < 1", metavar="FLOAT")] = "0.5",
    plot: Annotated[str | None, typer.Option(help="figure (.png/.pdf/.svg): one run's story, or the trend")] = None,
    force: Annotated[bool, typer.Option("--force", help="overwrite an existing --plot")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object on stdout, nothing else")] = False,
) -> None:
    """Transition report and theorem check (kernel at T⁻, rich at T⁺) of one run, or the trend over runs."""
    from .files import check_output_path
    from .report import print_analysis, print_trend
    from .result import FIGURE_SUFFIXES, dumps
    from .run_analysis import analyze_files

    try:
        window: float = _parse("c", "float", c, low=0.0, high=1.0, low_open=True, high_open=True)
    except InputError as exc:
        raise InputError(f"--c must lie in (0, 1), {str(exc).split(', ', 1)[-1]}") from None
    if force and plot is None:
        raise InputError("--force overwrites an existing --plot, and no --plot was given")
    _require_path("--plot", plot)
    if as_json:
        _require_json_names(*runs, plot)
    if plot is not None:
        check_output_path(plot, FIGURE_SUFFIXES, force=force, what="--plot")
    found = analyze_files(runs, window)
    if plot is not None:
        found.plot(plot, force=force)
    if as_json:
        typer.echo(dumps({**found.as_json(), **({"plot": plot} if plot else {})}))
    elif found.reports is None:
        _print_summary(found.runs[0].summary, f"grokode analyze {runs[0]} ({found.runs[0].model}: the run's "
                       "transition report)")
    else:
        for path, report, run in zip(runs, found.reports, found.runs, strict=True):
            print_analysis(path, report, run.summary)
        if found.trend is None:
            _consoles()[1].print("Thm 3.4/3.5 predict cos(w, kernel) → 1 at T⁻ and cos(w, rich) → 1 at T⁺ as α → ∞: "
                                 "pass runs at several α to see the trend.")
        else:
            print_trend(found.trend, window)


# ----------------------------------------------------------------------------------------------------
# sweep


def sweep(
    alpha: Annotated[str, typer.Option(help="α grid: LO:HI:N (N log-spaced values) or a comma list",
                                       rich_help_panel="Grid")] = "1e2:1e8:7",
    lam: Annotated[str, typer.Option(help="λ grid: LO:HI:N (N log-spaced values) or a comma list",
                                     rich_help_panel="Grid")] = "1e-3,1e-4",
    seeds: Annotated[str | None, typer.Option(help="seeds: s1,s2,… or LO:HI (inclusive; default 0)",
                                              rich_help_panel="Grid")] = None,
    model: Annotated[str, typer.Option(help="diagonal | matrix | mlp | … (grokode.models)")] = "diagonal",
    out_path: Annotated[str, typer.Option("--out", help="sweep file (.csv, or .parquet with pyarrow)",
                                          rich_help_panel=OUTPUT_PANEL)] = "sweep.csv",
    workers: Annotated[str | None, typer.Option(help="local worker processes (default: one per core)",
                                                metavar="INT", rich_help_panel="Where it runs")] = None,
    scheduler: Annotated[str | None, typer.Option(help="tcp://HOST:PORT of a running Dask scheduler",
                                                  rich_help_panel="Where it runs")] = None,
    fresh: Annotated[bool, typer.Option("--fresh/--resume", help="start the file over / skip recorded points",
                                        rich_help_panel=OUTPUT_PANEL)] = False,
    retries: Annotated[str, typer.Option(help="Dask retries of a point whose task or worker dies", metavar="INT",
                                         rich_help_panel="Where it runs")] = "2",
    keep_runs: Annotated[str | None, typer.Option(help="directory for each point's trajectory .npz",
                                                  rich_help_panel=OUTPUT_PANEL)] = None,
    plot: Annotated[str | None, typer.Option(help="figure (.png/.pdf/.svg; default: next to --out): the phase "
                                             "diagram when α and λ (or a model option such as --n) have ≥ 2 values "
                                             "(the scaling figure then goes beside it, FIG-scaling.png), else the "
                                             "scaling figure",
                                             rich_help_panel=OUTPUT_PANEL)] = None,
    no_plot: Annotated[bool, typer.Option("--no-plot", help="write no figure", rich_help_panel=OUTPUT_PANEL)] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object on stdout, nothing else",
                                          rich_help_panel=OUTPUT_PANEL)] = False,
    force: Annotated[bool, typer.Option("--force", help="overwrite existing figures (--plot, or the default one "
                                        "next to --out, and the one beside it)", rich_help_panel=OUTPUT_PANEL)] = False,
    **options,
) -> None:
    """Integrate a grid over α, λ, seeds and model options on Dask; fit λ·t* against ln α per λ; draw the phase
    diagram.

    A numeric model option given as a list is a grid axis too: --n 16,24,32 (integers: a comma list, or LO:HI:N
    rounded), --frac 0.2,0.5. --plot is the phase diagram when α and a second axis (λ or a model option) vary
    (≥ 2 values each); a third varied axis gives one panel per value; the scaling figure then goes beside it.
    """
    from . import sweep as sw
    from .files import check_output_path
    from .report import print_sweep
    from .result import dumps
    from .sweep.outcome import SweepFigures, summarize

    given = {"model": model, **_model_options(options)}
    workers = None if workers is None else _parse("workers", "int", workers, low=1)
    retry_count: int = _parse("retries", "int", retries, low=0)
    seed_list: list[int | None]
    if seeds is None:
        seed_list = [None] if "data" in given else [0]
    else:
        seed_list = list(sw.parse_seeds(seeds))
    given, option_grids = sw.option_grids(given)
    points = sw.grid_points(sw.parse_grid("alpha", alpha), sw.parse_grid("lam", lam), seed_list, option_grids)
    if no_plot and plot is not None:
        raise InputError("--plot and --no-plot contradict each other")
    for flag, value in (("--out", out_path), ("--plot", plot), ("--keep-runs", keep_runs)):
        _require_path(flag, value)
    if force and no_plot:
        raise InputError("--force overwrites an existing figure, and --no-plot writes none")
    if as_json:
        _require_json_names(out_path, plot, keep_runs, given.get("data"))
    check_output_path(out_path, sw.SWEEP_SUFFIXES, force=True, what="sweep file")
    figure = Path(plot) if plot is not None else Path(out_path).with_suffix(".png")
    figures = None if no_plot else SweepFigures.for_grid(figure, points, explicit=plot is not None)
    if figures is not None:
        figures.check(out_path, force=force)
    sw.refuse_inputs(given, {"--out": out_path, **(figures.paths() if figures else {})})
    try:
        with _SweepProgress() as bar:
            result = sw.sweep(points, given, out_path, workers=workers, scheduler=scheduler, resume=not fresh,
                              keep_runs=keep_runs, retries=retry_count, progress=bar,
                              on_dashboard=lambda link: bar.note(f"Dask dashboard: {link}"))
    except KeyboardInterrupt:
        _say(f"grokode: interrupted; finished points are in {out_path!r}, re-run to resume")
        raise typer.Exit(130) from None
    summary, fits = summarize(result)
    if figures is not None:
        summary.update(figures.draw(result.rows, fits, force=force))
    if as_json:
        typer.echo(dumps(summary))
    else:
        print_sweep(summary)
    for r in result.failed:
        _say(f"grokode: point α={r['alpha']:g} λ={r['lam']:g} seed={r['seed']}: {r['status']}: {r['error']}")
    if result.failed:
        raise typer.Exit(1)


# ----------------------------------------------------------------------------------------------------
# Progress and summaries


class _LazyProgress:
    """Progress on stderr that appears with the first update (so input errors print cleanly): on a terminal a rich
    bar, then the phases after the integration (:func:`grokode.pipeline.run_model` announces them); elsewhere
    one plain line per phase."""

    def __init__(self, label: str):
        self.label = label
        self.bar: Any = None
        self.console = _consoles()[0]
        self.plain = not self.console.is_terminal
        self.started = False

    def __call__(self, fraction: float) -> None:
        if self.plain:
            if not self.started:
                _say(f"grokode: {self.label}")
            self.started = True
            return
        if self.bar is None:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[shown]}"),
                                TimeElapsedColumn(), TimeRemainingColumn(), console=self.console, transient=True)
            self.bar.start()
            self.job = self.bar.add_task(self.label, total=1.0, shown="")
        self.bar.update(self.job, completed=fraction, shown=f"{100 * fraction:>5.1f}%")

    def phase(self, name: str) -> None:
        if self.plain:
            _say(f"grokode: {name}")
        elif self.bar is not None:  # an indeterminate (pulsing) bar under the phase's name
            self.bar.update(self.job, description=name, total=None, shown="")
            self.bar.refresh()  # drawn at least once, however short the phase

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()


class _SweepProgress:
    """Points done / total with ETA on stderr (rich)."""

    def __init__(self):
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.bar = Progress(TextColumn("[bold]sweep"), BarColumn(), TextColumn("{task.completed}/{task.total} points"),
                            TextColumn("{task.description}"), TimeElapsedColumn(), TimeRemainingColumn(),
                            console=_consoles()[0], transient=True)
        self.job = None
        self.failed = 0

    def note(self, text: str) -> None:
        self.bar.console.print(text, markup=False, highlight=False)

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


def _say(text: str) -> None:
    """One plain line on stderr (no colours: scripts and tests read it)."""
    print(text, file=sys.stderr, flush=True)


def _print_summary(summary: dict, title: str = "grokode integrate") -> None:
    from .report import print_summary

    print_summary(summary, title)


# ----------------------------------------------------------------------------------------------------
# Entry point


def _register_commands() -> None:
    """(Re)build the registry-driven commands: each call replaces the previous ones, so models registered since
    are included and repeated calls of :func:`main` in one process do not pile up copies."""
    built = {"derive", "integrate", "sweep"}
    app.registered_commands[:] = [c for c in app.registered_commands if c.name not in built]
    app.command(name="derive")(_with_options(derive, "derive"))
    app.command(name="integrate")(_with_options(integrate, "run"))
    app.command(name="sweep")(_with_options(sweep, "run", skip=("alpha", "lam", "seed")))


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    prefix = "grokode: warning: " if issubclass(category, GrokodeWarning) else f"grokode: {category.__name__}: "
    print(prefix + " ".join(str(message).split()), file=sys.stderr)


def _escape_unencodable(exc: UnicodeError) -> tuple[str, int]:
    """Codec error handler: a character the stream cannot encode becomes a JSON-style ``\\uXXXX`` escape (a
    surrogate pair beyond the BMP), so an ASCII-only terminal gets readable text and --json stays valid JSON."""
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    out = []
    for char in exc.object[exc.start:exc.end]:
        code = ord(char)
        if code > 0xFFFF:
            code -= 0x10000
            out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
        else:
            out.append(f"\\u{code:04x}")
    return "".join(out), exc.end


def _tolerant_streams() -> list[tuple[Any, str]]:
    """Make stdout and stderr escape what their encoding cannot represent (PYTHONIOENCODING=ascii, a C locale, a
    file name with undecodable bytes) instead of raising; returns what to restore."""
    import codecs

    try:
        codecs.lookup_error("grokode-escape")
    except LookupError:
        codecs.register_error("grokode-escape", _escape_unencodable)
    changed: list[tuple[Any, str]] = []
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and getattr(stream, "errors", None) in ("strict", "backslashreplace"):
            changed.append((stream, str(stream.errors)))
            with contextlib.suppress(ValueError, OSError):
                reconfigure(errors="grokode-escape")
    return changed


def main(argv: list[str] | None = None) -> None:
    """Entry point: runs the app, turning bad input into one line on stderr and exit code 2."""
    from .numeric.process_exit import freeze_at_exit

    freeze_at_exit()  # the command's process exits without a collection over numba's objects; a library user's does not
    warnings.showwarning = _show_warning
    restore = _tolerant_streams()
    if hasattr(signal, "SIGXFSZ") and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write beyond ulimit -f then fails (EFBIG), not the process
    try:
        _main(argv)
    finally:
        for stream, errors in restore:
            with contextlib.suppress(ValueError, OSError):
                stream.reconfigure(errors=errors)


def _main(argv: list[str] | None) -> None:
    from .interrupts import terminate_as_interrupt

    try:
        _register_commands()
        with terminate_as_interrupt():  # SIGTERM (kill, timeout, a scheduler's walltime) is handled as Ctrl-C is
            code = app(args=argv, standalone_mode=False)  # without standalone mode click returns typer.Exit's code
        if isinstance(code, int) and code:
            sys.exit(code)
    except InputError as exc:
        print(f"grokode: error: {' '.join(str(exc).split())}", file=sys.stderr)
        sys.exit(2)
    except OutputError as exc:  # found while writing, after computing: the run's own failure, not the input's
        print(f"grokode: error: {' '.join(str(exc).split())}", file=sys.stderr)
        sys.exit(1)
    except NoArgsIsHelpError as exc:
        print(exc.ctx.get_help() if exc.ctx else "", file=sys.stderr)
        sys.exit(0)
    except UsageError as exc:
        print(f"grokode: error: {exc.format_message()}".replace("\n", " "), file=sys.stderr)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        print("grokode: interrupted (nothing was finished)", file=sys.stderr)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
