"""One run, for every model: validate → build → integrate → observe → analyse → save.

:func:`integrate` is what ``grokode integrate`` and ``grokode sweep`` call. It looks the model up in the
registry (:mod:`grokode.models`), validates every option, the output paths and the memory the run needs
*before* anything is computed, then calls the model's hooks (:class:`~grokode.models.base.Model`) in order and
assembles a :class:`~grokode.result.Run`. A run that fails or is stopped (Ctrl-C, SIGTERM) still goes through
observe → analyse → save with what it finished; while the file is being written further signals are deferred,
so a second Ctrl-C cannot lose it (:mod:`grokode.interrupts`). A new output file holds the run's initial state as
soon as the driver starts, and with ``checkpoint_every`` what is finished at that interval (:mod:`grokode.lifecycle`);
every file keeps the solver state a later :func:`grokode.resume` continues from.
"""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ._version import __version__
from .errors import InputError, OutputError, checked_arguments
from .files import check_output_path
from .interrupts import received, stoppable
from .models import get_model
from .models.base import Model, data_digest, full_data_digest
from .numeric.solution import Status
from .observables import FILE_FORMAT, TrajectoryArrays
from .result import FIGURE_SUFFIXES, TRAJECTORY_SUFFIXES, Run
from .threads import compute_threads


@dataclass
class Outputs:
    """Where a run writes: the trajectory (``out``) and the figure (``plot``), checked up front.

    ``numbered``: ``out`` is a default name; the file is created under the first free name ``stem.npz``,
    ``stem-2.npz``, … (atomically: two runs started together never share one). ``plot_beside``: the figure goes
    next to the trajectory, with its stem (``plot`` is then ignored until the name is known).
    """

    out: Path | None = None
    plot: Path | None = None
    force: bool = False
    numbered: bool = False
    plot_beside: bool = False

    @classmethod
    def checked(cls, out, plot, force: bool) -> Outputs:
        out_path = None if out is None else check_output_path(out, TRAJECTORY_SUFFIXES, force=force,
                                                              what="output file")
        plot_path = None if plot is None else check_output_path(plot, FIGURE_SUFFIXES, force=force, what="plot file")
        if out_path is not None and plot_path is not None and out_path.resolve() == plot_path.resolve():
            raise InputError(f"the trajectory and the plot cannot both be {str(out_path)!r}")
        return cls(out_path, plot_path, bool(force))

    def refuse_inputs(self, inputs: dict[str, str]) -> None:
        """InputError when an output is one of the run's own input files (same path or same file)."""
        from .outputs import require_not_input

        for what, path in (("--out", self.out), ("--plot", None if self.plot_beside else self.plot)):
            if path is not None:
                require_not_input(path, inputs, what)


@checked_arguments
def build(model: str = "diagonal", **options: Any) -> Model:
    """The validated model instance of a run (nothing is computed): every InputError happens here."""
    return get_model(model)(**options)  # the model's check() refuses what does not fit, memory included


@checked_arguments
def integrate(*, model: str = "diagonal", out: str | os.PathLike | None = None,
              plot: str | os.PathLike | None = None, force: bool = False,
              progress: Callable[[float], None] | None = None, checkpoint_every: float | str | None = None,
              **options: Any) -> Run:
    """Integrate ``model`` through the kernel→rich transition and return the :class:`~grokode.result.Run`.

    Parameters
    ----------
    model : a registered model name (``grokode.models.model_names()``): "diagonal", "matrix", "mlp", …
    out, plot : optional trajectory (.npz) and figure (.png/.pdf/.svg) paths; checked before the run, written
        after it (also after a failure or an interruption). An existing file is refused unless ``force``; a new
        ``out`` holds the initial state (t = 0) as soon as the run starts. Neither may be one of the run's inputs.
    progress : called with the fraction of the horizon done; a :class:`PhaseReporter` (one with a method ``phase``)
        is also told the name of each phase after the integration (analysing, writing FILE, drawing FILE).
    checkpoint_every : seconds (or text such as "10m", "30s", "1h") between atomic rewrites of ``out`` with what is
        finished; a later :func:`grokode.resume` continues from the last one.
    **options : the model's options (``grokode integrate --help``, docs/cli.md), e.g. ``alpha=1e3, lam=1e-3``.
        An option the model (or the chosen task or method) does not take is an InputError.

    Returns
    -------
    Run with ``status`` ok, failed, diverged or interrupted.
    """
    from .outputs import parse_duration

    every = parse_duration(checkpoint_every, "checkpoint_every")
    outputs = Outputs.checked(out, plot, force)
    if every is not None and outputs.out is None:
        raise InputError("checkpoint_every writes the partial run to out, and no out was given")
    return run_model(build(model, **options), outputs=outputs, progress=progress, checkpoint_every=every)


