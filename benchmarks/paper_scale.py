"""Paper scale and larger problems, as whole commands: the table of benchmarks/PAPER_SCALE.md.

1. Paper scale: ``grokode integrate --n 256 --d 100000 --alpha 1e3 --lam 1e-3 --no-plot`` against the plain-numpy
   reduced flow (LSODA + analytic Jacobian, ``cases_product.py numpy-reduced``: data generation, float64 X and the
   solve), both timed from outside as whole processes, in one alternating run (ours, reference, ours, …); the
   medians and their ratio. Goal: ≥ 3×.
2. Larger problems, one after the other on the same machine, right after the paper-scale pairs: n 256 × d 1e6 and
   n 1024 × d 1e5 (default options otherwise) against the median paper-scale run of this run (goal ≤ 12×), with
   the peak resident memory of each process (``os.wait4``'s ru_maxrss; goal ≤ 2 GB = 2·10⁹ bytes) and the size of
   the file it writes (goal: compact, ≤ 20 MB; the default run's file ≤ 5 MB).

Each row gives ours, the baseline, the ratio, the goal and whether it is met, with the load average at the start
of each command; the header gives the machine. ``--pairs`` (default 3), ``--no-large``, ``--out`` (markdown file to
write; default: print only), ``--time-split`` (print each paper-scale run's summary time_split).

    PYTHONPATH=$PWD python benchmarks/paper_scale.py --pairs 3 --out benchmarks/PAPER_SCALE.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
PAPER = ["--n", "256", "--d", "100000", "--alpha", "1e3", "--lam", "1e-3"]
LARGE = {"n 256 × d 1e6": ["--n", "256", "--d", "1000000", "--alpha", "1e3", "--lam", "1e-3"],
         "n 1024 × d 1e5": ["--n", "1024", "--d", "100000", "--alpha", "1e3", "--lam", "1e-3"]}
DEFAULT = ["--alpha", "1e3", "--lam", "1e-3"]


@dataclass
class Proc:
    """One whole command: wall seconds (from outside), peak resident memory, return code, stdout, load at start."""

    cmd: list[str]
    wall: float
    peak_bytes: int
    code: int
    stdout: str
    stderr: str
    load: float

    @property
    def json(self) -> dict:
        return json.loads(self.stdout)


#: Both commands run as an installed program does, with Python's bytecode cache: an environment that turns it off
#: (PYTHONDONTWRITEBYTECODE) makes every start compile grokode's modules from source again (~0.15 s).
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run(cmd: list[str], cwd: Path) -> Proc:
    load = os.getloadavg()[0]
    start = time.perf_counter()
    p = _Popen(cmd, cwd=cwd, env=CHILD_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = p.communicate()
    wall = time.perf_counter() - start
    # the child has been reaped by communicate(); its rusage is read from the wait status kept by Popen
    usage = getattr(p, "rusage", None)
    peak = int(usage.ru_maxrss) * 1024 if usage is not None else -1
    return Proc(cmd, wall, peak, p.returncode, out, err, load)


class _Popen(subprocess.Popen):
    """Popen that keeps the child's resource usage (os.wait4) when it is reaped."""

    def _try_wait(self, wait_flags):
        try:
            pid, sts, usage = os.wait4(self.pid, wait_flags)
        except ChildProcessError:
            return self.pid, 0
        if pid == self.pid:
            self.rusage = usage
        return pid, sts


def grokode_cmd(args: list[str], out: Path) -> list[str]:
    return [sys.executable, "-m", "grokode", "integrate", *args, "--no-plot", "--json", "--out", str(out), "--force"]


def reference_cmd() -> list[str]:
    return [sys.executable, str(HERE / "cases_product.py"), "numpy-reduced", "256", "100000", "1e3", "1e-3", "1e-6",
            "1e-12", "3600"]


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"


