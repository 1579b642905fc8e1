"""One run, for every model: validate → build → integrate → observe → analyse → save.

:func:`integrate` is what ``grokode integrate`` and ``grokode sweep`` call. It looks the model up in the
registry (:mod:`grokode.models`), validates every option, the output paths and the memory the run needs
*before* anything is computed, then calls the model's hooks (:class:`~grokode.models.base.Model`) in order and
assembles a :class:`~grokode.result.Run`. A run that fails or is stopped (Ctrl-C, SIGTERM) still goes through
observe → analyse → save with what it finished; while the file is being written further signals are deferred,
so a second Ctrl-C cannot lose it (:mod:`grokode.interrupts`).
"""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._version import __version__
from .errors import InputError
from .files import check_output_path, require_memory
from .interrupts import received, stoppable
from .models import get_model
from .models.base import Model
from .numeric.solution import Status
from .result import FIGURE_SUFFIXES, TRAJECTORY_SUFFIXES, Run
from .threads import compute_threads


@dataclass
class Outputs:
    """Where a run writes: the trajectory (``out``) and the figure (``plot``), checked up front."""

    out: Path | None = None
    plot: Path | None = None
    force: bool = False

    @classmethod
    def checked(cls, out, plot, force: bool) -> Outputs:
        out_path = None if out is None else check_output_path(out, TRAJECTORY_SUFFIXES, force=force,
                                                              what="output file")
        plot_path = None if plot is None else check_output_path(plot, FIGURE_SUFFIXES, force=force, what="plot file")
        if out_path is not None and plot_path is not None and out_path.resolve() == plot_path.resolve():
            raise InputError(f"the trajectory and the plot cannot both be {str(out_path)!r}")
        return cls(out_path, plot_path, bool(force))


def build(model: str = "diagonal", **options: Any) -> Model:
    """The validated model instance of a run (nothing is computed): every InputError happens here."""
    cls = get_model(model)
    instance = cls(**options)
    need, what = instance.memory_estimate()
    require_memory(need, what)
    return instance


def integrate(*, model: str = "diagonal", out: str | os.PathLike | None = None,
              plot: str | os.PathLike | None = None, force: bool = False,
              progress: Callable[[float], None] | None = None, **options: Any) -> Run:
    """Integrate ``model`` through the kernel→rich transition and return the :class:`~grokode.result.Run`.

    Parameters
    ----------
    model : a registered model name (``grokode.models.model_names()``): "diagonal", "matrix", "mlp", …
    out, plot : optional trajectory (.npz) and figure (.png/.pdf/.svg) paths; checked before the run, written
        after it (also after a failure or an interruption). An existing file is refused unless ``force``.
    progress : called with the fraction of the horizon done.
    **options : the model's options (``grokode integrate --help``, docs/cli.md), e.g. ``alpha=1e3, lam=1e-3``.
        An option the model (or the chosen task or method) does not take is an InputError.

    Returns
    -------
    Run with ``status`` ok, failed, diverged or interrupted.
    """
    outputs = Outputs.checked(out, plot, force)
    return run_model(build(model, **options), outputs=outputs, progress=progress)


def run_model(model: Model, *, outputs: Outputs | None = None,
              progress: Callable[[float], None] | None = None) -> Run:
    """Run a validated model instance through the pipeline (see the module docstring)."""
    outputs = outputs or Outputs()
    wall0 = time.perf_counter()
    # BLAS runs one thread while the dynamics run (their BLAS calls are small and numba's kernels share the cores);
    # the post-processing's large products (metrics of every saved w, the Gram matrices of the predictors) keep
    # the library's threads
    with compute_threads():
        plan = model.prepare()
    # signals are recorded from here on: the driver stops at its next step, and one arriving while the finished
    # part is observed and written cannot interrupt the writing
    with stoppable():
        with compute_threads():
            sol = model.solve(plan, progress)
        run = _assemble(model, plan, sol, wall0)
        if outputs.out is not None:
            run.save(outputs.out, force=outputs.force)
            run.summary["out"] = str(outputs.out)
        if outputs.plot is not None and run.arrays["t"].size:
            run.plot(outputs.plot, force=outputs.force)
            run.summary["plot"] = str(outputs.plot)
        # a signal that came while finishing: the run is complete and written, the caller still stops
        run.signal_received = bool(received())
    return run


def _assemble(model: Model, plan, sol, wall0: float) -> Run:
    from .analysis.analyze import analyze

    arrays = model.observe(plan, sol)
    transition, _ = model.locate_transition(plan, sol, arrays)
    references = model.references(plan, sol, arrays)
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
    summary.update(model.summarize(plan, sol, arrays, transition, references))
    options, dataset = model.record(plan)
    meta: dict[str, Any] = {
        "grokode_version": __version__,
        "options": options,
        "dataset": dataset,
        "solver": {**sol.stats.__dict__},
        "summary": summary,
        "references": references,
        **model.extra_meta(),
        "versions": versions(),
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()},
    }
    analysis = None
    if references is not None:
        analysis = analyze(arrays, meta, weight_at=model.weight_at(sol))
        summary.update({key: getattr(analysis, key) for key in model.analysis_keys})
    summary["wall_seconds"] = time.perf_counter() - wall0
    return Run(arrays=arrays, meta=meta, summary=summary, transition=transition, analysis=analysis, solution=sol,
               dataset=getattr(model, "data", None) or getattr(model, "problem", None), derived=model.derived)


def versions() -> dict[str, str]:
    """Versions of the numerical stack, recorded in every run's meta."""
    from importlib.metadata import version

    import numba
    import numpy as np
    import scipy

    # sympy's version from its metadata: importing it costs ~0.6 s, and a run that derives nothing never loads it
    return {"numpy": np.__version__, "scipy": scipy.__version__, "numba": numba.__version__,
            "sympy": version("sympy")}
