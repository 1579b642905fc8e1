"""Every built-in flow satisfies the Flow protocol (grokode.numeric.flow) and the driver runs it."""

import importlib
import inspect
import math
import pkgutil

import numpy as np
import pytest

import grokode.numeric
from grokode.analytic.separable import SeparableModel
from grokode.errors import InputError
from grokode.numeric.diagonal import FullDiagonalFlow, PlainFullDiagonalFlow, ReducedDiagonalFlow
from grokode.numeric.flow import CORE_MEMBERS, Flow, FlowBase
from grokode.numeric.integrate import integrate_flow
from grokode.numeric.matrix import FactorMatrixFlow, MatrixFlow
from grokode.numeric.mlp import MLPFlow, ModAddMLP
from grokode.numeric.reduced import ReducedLinearFlow
from grokode.numeric.separable import FullSeparableFlow, ReducedSeparableFlow
from grokode.tasks import make_task
from grokode.tasks.modadd import make_modadd


def _data(task="sparse"):
    ds = make_task(task, n=12, d=30, n_test=0, seed=1)
    return ds.X, ds.y


def _matrix():
    rng = np.random.default_rng(0)
    U = rng.standard_normal((6, 2))
    mask = rng.random((6, 6)) < 0.5
    return U @ U.T / 2, mask | mask.T


def _mlp():
    task = make_modadd(5, 0.6, 0)
    net = ModAddMLP(5, 8, task.tokens("train"), task.labels("train"), task.tokens("test"), task.labels("test"),
                    alpha=1.0, seed=0)
    return MLPFlow(net, lam=0.01)


_UV = SeparableModel("u*v", "u=1, v=0")

#: (flow class, builder, method, save times): one small run of every built-in flow
BUILT_IN = [
    (ReducedDiagonalFlow, lambda: ReducedDiagonalFlow(*_data(), alpha=10.0, lam=0.05), "auto", [1.0, 20.0]),
    (ReducedDiagonalFlow, lambda: ReducedDiagonalFlow(*_data(), alpha=10.0, lam=0.05, depth=3), "BDF", [1.0, 20.0]),
    (ReducedDiagonalFlow, lambda: ReducedDiagonalFlow(*_data("sparse-regression"), alpha=10.0, lam=0.05,
                                                      loss="squared"), "auto", [1.0, 20.0]),
    (FullDiagonalFlow, lambda: FullDiagonalFlow(*_data(), alpha=10.0, lam=0.05), "auto", [0.5, 5.0]),
    (PlainFullDiagonalFlow, lambda: PlainFullDiagonalFlow(*_data(), alpha=2.0, lam=0.05), "Radau", [0.5, 5.0]),
    (ReducedSeparableFlow, lambda: ReducedSeparableFlow(*_data(), model=_UV, alpha=10.0, lam=0.05), "auto",
     [1.0, 20.0]),
    (FullSeparableFlow, lambda: FullSeparableFlow(*_data(), model=_UV, alpha=2.0, lam=0.05), "auto", [0.5, 5.0]),
    (MatrixFlow, lambda: MatrixFlow(*_matrix(), alpha=1.0, lam=0.01), "rkc", [0.5, 2.0]),
    (MatrixFlow, lambda: MatrixFlow(*_matrix(), alpha=1.0, lam=0.01), "ros2", [0.5, 2.0]),
    (FactorMatrixFlow, lambda: FactorMatrixFlow(*_matrix(), alpha=1.0, lam=0.01), "RK45", [0.5, 2.0]),
    (MLPFlow, _mlp, "RK45", [0.2, 0.5]),
]

#: classes that only share code between flows (not flows of their own)
BASES = {"FlowBase", "ReducedLinearFlow", "_MatrixFlowBase", "_CoreFlow"}


def _flow_classes():
    found = set()
    for info in pkgutil.iter_modules(grokode.numeric.__path__):
        module = importlib.import_module(f"grokode.numeric.{info.name}")
        for obj in vars(module).values():
            if inspect.isclass(obj) and issubclass(obj, FlowBase) and obj.__name__ not in BASES:
                found.add(obj)
    return found


def test_every_flow_class_of_the_package_is_checked():
    assert _flow_classes() == {cls for cls, *_ in BUILT_IN}


def _protocol_methods():
    return {name: member for name, member in vars(Flow).items()
            if inspect.isfunction(member) and not name.startswith("_")}