@dataclass
class Continuation:
    """How a run continues an earlier one (built by :mod:`grokode.resuming`): the solver state to start from, how to
    join the earlier run's saved times to the new solution, and what the meta records about it."""

    start: dict[str, Any] | None
    merge: Callable[[Any], Any]
    record: dict[str, Any]
    data_sha256: str | None = None


@checked_arguments
def run_model(model: Model, *, outputs: Outputs | None = None,
              progress: Callable[[float], None] | None = None, checkpoint_every: float | None = None,
              continuation: Continuation | None = None) -> Run:
    """Run a validated model instance through the pipeline (see the module docstring)."""
    from .lifecycle import Lifecycle, active

    if not isinstance(model, Model):
        raise InputError(f"run_model needs a model instance (grokode.build(...)), got {type(model).__name__}")
    if outputs is not None and not isinstance(outputs, Outputs):
        raise InputError(f"outputs must be a pipeline.Outputs (Outputs.checked(...)), got {type(outputs).__name__}")
    outputs = outputs or Outputs()
    outputs.refuse_inputs(input_paths(model))
    wall0 = time.perf_counter()
    writer = _Writer(model, outputs, wall0, continuation)
    # signals are recorded from here on: the driver stops at its next step, and one arriving while the finished
    # part is observed and written cannot interrupt the writing
    with stoppable():
        # BLAS runs one thread throughout (its calls here are small, numba's kernels share the cores, and its
        # threads spin after each call); a large product that gains from more threads names them (the Newton Gram
        # product of a Jacobian). The metrics computed after the run (a compact run's test metrics, when read) run
        # under the same limit, so they are the same numbers as those computed during it
        with compute_threads():
            prepare_start = time.perf_counter()
            plan = model.prepare()
            prepare_seconds = time.perf_counter() - prepare_start
        writer.plan, writer.digest = plan, data_digest(plan.data)
        if continuation is not None and continuation.data_sha256 not in (None, writer.digest) and (
                continuation.data_sha256 != full_data_digest(plan.data)):  # a file of an earlier version
            raise InputError("the data set of this run differs from the one the saved run was integrated on (a "
                             "changed --data file, or another numpy's random streams): it cannot be continued")
        # a new file holds the initial state at once (a kill -9 still leaves a readable run); one that exists
        # (--force, or the file a resumed run extends) is replaced only by a complete version
        lifecycle = Lifecycle(start=None if continuation is None else continuation.start,
                              write=writer.partial if outputs.out is not None else None,
                              initial=outputs.out is not None and continuation is None and (
                                  outputs.numbered or not outputs.out.exists()),
                              every=checkpoint_every)
        with active(lifecycle), compute_threads():
            sol = model.solve(plan, progress)
        if continuation is not None:
            sol = continuation.merge(sol)
        _phase(progress, "analysing")
        with compute_threads():
            run = _assemble(model, plan, sol, wall0, writer.digest, prepare_seconds=prepare_seconds)
        writer.annotate(run, sol)
        try:
            if (outputs.plot is not None or outputs.plot_beside) and isinstance(run.arrays, TrajectoryArrays):
                for key in run.arrays.pending:  # the figure reads them: the file keeps them too
                    run.arrays[key]
            if outputs.out is not None:
                _phase(progress, f"writing {outputs.out}")
                writer.save(run)
                run.summary["out"] = str(writer.path)
            plot = writer.plot_path()
            if plot is not None and run.arrays["t"].size:
                _phase(progress, f"drawing {plot}")
                run.plot(plot, force=outputs.force or outputs.plot_beside)
                run.summary["plot"] = str(plot)
        except OutputError as exc:  # the disk, a quota or a limit: the finished run goes back to the caller
            exc.run = run
            exc.message += f" after the run finished (status {run.status})"
            raise
        # a signal that came while finishing: the run is complete and written, the caller still stops
        run.signal_received = bool(received())
    return run


