"""Sweeps: a grid of :func:`grokode.run.integrate` calls over (α, λ, seed) on a Dask cluster.

Each grid point runs on a Dask worker, which generates its own data from the seed (no data travel through
the scheduler) and returns one row. The driver writes rows as they finish to a sweep file (CSV, or Parquet
with pyarrow), so an interrupted sweep loses only the points in flight: re-running the same command skips
every point already recorded with the same options.

Failure handling. A point whose arguments are invalid (:class:`InputError`, e.g. λ < 0) is recorded with
status ``error`` on the worker, without retries. Any other exception is retried by Dask (``retries``);
a worker that dies is rescheduled by the scheduler up to ``distributed.scheduler.allowed-failures`` times
(set to ``retries`` on a local cluster) before the point is recorded as ``error`` (``KilledWorker``).
Points recorded as ``error`` are re-run when the sweep is resumed; all other rows are kept.

One sweep file, one writer: the file is locked (filelock) for the whole sweep, and a second sweep on the same
file is refused at once with a message naming the lock, before it computes anything.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import math
import os
import socket
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import GrokodeWarning, InputError, checked_arguments, require_int

COLUMNS = ("alpha", "lam", "seed", "t_theory", "t_transition", "transition_width", "offset_c0", "test_plateau",
           "test_final", "train_final", "wall_seconds", "status", "error", "options", "regime")
FLOAT_COLUMNS = ("alpha", "lam", "t_theory", "t_transition", "transition_width", "offset_c0", "test_plateau",
                 "test_final", "train_final", "wall_seconds")
#: The columns of files written before ``train_final`` was recorded: still read (and rewritten in the new layout).
OLD_COLUMNS = tuple(c for c in COLUMNS if c not in ("train_final", "regime"))
#: Every earlier layout that is still read: before ``train_final``, and before ``regime``.
OLD_LAYOUTS = (OLD_COLUMNS, tuple(c for c in COLUMNS if c != "regime"))
#: The grid's own options: every other option of the model is the same at every point.
GRID_OPTIONS = ("alpha", "lam", "seed")
#: Options of ``integrate`` that a sweep sets itself (per point) or does not take.
NOT_SWEEP_OPTIONS = ("alpha", "lam", "seed", "out", "plot", "force", "progress")
#: Suffixes of the sweep file.
SWEEP_SUFFIXES = (".csv", ".parquet")
#: Most points one sweep command takes (grid values × seeds): a bigger grid is a typo, not a plan (and its
#: list of points alone would not fit in memory long before it could run).
MAX_POINTS = 100_000
#: Memory of one local worker process besides its point (Python, numpy, numba, grokode, Dask), roughly.
WORKER_BYTES = 150e6


# ----------------------------------------------------------------------------------------------------
# Grids
# ----------------------------------------------------------------------------------------------------


@checked_arguments
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
        if count > MAX_POINTS:
            raise InputError(f"--{name} {text!r}: n = {count} values is more than the {MAX_POINTS} points a sweep "
                             "takes")
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
        else:
            seeds = [int(s) for s in text.split(",")]
    except ValueError:
        raise InputError(f"--seeds {text!r}: give integers s1,s2,… or a range a:b") from None
    if ":" in text:
        if hi - lo + 1 > MAX_POINTS:
            raise InputError(f"--seeds {text!r}: {hi - lo + 1} seeds is more than the {MAX_POINTS} points a sweep "
                             "takes")
        seeds = list(range(lo, hi + 1))
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
    """One grid point; its identity in the sweep file is (alpha, lam, seed, options). ``seed`` is None when the
    model takes none (a run on a ``--data`` file)."""

    alpha: float
    lam: float
    seed: int | None


@checked_arguments
def grid_points(alphas: list[float], lams: list[float], seeds: list[int | None]) -> list[Point]:
    """The product grid, ordered by λ, then α, then seed (at most :data:`MAX_POINTS` points)."""
    count = len(alphas) * len(lams) * len(seeds)
    if count > MAX_POINTS:
        raise InputError(f"the grid has {len(alphas)} α × {len(lams)} λ × {len(seeds)} seeds = {count} points, more "
                         f"than the {MAX_POINTS} points a sweep takes")
    return [Point(float(a), float(lam), None if s is None else int(s)) for lam in lams for a in alphas
            for s in seeds]


def point_options(**options) -> dict:
    """The options every point shares, validated by the model and normalised: the sweep's resume key.

    The model checks them as ``grokode integrate`` would (unknown options, choices, ranges, options the model
    or its task/method does not take), so a typo fails the command at once instead of every point.
    Normalising makes the key independent of spelling and defaults (``d=1e4``, ``d=10000`` and no ``d`` are
    one sweep): the key holds the model's resolved options except the grid's α, λ and seed.
    """
    return _check_options(options)[0]


def _check_options(options: dict):
    """(:func:`point_options`' key, the validated model instance): the memory a point needs is checked too (by the
    model's ``check``)."""
    from .models import get_model
    from .result import jsonable

    options = shared_options(options)
    name = options.pop("model", "diagonal")
    instance = get_model(name)(**options)
    resolved = {k: v for k, v in instance.config.items() if k not in GRID_OPTIONS}
    return {"model": name, **jsonable(resolved)}, instance


def shared_options(options: dict) -> dict:
    """The options the user gave (None and False are "not given"); grid options here are an error."""
    options = {k: v for k, v in options.items() if v is not None and v is not False}
    bad = sorted(set(options) & set(NOT_SWEEP_OPTIONS))
    if bad:
        raise InputError(f"{', '.join('--' + b.replace('_', '-') for b in bad)} cannot be fixed in a sweep "
                         "(the grid sets α, λ and the seed: --alpha, --lam, --seeds; each point's file: --keep-runs)")
    return options


def options_key(options: dict) -> str:
    """Canonical JSON of the options: the ``options`` column of the sweep file."""
    return json.dumps(options, sort_keys=True, separators=(",", ":"))


# ----------------------------------------------------------------------------------------------------
# One point (runs on a worker)
# ----------------------------------------------------------------------------------------------------


def run_point(alpha: float, lam: float, seed: int | None, options: dict, key: str,
              keep_runs: str | None = None) -> dict:
    """Integrate one grid point and return its row; invalid arguments give a row with status ``error``.

    ``options`` are the options the user gave (passed to :func:`grokode.pipeline.integrate`), ``key`` the
    normalised options of the row. Runs single-threaded (numba and BLAS): the sweep's parallelism is across
    points, and parallel kernels collapse when every worker process starts one thread per core.
    """
    from .pipeline import integrate
    from .threads import compute_threads

    row = _empty_row(alpha, lam, seed, key)
    grid = {"alpha": alpha, "lam": lam, **({} if seed is None else {"seed": seed})}
    try:
        with compute_threads(numba_threads=1):
            run = integrate(**options, **grid)
    except InputError as exc:
        row.update(status="error", error=_one_line(f"InputError: {exc}"))
        return row
    s = run.summary
    row.update({key: s.get(key) for key in ("t_theory", "t_transition", "transition_width", "test_plateau",
                                             "test_final", "train_final", "wall_seconds", "status",
                                             "regime")})
    row["error"] = "" if s["status"] == "ok" else _one_line(s["message"])
    if s["t_transition"] is not None and alpha > 1:  # the ln α law has no offset without a kernel phase
        row["offset_c0"] = math.log(alpha) - lam * s["t_transition"]
    if keep_runs is not None:
        digest = hashlib.sha1(key.encode()).hexdigest()[:8]
        run.save(Path(keep_runs) / f"a{alpha:.6g}-lam{lam:.6g}-s{seed}-{digest}.npz", force=True)
    return row


def _empty_row(alpha: float, lam: float, seed: int | None, key: str) -> dict:
    row = dict.fromkeys(COLUMNS)
    row.update(alpha=float(alpha), lam=float(lam), seed=seed, options=key, error="")
    return row


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


# ----------------------------------------------------------------------------------------------------
# The sweep file
# ----------------------------------------------------------------------------------------------------


class SweepFile:
    """Rows of a sweep on disk, written so that a killed process never leaves a broken file.

    CSV: each row is one ``write`` of a complete line to a file opened in append mode, then ``fsync``. When the
    file is read, every line that is not a complete row (a line torn by a crash, with or without its newline; a
    line that is not UTF-8; a cell that is not a number where one belongs) is dropped with a warning, and its
    point is computed again. An empty file, or one whose rows have lost their header line, gets the header.
    Parquet (needs pyarrow): the whole table is rewritten to a temporary file and renamed over the old one.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in (".csv", ".parquet"):
            raise InputError(f"sweep file {str(self.path)!r} must end in .csv or .parquet")
        if self.path.is_dir():
            raise InputError(f"sweep file {str(self.path)!r} is a directory")
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
        from .files import require_regular_file

        if not self.path.exists():
            self.rows = []
            return self.rows
        require_regular_file(self.path, "sweep file")  # a named pipe would block the read forever
        if self.parquet:
            import pyarrow.parquet as pq

            try:
                table = pq.read_table(self.path).to_pylist()
            except Exception as exc:  # pyarrow raises its own error types for every kind of bad file
                raise InputError(f"cannot read sweep file {str(self.path)!r}: {_one_line(exc)}") from None
            self.rows = [r for r in (_typed(r, self.path, None) for r in table) if r is not None]
        else:
            self.rows = self._read_csv()
        return self.rows

    def _read_csv(self) -> list[dict]:
        try:
            raw = self.path.read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read sweep file {str(self.path)!r}: {_one_line(exc)}") from None
        lines = raw.split(b"\n")
        torn = lines[-1] != b""  # the last line has no newline: the write was cut short
        lines = lines[:-1] if not torn else lines
        if not any(line.strip() for line in lines):
            self.rewrite([])  # an empty file gets its header
            return []
        header = _csv_cells(lines[0])
        header_t = tuple(header) if header is not None else None
        rows, dropped = [], 0
        if header_t == COLUMNS or header_t in OLD_LAYOUTS:
            names, body, first = header_t, lines[1:], 2
        else:
            first_row = _typed(dict(zip(COLUMNS, header, strict=True)), self.path, None) if (
                header is not None and len(header) == len(COLUMNS)) else None
            if first_row is None:
                shown = lines[0][:80].decode("utf-8", "replace")
                raise InputError(f"{str(self.path)!r} is not a grokode sweep file (first line {shown!r}); "
                                 "use --fresh to overwrite it or choose another --out")
            names, body, first = COLUMNS, lines, 1  # rows without their header line: keep them, restore it
            warnings.warn(f"sweep file {str(self.path)!r} had no header line; it was restored", GrokodeWarning,
                          stacklevel=2)
        for number, line in enumerate(body, start=first):
            is_last_torn = torn and number == first + len(body) - 1
            cells = _csv_cells(line)
            row = None
            if cells is not None and len(cells) == len(names) and not is_last_torn:
                row = _typed({**dict.fromkeys(COLUMNS), **dict(zip(names, cells, strict=True))}, self.path, number)
            if row is None:
                if line.strip():
                    dropped += 1
                    why = "was cut short" if is_last_torn else "is not a complete row"
                    warnings.warn(f"sweep file {str(self.path)!r}: line {number} {why}; dropped (its point will "
                                  "be computed again)", GrokodeWarning, stacklevel=2)
                continue
            rows.append(row)
        if names != COLUMNS or dropped or torn or header_t != COLUMNS:
            self.rewrite(rows)  # drop bad lines, or move an old file to the new layout, before appending
        return rows

    def rewrite(self, rows: list[dict]) -> None:
        """Replace the file by ``rows`` atomically (temporary file + rename)."""
        from .files import atomic_write

        self.rows = list(rows)
        target = os.path.realpath(self.path)  # through a symbolic link: replace the file, not the link
        if self.parquet:
            import pyarrow as pa
            import pyarrow.parquet as pq

            schema = pa.schema([(c, pa.float64() if c in FLOAT_COLUMNS else pa.int64() if c == "seed"
                                 else pa.string()) for c in COLUMNS])
            table = pa.Table.from_pylist(self.rows, schema=schema)
            atomic_write(target, lambda fh: pq.write_table(table, fh))
        else:
            text = _csv_line(COLUMNS) + "".join(_csv_line(_cells(r)) for r in self.rows)
            atomic_write(target, lambda fh: fh.write(text.encode("utf-8")))

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


def _csv_cells(line: bytes) -> list[str] | None:
    """The cells of one CSV line, or None when it is not UTF-8 or not one well-formed record."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return None
    try:
        records = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error:
        return None
    return records[0] if len(records) == 1 else None


def _csv_line(cells) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue()


def _cells(row: dict) -> list[str]:
    # repr round-trips floats exactly, so resume keys read back equal to the grid values
    return ["" if row.get(c) is None else repr(float(row[c])) if c in FLOAT_COLUMNS else str(row[c])
            for c in COLUMNS]


_STATUSES = ("ok", "failed", "diverged", "interrupted", "error")


def _typed(row: dict, path: Path, number: int | None) -> dict | None:
    """A row with typed cells, or None when a cell cannot be what its column holds."""
    out = {}
    try:
        for c in COLUMNS:
            v = row.get(c)
            if c in FLOAT_COLUMNS:
                out[c] = None if v in ("", None) else float(v)
                if out[c] is not None and math.isnan(out[c]):
                    out[c] = None
            elif c == "seed":
                out[c] = None if v in ("", None) else int(v)
            elif c == "regime":
                out[c] = None if v in ("", None) else str(v)
            else:
                out[c] = "" if v is None else str(v)
    except (TypeError, ValueError):
        return None
    if out["alpha"] is None or out["lam"] is None or out["status"] not in _STATUSES:
        return None
    try:
        json.loads(out["options"])
    except json.JSONDecodeError:
        return None
    return out


def row_key(row: dict) -> tuple:
    """The identity of a row for resuming: (alpha, lam, seed, options)."""
    return (float(row["alpha"]), float(row["lam"]), None if row["seed"] is None else int(row["seed"]),
            row["options"])


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
    dashboard: str | None = None

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.rows if r["status"] != "ok"]


