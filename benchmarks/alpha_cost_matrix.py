"""Matrix completion's cost against ln α: whole `grokode integrate --model matrix` commands against α = 1e3.

Usage: python benchmarks/alpha_cost_matrix.py [--d 97] [--frac 0.2] [--alphas 1e30,1e100,1e150] [--tree PATH]

Same data for every α (the matrix model's multiplication task, seed 0, λ 1e-3); each large-α command runs right
after an α = 1e3 command (alternating, so both see the same load), and its ratios are against that neighbour.
RHS evaluations are deterministic; wall times are whole processes (start-up included), CPU seconds are the child
process's user + system time (less sensitive to other work on the machine than wall). ``--tree`` runs the code of
another checkout (its directory first on PYTHONPATH), e.g. the main branch for a before/after table.
"""

from __future__ import annotations

import argparse
import os
import tempfile

from alpha_cost import GOAL, cpu_name, run_integrate


def run(alpha: float, args: argparse.Namespace, workdir: str) -> dict:
    return run_integrate(["--model", "matrix", "--d", str(args.d), "--frac", f"{args.frac:g}", "--lam", "1e-3",
                          "--alpha", f"{alpha:g}"], workdir, args.tree)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--d", type=int, default=97)
    parser.add_argument("--frac", type=float, default=0.2)
    parser.add_argument("--alphas", default="1e30,1e100,1e150")
    parser.add_argument("--tree", default=None, help="run this checkout's code instead of the installed one")
    a = parser.parse_args()
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores; d {a.d}, frac {a.frac:g}, tree {a.tree or 'this'}")
    print("| α | RHS (ours) | RHS α=1e3 | ratio | wall s (ours) | wall s α=1e3 | ratio | CPU s (ours) | CPU s α=1e3 "
          "| ratio | goal | met | status | t* | load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as workdir:
        for alpha in (float(v) for v in a.alphas.split(",")):
            base = run(1e3, a, workdir)
            ours = run(alpha, a, workdir)
            load = os.getloadavg()[0]
            rb, ro = base.get("rhs_evals"), ours.get("rhs_evals")
            rr = ro / rb if rb and ro else float("nan")
            wr, cr = ours["wall"] / base["wall"], ours["cpu"] / base["cpu"]
            met = "met" if max(rr, wr) <= GOAL else "NOT MET"
            t_star = ours.get("t_transition")
            print(f"| {alpha:.0e} | {ro} | {rb} | {rr:.2f}× | {ours['wall']:.1f} | {base['wall']:.1f} | {wr:.2f}× "
                  f"| {ours['cpu']:.1f} | {base['cpu']:.1f} | {cr:.2f}× | ≤ {GOAL:g}× | {met} "
                  f"| {ours.get('status')}, {base.get('status')} | {'—' if t_star is None else f'{t_star:.8g}'} "
                  f"| {load:.2f} |", flush=True)


if __name__ == "__main__":
    main()