def _phase(progress: Callable[[float], None] | None, name: str) -> None:
    """Tell a progress reporter that is a :class:`PhaseReporter` which phase starts (the bar would sit at 100 %)."""
    if isinstance(progress, PhaseReporter):
        progress.phase(name)


@runtime_checkable
class PhaseReporter(Protocol):
    """A progress reporter that is also told the phases after the integration (analysing, writing, drawing)."""

    def __call__(self, fraction: float) -> None: ...

    def phase(self, name: str) -> None: ...


def input_paths(model: Model) -> dict[str, str]:
    """The files a run reads (its options of kind "path", e.g. ``--data``), by option flag."""
    kinds = {o.name: o.kind for o in model.options}
    return {"--" + name.replace("_", "-"): str(value) for name, value in model.given.items()
            if kinds.get(name) == "path" and value is not None}


class _Writer:
    """Writes a run's file: the initial state and checkpoints (partial solutions) while it runs, the result after.

    A default (numbered) name is taken when the first version of the file is complete: it is written to a
    temporary file and linked to the first free name, so the name and a readable file appear together.
    """

    def __init__(self, model: Model, outputs: Outputs, wall0: float, continuation: Continuation | None):
        self.model, self.outputs, self.wall0, self.continuation = model, outputs, wall0, continuation
        self.plan: Any = None
        self.digest: str | None = None
        self.path: Path | None = None

    def annotate(self, run: Run, sol) -> None:
        """What a later ``--resume`` needs: the options as given, the data's checksum, the solver state."""
        from .outputs import flatten_state

        given = {k: (os.path.abspath(v) if k in ("data",) and isinstance(v, str) else v)
                 for k, v in self.model.given.items()}
        record: dict[str, Any] = {"model": self.model.name, "given": given, "data_sha256": self.digest,
                                  "resume_point": None, "resumed": []}
        if self.continuation is not None:
            record.update({k: v for k, v in self.continuation.record.items() if k != "given"})
            record["given"] = self.continuation.record.get("given", given)
        point = sol.resume_point
        if point is not None:
            scalars, arrays = flatten_state(point)
            record["resume_point"] = scalars
            run.resume_arrays = arrays
        run.meta["run"] = record

    def partial(self, sol) -> None:
        """Write a partial solution (the initial state, a checkpoint). A failure is said in one line and the run
        goes on: its result is written at the end."""
        import warnings

        from .errors import GrokodeWarning
        from .files import one_line

        try:
            if self.continuation is not None:
                sol = self.continuation.merge(sol)
            run = _assemble(self.model, self.plan, sol, self.wall0, self.digest, with_references=False)
            self.annotate(run, sol)
            self.save(run)
        except (OSError, InputError, ValueError, KeyError) as exc:
            what = "the initial state" if self.path is None else "a checkpoint"
            warnings.warn(f"could not write {what} of the run to {str(self.path or self.outputs.out)!r}: "
                          f"{one_line(exc)}", GrokodeWarning, stacklevel=2)

    def save(self, run: Run) -> None:
        from .outputs import save_new

        out = self.outputs.out
        assert out is not None  # only runs with an output file are written
        if self.path is not None:
            run.save(self.path, force=True)
        elif self.outputs.numbered:
            self.path = save_new(run, out, numbered=True)
        elif self.outputs.force or self.continuation is not None:
            self.path = run.save(out, force=True)
        else:
            self.path = save_new(run, out, numbered=False)

    def plot_path(self) -> Path | None:
        if self.outputs.plot_beside:
            return None if self.path is None else self.path.with_suffix(".png")
        return self.outputs.plot


