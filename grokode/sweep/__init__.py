"""Sweeps: a grid of :func:`grokode.pipeline.integrate` calls over (α, λ, seed, model options) on a Dask cluster.

Three parts, one concept each:

* :mod:`~grokode.sweep.grid` — the grid's values (``--alpha``, ``--lam``, ``--seeds``, a model option given as
  a list such as ``--n 16,24``), its points, and the options every point shares (validated by the model,
  normalised into the key of the sweep's rows);
* :mod:`~grokode.sweep.storage` — the sweep file (CSV or Parquet) and its lock, the rows a resumed sweep keeps,
  and the ``--keep-runs`` directory;
* :mod:`~grokode.sweep.orchestrate` — the points on Dask (a local cluster, or a running scheduler's address),
  each point's row written as it finishes;

and :mod:`~grokode.sweep.outcome`, what a finished sweep reports: its fitted law and its figures (the phase
diagram, and the scaling law's figure).
The names below are the package's public interface.
"""

from .grid import (
    GRID_OPTIONS,
    MAX_POINTS,
    NOT_SWEEP_OPTIONS,
    Point,
    grid_points,
    option_grids,
    options_key,
    parse_grid,
    parse_int_grid,
    parse_seeds,
    point_options,
    shared_options,
)
from .orchestrate import TCP_SCHEMES, WORKER_BYTES, SweepResult, check_scheduler, run_point, sweep
from .storage import COLUMNS, FLOAT_COLUMNS, OLD_COLUMNS, OLD_LAYOUTS, SWEEP_SUFFIXES, SweepFile, refuse_inputs, row_key

__all__ = ["COLUMNS", "FLOAT_COLUMNS", "GRID_OPTIONS", "MAX_POINTS", "NOT_SWEEP_OPTIONS", "OLD_COLUMNS", "OLD_LAYOUTS",
           "SWEEP_SUFFIXES", "TCP_SCHEMES", "WORKER_BYTES", "Point", "SweepFile", "SweepResult", "check_scheduler",
           "grid_points", "option_grids", "options_key", "parse_grid", "parse_int_grid", "parse_seeds",
           "point_options", "refuse_inputs", "row_key", "run_point", "shared_options", "sweep"]
