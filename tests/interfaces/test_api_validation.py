"""The Python API checks its arguments before computing, as the command line does.

A boolean keyword takes only a real boolean (the string "no" is truthy and would overwrite), a callback only a
callable, a mistyped keyword is an InputError naming it and the closest valid name; each refusal happens before
any file is written or anything is computed.
"""

from __future__ import annotations

import numpy as np
import pytest

import grokode
from grokode.errors import InputError, checked_arguments


@pytest.fixture(scope="module")
def run():
    return grokode.integrate(alpha=10.0, lam=0.1, t_end=2.0, n=8, d=6, n_test=10)


NOT_BOOLS = ["no", "false", "False", "", 0, 1, 1.0, None, [False], np.int64(0)]


@pytest.mark.parametrize("value", NOT_BOOLS, ids=repr)
def test_force_must_be_a_real_boolean_everywhere(value, run, tmp_path):
    target = tmp_path / "r.npz"
    target.write_bytes(b"precious")
    figure = tmp_path / "r.png"
    figure.write_bytes(b"precious")
    for call in (lambda: run.save(target, force=value), lambda: run.plot(figure, force=value),
                 lambda: run.to_netcdf(tmp_path / "r.nc", force=value),
                 lambda: grokode.integrate(alpha=10.0, lam=0.1, t_end=2.0, out=target, force=value)):
        with pytest.raises(InputError, match=r"^force must be True or False, got "):
            call()
    assert target.read_bytes() == b"precious" and figure.read_bytes() == b"precious"
    assert not (tmp_path / "r.nc").exists()


def test_numpy_booleans_are_booleans(run, tmp_path):
    path = run.save(tmp_path / "r.npz", force=np.bool_(False))
    assert grokode.load_run(path).arrays["t"].shape == run.arrays["t"].shape
    with pytest.raises(InputError, match="exists"):
        run.save(path, force=np.bool_(False))


@pytest.mark.parametrize("call, needle", [
    (lambda: grokode.run_sweep([], {}, "s.csv", resume="no"), "resume must be True or False"),
    (lambda: grokode.register_model(object, replace="yes"), "replace must be True or False"),
    (lambda: grokode.integrate(alpha=10.0, lam=0.1, progress=3), "progress must be a function"),
    (lambda: grokode.integrate(alpha=10.0, lam=0.1, progress="tqdm"), "progress must be a function"),
    (lambda: grokode.run_sweep([], {}, "s.csv", on_dashboard=1), "on_dashboard must be a function"),
    (lambda: grokode.run_gd(np.ones((2, 2)), np.ones(2), [1.0], alpha=1.0, lam=0.1, lr=0.1, progress=[]),
     "progress must be a function"),
    (lambda: grokode.run_model("diagonal"), "run_model needs a model instance"),
    (lambda: grokode.integrate(method="gd", normalized_lr="no", lam=0.0, t_end=1.0), "normalized_lr must be True or "
     "False, got 'no'"),
    (lambda: grokode.build("mlp", normalized_lr=1, method="gd", lam=0.0), "normalized_lr must be True or False, got 1"),
])
def test_other_booleans_and_callbacks(call, needle, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match=needle):
        call()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("call, needle", [
    (lambda r, p: r.save(p, forse=True), "takes no argument 'forse' (did you mean 'force'?)"),
    (lambda r, p: r.plot(p, titel="x"), "takes no argument 'titel' (did you mean 'title'?)"),
    (lambda r, p: grokode.load_run(p, 3), "too many positional arguments"),
    (lambda r, p: grokode.load_run(paht=p), "takes no argument 'paht' (did you mean 'path'?)"),
    (lambda r, p: r.save(), "missing a required argument: 'path'"),
    (lambda r, p: grokode.integrate(alhpa=10.0), "does not take --alhpa (did you mean --alpha?)"),
    (lambda r, p: grokode.integrate(model="matrix", lamda=0.1), "did you mean --lam?"),
    (lambda r, p: grokode.analyze(r.arrays, r.meta, C=0.5), "takes no argument 'C' (did you mean 'c'?)"),
    (lambda r, p: grokode.make_task("sparse", n="10"), "n must be an integer, got '10'"),
])
def test_a_mistyped_or_missing_argument_is_one_line_naming_it(call, needle, run, tmp_path):
    with pytest.raises(InputError) as info:
        call(run, tmp_path / "r.npz")
    assert needle in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "r.npz").exists()


