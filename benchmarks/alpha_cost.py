"""The cost of a run against ln α: whole `grokode integrate` commands at α = 1e30, 1e100, 1e300 against α = 1e3.

Usage: python benchmarks/alpha_cost.py [--seed 0] [--cases sparse-L2,margin-L2,...] [--alphas 1e30,1e100,1e300]

Same data for every α (n 64, d 2000, λ 1e-3, 100 test samples, the given seed); each large-α command runs right
after an α = 1e3 command (alternating, so both see the same load), and its ratio is against that neighbour.
RHS evaluations are deterministic; wall times are whole processes (start-up included). Prints a markdown table:
ours (large α), baseline (α = 1e3), ratio, goal (≤ 3×), met, status, and the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

CASES = {
    "sparse-L2": ["--task", "sparse", "--depth", "2"],
    "margin-L2": ["--task", "margin", "--depth", "2"],
    "sparse-regression-L2": ["--task", "sparse-regression", "--depth", "2"],
    "sparse-L3": ["--task", "sparse", "--depth", "3"],
    "separable-u*v": ["--model", "separable", "--phi", "u*v", "--init", "u=1, v=0", "--task", "sparse"],
}
GOAL = 3.0


def run_integrate(args: list[str], workdir: str, tree: str | None = None) -> dict:
    """One whole ``grokode integrate ARGS --no-plot --json`` command in ``workdir``: its summary, with ``wall`` (the
    process's seconds) and ``cpu`` (its user + system seconds); ``tree``: a checkout whose code runs instead (its
    directory first on PYTHONPATH)."""
    out = os.path.join(workdir, f"run-{time.monotonic_ns()}.npz")
    cmd = [sys.executable, "-m", "grokode", "integrate", *args, "--no-plot", "--json", "--out", out]
    env = dict(os.environ)
    if tree:
        env["PYTHONPATH"] = os.path.abspath(tree)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode not in (0, 1):
        return {"status": f"exit {proc.returncode}: {proc.stderr.strip()[-200:]}", "wall": wall, "cpu": cpu}
    summary = json.loads(proc.stdout)
    summary.update(wall=wall, cpu=cpu)
    if os.path.exists(out):
        os.remove(out)
    return summary


def run(args: list[str], alpha: float, seed: int, workdir: str) -> dict:
    return run_integrate([*args, "--n", "64", "--d", "2000", "--n-test", "100", "--lam", "1e-3", "--alpha",
                          f"{alpha:g}", "--seed", str(seed)], workdir)


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--alphas", default="1e30,1e100,1e300")
    a = parser.parse_args()
    alphas = [float(v) for v in a.alphas.split(",")]
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores; seed {a.seed}")
    print("| case | α | RHS (ours) | RHS α=1e3 (baseline) | ratio | goal | met | wall s (ours) | wall s α=1e3 | ratio "
          "| goal | met | status | t* | load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as workdir:
        for name in a.cases.split(","):
            args = CASES[name]
            for alpha in alphas:
                base = run(args, 1e3, a.seed, workdir)
                ours = run(args, alpha, a.seed, workdir)
                load = os.getloadavg()[0]
                rb, ro = base.get("rhs_evals"), ours.get("rhs_evals")
                rr = ro / rb if rb and ro else float("nan")
                wr = ours["wall"] / base["wall"]
                t_star = ours.get("t_transition")
                met_rhs = "met" if rr <= GOAL else "NOT MET"
                print(f"| {name} | {alpha:.0e} | {ro} | {rb} | {rr:.2f}× | ≤ {GOAL:g}× | {met_rhs} "
                      f"| {ours['wall']:.1f} | {base['wall']:.1f} | {wr:.2f}× | ≤ {GOAL:g}× "
                      f"| {'met' if wr <= GOAL else 'NOT MET'} | {ours.get('status')}, {base.get('status')} "
                      f"| {'—' if t_star is None else f'{t_star:.6g}'} | {load:.2f} |", flush=True)


if __name__ == "__main__":
    main()
