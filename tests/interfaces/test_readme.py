"""The README's Python example runs as written and prints what the README says."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) == 1
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)  # noqa: S102 - the repository's own README
    status, t_transition = capsys.readouterr().out.split()
    assert status == "ok" and float(t_transition) == pytest.approx(4411.08, abs=0.01)  # the worked example's t*
    assert (tmp_path / "run.npz").stat().st_size > 0 and (tmp_path / "run.pdf").stat().st_size > 0
    from matplotlib.figure import Figure

    assert namespace["mine"].status == "ok" and isinstance(namespace["figure"], Figure)
