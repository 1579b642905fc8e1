"""Sweeps: a grid of :func:`grokode.run.integrate` calls over (α, λ, seed) on a Dask cluster.

Each grid point runs on a Dask worker, which generates its own data from the seed (no data travel through
the scheduler) and returns one row. The driver writes rows as they finish to a sweep file (CSV, or Parquet
with pyarrow), so an interrupted sweep loses only the points in flight: re-running the same command skips
every point already recorded with the same options.

Failure handling. A point whose arguments are invalid (:class:`InputError`, e.g. λ ≤ 0) is recorded with
status ``error`` on the worker, without retries. Any other exception is retried by Dask (``retries``);
a worker that dies is rescheduled by the scheduler up to ``distributed.scheduler.allowed-failures`` times
(set to ``retries`` on a local cluster) before the point is recorded as ``error`` (``KilledWorker``).
Points recorded as ``error`` are re-run when the sweep is resumed; all other rows are kept.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError, require_int, require_positive

COLUMNS = ("alpha", "lam", "seed", "t_theory", "t_transition", "transition_width", "offset_c0", "test_plateau",
           "test_final", "train_final", "wall_seconds", "status", "error", "options")
FLOAT_COLUMNS = ("alpha", "lam", "t_theory", "t_transition", "transition_width", "offset_c0", "test_plateau",
                 "test_final", "train_final", "wall_seconds")
#: The columns of files written before ``train_final`` was recorded: still read (and rewritten in the new layout).
OLD_COLUMNS = tuple(c for c in COLUMNS if c != "train_final")
INT_OPTIONS = ("depth", "n", "d", "k", "n_test", "rank")
FLOAT_OPTIONS = ("gamma", "t_end", "rtol", "atol", "frac")
STR_OPTIONS = ("model", "task", "loss", "method", "formulation")
DEFAULT_OPTIONS = {"model": "diagonal", "depth": 2, "task": None, "n": 256, "d": None, "k": 3, "gamma": 5.0,
                   "n_test": 1000, "loss": None, "t_end": None, "rtol": 1e-6, "atol": 1e-9, "method": "auto",
                   "formulation": "reduced", "frac": None, "rank": 1}
#: Per-model defaults of the options whose meaning depends on the model (as in ``grokode integrate``).
MODEL_DEFAULTS = {"diagonal": {"task": "sparse", "d": 10_000}, "matrix": {"task": "multiplication", "d": 30},
                  "mlp": {"task": "modadd"}}
#: options of the mlp model only (``--model mlp``); None is the model's default. They enter a point's options
#: (and so its resume key) only for the mlp model.
MLP_OPTIONS = {"p": None, "width": None, "lr": None}


# ----------------------------------------------------------------------------------------------------
# Grids
# ----------------------------------------------------------------------------------------------------


def parse_grid(name: str, text: str) -> list[float]:
    """Values of a grid option: ``a:b:n`` (n log-spaced values from a to b) or a comma list ``x1,x2,…``.

    Log-spaced values are rounded to 12 significant digits so that ``1e2:1e8:7`` gives 100, 1000, … exactly.
    Only the syntax is checked here (finite numbers, a, b > 0, n ≥ 1, no repeats): a value that ``integrate``
    rejects (λ ≤ 0, say) becomes a failed point of the sweep, recorded with its error.
    """
    text = str(text).strip()
    if not text:
        raise InputError(f"--{name} is empty")
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise InputError(f"--{name} {text!r}: a range is a:b:n (n log-spaced values from a to b)")
        try:
            a, b = float(parts[0]), float(parts[1])
            count = int(parts[2])
        except ValueError:
            raise InputError(f"--{name} {text!r}: a range is a:b:n with numbers a, b and an integer n") from None
        if not (math.isfinite(a) and math.isfinite(b) and a > 0 and b > 0):
            raise InputError(f"--{name} {text!r}: log-spaced ends must be positive finite numbers")
        if count < 1 or (count == 1 and a != b):
            raise InputError(f"--{name} {text!r}: n must be ≥ 2 (or 1 with a = b), got {count}")
        exps = np.linspace(math.log10(a), math.log10(b), count)
        values = [float(f"{10.0 ** e:.12g}") for e in exps]
    else:
        values = []
        for item in text.split(","):
            try:
                v = float(item)
            except ValueError:
                raise InputError(f"--{name} {text!r}: {item.strip()!r} is not a number") from None
            if not math.isfinite(v):
                raise InputError(f"--{name} {text!r}: {item.strip()!r} is not a finite number")
            values.append(v)
    _no_repeats(name, text, values)
    return values


def parse_seeds(text: str) -> list[int]:
    """Seeds: a comma list of integers ≥ 0, or ``a:b`` for every integer from a to b inclusive."""
    text = str(text).strip()
    try:
        if ":" in text:
            lo, hi = (int(s) for s in text.split(":"))
            seeds = list(range(lo, hi + 1))
        else:
            seeds = [int(s) for s in text.split(",")]
    except ValueError:
        raise InputError(f"--seeds {text!r}: give integers s1,s2,… or a range a:b") from None
    if not seeds or min(seeds) < 0:
        raise InputError(f"--seeds {text!r}: need at least one seed, all ≥ 0")
    _no_repeats("seeds", text, seeds)
    return seeds


def _no_repeats(name: str, text: str, values: list) -> None:
    seen = set()
    for v in values:
        if v in seen:
            raise InputError(f"--{name} {text!r} lists {v!r} twice")
        seen.add(v)


@dataclass(frozen=True)
class Point:
    """One grid point; its identity in the sweep file is (alpha, lam, seed, options)."""

    alpha: float
    lam: float
    seed: int


def grid_points(alphas: list[float], lams: list[float], seeds: list[int]) -> list[Point]:
    """The product grid, ordered by λ, then α, then seed."""
    return [Point(float(a), float(lam), int(s)) for lam in lams for a in alphas for s in seeds]


def point_options(**options) -> dict:
    """The non-grid ``integrate`` options of a sweep, filled with defaults and normalised (ints, floats).

    Normalising makes the resume key independent of spelling (``d=1e4`` and ``d=10000`` are one sweep).
    Choices (model, task, loss, method, formulation) are checked here so that a typo fails the command
    at once instead of every point.
    """
    from .mlp_run import MLP_TASKS
    from .numeric.integrate import METHODS
    from .numeric.mlp import GD_METHOD
    from .run import FORMULATIONS, LOSSES, MODELS
    from .tasks import TASKS
    from .tasks.matrix import MATRIX_TASKS

    unknown = set(options) - set(DEFAULT_OPTIONS) - set(MLP_OPTIONS)
    if unknown:
        raise InputError(f"options {sorted(unknown)} cannot be swept over "
                         f"(choose from {sorted({**DEFAULT_OPTIONS, **MLP_OPTIONS})})")
    mlp = options.get("model") == "mlp"
    given = sorted(k for k in MLP_OPTIONS if options.get(k) is not None)
    if given and not mlp:
        raise InputError(f"options {given} belong to the mlp model (model is {options.get('model', 'diagonal')!r})")
    opts = {**DEFAULT_OPTIONS, **(MLP_OPTIONS if mlp else {}), **{k: v for k, v in options.items() if v is not None}}
    if opts["model"] not in MODELS:
        raise InputError(f"unknown model {opts['model']!r} (choose {', '.join(MODELS)})")
    for key, value in MODEL_DEFAULTS[opts["model"]].items():
        opts[key] = value if opts[key] is None else opts[key]
    for key in INT_OPTIONS + (("p", "width") if mlp else ()):
        if opts[key] is not None:
            opts[key] = require_int(key, opts[key], 0 if key == "n_test" else 2 if key == "p" else 1)
    for key in FLOAT_OPTIONS + (("lr",) if mlp else ()):
        if opts[key] is not None:
            opts[key] = require_positive(key, opts[key])
    methods = (*METHODS, GD_METHOD) if mlp else METHODS
    tasks = MLP_TASKS if mlp else MATRIX_TASKS if opts["model"] == "matrix" else TASKS
    for key, choices in (("model", MODELS), ("task", tasks), ("loss", LOSSES), ("method", methods),
                         ("formulation", FORMULATIONS)):
        if opts[key] is not None and opts[key] not in choices:
            raise InputError(f"unknown {key} {opts[key]!r} (choose {', '.join(choices)})")
    return opts


def options_key(options: dict) -> str:
    """Canonical JSON of the options: the ``options`` column of the sweep file."""
    return json.dumps(options, sort_keys=True, separators=(",", ":"))


# ----------------------------------------------------------------------------------------------------
# One point (runs on a worker)
# ----------------------------------------------------------------------------------------------------


def run_point(alpha: float, lam: float, seed: int, options: dict, keep_runs: str | None = None) -> dict:
    """Integrate one grid point and return its row; invalid arguments give a row with status ``error``.

    Runs single-threaded: the sweep's parallelism is across points, and numba's parallel kernels collapse
    when every worker process starts one thread per core.
    """
    import numba

    from .run import integrate

    numba.set_num_threads(1)
    row = _empty_row(alpha, lam, seed, options)
    try:
        run = integrate(**options, alpha=alpha, lam=lam, seed=seed)
    except InputError as exc:
        row.update(status="error", error=_one_line(f"InputError: {exc}"))
        return row
    s = run.summary
    row.update({key: s[key] for key in ("t_theory", "t_transition", "transition_width", "test_plateau", "test_final",
                                         "train_final", "wall_seconds", "status")})
    row["error"] = "" if s["status"] == "ok" else _one_line(s["message"])
    if s["t_transition"] is not None:
        row["offset_c0"] = math.log(alpha) - lam * s["t_transition"]
    if keep_runs is not None:
        digest = hashlib.sha1(row["options"].encode()).hexdigest()[:8]
        run.save(Path(keep_runs) / f"a{alpha:.6g}-lam{lam:.6g}-s{seed}-{digest}.npz", force=True)
    return row


def _empty_row(alpha: float, lam: float, seed: int, options: dict) -> dict:
    row = dict.fromkeys(COLUMNS)
    row.update(alpha=float(alpha), lam=float(lam), seed=int(seed), options=options_key(options), error="")
    return row


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


# ----------------------------------------------------------------------------------------------------
# The sweep file
# ----------------------------------------------------------------------------------------------------


class SweepFile:
    """Rows of a sweep on disk, written so that a killed process never leaves a broken file.

    CSV: each row is one ``write`` of a complete line to a file opened in append mode, then ``fsync``; a
    trailing line without its newline (a crash inside the write) is dropped when the file is read.
    Parquet (needs pyarrow): the whole table is rewritten to a temporary file and renamed over the old one.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in (".csv", ".parquet"):
            raise InputError(f"sweep file {str(self.path)!r} must end in .csv or .parquet")
        self.parquet = suffix == ".parquet"
        if self.parquet:
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                raise InputError(f"writing {str(self.path)!r} needs pyarrow (pip install pyarrow), "
                                 "or use a .csv path") from None
        self.rows: list[dict] = []

    def load(self) -> list[dict]:
        """Read the rows already on disk (none if the file does not exist)."""
        if not self.path.exists():
            self.rows = []
        elif self.parquet:
            import pyarrow.parquet as pq

            self.rows = [_typed(r) for r in pq.read_table(self.path).to_pylist()]
        else:
            self.rows = self._read_csv()
        return self.rows

    def _read_csv(self) -> list[dict]:
        raw = self.path.read_bytes()
        complete = raw[: raw.rfind(b"\n") + 1]
        reader = csv.reader(io.StringIO(complete.decode("utf-8"), newline=""))
        header = next(reader, None)
        if header is None:
            return []
        header = tuple(header)
        if header not in (COLUMNS, OLD_COLUMNS):
            raise InputError(f"{str(self.path)!r} is not a grokode sweep file (header {','.join(header)[:80]!r}); "
                             "use --fresh to overwrite it or choose another --out")
        rows = [_typed({**dict.fromkeys(COLUMNS), **dict(zip(header, rec, strict=True))})
                for rec in reader if len(rec) == len(header)]
        if header != COLUMNS or len(complete) != len(raw):
            self.rewrite(rows)  # drop a torn last line, or move an old file to the new layout, before appending
        return rows

    def rewrite(self, rows: list[dict]) -> None:
        """Replace the file by ``rows`` atomically (temporary file + rename)."""
        self.rows = list(rows)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=self.path.suffix, dir=self.path.parent)
        try:
            if self.parquet:
                os.close(fd)
                import pyarrow as pa
                import pyarrow.parquet as pq

                schema = pa.schema([(c, pa.float64() if c in FLOAT_COLUMNS else pa.int64() if c == "seed"
                                     else pa.string()) for c in COLUMNS])
                pq.write_table(pa.Table.from_pylist(self.rows, schema=schema), tmp)
            else:
                with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                    fh.write(_csv_line(COLUMNS) + "".join(_csv_line(_cells(r)) for r in self.rows))
                    fh.flush()
                    os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def append(self, row: dict) -> None:
        """Add one row durably."""
        if self.parquet or not self.path.exists():
            self.rewrite([*self.rows, row])
            return
        self.rows.append(row)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, _csv_line(_cells(row)).encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)


