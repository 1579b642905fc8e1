"""The test-set metrics of a run that keeps its reduced states: computed when first read, left out of a file saved
before that and rebuilt when it is read.

References: ``empirical_metrics`` of the data set regenerated from the seed (or read from the data file) on the
materialized w, to the last bit; a run that computes them at once (w as an array) for the transition.
"""

import json

import numpy as np
import pytest
from helpers import stop_after

import grokode
from grokode.models import linear
from grokode.numeric import lazy_weights
from grokode.numeric.diagonal import ReducedDiagonalFlow
from grokode.numeric.integrate import integrate_flow
from grokode.result import npz_bytes
from grokode.tasks import make_task
from grokode.tasks.metrics import empirical_metrics, streamed_metrics, streamed_test_metrics

SMALL = dict(task="sparse", n=24, d=300, n_test=60, alpha=100.0, lam=0.02, seed=2)


@pytest.fixture
def compact(monkeypatch):
    """Runs keep their states (w computed when read) and save them instead of w, as for T·d above 5e5."""
    monkeypatch.setattr(lazy_weights, "LAZY_FROM", 0)
    monkeypatch.setattr(linear, "COMPACT_FROM", 0)


def stored_keys(path):
    with np.load(path) as z:
        return set(z.files), json.loads(str(z["meta"]))


def reference(W, options=SMALL, loss="logistic"):
    ds = make_task(options["task"], n=options["n"], d=options["d"], n_test=options["n_test"], seed=options["seed"])
    return empirical_metrics(ds.X_test, ds.y_test, np.asarray(W), loss)


def test_the_test_metrics_wait_until_read_and_a_file_saved_before_rebuilds_them(compact, tmp_path):
    run = grokode.integrate(**SMALL)
    assert isinstance(run.arrays["w"], lazy_weights.LazyWeights) and run.derived == ("w",)
    assert run.arrays.pending == ["test_acc", "test_loss"]
    assert "test_acc" in run.arrays and "test_loss" in run.arrays and "test_acc" in sorted(run.arrays)
    before = run.save(tmp_path / "before.npz")
    keys, meta = stored_keys(before)
    assert not keys & {"w", "test_acc", "test_loss"} and "state" in keys
    assert meta["format"] == 3 and meta["trajectory"]["derived"] == ["w", "test_acc", "test_loss"]

    loss, acc = reference(run.arrays["w"])
    np.testing.assert_array_equal(run.arrays["test_acc"], acc)
    assert run.arrays.pending == []  # one pass computed both
    np.testing.assert_array_equal(run.arrays["test_loss"], loss)

    after = run.save(tmp_path / "after.npz")
    keys, meta = stored_keys(after)
    assert {"test_acc", "test_loss"} <= keys and "w" not in keys
    assert meta["format"] == 2 and meta["trajectory"]["derived"] == ["w"]
    back = grokode.load_run(after)
    assert back.arrays.pending == ["w"]
    np.testing.assert_array_equal(back.arrays["test_acc"], acc)

    loaded = grokode.load_run(before)
    assert loaded.arrays.pending == ["test_acc", "test_loss", "w"] and loaded.derived == ("w",)
    np.testing.assert_array_equal(loaded.arrays["test_loss"], loss)  # w is rebuilt with them, from one data set
    assert loaded.arrays.pending == []
    np.testing.assert_array_equal(loaded.arrays["test_acc"], acc)
    np.testing.assert_array_equal(loaded.arrays["w"], np.asarray(run.arrays["w"]))
    again = loaded.save(tmp_path / "again.npz")  # read, then saved: stored
    keys, meta = stored_keys(again)
    assert {"test_acc", "test_loss"} <= keys and meta["trajectory"]["derived"] == ["w"]


def test_a_loaded_file_whose_metrics_are_read_after_w_regenerates_the_same_test_set(compact, tmp_path):
    run = grokode.integrate(**SMALL, out=tmp_path / "r.npz")
    assert stored_keys(tmp_path / "r.npz")[1]["format"] == 3
    loaded = grokode.load_run(tmp_path / "r.npz")
    W = loaded.arrays["w"]
    assert loaded.arrays.pending == ["test_acc", "test_loss"]
    loss, acc = reference(W)
    np.testing.assert_array_equal(loaded.arrays["test_acc"], acc)
    np.testing.assert_array_equal(loaded.arrays["test_loss"], loss)
    np.testing.assert_array_equal(run.arrays["test_loss"], loss)


def test_xarray_and_the_figure_read_the_pending_metrics(compact, tmp_path):
    run = grokode.integrate(**SMALL, out=tmp_path / "r.npz")
    loss, acc = reference(run.arrays["w"])
    ds = run.to_xarray()
    np.testing.assert_array_equal(ds["test_acc"].values, acc)
    loaded = grokode.load_run(tmp_path / "r.npz")
    back = loaded.to_xarray()
    np.testing.assert_array_equal(back["test_loss"].values, loss)
    np.testing.assert_array_equal(back["w"].values, np.asarray(run.arrays["w"]))
    fresh = grokode.load_run(tmp_path / "r.npz")
    fig = fresh.plot()
    assert "test_acc" not in fresh.arrays.pending  # the figure drew the test-set curve
    curves = [line.get_ydata() for ax in fig.axes for line in ax.get_lines()]
    assert any(len(y) == len(acc) and np.array_equal(y, acc) for y in curves)


