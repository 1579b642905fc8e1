"""The benchmark suite runs (its quick mode's smallest configuration); no timing is asserted."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _rows(markdown: str) -> list[list[str]]:
    lines = [ln for ln in markdown.splitlines() if ln.startswith("| ") and not ln.startswith("| case")]
    return [[c.strip() for c in ln.strip("|").split(" | ")] for ln in lines]


def test_quick_cases_1_and_3(tmp_path):
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

    for d in (10, 20):  # case 3, quick sizes
        matrix = [r for r in rows if r[0] == f"3 matrix d={d} α=1e3"]
        assert [r[1].split(" ")[0] for r in matrix] == ["grokode.integrate", "GD", "solve_ivp", "solve_ivp",
                                                       "solve_ivp", "grokode", "RKC"], matrix
        assert "status ok" in matrix[0][-1]
        gd = matrix[1]
        lr = float(gd[1].split("lr=")[1].split(" ")[0])
        limit = float(gd[-1].split("2/ρ(0) = ")[1].split(";")[0])
        # lr 0.1 diverges at α = 1e3; the rate used is stable, within 5 % of the linear stability limit
        assert "(extrapolated)" in gd[2] and "lr 0.1 diverges" in gd[-1] and 0.95 * limit <= lr <= limit
        for r in matrix[2:]:
            if r[5] != "—":  # a method that finished agrees with ours on the final W
                assert float(r[5]) < 1e-4, r
        assert matrix[-1][5] != "—"  # the tight-tolerance reference always finishes
    assert "baseline/ours" in res.stdout  # the same table on stdout