@checked_arguments
def sweep(points: list[Point], options: dict, out: str | os.PathLike, *, workers: int | None = None,
          scheduler: str | None = None, resume: bool = True, keep_runs: str | os.PathLike | None = None,
          retries: int = 2, progress: Callable[[int, int, dict | None], None] | None = None,
          on_dashboard: Callable[[str], None] | None = None) -> SweepResult:
    """Run every point of ``points`` not yet in ``out`` on Dask and append its row to ``out`` as it finishes.

    Parameters
    ----------
    points : the grid (:func:`grid_points`).
    options : the other ``integrate`` options, as the user gave them (:func:`point_options` checks them).
    out : sweep file, ``.csv`` or ``.parquet`` (pyarrow). Locked for the whole sweep: a second sweep on the
        same file is refused (InputError) before it computes anything.
    workers : worker processes of the local cluster (default: one per core); not with ``scheduler``.
    scheduler : address ``tcp://host:port`` of a running Dask scheduler to submit to instead.
    resume : keep rows already in ``out`` and skip their points (rows with status ``error`` are re-run);
        ``False`` starts the file afresh.
    keep_runs : directory for each point's trajectory file (must be reachable by the workers).
    retries : Dask retries of a point whose task raises, and deaths of its worker tolerated (local cluster).
    progress : called as ``progress(done, total, row)`` after each point (``row`` None at the start).
    on_dashboard : called with the Dask dashboard's address once the cluster is up.
    """
    from .files import check_output_directory, check_output_path, format_bytes, require_memory

    given = shared_options(options)
    normalised, instance = _check_options(given)
    key = options_key(normalised)
    _check_seeds(given, points)
    retries = require_int("retries", retries, 0)
    if workers is not None:
        if scheduler is not None:
            raise InputError("--workers sizes the local cluster; with --scheduler the workers are the scheduler's")
        workers = require_int("workers", workers, 1)
    if scheduler is None:
        n = workers or os.cpu_count() or 1
        need, what = instance.memory_need
        require_memory(n * (need + WORKER_BYTES), f"--workers {n}: {n} local worker processes, each running {what} "
                       f"(about {format_bytes(need + WORKER_BYTES)}),")
    else:
        check_scheduler(scheduler)
    check_output_path(out, SWEEP_SUFFIXES, force=True, what="sweep file")
    file = SweepFile(out)
    if keep_runs is not None:
        if isinstance(keep_runs, str) and not keep_runs.strip():
            raise InputError(f"--keep-runs must be a directory path, got {keep_runs!r}")
        keep_runs = _keep_runs_directory(check_output_directory(keep_runs, "--keep-runs"))
    refuse_inputs(given, {"--out": out})
    lock = _lock(file.path)
    with lock:
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
        dashboard = None
        if todo:
            with _client(workers, scheduler, retries) as client:
                from distributed import as_completed

                dashboard = client.dashboard_link if getattr(client, "dashboard_link", None) else None
                if dashboard and on_dashboard:
                    on_dashboard(dashboard)
                # the slowest points (large α) first, so no worker is left with a long one at the end
                order = sorted(todo, key=lambda p: (-p.alpha, p.lam, -1 if p.seed is None else p.seed))
                futures = {client.submit(run_point, p.alpha, p.lam, p.seed, given, key, keep_runs, retries=retries,
                                         pure=False): p for p in order}
                for fut in as_completed(futures):
                    p = futures[fut]
                    if fut.status == "finished":
                        row = fut.result()
                    else:
                        exc = fut.exception()
                        row = _empty_row(p.alpha, p.lam, p.seed, key)
                        row.update(status="error", error=_one_line(f"{type(exc).__name__}: {exc}"))
                    fut.release()
                    file.append(row)
                    done[row_key(row)] = row
                    count += 1
                    if progress:
                        progress(count, total, row)
    rows = [done[(p.alpha, p.lam, p.seed, key)] for p in points]
    return SweepResult(rows=rows, ran=len(todo), skipped=total - len(todo), path=file.path, dashboard=dashboard)


