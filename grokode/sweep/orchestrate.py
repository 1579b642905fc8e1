"""Running a sweep on Dask: each grid point on a worker of a local cluster, or of a running scheduler.

Each grid point runs on a Dask worker, which generates its own data from the seed (no data travel through
the scheduler) and returns one row. The driver writes rows as they finish to the sweep file
(:mod:`grokode.sweep.storage`), so an interrupted sweep loses only the points in flight: re-running the same
command skips every point already recorded with the same options.

Failure handling. A point whose arguments are invalid (:class:`InputError`, e.g. λ < 0) is recorded with
status ``error`` on the worker, without retries. Any other exception is retried by Dask (``retries``);
a worker that dies is rescheduled by the scheduler up to ``distributed.scheduler.allowed-failures`` times
(set to ``retries`` on a local cluster) before the point is recorded as ``error`` (``KilledWorker``).
Points recorded as ``error`` are re-run when the sweep is resumed; all other rows are kept.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError, checked_arguments, require_int
from .grid import Point, check_seeds, point_keys, shared_options
from .storage import (
    SWEEP_SUFFIXES,
    SweepFile,
    empty_row,
    keep_runs_directory,
    kept_run_path,
    one_line,
    refuse_inputs,
    row_key,
    sweep_lock,
)

#: Memory of one local worker process besides its point (Python, numpy, numba, grokode, Dask), roughly.
WORKER_BYTES = 150e6


def run_point(alpha: float, lam: float, seed: int | None, options: dict, key: str,
              keep_runs: str | None = None) -> dict:
    """Integrate one grid point and return its row; invalid arguments give a row with status ``error``.

    ``options`` are the options the user gave (passed to :func:`grokode.pipeline.integrate`), ``key`` the
    normalised options of the row. Runs single-threaded (numba and BLAS): the sweep's parallelism is across
    points, and parallel kernels collapse when every worker process starts one thread per core.
    """
    from ..pipeline import integrate
    from ..threads import compute_threads

    row = empty_row(alpha, lam, seed, key)
    grid: dict[str, Any] = {"alpha": alpha, "lam": lam, **({} if seed is None else {"seed": seed})}
    try:
        with compute_threads(numba_threads=1):
            run = integrate(**options, **grid)
    except InputError as exc:
        row.update(status="error", error=one_line(f"InputError: {exc}"))
        return row
    s = run.summary
    row.update({key: s.get(key) for key in ("t_theory", "t_transition", "transition_width", "test_plateau",
                                             "test_final", "train_final", "wall_seconds", "status",
                                             "regime")})
    row["error"] = "" if s["status"] == "ok" else one_line(s["message"])
    if s["t_transition"] is not None and alpha > 1:  # the ln α law has no offset without a kernel phase
        row["offset_c0"] = math.log(alpha) - lam * s["t_transition"]
    if keep_runs is not None:
        run.save(kept_run_path(keep_runs, alpha, lam, seed, key), force=True)
    return row


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
    options : the other ``integrate`` options, as the user gave them (:func:`point_options` checks them); the
        points' :attr:`~grokode.sweep.Point.varied` options are added to them point by point, and each
        combination is checked by the model before anything runs.
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
    from ..files import check_output_directory, check_output_path, format_bytes, require_memory

    given = shared_options(options)
    keys, instances = point_keys(given, points)
    check_seeds(given, points)
    retries = require_int("retries", retries, 0)
    if workers is not None:
        if scheduler is not None:
            raise InputError("--workers sizes the local cluster; with --scheduler the workers are the scheduler's")
        workers = require_int("workers", workers, 1)
    if scheduler is None:
        n = workers or os.cpu_count() or 1
        need, what = max((i.memory_need for i in instances), key=lambda m: m[0])
        require_memory(n * (need + WORKER_BYTES), f"--workers {n}: {n} local worker processes, each running {what} "
                       f"(about {format_bytes(need + WORKER_BYTES)}),")
    else:
        check_scheduler(scheduler)
    check_output_path(out, SWEEP_SUFFIXES, force=True, what="sweep file")
    file = SweepFile(out)
    if keep_runs is not None:
        if isinstance(keep_runs, str) and not keep_runs.strip():
            raise InputError(f"--keep-runs must be a directory path, got {keep_runs!r}")
        keep_runs = keep_runs_directory(check_output_directory(keep_runs, "--keep-runs"))
    refuse_inputs(given, {"--out": out})
    with sweep_lock(file.path):
        done = file.start(set(keys.values()), resume, grid_columns=sorted({k for p in points for k, _ in p.varied}))
        todo = [p for p in points if (p.alpha, p.lam, p.seed, keys[p.varied]) not in done]
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
                futures = {client.submit(run_point, p.alpha, p.lam, p.seed, {**given, **dict(p.varied)},
                                         keys[p.varied], keep_runs, retries=retries, pure=False): p for p in order}
                for fut in as_completed(futures):
                    p = futures[fut]
                    if fut.status == "finished":
                        row = fut.result()
                    else:
                        exc = fut.exception()
                        row = empty_row(p.alpha, p.lam, p.seed, keys[p.varied])
                        row.update(status="error", error=one_line(f"{type(exc).__name__}: {exc}"))
                    fut.release()
                    file.append(row)
                    done[row_key(row)] = row
                    count += 1
                    if progress:
                        progress(count, total, row)
    rows = [done[(p.alpha, p.lam, p.seed, keys[p.varied])] for p in points]
    return SweepResult(rows=rows, ran=len(todo), skipped=total - len(todo), path=file.path, dashboard=dashboard)


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
        raise InputError(f"cannot reach the Dask scheduler {text!r}: {exc.strerror or one_line(exc)}") from None


@contextlib.contextmanager
def _client(workers: int | None, scheduler: str | None, retries: int) -> Iterator:
    import logging

    import dask
    from distributed import Client, LocalCluster

    from ..threads import SINGLE_THREAD_ENV

    if scheduler is not None:
        try:
            client = Client(scheduler)  # timeout: distributed.comm.timeouts.connect
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError(f"cannot reach the Dask scheduler {scheduler!r}: {one_line(exc)}") from None
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