def test_the_checks_follow_the_annotations():
    """A new boolean or callback parameter is checked without being listed anywhere."""
    seen = []

    @checked_arguments
    def f(x: int, *, flag: bool = False, hook: None = None, cb=None, on_done: object = None) -> int:
        seen.append((x, flag))
        return x

    assert f(1, flag=True) == 1 and seen == [(1, True)]
    with pytest.raises(InputError, match="flag must be True or False, got 'yes'"):
        f(2, flag="yes")
    with pytest.raises(InputError, match=r"f\(\) takes no argument 'flagg' \(did you mean 'flag'\?\)"):
        f(2, flagg=True)
    assert seen == [(1, True)]  # the body never ran for a bad call


@pytest.mark.parametrize("call, needle", [
    (lambda r: grokode.analyze(r.arrays, r.meta, c="x"), "c must be a number, got 'x'"),
    (lambda r: grokode.analyze(None, r.meta), "arrays must be a dict, got None"),
    (lambda r: grokode.analyze(r.arrays, []), "meta must be a dict, got []"),
    (lambda r: grokode.theorem_trend([1, 2]), "theorem_trend takes Analysis objects"),
    (lambda r: grokode.find_transition(r.arrays["t"], r.arrays["cos_rich"], 1.0, min_change=-1),
     "min_change must be a finite number ≥ 0"),
    (lambda r: grokode.find_transition("abc", r.arrays["cos_rich"], 1.0, min_change=0.1),
     "t must be an array of numbers, got 'abc'"),
    (lambda r: grokode.time_to_reach(None, r.arrays["cos_rich"], 0.5), "t must be an array of numbers, got None"),
    (lambda r: grokode.make_task("sparse", n=10, d=10**9), "n_test=1000) needs about 8.08 TB of memory"),
    (lambda r: grokode.make_task(5), "name must be text (a str), got 5"),
    (lambda r: grokode.make_matrix_task(d="x"), "d must be an integer, got 'x'"),
    (lambda r: grokode.grid_points("a", [1.0], [0]), "alphas must be a list of numbers, got 'a'"),
    (lambda r: grokode.grid_points([1.0, "2"], [1.0], [0]), "alphas must be a list of numbers"),
    (lambda r: grokode.parse_grid("alpha", 5), "text must be text (a str), got 5"),
    (lambda r: grokode.fit_scaling(None), "rows must be a list, got None"),
    (lambda r: grokode.fit_scaling([1]), "rows must be sweep rows"),
    (lambda r: grokode.kernel_completion("a", "b"), "M must be an array of numbers, got 'a'"),
    (lambda r: grokode.run_gd(np.ones((2, 2)), np.ones(2), "abc", alpha=1.0, lam=0.1, lr=0.1),
     "t_eval must be an array of numbers, got 'abc'"),
    (lambda r: r.plot(title=5), "title must be text (a str), got 5"),
    (lambda r: grokode.register_model(name=5), "name must be text (a str), got 5"),
    (lambda r: grokode.run_sweep(5, {}, "s.csv"), "points must be a list, got 5"),
    (lambda r: grokode.run_sweep([], None, "s.csv"), "options must be a dict, got None"),
])
def test_wrong_types_are_one_line_before_computing(call, needle, run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError) as info:
        call(run)
    assert needle in str(info.value) and "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_numpy_scalars_and_arrays_pass_the_type_checks(run):
    t = run.arrays["t"]
    a = grokode.analyze(run.arrays, run.meta, c=np.float64(0.4))
    assert a.c == pytest.approx(0.4)
    assert grokode.grid_points(np.array([10.0, 100.0]), [np.float64(0.1)], [0])[1].alpha == 100.0
    assert grokode.make_task("sparse", n=np.int64(5), d=7, n_test=3).X.shape == (5, 7)
    assert grokode.time_to_reach(list(t), list(run.arrays["train_acc"]), 0.0) == t[0]