def show(cmd: list[str]) -> str:
    words = ["python" if w == sys.executable else w for w in cmd]
    if words[1:3] == ["-m", "grokode"]:
        words[:3] = ["grokode"]
    keep = []
    skip = False
    for w in words:  # the output path and --json/--force are the harness's, not the user's
        if skip:
            skip = False
            continue
        if w == "--out":
            skip = True
            continue
        if w in ("--json", "--force"):
            continue
        keep.append(w.replace(str(HERE) + "/", "benchmarks/"))
    return " ".join(keep)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--no-large", action="store_true")
    ap.add_argument("--out", default=None)
    ap.add_argument("--time-split", action="store_true")
    args = ap.parse_args(argv)
    rows: list[list[str]] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        warm = run(grokode_cmd(["--n", "32", "--d", "50"], tmp / "warm.npz"), tmp)  # numba caches, not timed
        if warm.code != 0:
            sys.exit(f"warm-up failed: {warm.stderr[-500:]}")
        ours, refs = [], []
        for k in range(args.pairs):
            o = run(grokode_cmd(PAPER, tmp / "paper.npz"), tmp)
            if o.code != 0:
                sys.exit(f"paper-scale run failed: {o.stderr[-800:]}")
            r = run(reference_cmd(), HERE)
            if r.code != 0:
                sys.exit(f"reference failed: {r.stderr[-800:]}")
            ours.append(o)
            refs.append(r)
            split = o.json.get("time_split")
            print(f"pair {k + 1}: ours {o.wall:.2f} s (load {o.load:.2f}), reference {r.wall:.2f} s (load "
                  f"{r.load:.2f}); {o.json['rhs_evals']} RHS, {o.json['jac_evals']} jac", flush=True)
            if args.time_split and split:
                print("  time_split " + ", ".join(f"{k2} {v:.2f}" for k2, v in split.items() if v is not None))
        med_o, med_r = statistics.median(p.wall for p in ours), statistics.median(p.wall for p in refs)
        loads = [p.load for p in ours + refs]
        rows.append(["paper scale (whole commands, alternating)", show(ours[0].cmd),
                     f"median {med_o:.2f} s of {len(ours)} ({', '.join(f'{p.wall:.1f}' for p in ours)})",
                     f"median {med_r:.2f} s of {len(refs)} ({', '.join(f'{p.wall:.1f}' for p in refs)}): "
                     f"`{show(refs[0].cmd)}`", f"{med_r / med_o:.2f}×", "≥ 3×", _met(med_r / med_o >= 3.0),
                     f"{min(loads):.2f}–{max(loads):.2f}"])
        split = ours[len(ours) // 2].json.get("time_split") or {}
        notes.append("time_split of the middle paper-scale run (seconds): " + ", ".join(
            f"{k} {v:.2f}" for k, v in split.items() if v is not None))
        size = (tmp / "paper.npz").stat().st_size / 1e6
        rows.append(["paper-scale file", show(ours[0].cmd), f"{size:.2f} MB", "—", "—", "compact (≤ 20 MB)",
                     _met(size <= 20.0), f"{ours[0].load:.2f}"])
        peak = max(p.peak_bytes for p in ours) / 1e9
        rows.append(["paper-scale peak memory", show(ours[0].cmd), f"{peak:.2f} GB", "—", "—", "—", "—",
                     f"{ours[0].load:.2f}"])
        default = run(grokode_cmd(DEFAULT, tmp / "default.npz"), tmp)
        if default.code == 0:
            mb = (tmp / "default.npz").stat().st_size / 1e6
            rows.append(["default run's file", show(default.cmd), f"{mb:.2f} MB", "—", "—", "≤ 5 MB", _met(mb <= 5.0),
                         f"{default.load:.2f}"])
        if not args.no_large:
            for label, extra in LARGE.items():
                base = run(grokode_cmd(PAPER, tmp / "paper.npz"), tmp)  # the paper-scale run right before it
                big = run(grokode_cmd(extra, tmp / "big.npz"), tmp)
                if big.code != 0:
                    rows.append([label, show(big.cmd), "failed", "—", "—", "≤ 12×, ≤ 2 GB", "not met",
                                 f"{big.load:.2f}"])
                    notes.append(f"{label}: {big.stderr.strip().splitlines()[-1] if big.stderr.strip() else ''}")
                    continue
                ratio = big.wall / base.wall
                gb = big.peak_bytes / 1e9  # GB = 10⁹ bytes (the stricter reading of the goal)
                mb = (tmp / "big.npz").stat().st_size / 1e6
                s = big.json
                rows.append([f"{label}: time", show(big.cmd), f"{big.wall:.1f} s ({s['rhs_evals']} RHS, "
                             f"{s['jac_evals']} jac)", f"{base.wall:.1f} s (paper scale, just before)",
                             f"{ratio:.2f}×", "≤ 12×", _met(ratio <= 12.0), f"{base.load:.2f}, {big.load:.2f}"])
                rows.append([f"{label}: peak memory", show(big.cmd), f"{gb:.2f} GB", "—", "—", "≤ 2 GB",
                             _met(gb <= 2.0), f"{big.load:.2f}"])
                rows.append([f"{label}: file", show(big.cmd), f"{mb:.2f} MB", "—", "—", "compact (≤ 20 MB)",
                             _met(mb <= 20.0), f"{big.load:.2f}"])
                split = s.get("time_split") or {}
                notes.append(f"{label} time_split (seconds): " + ", ".join(
                    f"{k} {v:.2f}" for k, v in split.items() if v is not None))
    text = table(rows, notes)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


def _met(ok: bool) -> str:
    return "met" if ok else "not met"


def table(rows: list[list[str]], notes: list[str]) -> str:
    head = ["row", "command", "ours", "baseline", "ratio", "goal", "met", "load (1-min average at start)"]
    lines = [f"Machine: {machine()}; run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; the machine is shared "
             "(the load column is the 1-minute load average when each command started).", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    lines += [""] + [f"- {n}" for n in notes]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
