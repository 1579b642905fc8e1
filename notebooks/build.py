"""Build the notebooks from their sources and execute them.

Each notebook is written as a percent-format script in ``notebooks/src/`` (``# %%`` starts a code cell,
``# %% [markdown]`` a markdown cell whose lines are ``# ``-prefixed), so that diffs are readable and the
code is ruff-checked. This script turns each source into a notebook and executes it. By default the
executed notebook goes to ``build/notebooks/`` (git-ignored) and the repository stays as it was; only
``--write`` replaces the committed ``notebooks/NAME.ipynb`` (outputs and figures saved, so that the
notebooks read well on a repository page and in the documentation, which shows them without re-executing).

    python notebooks/build.py 01              # full size, into build/notebooks/
    python notebooks/build.py --quick         # GROKODE_QUICK=1: the same cells on small sizes (what CI runs)
    python notebooks/build.py 01 --write      # full size, then rewrite notebooks/01_….ipynb (what is committed)

``tests/interfaces/test_notebooks.py`` checks that each committed notebook's cells equal its source and re-executes
it in quick mode.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from traitlets.config import Config

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "src"
OUT = HERE.parent / "build" / "notebooks"


def parse_cells(text: str) -> list[nbformat.NotebookNode]:
    """Cells of a percent-format script."""
    cells, kind, lines = [], None, []

    def flush() -> None:
        body = "\n".join(lines).strip("\n")
        if kind == "markdown":
            body = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in body.splitlines())
            cells.append(nbformat.v4.new_markdown_cell(body))
        elif kind == "code" and body.strip():
            cells.append(nbformat.v4.new_code_cell(body))

    for line in text.splitlines():
        if line.startswith("# %%"):
            flush()
            kind, lines = ("markdown" if "[markdown]" in line else "code"), []
        elif kind is not None:
            lines.append(line)
    flush()
    return cells


def notebook_from_source(source: Path) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = parse_cells(source.read_text())
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def execute(nb: nbformat.NotebookNode, quick: bool, timeout: int = 3600) -> nbformat.NotebookNode:
    """Run every cell in a fresh kernel started in ``notebooks/`` (GROKODE_QUICK set when ``quick``).

    The kernel inherits this process's environment: figures go to the inline backend (so they are saved
    in the notebook), whatever MPLBACKEND the caller has. It talks to this process over local IPC sockets
    (files in a private temporary directory), not over TCP, which ipykernel warns is unencrypted.
    Cells get no timing metadata, so that a rebuilt notebook differs from the committed one only where
    its outputs do.
    """
    saved = {key: os.environ.get(key) for key in ("GROKODE_QUICK", "MPLBACKEND")}
    os.environ["GROKODE_QUICK"] = "1" if quick else "0"
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    try:
        # the socket files' prefix is absolute: the kernel runs in notebooks/, not in the caller's directory
        with tempfile.TemporaryDirectory(prefix="grokode-kernel-") as sockets:
            ipc = Config({"KernelManager": {"transport": "ipc", "ip": str(Path(sockets) / "kernel")}})
            client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False, config=ipc,
                                    resources={"metadata": {"path": str(HERE)}})
            client.execute()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="notebook number or name prefix (default: all)")
    parser.add_argument("--quick", action="store_true", help="small sizes (GROKODE_QUICK=1)")
    parser.add_argument("--write", action="store_true",
                        help="rewrite the committed notebooks/NAME.ipynb (full size only); "
                             "without it the executed notebook goes to build/notebooks/")
    args = parser.parse_args(argv)
    if args.write and args.quick:
        print("--write rewrites the committed notebooks, which are executed at full size: not with --quick",
              file=sys.stderr)
        return 2
    sources = sorted(SOURCES.glob("*.py"))
    if args.names:
        sources = [s for s in sources if any(s.stem.startswith(n) for n in args.names)]
    if not sources:
        print(f"no notebook source matches {args.names}", file=sys.stderr)
        return 2
    for source in sources:
        t0 = time.perf_counter()
        nb = execute(notebook_from_source(source), args.quick)
        if args.write:
            path = HERE / f"{source.stem}.ipynb"
        else:
            OUT.mkdir(parents=True, exist_ok=True)
            path = OUT / f"{source.stem}{'.quick' if args.quick else ''}.ipynb"
        nbformat.write(nb, path)
        print(f"{source.stem}: executed in {time.perf_counter() - t0:.1f} s{' (quick)' if args.quick else ''}"
              f" -> {path.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
