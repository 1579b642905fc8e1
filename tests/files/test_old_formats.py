"""Files written before declarations were recorded (format 1: grokode 0.2.0 and 0.3.0) still load, validate,
analyse and plot.

The files legacy/<version>/api-*.npz were written by grokode 0.2.0 and 0.3.0 (small diagonal, matrix and mlp
runs: ``integrate(model="diagonal", n=16, d=24, alpha=100, lam=0.05)``, ``(model="matrix", d=6, alpha=10,
lam=0.05)``, ``(model="mlp", p=5, width=8)``). Their meta has no ``format`` and no ``observables``: the registered
model's declaration, built from the recorded options, stands in.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

import grokode
from grokode.models import get_model
from grokode.observables import FILE_FORMAT, PREDICTOR_ONLY_FORMAT
from grokode.result import npz_bytes

LEGACY = Path(__file__).parent / "legacy"
DATA = LEGACY / "0.3.0"
VERSIONS = {"0.2.0": LEGACY / "0.2.0", "0.3.0": DATA}


@pytest.mark.parametrize("version", sorted(VERSIONS))
@pytest.mark.parametrize("name", ["diagonal", "matrix", "mlp"])
def test_a_format_1_file_takes_its_models_declaration(name, version, tmp_path):
    path = VERSIONS[version] / f"api-{name}.npz"
    with np.load(path) as z:
        raw = json.loads(str(z["meta"]))
    assert "format" not in raw and "observables" not in raw and raw["grokode_version"] == version
    run = grokode.load_run(path)
    assert run.observables == get_model(name).declare(raw["options"])
    assert isinstance(run.plot(), Figure)
    if run.observables.alignment is not None:
        report = grokode.analyze(run.arrays, run.meta)
        assert report.measure == run.observables.alignment
        assert report.t_transition == raw["summary"]["t_transition"]
    again = grokode.load_run(run.save(tmp_path / "again.npz"))
    with np.load(tmp_path / "again.npz") as z:
        assert json.loads(str(z["meta"]))["format"] == PREDICTOR_ONLY_FORMAT  # nothing left out: the older format
    assert again.observables == run.observables
    for key, value in run.arrays.items():
        assert np.array_equal(again.arrays[key], value), key


def test_a_file_of_an_unknown_format_is_refused(tmp_path):
    run = grokode.load_run(DATA / "api-mlp.npz")
    run.meta["format"] = FILE_FORMAT + 1
    path = tmp_path / "future.npz"
    path.write_bytes(npz_bytes(dict(run.arrays), run.meta))
    with pytest.raises(grokode.InputError, match=f"file format {FILE_FORMAT + 1}"):
        grokode.load_run(path)


def test_a_format_1_run_is_continued_from_its_declared_rows(tmp_path):
    old = grokode.load_run(DATA / "api-diagonal.npz")
    t_end = 1.5 * float(old.arrays["t"][-1])
    longer = grokode.resume(DATA / "api-diagonal.npz", t_end=t_end, out=tmp_path / "longer.npz")
    assert str(longer.status) == "ok" and longer.arrays["t"][-1] == pytest.approx(t_end)
    rows = old.arrays["t"].size
    assert np.array_equal(longer.arrays["w"][:rows], old.arrays["w"])  # the saved rows come first, unchanged
    assert longer.meta["format"] == FILE_FORMAT
