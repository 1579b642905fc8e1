"""Tests for grokode.tasks: data generators, user-data loading and population metrics (docs/math.md#data).

Population formulas are checked against Monte Carlo on fresh samples (>= 1e5) drawn independently of
the code under test, and against closed forms / adaptive quadrature where those exist.
"""

from __future__ import annotations

import itertools
import os
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.special import ndtr
from scipy.stats import norm

from grokode.errors import InputError
from grokode.tasks import (
    Dataset,
    load_npz,
    make_task,
    margin_classification,
    margin_population_accuracy,
    sparse_classification,
    sparse_population_accuracy,
    sparse_regression,
    squared_population_loss,
)

N_MC = 200_000


def _se(p: float, n: int) -> float:
    """Standard error of a Monte Carlo proportion, floored so p in {0, 1} still gets a nonzero band."""
    return max(np.sqrt(p * (1.0 - p) / n), 1.0 / n)


def _unit_orthogonal(rng: np.random.Generator, v: np.ndarray) -> np.ndarray:
    u = rng.standard_normal(v.size)
    u -= (u @ v) / (v @ v) * v
    return u / np.linalg.norm(u)


# ----------------------------------------------------------------------------------------------------
# Sparse CLT population accuracy
# ----------------------------------------------------------------------------------------------------


def _sparse_ws(rng: np.random.Generator, teacher: np.ndarray, k: int) -> dict[str, np.ndarray]:
    d = teacher.size
    m = d - k
    noise = rng.standard_normal(m)
    return {
        "random": rng.standard_normal(d),
        "aligned": np.concatenate([teacher[:k], 0.1 * noise]),
        "partly": np.concatenate([[2.0, 0.5, -0.3], noise / np.sqrt(m)]),
        "anti": np.concatenate([-teacher[:k], 0.05 * noise]),
    }


def test_sparse_formula_matches_mc_with_gaussian_noise():
    # Replacing the noise sum by an exact Gaussian removes the CLT error: the formula must then agree
    # with Monte Carlo up to sampling error alone.
    rng = np.random.default_rng(123)
    d, k = 60, 3
    teacher = np.zeros(d)
    teacher[:k] = [1.0, -1.0, 1.0]
    for label, w in _sparse_ws(rng, teacher, k).items():
        s = rng.choice([-1.0, 1.0], size=(N_MC, k))
        y = np.sign(s @ teacher[:k])
        out = s @ w[:k] + np.linalg.norm(w[k:]) * rng.standard_normal(N_MC)
        mc = np.mean(y * out > 0)
        exact = float(sparse_population_accuracy(w, teacher, k))
        assert abs(exact - mc) <= 4 * _se(exact, N_MC), (label, exact, mc)


