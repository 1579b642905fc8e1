"""The result of one run: :class:`Run`, its file format, strict JSON, its figure.

A :class:`Run` carries the trajectory's arrays, ``meta`` (every option, the data set's parameters, solver
statistics, the summary, the reference predictors' certificates, package versions and the machine: enough to
reproduce the run, since data regenerate from the seed), the ``summary``, the located transition and the
theorem-check analysis, plus a :class:`~grokode.numeric.solution.Status` and a one-line message.

:meth:`Run.save` and :meth:`Run.load` are a symmetric pair; the file is a plain ``.npz`` that numpy alone
reads (``json.loads(str(np.load(f)["meta"]))``). :meth:`Run.to_json` is strict JSON: NaN and ±inf are
written as ``null``, never as bare ``NaN``.
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .analysis.plots import FORMATS as FIGURE_FORMATS
from .errors import InputError, checked_arguments
from .files import (
    atomic_write,
    check_output_path,
    npz_array_headers,
    npz_size,
    open_npz,
    require_memory,
    require_regular_file,
)
from .numeric.solution import Status
from .observables import FILE_FORMAT, FILE_FORMATS, PREDICTOR_ONLY_FORMAT, Observables, TrajectoryArrays
from .outputs import RESUME_PREFIX

TRAJECTORY_SUFFIXES = (".npz",)
FIGURE_SUFFIXES = tuple(FIGURE_FORMATS)


def jsonable(value: Any) -> Any:
    """``value`` with numpy scalars/arrays as Python values and every non-finite float as None (strict JSON)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, Status):
        return str(value)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def dumps(value: Any, **kwargs: Any) -> str:
    """Strict JSON text of ``value`` (see :func:`jsonable`); ``allow_nan=False`` guards the promise."""
    return json.dumps(jsonable(value), allow_nan=False, ensure_ascii=False, **kwargs)


