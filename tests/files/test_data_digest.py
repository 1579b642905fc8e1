"""The data digest files record: its value for a known data set, and the same value when hashed on a worker thread."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest

from grokode.models import base
from grokode.models.base import data_digest, start_data_digest
from grokode.tasks import make_task


def _by_hand(data) -> str:
    """SHA-256 over (name, dtype and shape, bytes) of each array field, in field order: the recorded format."""
    h = hashlib.sha256()
    for name in ("X", "y", "X_test", "y_test", "teacher"):
        a = getattr(data, name)
        h.update(name.encode() + str(a.dtype).encode() + str(a.shape).encode() + a.tobytes())
    return h.hexdigest()


def test_digest_on_a_worker_thread_is_the_recorded_value():
    data = make_task("sparse", n=13, d=1037, n_test=9, seed=4)
    expected = _by_hand(data)
    assert data_digest(data) == expected
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
    assert data_digest(data) == "9cc856bc2db107d79e39c203604c2ecf7cbff42d58088e6699b856eaff727cec"