def test_the_same_blocks_and_products_as_the_one_pass(monkeypatch):
    """Read in blocks of rows (w not kept), ±1 data multiplied from their sign bits: the separate pass, on the
    LazyWeights or on the array it stands for, gives the one pass's numbers."""
    ds = make_task("sparse", n=16, d=300, n_test=40, seed=0)
    monkeypatch.setattr(lazy_weights, "LAZY_FROM", 0)
    sol = integrate_flow(ReducedDiagonalFlow(ds.X, ds.y, alpha=10.0, lam=0.05), np.geomspace(1e-3, 60.0, 40))
    W = sol.weights
    monkeypatch.setattr(lazy_weights, "BLOCK_BYTES", 7 * 8 * 300)  # blocks of 7 rows
    assert W.block_rows() == 7
    one_pass, _ = streamed_metrics(ds, W, "logistic", "classification")
    separate = streamed_test_metrics(ds, W, "logistic", "classification")  # before np.asarray keeps the whole w
    for found in (separate, streamed_test_metrics(ds, np.asarray(W), "logistic", "classification")):
        assert sorted(found) == ["test_acc", "test_loss"]
        for key, value in found.items():
            np.testing.assert_array_equal(value, one_pass[key])
    loss, acc = empirical_metrics(ds.X_test, ds.y_test, np.asarray(W), "logistic")
    np.testing.assert_allclose(one_pass["test_loss"], loss, rtol=1e-12)


def test_a_run_read_in_blocks_computes_them_in_a_second_pass_as_the_first_would(compact, monkeypatch, tmp_path):
    """w is never kept: the test metrics, read later, come from a second pass over the same blocks of rows, with the
    same products, so they equal those of a run that computes them in its one pass (its own --t-eval: not compact)."""
    monkeypatch.setattr(lazy_weights, "BLOCK_BYTES", 7 * 8 * 300)  # blocks of 7 rows
    run = grokode.integrate(**SMALL, out=tmp_path / "r.npz")
    assert run.arrays.pending == ["test_acc", "test_loss"] and "test_acc" not in stored_keys(tmp_path / "r.npz")[0]
    W = run.arrays["w"]
    rows_seconds = W.seconds
    one_pass = grokode.integrate(**SMALL, t_eval=np.asarray(run.arrays["t"]))
    assert one_pass.arrays.pending == []
    for key in ("test_acc", "test_loss"):
        np.testing.assert_array_equal(run.arrays[key], one_pass.arrays[key])
    assert W.seconds > rows_seconds and W._full is None  # a second pass computed the rows again; nothing kept
    loss, acc = reference(W)
    np.testing.assert_allclose(run.arrays["test_loss"], loss, rtol=1e-12)
    np.testing.assert_array_equal(run.arrays["test_acc"], acc)


@pytest.mark.parametrize("loss", ["logistic", "squared"])
def test_a_task_without_a_population_metric_transitions_as_before(loss, compact, monkeypatch, tmp_path):
    """A --data file has no population metric: the transition reads the test set's, computed for it."""
    ds = make_task("sparse", n=24, d=300, n_test=60, seed=2)
    data = tmp_path / "data.npz"
    np.savez(data, X=ds.X.astype(np.float64), y=ds.y, X_test=ds.X_test.astype(np.float64), y_test=ds.y_test)
    options = dict(data=str(data), alpha=100.0, lam=0.02, loss=loss)
    run = grokode.integrate(**options, out=tmp_path / "r.npz")
    metric = "test_loss" if loss == "squared" else "test_acc"
    assert run.summary["transition_metric"] == ("log10_test_loss" if loss == "squared" else "test_acc")
    assert run.arrays.pending == [] and metric in stored_keys(tmp_path / "r.npz")[0]
    monkeypatch.setattr(lazy_weights, "LAZY_FROM", 10**18)  # w as an array: every metric computed at once
    eager = grokode.integrate(**options)
    assert not isinstance(eager.arrays["w"], lazy_weights.LazyWeights)
    np.testing.assert_array_equal(run.arrays[metric], eager.arrays[metric])
    for key in ("t_transition", "transition_width", "test_plateau", "test_final", "regime"):
        assert run.summary[key] == eager.summary[key], key


