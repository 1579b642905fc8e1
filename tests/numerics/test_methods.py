"""Every method × model either works — to the accuracy of an independent tight integration — or is refused.

Tiny problems to a short horizon; the reference is DOP853 at rtol 1e-11 on the same model, except for the mlp,
whose right-hand side jumps at every ReLU kink (a tight adaptive integration crawls through them): its reference
is gradient descent at lr 1e-4, which follows the flow to O(1e-4). Flow methods at the default tolerances agree
with the reference closely; gradient descent at its default step follows the flow at first order in the step;
label-noise SGD is another dynamics (noisy) and is only required to finish.
"""

import numpy as np
import pytest

import grokode
from grokode.errors import InputError

PROBLEMS = {
    "diagonal": dict(n=16, d=40, n_test=0, alpha=10.0, lam=0.05, seed=0),
    "matrix": dict(d=6, frac=0.5, alpha=10.0, lam=0.05, seed=0),
    "mlp": dict(p=5, width=4, frac=0.6, alpha=1.0, lam=0.01, seed=0),
}
T_EVAL = {"diagonal": [1.0, 10.0, 40.0], "matrix": [1.0, 10.0, 40.0], "mlp": [0.5, 2.0, 5.0]}
#: what each model's run is compared on, and the tolerance per method (None: refused)
WORKS = {
    "diagonal": {"auto": 1e-4, "LSODA": 1e-4, "BDF": 1e-4, "Radau": 1e-4, "RK45": 1e-4, "DOP853": 1e-4, "rkc": 1e-4,
                 "gd": 3e-2, "ros2": None},
    "matrix": {"auto": 1e-4, "LSODA": 1e-4, "BDF": 1e-4, "Radau": 1e-4, "RK45": 1e-4, "DOP853": 1e-4, "rkc": 1e-4,
               "ros2": 1e-3, "gd": None, "label-noise-sgd": None},
    "mlp": {"auto": 3e-2, "gd": 3e-2, "RK45": 1e-3, "DOP853": 1e-3, "rkc": 1e-3, "LSODA": None, "BDF": None,
            "Radau": None, "ros2": None, "label-noise-sgd": None},
}
OBSERVED = {"diagonal": "w", "matrix": "W", "mlp": "train_loss"}
CASES = [(model, method) for model, table in WORKS.items() for method in table]


def _run(model, **kw):
    return grokode.integrate(model=model, t_eval=np.array(T_EVAL[model]), **PROBLEMS[model], **kw)


@pytest.fixture(scope="module")
def references():
    refs = {model: _run(model, method="DOP853", rtol=1e-11, atol=1e-13) for model in ("diagonal", "matrix")}
    refs["mlp"] = _run("mlp", method="gd", lr=1e-4)
    return refs


@pytest.mark.parametrize("model,method", CASES)
def test_method_works_or_is_refused(model, method, references):
    tol = WORKS[model][method]
    if tol is None:
        with pytest.raises(InputError, match=method):
            _run(model, method=method)
        return
    run = _run(model, method=method)
    assert run.summary["status"] == "ok", run.message
    ref = references[model].arrays[OBSERVED[model]]
    got = run.arrays[OBSERVED[model]]
    assert got.shape == ref.shape
    err = np.linalg.norm((got - ref).reshape(len(ref), -1), axis=1) / np.linalg.norm(ref.reshape(len(ref), -1), axis=1)
    assert err.max() <= tol, (model, method, err)


def test_label_noise_sgd_runs_on_regression():
    run = grokode.integrate(task="sparse-regression", method="label-noise-sgd", n=16, d=40, n_test=0, alpha=10.0,
                            lam=0.05, t_end=10.0)
    assert run.summary["status"] == "ok" and np.all(np.isfinite(run.arrays["w"]))
    with pytest.raises(InputError, match="regression labels"):
        grokode.integrate(task="sparse", method="label-noise-sgd", n=16, d=40, n_test=0, alpha=10.0, lam=0.05)


@pytest.mark.parametrize("method", ["LSODA", "BDF", "Radau", "RK45", "DOP853", "rkc"])
def test_full_formulation_takes_every_flow_method(method, references):
    run = _run("diagonal", method=method, formulation="full")
    assert run.summary["status"] == "ok", run.message
    ref = references["diagonal"].arrays["w"]
    err = np.linalg.norm(run.arrays["w"] - ref, axis=1) / np.linalg.norm(ref, axis=1)
    assert err.max() <= 1e-2, err