def test_sparse_formula_matches_mc_on_rademacher_data():
    rng = np.random.default_rng(7)
    d, k, n_mc = 400, 3, 100_000
    teacher = np.zeros(d)
    teacher[:k] = [-1.0, 1.0, 1.0]
    ws = _sparse_ws(rng, teacher, k)
    W = np.stack(list(ws.values()))
    correct = np.zeros(len(W))
    for _ in range(n_mc // 10_000):
        x = rng.choice(np.array([-1.0, 1.0]), size=(10_000, d))
        y = np.sign(x[:, :k] @ teacher[:k])
        correct += np.sum(y[:, None] * (x @ W.T) > 0, axis=0)
    mc = correct / n_mc
    exact = sparse_population_accuracy(W, teacher, k)
    for i, label in enumerate(ws):
        w = W[i, k:]
        # CLT error: the noise sum of m = d - k symmetric terms has no skewness, so the first Edgeworth
        # correction to its CDF is -(kappa4/24) He3(t) phi(t), with excess kurtosis
        # kappa4 = -2 sum w_j^4 / (sum w_j^2)^2 (about -6/m = -0.015 here) and max |He3 phi| < 0.56.
        # Twice that bound (for higher-order terms, ~1e-3 in total) is added to 4 MC standard errors.
        kappa4 = 2.0 * np.sum(w**4) / np.sum(w**2) ** 2
        clt_tol = 2.0 * kappa4 / 24.0 * 0.56
        assert clt_tol < 2e-3
        assert abs(exact[i] - mc[i]) <= 4 * _se(exact[i], n_mc) + clt_tol, (label, exact[i], mc[i])


def test_sparse_step_function_when_noise_is_zero():
    d, k = 10, 3
    teacher = np.zeros(d)
    teacher[:k] = 1.0
    cases = {  # w_{1:k} -> exact accuracy over the 8 patterns (ties count 1/2)
        (1.0, 0.0, 0.0): 0.75,  # s1 equals the majority in 6 of 8 patterns
        (1.0, 1.0, 0.0): 0.75,  # right when s1 = s2 (4 patterns), tie otherwise (4 x 1/2)
        (1.0, 1.0, 1.0): 1.0,
        (-1.0, -1.0, -1.0): 0.0,
        (0.0, 0.0, 0.0): 0.5,
    }
    W = np.zeros((len(cases), d))
    W[:, :k] = list(cases)
    np.testing.assert_allclose(sparse_population_accuracy(W, teacher, k), list(cases.values()), atol=1e-15)


def test_sparse_ties_count_half_with_noise():
    d, k = 5, 1
    teacher = np.zeros(d)
    teacher[0] = 1.0
    w = np.array([0.0, 1.0, 0.0, 0.0, 0.0])
    assert float(sparse_population_accuracy(w, teacher, k)) == 0.5
    w[0] = 1.0
    assert float(sparse_population_accuracy(w, teacher, k)) == pytest.approx(ndtr(1.0), abs=1e-15)


def test_sparse_shapes_and_rowwise_consistency():
    rng = np.random.default_rng(0)
    ds = sparse_classification(n=4, d=30, k=5, n_test=0, seed=1)
    W = rng.standard_normal((6, 30))
    acc = sparse_population_accuracy(W, ds.teacher, 5)
    assert acc.shape == (6,)
    assert sparse_population_accuracy(W[2], ds.teacher, 5).shape == ()
    assert float(sparse_population_accuracy(W[2], ds.teacher, 5)) == acc[2]
    np.testing.assert_array_equal(ds.population_accuracy(W), acc)
    # Brute-force over the 2^5 patterns with a Python loop as an independent implementation.
    w = W[3]
    ref = np.mean([ndtr(np.sign(np.dot(s, ds.teacher[:5])) * np.dot(s, w[:5]) / np.linalg.norm(w[5:]))
                   for s in itertools.product([-1, 1], repeat=5)])
    assert acc[3] == pytest.approx(ref, abs=1e-14)


# ----------------------------------------------------------------------------------------------------
# Margin exact population accuracy
# ----------------------------------------------------------------------------------------------------


def _margin_quad(a: float, b: float, gamma: float) -> float:
    """2 * int_0^inf Phi(a (t + gamma/2) / b) phi(t) dt by adaptive quadrature (independent reference)."""
    c = a / b
    f = lambda t: 2.0 * ndtr(c * (t + gamma / 2)) * norm.pdf(t)  # noqa: E731
    edge = min(10.0 / abs(c), 1.0) if c != 0 else 1.0  # the integrand's fast part lies within ~1/|c| of 0
    return (quad(f, 0.0, edge, epsabs=1e-14, epsrel=1e-13, limit=200)[0]
            + quad(f, edge, 40.0, epsabs=1e-14, epsrel=1e-13, limit=200)[0])


def test_margin_formula_matches_mc():
    rng = np.random.default_rng(11)
    d, gamma = 30, 1.5
    teacher = rng.standard_normal(d)
    teacher /= np.linalg.norm(teacher)
    g = rng.standard_normal(d) / np.sqrt(d)
    ws = {
        "random": rng.standard_normal(d),
        "aligned": teacher + 0.2 * g,
        "partly": 0.3 * teacher + g,
        "anti": -teacher + 0.5 * g,
        "orthogonal": _unit_orthogonal(rng, teacher),
    }
    W = np.stack(list(ws.values()))
    exact = margin_population_accuracy(W, teacher, gamma)
    z = rng.standard_normal((N_MC, d))
    y = np.where(z @ teacher >= 0, 1.0, -1.0)
    x = z + (0.5 * gamma * y)[:, None] * teacher
    mc = np.mean(y[:, None] * (x @ W.T) > 0, axis=0)
    for i, label in enumerate(ws):
        assert abs(exact[i] - mc[i]) <= 4 * _se(exact[i], N_MC), (label, exact[i], mc[i])
    assert exact[-1] == pytest.approx(0.5, abs=1e-15)  # w orthogonal to w*: a = 0


@pytest.mark.parametrize("a,b,gamma", [
    (0.7, 1.3, 5.0), (-0.4, 2.0, 5.0), (1.0, 1e-3, 0.0), (-1.0, 1e-3, 0.3), (3.0, 0.5, 25.0),
    (-3.0, 0.5, 25.0), (1e-4, 1.0, 2.0), (2.0, 1e4, 1.0),
])
def test_margin_formula_matches_quadrature(a, b, gamma):
    rng = np.random.default_rng(5)
    teacher = rng.standard_normal(40)
    teacher /= np.linalg.norm(teacher)
    w = a * teacher + b * _unit_orthogonal(rng, teacher)
    assert float(margin_population_accuracy(w, teacher, gamma)) == pytest.approx(
        _margin_quad(a, b, gamma), abs=1e-10)


def test_margin_gamma_zero_closed_form():
    # For gamma = 0 the data are plain Gaussian, so acc = 1 - angle(w, w*)/pi.
    rng = np.random.default_rng(3)
    teacher = rng.standard_normal(25)
    teacher /= np.linalg.norm(teacher)
    W = rng.standard_normal((50, 25)) * rng.uniform(0.01, 10.0, size=(50, 1))
    W[:10] += 5.0 * teacher
    W[10:20] -= 5.0 * teacher
    cos = (W @ teacher) / np.linalg.norm(W, axis=1)
    np.testing.assert_allclose(margin_population_accuracy(W, teacher, 0.0), 1.0 - np.arccos(cos) / np.pi,
                               rtol=0, atol=1e-13)


@pytest.mark.parametrize("gamma", [0.0, 2.0])
def test_margin_b_zero_is_step_function(gamma):
    teacher = np.array([0.6, 0.8, 0.0])
    W = np.stack([3.0 * teacher, -2.0 * teacher, np.zeros(3), 1e-300 * teacher])
    np.testing.assert_array_equal(margin_population_accuracy(W, teacher, gamma), [1.0, 0.0, 0.5, 1.0])


def test_margin_shapes_validation_and_nan_rows():
    teacher = np.array([1.0, 0.0, 0.0, 0.0])
    assert margin_population_accuracy(np.ones(4), teacher, 1.0).shape == ()
    out = margin_population_accuracy(np.array([[1.0, 1.0, 0, 0], [np.nan, 0, 0, 0]]), teacher, 1.0)
    assert np.isfinite(out[0]) and np.isnan(out[1])
    with pytest.raises(InputError, match="norm 2.0"):
        margin_population_accuracy(np.ones(4), 2.0 * teacher, 1.0)
    with pytest.raises(InputError, match=r"\(3,\)"):
        margin_population_accuracy(np.ones(3), teacher, 1.0)
    with pytest.raises(InputError, match="-1"):
        margin_population_accuracy(np.ones(4), teacher, -1)


# ----------------------------------------------------------------------------------------------------
# Squared population loss
# ----------------------------------------------------------------------------------------------------


def test_squared_loss_matches_mc_and_exact_enumeration():
    rng = np.random.default_rng(9)
    d = 20
    teacher = np.zeros(d)
    teacher[:3] = [1.0, -1.0, 1.0]
    W = np.stack([rng.standard_normal(d), teacher + 0.1 * rng.standard_normal(d), teacher, 0.5 * teacher])
    loss = squared_population_loss(W, teacher)
    x = rng.choice(np.array([-1.0, 1.0]), size=(N_MC, d))
    r2 = (x @ (W - teacher).T) ** 2
    mc, se = r2.mean(axis=0), r2.std(axis=0) / np.sqrt(N_MC)
    assert np.all(np.abs(loss - mc) <= 4 * se + 1e-12), (loss, mc)
    assert loss[2] == 0.0
    # Exact expectation over all 2^10 points of the cube.
    cube = np.array(list(itertools.product([-1.0, 1.0], repeat=10)))
    w, t = rng.standard_normal(10), rng.standard_normal(10)
    assert float(squared_population_loss(w, t)) == pytest.approx(np.mean((cube @ (w - t)) ** 2), rel=1e-12)


# ----------------------------------------------------------------------------------------------------
# Generators
# ----------------------------------------------------------------------------------------------------


def _assert_frozen_layout(ds: Dataset, dtype) -> None:
    for arr in (ds.X, ds.X_test):
        assert arr.dtype == dtype and arr.flags.c_contiguous and not arr.flags.writeable
    for arr in (ds.y, ds.y_test, ds.teacher):
        assert arr.dtype == np.float64 and not arr.flags.writeable


def test_sparse_classification_data():
    ds = sparse_classification(n=4000, d=50, k=5, n_test=300, seed=2)
    assert (ds.n, ds.d, ds.n_test, ds.kind, ds.name) == (4000, 50, 300, "classification", "sparse")
    assert ds.X.shape == (4000, 50) and ds.X_test.shape == (300, 50)
    _assert_frozen_layout(ds, np.int8)
    assert set(np.unique(ds.X)) == {-1, 1} and set(np.unique(ds.y)) == {-1.0, 1.0}
    assert np.all(ds.teacher[5:] == 0) and set(np.abs(ds.teacher[:5])) == {1.0}
    np.testing.assert_array_equal(ds.y, np.sign(ds.X[:, :5] @ ds.teacher[:5]))
    np.testing.assert_array_equal(ds.y_test, np.sign(ds.X_test[:, :5] @ ds.teacher[:5]))
    assert abs(ds.y.mean()) < 4 / np.sqrt(ds.n)  # P(y = 1) = 1/2 by symmetry
    assert abs(ds.X.mean()) < 4 / np.sqrt(ds.X.size)
    # Entries are independent: off-diagonal second moments vanish.
    gram = ds.X.astype(float).T @ ds.X / ds.n
    assert np.max(np.abs(gram - np.eye(50))) < 5 / np.sqrt(ds.n)
    assert ds.params == {"task": "sparse", "n": 4000, "d": 50, "k": 5, "n_test": 300, "seed": 2}
    assert ds.population_loss(ds.teacher) is None


def test_sparse_regression_data():
    ds = sparse_regression(n=200, d=30, k=3, n_test=50, seed=4)
    assert ds.kind == "regression" and ds.name == "sparse-regression"
    _assert_frozen_layout(ds, np.int8)
    np.testing.assert_array_equal(ds.y, ds.X @ ds.teacher)
    np.testing.assert_array_equal(ds.y_test, ds.X_test @ ds.teacher)
    assert set(np.unique(ds.y)) <= {-3.0, -1.0, 1.0, 3.0}
    assert ds.population_accuracy(ds.teacher) is None
    W = np.stack([ds.teacher, np.zeros(30)])
    np.testing.assert_array_equal(ds.population_loss(W), [0.0, 3.0])


def test_margin_classification_data():
    gamma = 5.0
    ds = margin_classification(n=2000, d=40, gamma=gamma, n_test=100, seed=6)
    assert (ds.kind, ds.name) == ("classification", "margin")
    assert ds.X.shape == (2000, 40) and ds.X_test.shape == (100, 40)
    _assert_frozen_layout(ds, np.float64)
    assert np.linalg.norm(ds.teacher) == pytest.approx(1.0, abs=1e-14)
    assert np.count_nonzero(ds.teacher) == 40  # dense teacher
    for X, y in ((ds.X, ds.y), (ds.X_test, ds.y_test)):
        assert np.all(y * (X @ ds.teacher) >= gamma / 2 - 1e-12)
    assert abs(ds.y.mean()) < 4 / np.sqrt(ds.n)
    # Orthogonal to w* the inputs are standard Gaussian.
    resid = ds.X - np.outer(ds.X @ ds.teacher, ds.teacher)
    assert np.mean(resid**2) * 40 / 39 == pytest.approx(1.0, abs=0.02)
    assert ds.params["gamma"] == gamma and "k" not in ds.params
    assert float(ds.population_accuracy(ds.teacher)) == 1.0


@pytest.mark.parametrize("make", [
    lambda s, n=64, nt=16: sparse_classification(n=n, d=40, k=3, n_test=nt, seed=s),
    lambda s, n=64, nt=16: sparse_regression(n=n, d=40, k=3, n_test=nt, seed=s),
    lambda s, n=64, nt=16: margin_classification(n=n, d=40, gamma=1.0, n_test=nt, seed=s),
])
def test_generators_reproducible(make):
    a, b, c = make(0), make(0), make(1)
    for name in ("X", "y", "X_test", "y_test", "teacher"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.X, c.X) and not np.array_equal(a.X_test, c.X_test)
    assert not np.array_equal(a.teacher, c.teacher) or a.name != "margin"
    # An int seed is the same as a fresh default_rng(seed).
    np.testing.assert_array_equal(make(np.random.default_rng(0)).X, a.X)
    assert make(np.random.default_rng(0)).params["seed"] is None
    # Separate streams: the teacher and test set do not depend on n, the teacher not on n_test.
    bigger = make(0, n=100)
    np.testing.assert_array_equal(bigger.teacher, a.teacher)
    np.testing.assert_array_equal(bigger.X_test, a.X_test)
    no_test = make(0, nt=0)
    assert no_test.X_test is None and no_test.y_test is None and no_test.n_test == 0
    np.testing.assert_array_equal(no_test.X, a.X)


def test_make_task_dispatch():
    a = make_task("sparse", n=10, d=20, k=3, gamma=9.0, n_test=5, seed=3)
    np.testing.assert_array_equal(a.X, sparse_classification(10, 20, 3, 5, 3).X)
    assert "gamma" not in a.params
    assert make_task("margin", n=10, d=20, gamma=2.0, n_test=0, seed=1).params["gamma"] == 2.0
    assert make_task("sparse-regression", n=10, d=20, k=1, n_test=0, seed=1).kind == "regression"
    with pytest.raises(InputError) as err:
        make_task("foo", n=10, d=20, k=3, gamma=1.0, n_test=0, seed=0)
    assert str(err.value) == "unknown task 'foo' (choose sparse, margin, sparse-regression)"


@pytest.mark.parametrize("fn,kwargs,needle", [
    (sparse_classification, {"k": 4}, "4"),
    (sparse_classification, {"k": 0}, "0"),
    (sparse_classification, {"k": 7, "d": 5}, "7"),
    (sparse_regression, {"k": 2}, "2"),
    (sparse_classification, {"n": 0}, "n must"),
    (sparse_classification, {"n": 2.5}, "2.5"),
    (sparse_classification, {"d": 0}, "d must"),
    (sparse_classification, {"n_test": -1}, "-1"),
    (sparse_classification, {"seed": "abc"}, "'abc'"),
    (margin_classification, {"gamma": -1.0}, "-1.0"),
    (margin_classification, {"gamma": float("nan")}, "nan"),
    (margin_classification, {"n": -3}, "-3"),
    (margin_classification, {"gamma": np.float64(-2.5)}, "got -2.5"),
    (sparse_classification, {"k": np.int64(6)}, "got 6"),
])
def test_generator_validation(fn, kwargs, needle):
    with pytest.raises(InputError) as err:
        fn(**{"n": 8, "d": 10, "n_test": 0, **kwargs})
    assert needle in str(err.value)


def test_sparse_generation_is_compact_and_fast():
    # Paper scale: a float64 intermediate of the full set would be 1 GB; the int8 result is 126 MB.
    tracemalloc.start()
    start = time.perf_counter()
    ds = sparse_classification(n=256, d=100_000, k=3, n_test=1000, seed=0)
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    final = ds.X.nbytes + ds.X_test.nbytes
    assert final == 1256 * 100_000
    assert peak < 1.3 * final, peak
    assert elapsed < 4.0  # ~0.5 s on one core; the bound only catches gross regressions under load
    assert float(ds.population_accuracy(ds.teacher)) == 1.0


# ----------------------------------------------------------------------------------------------------
# User data
# ----------------------------------------------------------------------------------------------------


def _open_fds_to(path: Path) -> int:
    fd_dir = Path("/proc/self/fd")
    count = 0
    for fd in fd_dir.iterdir():
        try:
            count += os.readlink(fd) == str(path.resolve())
        except OSError:
            pass
    return count


def test_load_npz_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.choice([-1.0, 1.0], size=(30, 7))
    y = rng.choice([-1.0, 1.0], size=30)
    Xt, yt = rng.choice([-1, 1], size=(10, 7)), rng.choice([-1, 1], size=10)
    path = tmp_path / "pm.npz"
    np.savez(path, X=X, y=y, X_test=Xt, y_test=yt, extra=np.arange(3))
    ds = load_npz(path, "logistic")
    assert (ds.name, ds.kind, ds.teacher) == ("data:pm.npz", "classification", None)
    assert ds.X.dtype == np.int8 and ds.X_test.dtype == np.int8
    np.testing.assert_array_equal(ds.X, X)
    np.testing.assert_array_equal(ds.y, y)
    np.testing.assert_array_equal(ds.X_test, Xt)
    np.testing.assert_array_equal(ds.y_test, yt)
    assert ds.y_test.dtype == np.float64
    assert ds.params["loss"] == "logistic" and ds.params["n_test"] == 10
    assert ds.population_accuracy(X[0]) is None and ds.population_loss(X[0]) is None
    if Path("/proc/self/fd").is_dir():
        assert _open_fds_to(path) == 0

    Xf = rng.standard_normal((12, 3))
    yf = rng.standard_normal(12)
    np.savez(tmp_path / "reg.npz", X=Xf, y=yf)
    reg = load_npz(str(tmp_path / "reg.npz"), "squared")
    assert reg.kind == "regression" and reg.X.dtype == np.float64 and reg.X_test is None
    np.testing.assert_array_equal(reg.X, Xf)
    np.testing.assert_array_equal(reg.y, yf)
    # Mixed: ±1 train inputs but real-valued test inputs keep one float64 dtype for both.
    np.savez(tmp_path / "mix.npz", X=X, y=y, X_test=rng.standard_normal((4, 7)), y_test=np.ones(4))
    mix = load_npz(tmp_path / "mix.npz", "exponential")
    assert mix.X.dtype == np.float64 and mix.X_test.dtype == np.float64


def _bad(tmp_path: Path, **arrays) -> Path:
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("arrays,loss,needles", [
    ({"y": np.ones(3)}, "logistic", ["'X'", "found: y"]),
    ({"X": np.ones((3, 2))}, "logistic", ["'y'"]),
    ({"X": np.ones((3, 2)), "y": np.ones(3), "X_test": np.ones((2, 2))}, "logistic", ["y_test"]),
    ({"X": np.ones((3, 2)), "y": np.ones(3), "y_test": np.ones(2)}, "logistic", ["X_test"]),
    ({"X": np.ones(3), "y": np.ones(3)}, "logistic", ["X", "2-D", "(3,)"]),
    ({"X": np.ones((3, 2)), "y": np.ones((3, 1))}, "logistic", ["y", "1-D"]),
    ({"X": np.ones((0, 2)), "y": np.ones(0)}, "logistic", ["X", "empty"]),
    ({"X": np.ones((6, 2)), "y": np.ones(5)}, "logistic", ["5", "6"]),
    ({"X": np.ones((3, 2)), "y": np.ones(3), "X_test": np.ones((2, 4)), "y_test": np.ones(2)}, "logistic",
     ["X_test", "4", "2"]),
    ({"X": np.ones((3, 2)), "y": np.ones(3), "X_test": np.ones((2, 2)), "y_test": np.ones(3)}, "logistic",
     ["y_test", "3", "2"]),
    ({"X": np.ones((3, 2)), "y": np.array([1.0, -1.0, 0.5])}, "logistic", ["y[2]", "0.5"]),
    ({"X": np.ones((3, 2)), "y": np.array([1.0, 0.0, 1.0])}, "exponential", ["y[1]", "0.0"]),
    ({"X": np.ones((3, 2)), "y": np.ones(3), "X_test": np.ones((1, 2)), "y_test": np.array([2.0])},
     "logistic", ["y_test[0]", "2.0"]),
    ({"X": np.array([[1.0, np.inf], [1.0, 1.0]]), "y": np.ones(2)}, "squared", ["X ", "inf", "(0, 1)"]),
    ({"X": np.ones((3, 2)), "y": np.array([1.0, np.nan, 1.0])}, "squared", ["y ", "nan", "1"]),
    ({"X": np.ones((2, 2)), "y": np.ones(2), "X_test": np.array([[1.0, np.nan]]), "y_test": np.ones(1)},
     "logistic", ["X_test", "nan"]),
    ({"X": np.ones((2, 2)), "y": np.array(["a", "b"])}, "squared", ["y", "dtype"]),
])
def test_load_npz_rejects_bad_data(tmp_path, arrays, loss, needles):
    with pytest.raises(InputError) as err:
        load_npz(_bad(tmp_path, **arrays), loss)
    for needle in needles:
        assert needle in str(err.value), (needle, str(err.value))


def test_load_npz_rejects_bad_files(tmp_path):
    missing = tmp_path / "nope.npz"
    with pytest.raises(InputError, match="nope.npz"):
        load_npz(missing, "logistic")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"this is not a zip archive at all")
    with pytest.raises(InputError, match="garbage.npz"):
        load_npz(garbage, "logistic")
    npy = tmp_path / "plain.npy"
    np.save(npy, np.ones(3))
    with pytest.raises(InputError, match="not an .npz"):
        load_npz(npy, "logistic")
    with pytest.raises(InputError, match="'hinge'"):
        load_npz(_bad(tmp_path, X=np.ones((2, 2)), y=np.ones(2)), "hinge")
    with pytest.raises(InputError, match="cannot read"):
        load_npz(tmp_path, "logistic")  # a directory


def test_dataset_validates_direct_construction():
    with pytest.raises(InputError, match="'binary'"):
        Dataset(np.ones((2, 2)), np.ones(2), None, None, kind="binary", name="x")
    with pytest.raises(InputError, match=r"\(3,\)"):
        Dataset(np.ones((3, 2)), np.ones(2), None, None, kind="regression", name="x")
    with pytest.raises(InputError, match="together"):
        Dataset(np.ones((2, 2)), np.ones(2), np.ones((1, 2)), None, kind="regression", name="x")
    user = np.ones((2, 2))
    ds = Dataset(user, np.ones(2), None, None, kind="regression", name="x")
    assert user.flags.writeable and not ds.X.flags.writeable  # the caller's array is not frozen
