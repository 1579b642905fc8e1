"""The benchmark suite runs (its quick mode's smallest configuration); no timing is asserted."""

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _rows(markdown: str) -> list[list[str]]:
    lines = [ln for ln in markdown.splitlines() if ln.startswith("| ") and not ln.startswith("| case")]
    return [[c.strip() for c in ln.strip("|").split(" | ")] for ln in lines]


def test_quick_case_1_and_matrix_placeholder(tmp_path):
    out = tmp_path / "RESULTS.md"
    res = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run_all.py"), "--quick", "--cases", "1,3",
                          "--budget", "2", "--results", str(out)], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    text = out.read_text()
    assert "machine:" in text and "versions:" in text and "--quick --cases 1,3" in text
    rows = _rows(text)
    methods = [r[1] for r in rows if r[0].startswith("1 ")]
    for needle in ("grokode", "GD lr=0.01", "RK45", "LSODA, FD Jacobian", "numpy reduced", "diffrax"):
        assert any(needle in m for m in methods), (needle, methods)
    for r in rows:
        if r[0].startswith("1 ") and r[5] != "—":  # a baseline that finished agrees with ours at the horizon
            assert float(r[5]) < 1e-3, r
    gd = next(r for r in rows if r[1].startswith("GD"))
    assert "(extrapolated)" in gd[2] and gd[3] == "1,881,552 grad"  # ⌈(2 ln 1e3 + 5)/1e-3 / 0.01⌉ steps
    matrix = [r for r in rows if r[0].startswith("3 ")]
    assert len(matrix) == 2
    if importlib.util.find_spec("grokode.numeric.matrix") is None:
        assert all(r[-1] == "not available: matrix model not installed" for r in matrix)
    assert "baseline/ours" in res.stdout  # the same table on stdout