def test_regression_defers_its_test_loss(compact, tmp_path):
    options = dict(SMALL, task="sparse-regression")
    run = grokode.integrate(**options, out=tmp_path / "r.npz")
    assert run.arrays.pending == ["test_loss"] and "test_acc" not in run.arrays
    assert stored_keys(tmp_path / "r.npz")[1]["trajectory"]["derived"] == ["w", "test_loss"]
    ds = make_task("sparse-regression", n=24, d=300, n_test=60, seed=2)
    loss, _ = empirical_metrics(ds.X_test, ds.y_test, np.asarray(run.arrays["w"]), "squared")
    np.testing.assert_array_equal(grokode.load_run(tmp_path / "r.npz").arrays["test_loss"], loss)


def test_a_file_that_leaves_out_what_its_model_does_not_rebuild_is_refused(compact, tmp_path):
    grokode.integrate(**SMALL, out=tmp_path / "r.npz")
    with np.load(tmp_path / "r.npz") as z:
        arrays = {k: z[k] for k in z.files if k not in ("meta", "train_acc")}
        meta = json.loads(str(z["meta"]))
    meta["trajectory"]["derived"].append("train_acc")
    path = tmp_path / "bad.npz"
    path.write_bytes(npz_bytes(arrays, meta))
    with pytest.raises(grokode.InputError, match="its meta 'trajectory' is not one grokode writes"):
        grokode.load_run(path)


def test_a_stopped_compact_run_continues_with_its_test_metrics(compact, monkeypatch, tmp_path):
    import grokode.interrupts as interrupts

    straight = grokode.integrate(**SMALL)
    stop_after(monkeypatch, 0.6 * straight.meta["solver"]["steps"])  # at 60 % of the straight run's steps
    path = tmp_path / "stopped.npz"
    stopped = grokode.integrate(**SMALL, out=path)
    monkeypatch.setattr(interrupts, "requested", lambda: False)
    assert str(stopped.status) == "interrupted"
    assert stored_keys(path)[1]["trajectory"]["derived"] == ["w", "test_acc", "test_loss"]
    old = grokode.load_run(path)
    rows = int(np.searchsorted(old.arrays["t"], old.meta["run"]["resume_point"]["t"], side="right"))
    resumed = grokode.resume(path)
    assert np.array_equal(resumed.arrays["t"], straight.arrays["t"])
    loss, acc = reference(resumed.arrays["w"])
    np.testing.assert_array_equal(resumed.arrays["test_acc"], acc)
    np.testing.assert_array_equal(resumed.arrays["test_loss"], loss)
    np.testing.assert_array_equal(resumed.arrays["test_acc"][:rows], old.arrays["test_acc"][:rows])
    np.testing.assert_allclose(resumed.arrays["test_loss"][:rows], old.arrays["test_loss"][:rows], rtol=1e-13)
    np.testing.assert_allclose(resumed.arrays["test_loss"], straight.arrays["test_loss"], rtol=1e-5)
    again = grokode.load_run(path)  # the resumed run extended the file
    np.testing.assert_array_equal(again.arrays["test_acc"], resumed.arrays["test_acc"])


def test_a_small_run_is_unchanged(tmp_path):
    run = grokode.integrate(**SMALL, out=tmp_path / "r.npz")
    assert isinstance(run.arrays["w"], np.ndarray) and run.arrays.pending == [] and run.derived == ()
    keys, meta = stored_keys(tmp_path / "r.npz")
    assert {"w", "test_acc", "test_loss"} <= keys and meta["format"] == 2 and "trajectory" not in meta


def test_a_plotted_run_computes_its_test_metrics_before_writing_its_file(compact, tmp_path):
    run = grokode.integrate(**SMALL, out=tmp_path / "run.npz", plot=tmp_path / "run.png")
    keys, meta = stored_keys(tmp_path / "run.npz")
    assert {"test_acc", "test_loss"} <= keys and meta["trajectory"]["derived"] == ["w"]
    loss, acc = reference(run.arrays["w"])
    with np.load(tmp_path / "run.npz") as z:
        np.testing.assert_array_equal(z["test_acc"], acc)
        np.testing.assert_array_equal(z["test_loss"], loss)


def test_a_run_that_never_reads_its_test_set_never_draws_it(compact, tmp_path):
    """The test set is drawn when first read (the metrics above), from its own stream: the same arrays as a data set
    that draws it at once (the file's digest covers the training set, which determines the test set's seed)."""
    run = grokode.integrate(**SMALL, out=tmp_path / "r.npz")
    assert not run.dataset.test_drawn and run.dataset.n_test == SMALL["n_test"]
    loss, acc = reference(run.arrays["w"])  # a data set made again, its test set read at once
    np.testing.assert_array_equal(run.arrays["test_acc"], acc)
    assert run.dataset.test_drawn
    again = make_task("sparse", n=24, d=300, n_test=60, seed=2)
    np.testing.assert_array_equal(run.dataset.X_test, again.X_test)
    np.testing.assert_array_equal(run.dataset.y_test, again.y_test)
    back = grokode.load_run(tmp_path / "r.npz")
    np.testing.assert_array_equal(back.arrays["test_acc"], acc)  # rebuilt from the file: checked by its digest