def _check_signature(name, protocol_method, bound):
    """``bound`` accepts every call the protocol's signature allows (positional, and without its defaults)."""
    params = list(inspect.signature(protocol_method).parameters.values())[1:]
    ours = inspect.signature(bound)
    required = [p for p in params if p.default is inspect.Parameter.empty]
    ours.bind(*range(len(params)))
    ours.bind(*range(len(required)))
    for p in params[len(required):]:  # an optional argument may also be passed by its name
        ours.bind(*range(len(required)), **{p.name: None})


@pytest.mark.parametrize("cls, build, method, times", BUILT_IN,
                         ids=[f"{c.__name__}-{m}" for c, _, m, _t in BUILT_IN])
def test_built_in_flow_satisfies_the_protocol_and_runs(cls, build, method, times):
    flow = build()
    assert isinstance(flow, Flow) and isinstance(flow, cls)
    for name, member in _protocol_methods().items():
        _check_signature(name, member, getattr(flow, name))
    for jac in (flow.jac, flow.jac_diagonal):
        assert jac is None or len(inspect.signature(jac).parameters) == 2
    assert isinstance(flow.weight_size, int) and flow.weight_size > 0 and isinstance(flow.d, int)
    assert isinstance(flow.keep_states, bool) and isinstance(flow.failure_hint, str) and flow.max_step > 0
    assert flow.stop_reason() is None
    with np.errstate(over="ignore"):
        sol = integrate_flow(flow, np.array(times), method=method)
    assert sol.status == "ok", sol.message
    assert sol.t.tolist() == times and sol.weights.shape == (len(times), flow.weight_size)
    assert np.all(np.isfinite(sol.weights)) and np.all(sol.param_norm > 0)
    assert sol.stats.nfev == flow.nfev > 0 and sol.t_reached == pytest.approx(times[-1])
    assert sol.has_dense_output == flow.keep_states
    if sol.has_dense_output:  # the dense output at a saved time is the saved row
        np.testing.assert_allclose(sol.weight_at(times[-1]), sol.weights[-1], rtol=1e-12, atol=1e-300)


def test_reduced_flows_share_the_base_through_its_hooks():
    for cls in (ReducedDiagonalFlow, ReducedSeparableFlow):
        assert issubclass(cls, ReducedLinearFlow)
        for hook in ("prepare_closed_form", "log_clock_scale", "log_rho", "fill_weights", "log_weight_slopes",
                     "observe"):
            assert hook in vars(cls), (cls.__name__, hook)
        private = {name for name in vars(cls) if name.startswith("_") and not name.startswith("__")}
        assert not private & set(vars(ReducedLinearFlow)), private & set(vars(ReducedLinearFlow))


class _CoreOnly:
    """A flow written with only the core members (a plug-in's): y' = −y, w = y."""

    d, alpha, nfev, njev = 1, 1.0, 0, 0

    def start(self):
        return 0.0, np.array([1.0])

    def rhs(self, t, y):
        self.nfev += 1
        return -y

    def weight(self, t, y, frame=None):
        return y.copy()

    def observe(self, t, y, frame=None):
        return y.copy(), float(abs(y[0]))

    def to_var(self, t):
        return np.asarray(t, dtype=np.float64)

    def to_time(self, v):
        return v

    def rescale(self, y):
        return None


def test_a_flow_with_the_core_members_runs_with_the_defaults():
    flow = _CoreOnly()
    sol = integrate_flow(flow, np.array([0.5, 1.0]), method="RK45", rtol=1e-10, atol=1e-12)
    assert sol.status == "ok" and sol.stats.nfev == flow.nfev > 0
    np.testing.assert_allclose(sol.weights[:, 0], np.exp([-0.5, -1.0]), rtol=1e-8)
    assert sol.weight_at(0.75)[0] == pytest.approx(math.exp(-0.75), rel=1e-6)


def test_a_flow_missing_members_or_with_unused_ones_is_refused():
    class NoRhs:
        d, alpha, nfev, njev = 1, 1.0, 0, 0

    class WithJacobian(_CoreOnly):
        def jac(self, t, y):
            return -np.eye(1)

    for obj, needle in ((NoRhs(), "lacks start, rhs"), (WithJacobian(), "defines jac but not every member")):
        with pytest.raises(InputError, match=needle):
            integrate_flow(obj, np.array([1.0]), method="BDF")
    assert set(CORE_MEMBERS) <= set(dir(_CoreOnly))