def _assemble(model: Model, plan, sol, wall0: float, digest: str | None, with_references: bool = True,
              prepare_seconds: float | None = None) -> Run:
    """The :class:`Run` of a solution; ``digest``: :func:`data_digest` of ``plan.data``, computed once per run (it
    hashes every array of the data set); ``with_references=False`` (a checkpoint) skips the reference predictors."""
    from .analysis.analyze import analyze
    from .numeric.costs import PhaseClock, time_split

    declared = model.observables
    clock = PhaseClock()
    with clock("observe"):
        arrays = model.observe(plan, sol)
    with clock("transition"):
        transition, metric = model.transition(plan, sol, arrays)
    with clock("references"):
        references = model.references(plan, sol, arrays) if with_references else None
    if references is not None:
        arrays.update(references.arrays)
    summary: dict[str, Any] = {
        "t_theory": plan.t_theory,
        "t_transition": transition.t_transition if transition else None,
        "transition_width": transition.width if transition else None,
        "log_t_transition": math.log(transition.t_transition) if transition and transition.t_transition else None,
        "transition_width_log": transition.width_log if transition else None,
        "direction": transition.direction if transition else None,
        "rhs_evals": sol.stats.nfev,
        "jac_evals": sol.stats.njev,
        "gd_steps_equivalent_lr0.01": int(math.ceil(plan.t_end / 0.01)) if plan.t_end <= 1e15 else None,
        "status": str(Status(sol.status)),
        "message": sol.message,
        "t_reached": sol.t_reached,
    }
    summary.update(sol.extras)  # entries the method adds (GD: its first step against 2/ρ(0))
    summary.update(model.summary(plan, sol, arrays, transition, metric, references))
    with clock("summarize"):
        summary.update(model.summarize(plan, sol, arrays, transition, references))
    if references is not None:
        summary.update(references.summary)
    options, dataset = model.record(plan)
    derived: tuple[str, ...] = ()
    extra = model.extra_meta(plan, references)
    if declared.rebuilt_from is not None and declared.rebuilt_from in arrays and declared.predictor is not None:
        derived = (declared.predictor,)
        extra["trajectory"] = {"derived": list(derived), "from": declared.rebuilt_from, "data_sha256": digest}
    meta: dict[str, Any] = {
        "grokode_version": __version__,
        "format": FILE_FORMAT,
        "options": options,
        "dataset": dataset,
        "observables": declared.record(),
        "solver": {**sol.stats.__dict__},
        "summary": summary,
        "references": None if references is None else references.predictors,
        **extra,
        "versions": versions(),
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()},
    }
    analysis = None
    if references is not None:
        with clock("references"):
            analysis = analyze(arrays, meta, weight_at=model.weight_at(sol))
        report = analysis.as_dict()
        summary.update({key: report[key] for key in declared.analysis_keys})
    summary["time_split"] = time_split(sol.stats, {"prepare": prepare_seconds, **clock.seconds}, sol.weights)
    summary["wall_seconds"] = time.perf_counter() - wall0
    return Run(arrays=arrays, meta=meta, summary=summary, transition=transition, analysis=analysis, solution=sol,
               dataset=plan.data, derived=derived)


def versions() -> dict[str, str]:
    """Versions of the numerical stack, recorded in every run's meta (a package the run did not import, such as
    sympy, is read from its installed metadata: importing it costs seconds)."""
    import importlib.metadata
    import sys

    out = {}
    for name in ("numpy", "scipy", "numba", "sympy"):
        module = sys.modules.get(name)
        out[name] = str(module.__version__) if module is not None else importlib.metadata.version(name)
    return out
