"""The data digest files record: its value for a known data set, and the same value when hashed on a worker thread."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest

from grokode.models import base
from grokode.models.base import data_digest, full_data_digest, same_data, start_data_digest
from grokode.tasks import Dataset, make_task


def _by_hand(data) -> str:
    """SHA-256 over (name, dtype and shape, bytes) of each array field, in field order: the recorded format."""
    h = hashlib.sha256()
    for name in ("X", "y", "X_test", "y_test", "teacher"):
        a = getattr(data, name)
        h.update(name.encode() + str(a.dtype).encode() + str(a.shape).encode() + a.tobytes())
    return h.hexdigest()


def _training_by_hand(data) -> str:
    """SHA-256 over the bytes of X, then of y: how a generated task whose test set waits until read is recorded."""
    return hashlib.sha256(data.X.tobytes() + data.y.tobytes()).hexdigest()


def test_digest_on_a_worker_thread_is_the_recorded_value():
    data = make_task("sparse", n=13, d=1037, n_test=9, seed=4)
    expected = _training_by_hand(data)
    assert data_digest(data) == expected and not data.test_drawn  # the digest does not draw the test set
    start_data_digest(data)
    start_data_digest(data)  # started once
    assert data in base._PENDING_DIGESTS
    assert data_digest(data) == expected
    assert data not in base._PENDING_DIGESTS  # taken: a later call hashes again (same value)
    assert data_digest(data) == expected


def test_a_failed_background_digest_raises_where_it_is_read(monkeypatch):
    data = make_task("sparse", n=3, d=5, n_test=0, seed=1)

    def broken(_):
        raise MemoryError("no room")

    monkeypatch.setattr(base, "_digest", broken)
    start_data_digest(data)
    with pytest.raises(MemoryError, match="no room"):
        data_digest(data)


def test_unhashable_data_sets_are_hashed_when_asked():
    @dataclasses.dataclass  # eq=True: no __hash__, so it cannot be a key of the pending digests
    class Data:
        X: np.ndarray

    data = Data(np.arange(4.0))
    start_data_digest(data)
    assert data_digest(data) == base._digest(data) is not None
    assert data_digest(None) is None and data_digest(object()) is None


def test_a_seed_draws_the_data_set_compact_files_were_checked_against():
    """Files store only the states and this digest: the data set of a seed (numpy's PCG64 stream, its bits unpacked
    most significant first) must stay the one these values were recorded from."""
    data = make_task("sparse", n=13, d=1037, n_test=9, seed=4)
    assert data_digest(data) == "318f34e65ad2a52a7208fe0224f549b7b2ea2cccf2384dd740e927aee3093f42"
    # the value files of earlier versions recorded, over the test set too (drawn when read): the same arrays
    assert full_data_digest(data) == _by_hand(data) == (
        "9cc856bc2db107d79e39c203604c2ecf7cbff42d58088e6699b856eaff727cec")
    assert data_digest(data) == "318f34e65ad2a52a7208fe0224f549b7b2ea2cccf2384dd740e927aee3093f42"  # not changed
    assert same_data("9cc856bc2db107d79e39c203604c2ecf7cbff42d58088e6699b856eaff727cec", data)
    assert same_data(None, data) and not same_data("0" * 64, data)


def test_data_read_from_a_file_is_identified_with_its_test_set():
    """A --data file's test set is its own, not drawn from a seed: the digest covers it (and equals the full one)."""
    drawn = make_task("sparse", n=13, d=1037, n_test=9, seed=4)
    data = Dataset(drawn.X, drawn.y, drawn.X_test, drawn.y_test, kind="classification", name="data:x")
    assert data.test_drawn and data_digest(data) == full_data_digest(data) != _training_by_hand(data)


def test_a_file_of_0_3_0_whose_digest_covers_its_test_set_still_resumes(tmp_path):
    """grokode 0.3.0 recorded the digest over the test set too; the run it continues identifies its data by the
    training set: the resume compares the file's value with both and continues (the test set drawn to check it)."""
    import json
    import shutil
    from pathlib import Path

    import grokode

    legacy = Path(__file__).parent / "legacy" / "0.3.0" / "diagonal.npz"
    path = tmp_path / "old.npz"
    shutil.copyfile(legacy, path)
    with np.load(path) as z:
        meta = json.loads(str(z["meta"]))
    data = make_task("sparse", n=meta["options"]["n"], d=meta["options"]["d"], n_test=meta["options"]["n_test"],
                     seed=meta["options"]["seed"])
    assert meta["run"]["data_sha256"] == full_data_digest(data) != data_digest(data)
    longer = grokode.resume(path, t_end=400.0, out=tmp_path / "longer.npz")
    assert longer.status == "ok" and float(longer.arrays["t"][-1]) == pytest.approx(400.0)
    with pytest.raises(grokode.InputError, match="differs from the one the saved run was integrated on"):
        meta["run"]["data_sha256"] = "0" * 64
        bad = tmp_path / "bad.npz"
        with np.load(path) as z:
            np.savez(bad, **{**{k: z[k] for k in z.files}, "meta": np.array(json.dumps(meta))})
        grokode.resume(bad, t_end=400.0, out=tmp_path / "bad-longer.npz")
