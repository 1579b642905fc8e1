"""The --phi degree is bounded on the parse tree, before sympy expands anything.

A short formula of huge total degree (nested powers, repeated products) would otherwise make sympy's expansion run
for minutes and grow past gigabytes in ``integrate`` and ``derive``. The bound must never be below the true degree
(checked against sympy's own total degree on formulas that pass).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time

import pytest
import sympy as sp

from grokode.analytic.formula import MAX_DEGREE, parse_phi
from grokode.errors import InputError

HUGE = ["((((((a+b)**8)**8)**8)**8)**8)**8", "(a**8)**8", "((a+b)**2)**5", "(a+b)**8*(a+b)**8*(a+b)**8*(a+b)**8",
        "a*b*(a+b)**7", "(-(a+b)**8)**8", "abs((a+b)**8)**2", "((a+b)**8/3)**8", "(a**2+b)**8"]


@pytest.mark.parametrize("phi", HUGE)
def test_a_formula_of_huge_degree_is_refused_at_once(phi):
    start = time.perf_counter()
    with pytest.raises(InputError, match=rf"total degree can reach \d+ \(at most {MAX_DEGREE}\)"):
        parse_phi(phi)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("command", ["derive", "integrate"])
def test_the_commands_refuse_it_within_a_memory_limit(command, tmp_path):
    """In a process limited to 3 GB of address space (the expansion grew past it in 20 s): one line, exit 2."""
    args = ["separable", "--phi", HUGE[0], "--init", "a=1, b=-1"] if command == "derive" else [
        "--model", "separable", "--phi", HUGE[0], "--init", "a=1, b=-1", "--no-plot"]

    def limit():  # pragma: no cover - in the child
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))

    res = subprocess.run([sys.executable, "-m", "grokode", command, *args], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120, preexec_fn=limit,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
    assert res.stderr.startswith("grokode: error: phi '((((((a+b)**8)**8)**8)**8)**8)**8': its total degree can "
                                 "reach 64")
    assert list(tmp_path.iterdir()) == []


ACCEPTED = ["a*b", "a**2*b - b**3", "(a+b)**4 - (a-b)**4", "((a*b)**2)**2", "(a+b)**3*(a-b)**5", "abs(a)*b",
            "-(a*b*c)", "(a+b+c)**2*(a-c)**2/7", "a**8", "((a+b)**2)**2*(a-b)**2*a*b"]


@pytest.mark.parametrize("phi", ACCEPTED)
def test_the_bound_holds_and_passes_every_formula_of_degree_at_most_8(phi):
    expr, params = parse_phi(phi)
    true_degree = sp.Poly(sp.expand(expr.replace(sp.Abs, lambda z: z)), *params).total_degree()
    assert 2 <= true_degree <= MAX_DEGREE
