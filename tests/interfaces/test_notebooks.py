"""The notebooks: each committed .ipynb matches its source, was executed, and runs in quick mode.

A notebook ends with explicit checks (asserts on numbers); executing it is the test. Quick mode
(GROKODE_QUICK=1) runs the same cells on smaller sizes.
"""

import importlib.util
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
SOURCES = sorted((NOTEBOOKS / "src").glob("*.py"))
_spec = importlib.util.spec_from_file_location("notebook_build", NOTEBOOKS / "build.py")
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)


def test_every_source_has_a_committed_notebook():
    assert len(SOURCES) >= 3
    for source in SOURCES:
        assert (NOTEBOOKS / f"{source.stem}.ipynb").is_file(), f"{source.stem}.ipynb: run notebooks/build.py"


@pytest.mark.parametrize("source", SOURCES, ids=[s.stem for s in SOURCES])
def test_notebook_matches_source_and_runs_in_quick_mode(source, capfd):
    committed = nbformat.read(NOTEBOOKS / f"{source.stem}.ipynb", as_version=4)
    fresh = build.notebook_from_source(source)
    assert [(c.cell_type, c.source) for c in committed.cells] == [(c.cell_type, c.source) for c in fresh.cells], (
        f"{source.stem}.ipynb is stale: run python notebooks/build.py {source.stem[:2]}")
    code = [c for c in committed.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), f"{source.stem}.ipynb was committed unexecuted"
    build.execute(fresh, quick=True, timeout=600)  # raises CellExecutionError on any error or failed assert
    assert "without encryption" not in capfd.readouterr().err  # the kernel is reached over IPC, not plain TCP


def test_running_a_notebook_leaves_the_committed_one_alone(tmp_path, monkeypatch):
    """Without --write the executed notebook goes to build/notebooks/; --write replaces the committed file."""
    executed = []
    monkeypatch.setattr(build, "execute", lambda nb, quick: executed.append(quick) or nb)
    monkeypatch.setattr(build, "OUT", tmp_path / "build" / "notebooks")
    monkeypatch.setattr(build, "HERE", tmp_path / "notebooks")
    (tmp_path / "notebooks").mkdir()
    stem = SOURCES[0].stem
    committed = tmp_path / "notebooks" / f"{stem}.ipynb"
    committed.write_text("committed")
    assert build.main([stem[:2]]) == 0 and build.main([stem[:2], "--quick"]) == 0
    assert committed.read_text() == "committed"
    assert sorted(p.name for p in build.OUT.iterdir()) == [f"{stem}.ipynb", f"{stem}.quick.ipynb"]
    assert build.main([stem[:2], "--write"]) == 0
    assert [c.source for c in nbformat.read(committed, as_version=4).cells] == [
        c.source for c in build.notebook_from_source(SOURCES[0]).cells]
    assert executed == [False, True, False]
    assert build.main([stem[:2], "--write", "--quick"]) == 2  # the committed notebooks are full size
    assert build.main(["99"]) == 2
