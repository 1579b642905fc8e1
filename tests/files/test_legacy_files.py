"""Trajectory files written by earlier releases still load, analyse and plot.

``tests/files/legacy/<version>/`` holds small files written by that release of grokode (its own code, from the
command line or the API; the commands are in ``legacy/README.md``). A file keeps the version that wrote it in
``meta["grokode_version"]``. The references are what those versions computed and stored: the theorem check's
cosines in the summary, and (0.3.0's compact file) w at three saved times taken from the run in memory before it
was written, which the reader now rebuilds from the stored reduced states.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import grokode
from grokode.analysis.analyze import analyze

LEGACY = Path(__file__).parent / "legacy"
FILES = sorted(LEGACY.glob("*/*.npz"))


def _id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def test_there_are_files_of_each_earlier_release():
    assert {p.parent.name for p in FILES} == {"0.2.0", "0.3.0"}
    assert len(FILES) >= 10


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_an_earlier_file_loads_plots_and_prints_strict_json(path, tmp_path):
    run = grokode.load_run(path)
    assert run.meta["grokode_version"] == path.parent.name
    t = np.asarray(run.arrays["t"])
    assert t.size > 2 and np.all(np.diff(t) > 0)
    assert run.status == "ok"
    run.plot(tmp_path / "run.png")
    assert (tmp_path / "run.png").stat().st_size > 0
    fig = run.plot()
    assert len([ax for ax in fig.axes if ax.get_lines()]) >= 2  # a metric panel and the norm panel, at least
    summary = json.loads(run.to_json())
    assert summary["status"] == "ok"


WITH_THEOREM_CHECK = [p for p in FILES if "cos_kernel" in np.load(p).files and "lam0" not in p.name]


@pytest.mark.parametrize("path", WITH_THEOREM_CHECK, ids=_id)
def test_analysing_an_earlier_file_reproduces_its_theorem_check(path):
    """The run computed the cosines at T∓ on the dense output; from the file they are interpolated between saved
    rows, which are coarse here (25 log-spaced times before t = 60), hence the tolerance."""
    run = grokode.load_run(path)
    again = analyze(run.arrays, run.meta)
    for key in ("cos_kernel_at_Tminus", "cos_rich_at_Tminus", "cos_kernel_at_Tplus", "cos_rich_at_Tplus"):
        stored = run.summary[key]
        assert stored is not None
        assert abs(getattr(again, key) - stored) < 2e-2, key


def test_a_compact_file_of_0_3_0_rebuilds_the_w_of_its_run():
    run = grokode.load_run(LEGACY / "0.3.0" / "diagonal-compact.npz")
    assert "w" in run.derived
    rebuilt = np.asarray(run.arrays["w"])[[0, 100, -1]]
    during_run = np.load(LEGACY / "0.3.0" / "diagonal-compact-w.npy")
    assert rebuilt.shape == during_run.shape
    assert np.linalg.norm(rebuilt - during_run) <= 1e-12 * np.linalg.norm(during_run)