def _keep_runs_directory(path: Path) -> str:
    """The --keep-runs directory, created and resolved before anything is computed (a symbolic-link loop, or a link
    to something that is not a directory, is an InputError here)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        resolved = path.resolve(strict=True)
        if not resolved.is_dir():
            raise NotADirectoryError(f"{str(path)!r} is not a directory")
    except (OSError, RuntimeError) as exc:  # Path.resolve raises RuntimeError on a loop in older Pythons
        why = "a loop of symbolic links" if "loop" in str(exc).lower() or getattr(exc, "errno", None) == 40 else (
            getattr(exc, "strerror", None) or _one_line(exc))
        raise InputError(f"--keep-runs {str(path)!r}: {why}") from None
    return str(resolved)


def refuse_inputs(given: dict, outputs: dict) -> None:
    """InputError when an output of the sweep (flag → path) is one of its inputs (``--data``)."""
    from .outputs import require_not_input

    inputs = {"--data": str(given["data"])} if given.get("data") else {}
    for flag, path in outputs.items():
        if path is not None:
            require_not_input(path, inputs, flag)


def _check_seeds(given: dict, points: list[Point]) -> None:
    """Seeds are refused up front when the model takes none here (e.g. a run on a --data file)."""
    from .models import get_model

    seeds = sorted({p.seed for p in points if p.seed is not None})
    if not seeds:
        return
    options = dict(given)
    name = options.pop("model", "diagonal")
    try:
        get_model(name)(**options, seed=seeds[0])
    except InputError as exc:
        raise InputError(f"--seeds {','.join(map(str, seeds[:5]))}: {exc}") from None


#: Address schemes of a Dask scheduler that connect over TCP (checked before the sweep starts).
TCP_SCHEMES = ("tcp", "tls", "ws", "wss")


def check_scheduler(address: str, timeout: float = 5.0) -> None:
    """InputError unless ``address`` (``tcp://HOST:PORT``) names a scheduler that accepts a connection now.

    A closed port or an unknown host fails here in at most ``timeout`` seconds, before the sweep file is touched.
    Other schemes (``ucx://``, ``inproc://``) are left to Dask.
    """
    text = str(address).strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "tcp", text
    if not text or scheme not in TCP_SCHEMES + ("ucx", "inproc"):
        raise InputError(f"--scheduler {text!r}: give the address of a Dask scheduler, tcp://HOST:PORT")
    if scheme not in TCP_SCHEMES:
        return
    host, colon, port_text = rest.rpartition(":")
    host = host.strip("[]")
    if not colon or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise InputError(f"--scheduler {text!r}: give the address of a Dask scheduler, tcp://HOST:PORT "
                         "(PORT 1…65535)")
    try:
        with socket.create_connection((host, int(port_text)), timeout=timeout):
            pass
    except OSError as exc:
        raise InputError(f"cannot reach the Dask scheduler {text!r}: {exc.strerror or _one_line(exc)}") from None


class _SweepLock:
    """The sweep file's lock (``<file>.lock`` next to it), refused at once when another sweep holds it."""

    def __init__(self, path: Path):
        from filelock import FileLock

        self.path = path.with_name(path.name + ".lock")
        self.lock = FileLock(str(self.path), timeout=0)

    def __enter__(self):
        from filelock import Timeout

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.lock.acquire()
        except Timeout:
            raise InputError(f"another sweep is writing {str(self.path.with_suffix(''))!r} (it holds "
                             f"{str(self.path)!r}); wait for it to finish, or choose another --out") from None
        except OSError as exc:
            raise InputError(f"cannot lock {str(self.path)!r}: {_one_line(exc)}") from None
        return self

    def __exit__(self, *exc):
        self.lock.release()
        with contextlib.suppress(OSError):
            self.path.unlink()  # a lock file left behind is harmless, but litter next to the user's table


def _lock(path: Path) -> _SweepLock:
    """The lock of the sweep file ``path``, taken on the file it resolves to: a symbolic link to a sweep file that
    another sweep is writing finds that sweep's lock."""
    try:
        resolved = Path(os.path.realpath(path))
    except (OSError, ValueError):
        resolved = Path(path)
    return _SweepLock(resolved)


@contextlib.contextmanager
def _client(workers: int | None, scheduler: str | None, retries: int) -> Iterator:
    import logging

    import dask
    from distributed import Client, LocalCluster

    from .threads import SINGLE_THREAD_ENV

    if scheduler is not None:
        try:
            client = Client(scheduler)  # timeout: distributed.comm.timeouts.connect
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError(f"cannot reach the Dask scheduler {scheduler!r}: {_one_line(exc)}") from None
        try:
            yield client
        finally:
            client.close()
        return
    n = workers or os.cpu_count() or 1
    # one thread per process and per numerical library: parallel kernels oversubscribe the cores otherwise
    # the workers' own log stays quiet below CRITICAL: a point's failure is recorded in its row, and a worker that
    # loses its scheduler while an interrupted sweep shuts down logs an ERROR with a traceback that is only noise
    with dask.config.set({"distributed.scheduler.allowed-failures": retries}):
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=_dashboard(),
                               silence_logs=logging.CRITICAL, env=SINGLE_THREAD_ENV)
    try:
        with Client(cluster) as client:
            yield client
    finally:
        cluster.close()


def _dashboard() -> str | None:
    """The dashboard's address (":0", any free port) when its dependency (bokeh) is installed, else None."""
    try:
        import bokeh  # noqa: F401
    except ImportError:
        return None
    return ":0"
