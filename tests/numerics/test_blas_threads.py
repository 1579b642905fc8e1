"""Large products choose one BLAS thread or the library's threads by timing: the same numbers either way."""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from grokode.numeric import blas_threads
from grokode.numeric.blas_threads import BlasThreadChoice
from grokode.tasks import metrics


def _data(T=64, n=1024, d=16384, seed=0):
    rng = np.random.default_rng(seed)
    X = np.where(rng.random((n, d)) < 0.5, -1, 1).astype(np.int8)
    W = rng.standard_normal((T, d)) * np.exp(rng.uniform(-20.0, 5.0, (T, 1)))
    return X, W


def _blas_threads() -> int:
    return max((i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"), default=1)


def test_a_choosing_product_is_the_one_thread_product_bit_for_bit_and_numpys_to_1e_12(monkeypatch):
    X, W = _data()
    assert W.shape[0] * X.shape[0] * X.shape[1] >= metrics.THREADS_FROM  # the choosing path
    made: list[BlasThreadChoice] = []

    class Recorded(BlasThreadChoice):
        def __init__(self):
            super().__init__()
            made.append(self)

    monkeypatch.setattr(metrics, "BlasThreadChoice", Recorded)
    monkeypatch.setattr(blas_threads, "RETIME_EVERY", 2)  # both thread counts several times
    with threadpool_limits(2, user_api="blas"):
        F = metrics.outputs(X, W)
    with threadpool_limits(1, user_api="blas"):
        one = metrics.outputs(X, W)
    assert np.array_equal(F, one)
    reference = W @ X.astype(np.float64).T  # numpy's own float64 product, in one piece
    scale = np.abs(W) @ np.ones(X.shape[1])  # Σ|w_j|: the size of each output's terms
    assert np.all(np.abs(F - reference) <= 1e-12 * scale[:, None])
    if _blas_threads() >= 2:  # with two threads available, both counts were used
        assert set(made[0].used) == {1, 2}
    assert set(made[-1].used) == {1}  # inside a one-thread limit, one thread only


def test_the_choice_follows_the_faster_thread_count():
    choice = BlasThreadChoice(threads=2)
    calls: list[int] = []

    def product(k):
        calls.append(k)
        return k

    assert [choice(product, k) for k in range(2)] == [0, 1]
    assert choice.used == [2, 1]  # each count timed once, the library's first
    choice.rate = {1: 1.0, 2: 3.0}
    choice(product, 2)
    assert choice.used[-1] == 1  # one thread has been faster
    choice.rate = {1: 1.0, 2: 1e9}  # the re-timing below leaves two threads the slower
    choice.calls = choice.next_retime
    choice(product, 3)
    assert choice.used[-1] == 2  # the slower count is timed again now and then
    assert choice.interval == 2 * blas_threads.RETIME_EVERY  # and, still slower, less often
    assert calls == [0, 1, 2, 3]


def test_a_runs_metrics_are_numpys_on_its_w_to_1e_12(monkeypatch):
    """The metrics of a run whose products choose their threads, against plain numpy on the run's own w."""
    import grokode

    monkeypatch.setattr(metrics, "THREADS_FROM", 0)
    run = grokode.integrate(n=24, d=2500, alpha=1e3, lam=1e-3, n_test=150, seed=3)
    model = grokode.build(n=24, d=2500, alpha=1e3, lam=1e-3, n_test=150, seed=3)
    data = model.dataset()
    W = np.asarray(run.arrays["w"], dtype=np.float64)
    for X, y, name in ((data.X, data.y, "train"), (data.X_test, data.y_test, "test")):
        margins = (W @ np.asarray(X, dtype=np.float64).T) * np.asarray(y, dtype=np.float64)
        loss = np.logaddexp(0.0, -margins).mean(axis=1)
        accuracy = ((margins > 0) + 0.5 * (margins == 0)).mean(axis=1)
        np.testing.assert_allclose(run.arrays[f"{name}_loss"], loss, rtol=1e-12, atol=0.0, err_msg=name)
        np.testing.assert_array_equal(run.arrays[f"{name}_acc"], accuracy, err_msg=name)


def test_the_newton_gram_is_the_same_with_either_thread_count(monkeypatch):
    """Inside the dynamics' one-thread limit the Newton Gram product times numba's thread count against one: the
    same float32 sums either way (and within float32 rounding of the float64 Gram product)."""
    from grokode.numeric import linalg
    from grokode.threads import compute_threads

    X, _ = _data(T=1, n=128, d=20000, seed=1)
    col = np.exp(np.random.default_rng(2).standard_normal(X.shape[1]))
    monkeypatch.setattr(blas_threads, "RETIME_EVERY", 2)
    with compute_threads(numba_threads=2):
        monkeypatch.setattr(linalg, "GRAM_THREADS_FROM", 1 << 62)
        one = linalg.DataMatrix(X).newton_gram(col)
        monkeypatch.setattr(linalg, "GRAM_THREADS_FROM", 0)
        data = linalg.DataMatrix(X)
        chosen = [data.newton_gram(col) for _ in range(3)]
    assert all(np.array_equal(g, one) for g in chosen)
    if _blas_threads() >= 2 and data._gram_threads.threads >= 2:
        assert set(data._gram_threads.used) == {1, 2}
    exact = (X * col) @ X.T.astype(np.float64)
    assert np.max(np.abs(one - exact)) <= 1e-5 * np.max(np.abs(exact))
