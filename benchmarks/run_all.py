"""Run the benchmark suite: one table on stdout and benchmarks/RESULTS.md (machine, versions, date).

    python benchmarks/run_all.py            # full cases (paper scale; tens of minutes)
    python benchmarks/run_all.py --quick    # small versions of every case (< 2 minutes)

Options: ``--cases 1,2`` runs a subset, ``--budget S`` is the wall-clock budget of each scipy baseline run
(default 120 s, 5 s quick), ``--results PATH`` writes the report elsewhere (``-`` for nowhere).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shlex
import sys
import time
from pathlib import Path

# Ours, GD and the numpy baselines all get one thread unless the caller says otherwise: the same resources
# for every method, and on a shared machine parallel barriers would measure the neighbours, not the code.
# Case 5 runs the CLI as a user does, with grokode's own thread choice: it removes from its subprocesses the
# variables set here (named in GROKODE_BENCH_PINNED), not those the caller set.
_pinned = []
for _var in ("NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    if _var not in os.environ:
        os.environ[_var] = "1"
        _pinned.append(_var)
os.environ["GROKODE_BENCH_PINNED"] = ",".join(_pinned)

import cases_diagonal  # noqa: E402, F401  (registers cases 1, 2, 4)
import cases_matrix  # noqa: E402, F401  (registers case 3)
import cases_product  # noqa: E402, F401  (registers case 5)
from common import CASES, Config, GoalRow, Row, format_goal_table, format_table  # noqa: E402

HERE = Path(__file__).resolve().parent


def machine() -> dict:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    threads = {k: os.environ.get(k, "unset") for k in ("NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                          "OMP_NUM_THREADS")}
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(), "load": load, "threads": threads}


def versions() -> dict:
    import numba
    import numpy
    import scipy

    import grokode
    out = {"python": platform.python_version(), "grokode": grokode.__version__, "numpy": numpy.__version__,
           "scipy": scipy.__version__, "numba": numba.__version__}
    for name in ("jax", "diffrax"):
        try:
            out[name] = __import__(name).__version__
        except ImportError:
            out[name] = "not installed"
    return out


def write_results(path: Path, rows: list[Row], cfg: Config, command: str, seconds: float, keys: list[str],
                  goals: list[GoalRow] | None = None) -> None:
    m, v = machine(), versions()
    lines = [
        "# Benchmark results",
        "",
        f"Written by `{command}` on {dt.datetime.now().isoformat(timespec='seconds')} "
        f"({'quick' if cfg.quick else 'full'} mode, {seconds:.0f} s in all).",
        "",
        f"- machine: {m['cpu']}, {m['cores']} cores, {m['platform']}; load average at the end "
        f"{', '.join(f'{x:.2f}' for x in m['load']) if m['load'] else '?'} (the machine is shared: absolute times "
        "are inflated, the ratios are measured within one run)",
        "- threads: " + ", ".join(f"{k}={val}" for k, val in m["threads"].items()),
        "- versions: " + ", ".join(f"{k} {val}" for k, val in v.items()),
        f"- budget per scipy baseline run: {cfg.budget:g} s; GD timed over {cfg.gd_steps} steps; "
        f"rtol={cfg.rtol:g}, atol={cfg.atol:g} for ours and the full-flow baselines",
        "",
        "Cases: " + "; ".join(f"{k}. {CASES[k].title}" for k in keys),
        "",
    ]
    if rows:
        lines += [
            format_table(rows, markdown=True),
            "",
            "*wall s*: ours is one whole `grokode.integrate` call (data, integration, metrics, transition); "
            "'> x (budget)' means the baseline was stopped at the budget (ratio is then a lower bound); "
            "'≈ x (extrapolated)' is GD timed over a few hundred steps times the steps to the horizon. "
            "*baseline/ours* is baseline wall / ours wall. *‖Δw‖/‖w‖ final*: relative difference of the effective "
            "weight at the horizon from ours.",
            "",
        ]
    if goals:
        lines += [
            "## Issue #16 rows",
            "",
            format_goal_table(goals, markdown=True),
            "",
            GOAL_NOTE,
            "",
        ]
    path.write_text("\n".join(lines))


GOAL_NOTE = ("Each *ours* is a real `grokode` command run as a subprocess, timed from outside (interpreter start "
             "included), with grokode's own thread choice: unlike cases 1–4, which pin one thread for every method, "
             "the thread variables run_all sets are removed from these subprocesses. The numpy baseline of the "
             "first row runs the same way (a subprocess, default threads; its solve alone is timed). "
             "'issue #16, before' cites the numbers measured before the work on the issue. *met*: the "
             "goal of the issue, judged at the full sizes only (— in `--quick`, or where there is no goal).")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small versions of every case (CI)")
    ap.add_argument("--cases", default=",".join(CASES), help=f"comma-separated subset of {','.join(CASES)}")
    ap.add_argument("--budget", type=float, default=None, help="seconds per scipy baseline run")
    ap.add_argument("--results", default=str(HERE / "RESULTS.md"), help="report path ('-': do not write)")
    args = ap.parse_args(argv)
    keys = [k.strip() for k in args.cases.split(",") if k.strip()]
    unknown = [k for k in keys if k not in CASES]
    if unknown or not keys:
        ap.error(f"unknown case(s) {unknown} (choose from {', '.join(CASES)})")
    budget = args.budget if args.budget is not None else (5.0 if args.quick else 120.0)
    if not budget > 0:
        ap.error(f"--budget must be > 0, got {budget}")
    cfg = Config(quick=args.quick, budget=budget)
    t0 = time.perf_counter()
    rows: list[Row] = []
    goals: list[GoalRow] = []
    for key in keys:
        print(f"[case {key}] {CASES[key].title}", file=sys.stderr, flush=True)
        for r in CASES[key].run(cfg):
            (goals if isinstance(r, GoalRow) else rows).append(r)
    seconds = time.perf_counter() - t0
    if rows:
        print(format_table(rows))
    if goals:
        print(format_goal_table(goals))
    if args.results != "-":
        command = "python benchmarks/run_all.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
        write_results(Path(args.results), rows, cfg, command.strip(), seconds, keys, goals)
        print(f"wrote {args.results} ({seconds:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