@dataclass(repr=False, eq=False)
class Run:
    """One integrated run: arrays, meta, summary, transition and analysis (see the module docstring).

    Attributes
    ----------
    arrays : the trajectory: ``t`` (T) and the model's arrays at those times (docs/file-formats.md).
    meta : options, data set, solver statistics, summary, references, versions, machine.
    summary : the transition report (t_theory, t_transition, widths, plateau, final values, status, …).
    transition : :class:`~grokode.analysis.transition.Transition` or None.
    analysis : :class:`~grokode.analysis.analyze.Analysis` (theorem check) or None.
    solution, dataset : the live solver solution and data set (None for a run read from a file).
    """

    arrays: dict[str, np.ndarray]
    meta: dict[str, Any]
    summary: dict[str, Any]
    transition: Any = None
    analysis: Any = None
    solution: Any = field(default=None, repr=False)
    dataset: Any = field(default=None, repr=False)
    path: Path | None = None
    #: Arrays not written to the file but rebuilt from the others when it is read (``w`` of a large run); arrays
    #: still pending in ``arrays`` when the run is saved (its test metrics) are left out and listed with them.
    derived: tuple[str, ...] = ()
    #: True when SIGINT/SIGTERM arrived while the finished run was being written (the caller should stop).
    signal_received: bool = False
    #: The solver state a later :func:`grokode.resume` continues from (arrays ``resume__*`` of the file).
    resume_arrays: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    # -- status ------------------------------------------------------------------------------------------
    @property
    def status(self) -> Status:
        return Status(self.summary.get("status", "ok"))

    @property
    def message(self) -> str:
        return str(self.summary.get("message") or "")

    @property
    def options(self) -> dict[str, Any]:
        return self.meta.get("options", {})

    @property
    def model(self) -> str:
        return str(self.options.get("model", "diagonal"))

    @property
    def observables(self) -> Observables:
        """What the run holds and how it is summarized and plotted: the declaration its meta records (files of
        format 1 take their registered model's, :func:`declaration`)."""
        return declaration(self.meta, "the run")

    def __repr__(self) -> str:
        s = self.summary
        t = self.arrays.get("t")
        parts = [f"model={self.model!r}", f"status={str(self.status)!r}"]
        for key in ("alpha", "lam"):
            if key in self.options:
                parts.append(f"{key}={self.options[key]:g}")
        for key in ("t_theory", "t_transition"):
            if s.get(key) is not None:
                parts.append(f"{key}={s[key]:.6g}")
        parts.append(f"saved_times={0 if t is None else len(t)}")
        parts.append(f"arrays=[{', '.join(sorted(self.arrays))}]")
        if self.path is not None:
            parts.append(f"path={str(self.path)!r}")
        return f"Run({', '.join(parts)})"

    # -- files -------------------------------------------------------------------------------------------
    @checked_arguments
    def save(self, path: str | os.PathLike, force: bool = False) -> Path:
        """Write the run to ``path`` (.npz) atomically; refuse to overwrite an existing file unless ``force``."""
        path = check_output_path(path, TRAJECTORY_SUFFIXES, force=force, what="output file")
        pending = [k for k in self.arrays.pending if k not in self.derived] if isinstance(
            self.arrays, TrajectoryArrays) else []
        trajectory = self.meta.get("trajectory")
        if pending and not isinstance(trajectory, dict):  # nothing they can be rebuilt from: compute them now
            for key in pending:
                self.arrays[key]
            pending = []
        record = {**self.meta, "format": FILE_FORMAT if pending else PREDICTOR_ONLY_FORMAT,
                  "observables": self.observables.record()}
        if isinstance(trajectory, dict):
            record["trajectory"] = {**trajectory, "derived": [*self.derived, *pending]}
        meta = np.array(dumps(record))
        stored = {k: v for k, v in dict.items(self.arrays) if k not in self.derived}
        stored.update(self.resume_arrays)
        # small arrays compress well (a compact run's states and metrics: a few MB); a large w barely does and
        # would cost seconds of zlib, so it is written as is
        save = np.savez_compressed if all(np.asarray(v).size <= 2_000_000 for v in stored.values()) else np.savez

        def write(fh) -> None:
            save(fh, **stored, meta=meta)

        atomic_write(path, write)
        self.path = path
        return path

    @classmethod
    @checked_arguments
    def load(cls, path: str | os.PathLike) -> Run:
        """Read a trajectory file written by :meth:`save`; any unreadable file is a one-line InputError."""
        try:
            text = os.fspath(path)
        except TypeError:
            raise InputError(f"trajectory file must be a path, got {path!r}") from None
        if not isinstance(text, str) or not text.strip() or "\0" in text:
            raise InputError(f"trajectory file must be a path, got {text!r}")
        path = Path(text)
        require_regular_file(path, "trajectory file")
        if not path.exists():
            raise InputError(f"trajectory file {str(path)!r} not found")
        if path.is_file() and path.stat().st_size == 0:
            raise InputError(f"trajectory file {str(path)!r} is empty")
        headers = npz_array_headers(path, "trajectory file")
        require_memory(npz_size(headers), f"reading {str(path)!r}")
        with open_npz(path, "trajectory file") as z:
            if "meta" not in z.files:
                raise InputError(f"{str(path)!r} is not a grokode trajectory (it has no 'meta' array)")
            try:
                arrays = {k: z[k] for k in z.files if k != "meta"}
                meta_text = str(z["meta"])
            except (OSError, ValueError, EOFError) as exc:
                raise InputError(f"cannot read trajectory file {str(path)!r}: {' '.join(str(exc).split())}") from None
        try:
            meta = json.loads(meta_text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{str(path)!r}: its meta is not JSON ({exc.msg} at position {exc.pos})") from None
        if not isinstance(meta, dict) or not isinstance(meta.get("options"), dict) or "summary" not in meta:
            raise InputError(f"{str(path)!r} is not a grokode trajectory (its meta has no options and summary)")
        if "t" not in arrays or arrays["t"].ndim != 1:
            raise InputError(f"{str(path)!r} is not a grokode trajectory (it has no 1-D array 't')")
        options = meta["options"]
        for key, low in (("alpha", "> 0"), ("lam", "≥ 0")):
            value = options.get(key)
            if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
                raise InputError(f"{str(path)!r}: meta option {key!r} is not a finite number ({value!r})")
            if (value <= 0) if low == "> 0" else (value < 0):
                raise InputError(f"{str(path)!r}: meta option {key!r} must be {low}, got {value!r}")
        summary = meta.get("summary")
        if not isinstance(summary, dict):
            raise InputError(f"{str(path)!r}: its meta summary is not an object")
        references = meta.get("references")
        if references is not None and not (isinstance(references, dict)
                                           and all(isinstance(v, dict | None) for v in references.values())):
            raise InputError(f"{str(path)!r}: its meta references are not an object of objects")
        _check_summary(path, summary)
        file_format = meta.get("format", 1)
        if file_format not in FILE_FORMATS or isinstance(file_format, bool):
            raise InputError(f"{str(path)!r} has file format {file_format!r}, which this grokode ({FILE_FORMAT} and "
                             "before) cannot read")
        declared = declaration(meta, repr(str(path)))
        meta["observables"] = declared.record()
        _check_arrays(path, arrays, declared)
        trajectory = meta.get("trajectory", {})
        derived = trajectory.get("derived", []) if isinstance(trajectory, dict) else None
        if not (isinstance(derived, list) and all(k in _rebuildable(meta, declared) for k in derived)) or (
                derived and declared.rebuilt_from not in arrays):
            raise InputError(f"{str(path)!r}: its meta 'trajectory' is not one grokode writes ({trajectory!r:.80})")
        resume_arrays = {k: arrays.pop(k) for k in list(arrays) if k.startswith(RESUME_PREFIX)}
        # the loaders read the arrays they are given: a rebuilt w is then computed once for every reader
        trajectory_arrays = TrajectoryArrays(arrays)
        trajectory_arrays.defer({key: _rebuilder(key, meta, trajectory_arrays) for key in derived})
        return cls(arrays=trajectory_arrays, meta=meta, summary=summary, path=path,
                   derived=tuple(k for k in derived if k == declared.predictor), resume_arrays=resume_arrays)

    # -- outputs -----------------------------------------------------------------------------------------
    def to_json(self, **extra: Any) -> str:
        """The summary (and ``extra`` keys) as one line of strict JSON (NaN/inf → null)."""
        return dumps({**self.summary, **extra})

    @checked_arguments
    def plot(self, path: str | os.PathLike | None = None, *, title: str | None = None, force: bool = False) -> Any:
        """The run's figure (a matplotlib ``Figure``); written to ``path`` (.png, .pdf or .svg) if given.

        Like :meth:`save`, an existing ``path`` is refused (InputError) unless ``force``, and so is the run's own
        trajectory file or its data file."""
        from .analysis.plots import plot_run, save_figure

        if path is not None:
            path = check_output_path(path, FIGURE_SUFFIXES, force=force, what="plot file")
            self._refuse_own_files(path, "plot file")
        summary = dict(self.summary)
        if self.analysis is not None:
            summary.update({k: v for k, v in self.analysis.as_dict().items() if k not in summary or summary[k] is None})
        fig = plot_run(self.arrays, summary, title=self.title() if title is None else title,
                       lam=self.options.get("lam"), observables=self.observables)
        if path is not None:
            save_figure(fig, path)
        return fig

    def _refuse_own_files(self, path: Path, what: str) -> None:
        """InputError when ``path`` is this run's trajectory file or its data file."""
        from .outputs import require_not_input

        inputs = {"trajectory file": str(self.path)} if self.path is not None else {}
        if isinstance(self.options.get("data"), str):
            inputs["--data"] = self.options["data"]
        require_not_input(path, inputs, what)

    def title(self) -> str:
        """The figure's title: model, depth, task, sizes, α and λ."""
        from .analysis.plots import title_from_options

        o = self.options
        return title_from_options({**o, "model": self.model,
                                   "task": self.meta.get("dataset", {}).get("name", o.get("task"))}, self.observables)

    def to_xarray(self) -> Any:
        """The trajectory as an ``xarray.Dataset`` over ``t`` (optional dependency: ``pip install grokode[xarray]``)."""
        try:
            import xarray as xr
        except ImportError:
            raise InputError("Run.to_xarray needs xarray: pip install 'grokode[xarray]'") from None
        t = np.asarray(self.arrays["t"])
        data_vars, coords = {}, {"t": ("t", t)}
        for key, value in self.arrays.items():
            if key == "t":
                continue
            value = np.asarray(value)
            if value.ndim >= 1 and value.shape[0] == t.shape[0]:
                dims = ("t",) + tuple(f"{key}_dim{i}" for i in range(1, value.ndim))
            else:
                dims = tuple(f"{key}_dim{i}" for i in range(value.ndim))
            data_vars[key] = (dims, value)
        attrs = {"grokode_meta": dumps(self.meta)}
        return xr.Dataset(data_vars, coords=coords, attrs=attrs)

    @checked_arguments
    def to_netcdf(self, path: str | os.PathLike, force: bool = False) -> Path:
        """Write the trajectory as netCDF (via :meth:`to_xarray`; the .npz stays grokode's native format).

        Uses the netCDF4 library when it is installed, else scipy's netCDF-3 writer.
        """
        path = check_output_path(path, (".nc",), force=force, what="netCDF file")
        ds = self.to_xarray()
        try:
            import netCDF4  # noqa: F401

            engine = "netcdf4"
        except ImportError:
            engine = "scipy"
        for name, var in ds.data_vars.items():  # netCDF-3 has no booleans or 64-bit integers
            if engine == "scipy" and var.dtype.kind in "bu":
                ds[name] = var.astype(np.int32)
            elif engine == "scipy" and var.dtype == np.int64:
                ds[name] = var.astype(np.float64)
        atomic_write(path, lambda fh: fh.write(ds.to_netcdf(engine=engine)))
        return path


#: Summary entries that analysis and plots compute with: None or a finite number (t_theory also ≥ 0).
SUMMARY_NUMBERS = ("t_theory", "t_transition", "transition_width", "t_reached", "lam_eff", "direction", "t_bias_switch")
def _check_summary(path: Path, summary: dict) -> None:
    for key in SUMMARY_NUMBERS:
        value = summary.get(key)
        if value is None:
            continue
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            raise InputError(f"{str(path)!r}: summary {key!r} must be a finite number or null, got {value!r}")
    if summary.get("t_theory") is not None and summary["t_theory"] < 0:
        raise InputError(f"{str(path)!r}: summary 't_theory' must be ≥ 0, got {summary['t_theory']!r}")


def declaration(meta: Mapping[str, Any], where: str) -> Observables:
    """The declaration of a run's contents: the one its meta records, else (files of format 1) its registered model's,
    from the recorded options; a model that is not installed declares nothing (the figure shows its metrics)."""
    from .models import get_model

    if "observables" in meta:
        return Observables.from_record(meta["observables"], where)
    options = meta.get("options", {})
    try:
        model = get_model(options.get("model", "diagonal"))
    except InputError:
        return Observables()
    return model.declare(options)


def _check_arrays(path: Path, arrays: dict[str, np.ndarray], declared: Observables) -> None:
    """The arrays analysis and plots read (as the run's declaration names them): numeric, of consistent shapes; t
    finite and increasing."""
    where = repr(str(path))
    for key in ("t", *declared.per_time, *declared.shaped_like_row):
        if key in arrays and arrays[key].dtype.kind not in "biuf":
            raise InputError(f"{where}: array {key!r} must be numeric, got dtype {arrays[key].dtype}")
    t = arrays["t"]
    if not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
        raise InputError(f"{where}: the saved times 't' must be finite and increasing")
    for key, ndim in declared.per_time.items():
        if key in arrays and (arrays[key].ndim != ndim or arrays[key].shape[0] != t.shape[0]):
            want = "(T,)" if ndim == 1 else "(T, d)" if ndim == 2 else "(T, d, d)"
            raise InputError(f"{where}: array {key!r} has shape {arrays[key].shape}, but the file has T = {t.shape[0]} "
                             f"saved times (expected {want})")
    ref = declared.predictor
    if ref is None:
        return
    row_ndim = declared.per_time[ref] - 1
    want = arrays[ref].shape[1:] if ref in arrays else None
    for key in declared.shaped_like_row:
        if key not in arrays:
            continue
        shape = arrays[key].shape
        if len(shape) != row_ndim or (want is not None and shape != want) or (
                want is None and row_ndim == 2 and shape[0] != shape[1]):
            raise InputError(f"{where}: array {key!r} has shape {shape}" + (
                f", but one saved row of {ref!r} has shape {want}" if want is not None else ""))


def _rebuilder(key: str, meta: dict, arrays: Mapping[str, np.ndarray]):
    def rebuild() -> np.ndarray | Mapping[str, np.ndarray]:
        from .models import get_model

        return get_model(meta["options"]["model"]).rebuild(key, meta, arrays)

    return rebuild


def _rebuildable(meta: dict, declared: Observables) -> tuple[str | None, ...]:
    """The arrays a file may leave out: its predictor, and the per-time arrays its registered model rebuilds too."""
    from .models import get_model

    try:
        model = get_model(meta["options"].get("model", "diagonal"))
    except InputError:  # not installed: its predictor is rebuilt (or refused) when it is read
        return (declared.predictor,)
    return (declared.predictor, *model.declare(meta["options"]).rebuilt_metrics)


@checked_arguments
def load_run(path: str | os.PathLike) -> Run:
    """Read a trajectory file (the same as :meth:`Run.load`)."""
    return Run.load(path)


def npz_bytes(arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> bytes:
    """The .npz file of a run, in memory (for tests and transfers)."""
    buf = io.BytesIO()
    np.savez(buf, **arrays, meta=np.array(dumps(meta)))
    return buf.getvalue()
