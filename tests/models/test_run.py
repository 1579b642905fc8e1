"""End-to-end runs through the library API: grokking, misgrokking, depth 3, user data, transition detection."""

import json
import math

import numpy as np
import pytest

import grokode
from grokode.analysis.transition import find_transition
from grokode.errors import InputError

SMALL = dict(n=128, d=600, n_test=300, seed=1)


def test_small_grokking_run():
    run = grokode.integrate(task="sparse", alpha=1e3, lam=1e-2, **SMALL)
    s = run.summary
    assert s["status"] == "ok"
    assert s["test_plateau"] < 0.7 and s["test_final"] > 0.95
    assert s["t_transition"] is not None and 0.3 * s["t_theory"] < s["t_transition"] < 1.2 * s["t_theory"]
    assert run.arrays["train_acc"][-1] == 1.0
    # the population accuracy and the empirical test accuracy tell the same story
    assert abs(run.arrays["test_acc"][-1] - run.arrays["test_acc_population"][-1]) < 0.05
    # ‖θ‖ follows α e^{−λt} in the kernel phase
    t, norm = run.arrays["t"], run.arrays["param_norm"]
    early = t < 0.2 * s["t_theory"]
    assert np.allclose(norm[early], 1e3 * np.exp(-1e-2 * t[early]), rtol=1e-3)


def test_misgrokking_run():
    # d ≫ n so that the ℓ1 (rich) predictor of the dense teacher generalizes worse than the ℓ2 (kernel) one
    run = grokode.integrate(task="margin", alpha=1e3, lam=1e-2, gamma=5.0, n=64, d=2000, n_test=0, seed=1)
    s = run.summary
    assert s["status"] == "ok"
    assert s["test_plateau"] > 0.95 and s["test_final"] < 0.8  # measured 0.977 -> 0.722
    assert run.transition.direction == -1


def test_regression_run_uses_log_loss_metric():
    run = grokode.integrate(task="sparse-regression", alpha=1e2, lam=1e-2, n=64, d=200, n_test=100, seed=0)
    assert run.summary["transition_metric"] == "log10_test_loss_population"
    assert "train_acc" not in run.arrays and "test_loss_population" in run.arrays
    assert run.summary["test_final"] < run.summary["test_plateau"] / 10


def test_depth3_run_agrees_with_full_flow():
    kw = dict(task="sparse", depth=3, alpha=2.0, lam=0.02, n=24, d=60, n_test=0, seed=2,
              t_eval=np.array([1.0, 10.0, 100.0, 300.0]), rtol=1e-10, atol=1e-12)
    reduced = grokode.integrate(**kw)
    full = grokode.integrate(formulation="full", method="Radau", **kw)
    for a, b in zip(reduced.arrays["w"], full.arrays["w"], strict=True):
        assert np.linalg.norm(a - b) <= 1e-6 * np.linalg.norm(b)


def test_default_tolerances_are_accurate():
    kw = dict(task="sparse", alpha=1e3, lam=1e-2, n=64, d=400, n_test=0, seed=3)
    ref = grokode.integrate(rtol=1e-11, atol=1e-13, **kw).arrays["w"]
    got = grokode.integrate(**kw).arrays["w"]
    err = np.linalg.norm(got - ref, axis=1) / np.maximum(np.linalg.norm(ref, axis=1), 1e-300)
    assert err.max() <= 1e-4


def test_data_roundtrip_and_trajectory_file(tmp_path):
    ds = grokode.make_task("sparse", n=40, d=80, k=3, n_test=50, seed=4)
    path = tmp_path / "mine.npz"
    np.savez(path, X=ds.X, y=ds.y, X_test=ds.X_test, y_test=ds.y_test)
    from_file = grokode.integrate(data=str(path), alpha=10.0, lam=0.05)
    builtin = grokode.integrate(task="sparse", n=40, d=80, k=3, n_test=50, seed=4, alpha=10.0, lam=0.05)
    assert np.allclose(from_file.arrays["w"], builtin.arrays["w"], rtol=1e-12, atol=0)
    out = from_file.save(tmp_path / "run.npz")
    loaded = grokode.load_run(out)
    arrays, meta = loaded.arrays, loaded.meta
    for key in ("t", "w", "train_loss", "train_acc", "test_loss", "test_acc", "param_norm"):
        assert key in arrays and arrays[key].shape[0] == arrays["t"].shape[0]
    assert arrays["w"].dtype == np.float64 and arrays["w"].shape[1] == 80
    assert meta["options"]["alpha"] == 10.0 and meta["summary"]["status"] == "ok"
    json.dumps(meta)
    with pytest.raises(InputError, match="exists"):
        from_file.save(out)