def _csv_line(cells) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue()


def _cells(row: dict) -> list[str]:
    # repr round-trips floats exactly, so resume keys read back equal to the grid values
    return ["" if row.get(c) is None else repr(float(row[c])) if c in FLOAT_COLUMNS else str(row[c])
            for c in COLUMNS]


def _typed(row: dict) -> dict:
    out = {}
    for c in COLUMNS:
        v = row.get(c)
        if c in FLOAT_COLUMNS:
            out[c] = None if v in ("", None) else float(v)
            if out[c] is not None and math.isnan(out[c]):
                out[c] = None
        elif c == "seed":
            out[c] = int(v)
        else:
            out[c] = "" if v is None else str(v)
    return out


def row_key(row: dict) -> tuple:
    """The identity of a row for resuming: (alpha, lam, seed, options)."""
    return (float(row["alpha"]), float(row["lam"]), int(row["seed"]), row["options"])


# ----------------------------------------------------------------------------------------------------
# The driver
# ----------------------------------------------------------------------------------------------------


@dataclass
class SweepResult:
    """Rows of the requested grid (in grid order, old and new), and how many points ran in this call."""

    rows: list[dict]
    ran: int
    skipped: int
    path: Path

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.rows if r["status"] != "ok"]


def sweep(points: list[Point], options: dict, out: str | os.PathLike, *, workers: int | None = None,
          scheduler: str | None = None, resume: bool = True, keep_runs: str | os.PathLike | None = None,
          retries: int = 2, progress: Callable[[int, int, dict | None], None] | None = None) -> SweepResult:
    """Run every point of ``points`` not yet in ``out`` on Dask and append its row to ``out`` as it finishes.

    Parameters
    ----------
    points : the grid (:func:`grid_points`).
    options : the other ``integrate`` options (:func:`point_options` fills and checks them).
    out : sweep file, ``.csv`` or ``.parquet`` (pyarrow).
    workers : worker processes of the local cluster (default: one per core); ignored with ``scheduler``.
    scheduler : address ``tcp://host:port`` of a running Dask scheduler to submit to instead.
    resume : keep rows already in ``out`` and skip their points (rows with status ``error`` are re-run);
        ``False`` starts the file afresh.
    keep_runs : directory for each point's trajectory file (must be reachable by the workers).
    retries : Dask retries of a point whose task raises, and deaths of its worker tolerated (local cluster).
    progress : called as ``progress(done, total, row)`` after each point (``row`` None at the start).
    """
    options = point_options(**options)
    retries = require_int("retries", retries, 0)
    if workers is not None:
        workers = require_int("workers", workers, 1)
    key = options_key(options)
    file = SweepFile(out)
    old = file.load() if resume else []
    kept = [r for r in old if r["status"] != "error" or r["options"] != key]
    if not resume or len(kept) != len(old) or not file.path.exists():
        file.rewrite(kept)
    done = {row_key(r): r for r in kept if r["options"] == key}
    todo = [p for p in points if (p.alpha, p.lam, p.seed, key) not in done]
    total = len(points)
    count = total - len(todo)
    if progress:
        progress(count, total, None)
    if keep_runs is not None:
        Path(keep_runs).mkdir(parents=True, exist_ok=True)
        keep_runs = str(Path(keep_runs).resolve())
    if todo:
        with _client(workers, scheduler, retries) as client:
            from distributed import as_completed

            # the slowest points (large α) first, so no worker is left with a long one at the end
            order = sorted(todo, key=lambda p: (-p.alpha, p.lam, p.seed))
            futures = {client.submit(run_point, p.alpha, p.lam, p.seed, options, keep_runs, retries=retries,
                                     pure=False): p for p in order}
            for fut in as_completed(futures):
                p = futures[fut]
                if fut.status == "finished":
                    row = fut.result()
                else:
                    exc = fut.exception()
                    row = _empty_row(p.alpha, p.lam, p.seed, options)
                    row.update(status="error", error=_one_line(f"{type(exc).__name__}: {exc}"))
                fut.release()
                file.append(row)
                done[row_key(row)] = row
                count += 1
                if progress:
                    progress(count, total, row)
    rows = [done[(p.alpha, p.lam, p.seed, key)] for p in points]
    return SweepResult(rows=rows, ran=len(todo), skipped=total - len(todo), path=file.path)


@contextlib.contextmanager
def _client(workers: int | None, scheduler: str | None, retries: int) -> Iterator:
    import logging

    import dask
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler)  # timeout: distributed.comm.timeouts.connect
        except (OSError, TimeoutError) as exc:
            raise InputError(f"cannot reach the Dask scheduler {scheduler!r}: {_one_line(exc)}") from None
        try:
            yield client
        finally:
            client.close()
        return
    n = workers or os.cpu_count() or 1
    # one thread per process and per numerical library: parallel kernels oversubscribe the cores otherwise
    single = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with dask.config.set({"distributed.scheduler.allowed-failures": retries}):
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=logging.ERROR, env=single)
    try:
        with Client(cluster) as client:
            yield client
    finally:
        cluster.close()
