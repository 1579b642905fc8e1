"""The benchmark suite runs (its quick mode's smallest configuration); no timing is asserted."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


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
    for needle in ("grokode", "GD lr=0.01", "RK45", "LSODA, FD Jacobian", "numpy reduced", "diffrax Tsit5"):
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


def test_quick_case_5_issue16_rows(tmp_path):
    """Case 5 runs the real commands; its numbers agree with what they measured (file size, array shapes)."""
    out = tmp_path / "RESULTS.md"
    res = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run_all.py"), "--quick", "--cases", "5",
                          "--results", str(out)], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    text = out.read_text()
    assert "## Issue #16 rows" in text and "load average" in text
    rows = {r[1]: r for r in _rows(text) if r[0].startswith("5 ")}
    assert len(rows) == 11, list(rows)
    for r in rows.values():
        assert len(r) == 9 and r[7] in ("met", "**not met**", "—"), r
    run = rows["paper-scale integrate, whole CLI call"]
    assert run[2].startswith("`grokode integrate --n 64 --d 1000") and run[4] == "18.2 s (issue #16, before)"
    assert "status ok" in run[8] and run[7] == "—"  # quick size: the goal is not judged
    assert "numpy reduced flow" in rows["paper-scale integrate against the numpy reduced flow"][4]

    # the file-size row is the file's size: 302 saved times × (n = 64 states + metrics), not T × d
    size = rows["trajectory file (.npz the command writes)"]
    assert size[4].startswith("243 MB") and "here 2.42 MB" in size[4]  # 302 × 1000 × 8 bytes
    mb = float(size[3].split()[0])
    assert 0.01 < mb < 2.42
    w = rows["w rebuilt from the file (load_run, arrays['w'])"]
    assert "w (302 × 1000) read (stored in the file" in w[8] and w[7] == "met"  # small runs store w
    assert float(w[8].split("saved values by ")[1]) <= 1e-12

    for name in ("import grokode", "grokode --help"):
        r = rows[name]
        med, best = float(r[3].split()[1]), float(r[3].split()[4])
        assert 0 < best <= med and "python -c pass" in r[4] and r[6] == "≤ 0.5 s (median)"
        assert r[7] == ("met" if med <= 0.5 else "**not met**")
    derive = rows["derive, second call (cached)"]
    assert "same output both times: True" in derive[8]
    assert derive[7] == ("met" if float(derive[3].split()[0]) <= 1 else "**not met**")
    for name in ("first run after install (numba compilation)", "α = 1e12 against α = 1e3",
                 "matrix d = 97, whole CLI call", "default modular-addition run"):
        assert rows[name][3] == "not run (--quick)"