@pytest.mark.parametrize("kwargs,match", [
    (dict(alpha=-1.0), "alpha"), (dict(lam=-1.0), "lam"), (dict(alpha=float("nan")), "alpha"),
    (dict(task="nope"), "nope"), (dict(loss="logistic", task="sparse-regression"), "regression"),
    (dict(method="Euler"), "Euler"), (dict(depth=1), "depth"), (dict(t_eval=np.array([3.0, 1.0])), "t_eval"),
])
def test_bad_arguments(kwargs, match):
    base = dict(n=8, d=10, n_test=0)
    with pytest.raises(InputError, match=match):
        grokode.integrate(**{**base, **kwargs})


def test_transition_on_synthetic_curves():
    t_theory = 1000.0
    center, width = 1234.5, 80.0

    def curve(s):
        return 0.5 + 0.5 / (1 + math.exp(-(s - center) / width * 4.394449))  # 10–90 % over `width`

    t = np.linspace(1, 3000, 40)
    tr = find_transition(t, np.array([curve(s) for s in t]), t_theory, min_change=0.05, metric=curve)
    assert abs(tr.t_transition - center) <= 1e-3 * center
    assert abs(tr.width - width) <= 2e-3 * width
    flat = find_transition(t, np.full_like(t, 0.8), t_theory, min_change=0.05)
    assert flat.t_transition is None and flat.width is None

    def falling(s):
        return 1.0 - 0.3 / (1 + math.exp(-(s - center) / 50))

    down = find_transition(t, np.array([falling(s) for s in t]), t_theory, min_change=0.05, metric=falling)
    assert down.direction == -1 and abs(down.t_transition - center) <= 1e-3 * center


def test_labelled_trajectory_as_xarray_and_netcdf(tmp_path):
    import xarray as xr

    run = grokode.integrate(task="sparse", n=16, d=40, n_test=0, alpha=10.0, lam=0.05, seed=0)
    ds = run.to_xarray()
    assert np.array_equal(ds["t"].values, run.arrays["t"])
    assert np.array_equal(ds["w"].values, run.arrays["w"]) and ds["w"].dims[0] == "t"
    assert json.loads(ds.attrs["grokode_meta"])["options"]["alpha"] == 10.0
    path = run.to_netcdf(tmp_path / "run.nc")
    with xr.open_dataset(path) as back:
        assert np.array_equal(back["param_norm"].values, run.arrays["param_norm"])
        assert np.array_equal(back["w"].values, run.arrays["w"])
    with pytest.raises(InputError, match="exists"):
        run.to_netcdf(path)


@pytest.mark.parametrize("kw", [dict(task="sparse", depth=2), dict(task="margin", depth=3, n_test=0)])
def test_a_large_run_saves_its_states_and_w_is_rebuilt_exactly(kw, tmp_path, monkeypatch):
    import grokode.models.linear as linear

    monkeypatch.setattr(linear, "COMPACT_FROM", 0)  # as for T·d > 1e7: store the reduced states, not w
    run = grokode.integrate(n=32, d=120, alpha=100.0, lam=0.02, seed=2, **kw)
    assert run.summary["status"] == "ok" and run.derived == ("w",)
    path = run.save(tmp_path / "compact.npz")
    with np.load(path) as z:
        assert "w" not in z.files and z["state"].shape == (run.arrays["t"].size, 32)
    loaded = grokode.load_run(path)
    assert "w" in loaded.arrays and loaded.arrays.pending == ["w"]
    assert np.array_equal(loaded.arrays["w"], run.arrays["w"])  # bit for bit: the same kernels on the same states
    assert loaded.arrays.pending == []
    report = grokode.analyze(loaded.arrays, loaded.meta)
    assert report.cos_rich_at_Tplus == pytest.approx(run.analysis.cos_rich_at_Tplus, rel=1e-12)
    # a file with w (small runs, or one written before this format) reads as before
    monkeypatch.setattr(linear, "COMPACT_FROM", 10_000_000)
    small = grokode.integrate(n=32, d=120, alpha=100.0, lam=0.02, seed=2, **kw)
    assert small.derived == () and np.array_equal(grokode.load_run(small.save(tmp_path / "w.npz")).arrays["w"],
                                                 run.arrays["w"])
