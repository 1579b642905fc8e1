"""Continuing a run from its file: ``grokode integrate --resume RUN.npz`` and :func:`resume`.

A trajectory file keeps what continuing needs (``meta["run"]``): the options as the user gave them, the SHA-256
of the data set, and the *resume point*, the solver's state at the last saved time (the reduced state, the
integration variable and the flow's frame for a flow; θ, the step count and the objective's accumulators for
gradient descent; arrays ``resume__*``). :func:`resume` rebuilds the model from those options, checks that the
data set is the same, starts the driver at the resume point and joins the saved times of the file up to it with
the new ones; the result is analysed and written as one run. Only the horizon (``t_end``, to extend) and the
method (``method``, to retry a failed run another way) may change; both are recorded in ``meta["run"]["resumed"]``.

By default the new version replaces the file atomically (the old one stays intact until the new one is complete:
the one case where a run writes onto its input); ``out`` writes it elsewhere.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError
from .outputs import parse_duration, unflatten_state
from .pipeline import Continuation, Outputs, build, run_model
from .result import TRAJECTORY_SUFFIXES, Run

#: Options :func:`resume` takes besides the file: everything else comes from the file's meta.
RESUME_OPTIONS = ("t_end", "method")


def resume(path: str | os.PathLike, *, t_end: float | str | None = None, method: str | None = None,
           out: str | os.PathLike | None = None, plot: str | os.PathLike | None = None, force: bool = False,
           progress: Callable[[float], None] | None = None, checkpoint_every: float | str | None = None,
           **options: Any) -> Run:
    """Continue the interrupted or failed run saved in ``path`` (or extend a finished one) to its horizon.

    Parameters
    ----------
    path : a trajectory file written by grokode (``integrate``, a checkpoint, an interrupted run).
    t_end : a new horizon (to extend the run); it must lie after the last saved time.
    method : another method of the same kind (a flow method for a flow, gd for gd), e.g. to retry a failed run.
    out : write the continued run there instead of replacing ``path`` (an existing file only with ``force``).
    plot : a figure of the continued run (an existing file only with ``force``).
    progress, checkpoint_every : as for :func:`grokode.integrate`.
    **options : any other option is an InputError: the options come from the file.

    Returns
    -------
    The continued :class:`~grokode.result.Run`, equal (to the solver's tolerance) to the run that was never stopped.
    """
    others = sorted(k for k, v in options.items() if v is not None and v is not False)
    if others:
        raise InputError(f"{', '.join(others)} cannot be given to resume: the options come from the file (only "
                         "t_end, to extend, and method may change)")
    if not isinstance(force, bool):
        raise InputError(f"force must be True or False, got {force!r}")
    every = parse_duration(checkpoint_every, "checkpoint_every")
    model, continuation, source = prepare(path, t_end=t_end, method=method)
    if out is None:
        outputs = Outputs(out=source, plot=None, force=True)
        if plot is not None:
            outputs.plot = Outputs.checked(None, plot, force).plot
    else:
        outputs = Outputs.checked(out, plot, force)
    if outputs.plot is not None and _same(outputs.plot, source):
        raise InputError(f"--plot {str(outputs.plot)!r} is the run being resumed")
    if out is not None and _same(outputs.out, source):  # --out naming the file itself: the in-place case
        outputs = Outputs(out=source, plot=outputs.plot, force=True)
    return run_model(model, outputs=outputs, progress=progress, checkpoint_every=every, continuation=continuation)


def _same(a, b) -> bool:
    from .outputs import same_file

    return same_file(a, b)


def prepare(path: str | os.PathLike, *, t_end: Any = None, method: Any = None):
    """(validated model, :class:`~grokode.pipeline.Continuation`, the file's path) of a run to continue."""
    from .files import check_output_path

    try:
        text = os.fspath(path)
    except TypeError:
        raise InputError(f"--resume must be a trajectory file path, got {path!r}") from None
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"--resume must be a trajectory file path, got {text!r}")
    if Path(text).suffix.lower() not in TRAJECTORY_SUFFIXES:
        raise InputError(f"--resume {text!r} must be a trajectory file (.npz)")
    old = Run.load(text)
    source = Path(text)
    check_output_path(source, TRAJECTORY_SUFFIXES, force=True, what="--resume file")  # its directory is writable
    record = old.meta.get("run")
    if not isinstance(record, dict) or not isinstance(record.get("given"), dict):
        raise InputError(f"{text!r} cannot be resumed: it was written by a grokode without --resume (no meta 'run')")
    given = dict(record["given"])
    name = str(record.get("model") or old.model)
    if t_end is not None:
        given["t_end"] = t_end
    if method is not None:
        given["method"] = method
    model = build(name, **given)  # validates t_end and method like any run
    scalars = record.get("resume_point")
    start = None if scalars is None else unflatten_state(scalars, old.resume_arrays)
    t_saved = old.arrays["t"]
    horizon = model.config["t_eval"][-1] if model.config.get("t_eval") is not None else model.config.get("t_end")
    if start is not None:
        t_res = float(start["t"])
        if horizon is not None and not float(horizon) > t_res:
            reached = "reached its horizon" if str(old.status) == "ok" else "was saved up to"
            raise InputError(f"{text!r} {reached} t={t_res:g}: nothing to continue (pass --t-end beyond it to "
                             "extend the run)")
    elif str(old.status) == "ok" or (t_saved.size and float(t_saved[-1]) > 0.0):
        method_used = old.options.get("method", "?")
        raise InputError(f"{text!r} holds no solver state to continue from (method {method_used!r} does not save "
                         "one): run it again")
    rows = 0 if start is None else int(np.searchsorted(t_saved, float(start["t"]), side="right"))
    resumed = list(record.get("resumed") or [])
    resumed.append({"from_t": None if start is None else float(start["t"]), "t_end": None if t_end is None else
                    model.config.get("t_end"), "method": method, "file": str(source)})
    new_given = {k: v for k, v in model.given.items()}
    continuation = Continuation(start=start, merge=_merger(old, rows),
                                record={"given": {**given, **{k: new_given[k] for k in RESUME_OPTIONS
                                                               if k in new_given}}, "resumed": resumed},
                                data_sha256=record.get("data_sha256"))
    return model, continuation, source


def _merger(old: Run, rows: int):
    """The function that puts the first ``rows`` saved times of ``old`` in front of a new solution."""
    from .numeric.discrete import GDSolution
    from .numeric.integrate import FlowSolution

    if rows == 0:
        return lambda sol: sol
    old_arrays = old.arrays
    t_old = np.asarray(old_arrays["t"][:rows], dtype=np.float64)
    solver_rows = old.observables.rows
    if not solver_rows:
        raise InputError(f"model {old.model!r} cannot continue a saved run (it declares no solver rows)")
    count = len(old_arrays["t"])
    w_old = np.column_stack([np.asarray(old_arrays[k], dtype=np.float64).reshape(count, -1)
                             for k in solver_rows])[:rows]
    norm_old = np.asarray(old_arrays["param_norm"][:rows], dtype=np.float64)
    solver = old.meta.get("solver", {}) if isinstance(old.meta.get("solver"), dict) else {}

    def merge(sol):
        fields: dict[str, Any] = {"t": np.concatenate([t_old, sol.t]),
                                  "weights": np.concatenate([w_old.reshape(rows, -1), sol.weights]),
                                  "param_norm": np.concatenate([norm_old, sol.param_norm])}
        if isinstance(sol, GDSolution):
            fields["objective"] = np.concatenate([np.full(rows, np.nan), sol.objective])
        flow_run = isinstance(sol, FlowSolution)
        if flow_run:
            frames = sol.frames
            if old.derived and len(frames) == sol.t.size:  # a compact file: its states and frames continue
                fields["states"] = np.concatenate([np.asarray(old_arrays["state"][:rows]), sol.states])
                fields["frames"] = sol.flow.decode_frames({k: old_arrays[k] for k in old_arrays if k in (
                    "t", "state_c", "state_anchor", "state_growth") or k.startswith("anchor_")})[:rows] + list(frames)
            else:
                fields["frames"] = []
                if sol.states.shape[0]:
                    fields["states"] = np.concatenate([np.full((rows, sol.states.shape[1]), np.nan), sol.states])
        counts = dataclasses.asdict(sol.stats)
        added: dict[str, Any] = {}
        if flow_run:  # a flow counts its own evaluations; a discrete method counts from the saved step
            added = {key: counts[key] + solver[key] for key in ("nfev", "njev", "nlu", "steps", "restarts")
                     if isinstance(solver.get(key), int)}
        if isinstance(solver.get("wall_seconds"), int | float):
            added["wall_seconds"] = counts["wall_seconds"] + float(solver["wall_seconds"])
        fields["stats"] = dataclasses.replace(sol.stats, **added)
        return dataclasses.replace(sol, **fields)

    return merge
