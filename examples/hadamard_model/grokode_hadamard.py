"""A grokode model in one file: linear classification with the Hadamard parametrization w = u ⊙ v.

f(θ; x) = ⟨u ⊙ v, x⟩ is 2-homogeneous in θ = (u, v). From u(0) = α/√d·1, v(0) = 0 the output is 0 at
initialization; gradient flow with weight decay λ, g = Xᵀr/n:

    du/dt = −g ⊙ v − λu,    dv/dt = −g ⊙ u − λv.

The NTK at θ(0) is (α²/d)·⟨x, x′⟩, so the kernel predictor is the max ℓ2-margin classifier; min ‖θ‖² subject
to u ⊙ v = w is 2‖w‖₁, so the rich predictor is the max ℓ1-margin classifier — the same dichotomy as the
diagonal net. Installed with its entry point (see pyproject.toml), it is ``grokode integrate --model
hadamard``, ``grokode derive hadamard`` and ``grokode sweep --model hadamard``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import sympy as sp

from grokode.models.base import (
    ALPHA,
    ATOL,
    RTOL,
    SEED,
    T_END,
    Model,
    Plan,
    default_t_end,
    save_times,
    theory_time,
    with_default,
)
from grokode.options import Option


class HadamardNet:
    """The full 2d-dimensional flow of (u, v), in the interface grokode's flow driver steps."""

    variable = "t"

    def __init__(self, X: np.ndarray, y: np.ndarray, alpha: float, lam: float):
        self.X, self.y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
        self.n, self.d = self.X.shape
        self.alpha, self.lam = alpha, lam
        self.nfev = self.njev = 0

    def start(self) -> tuple[float, np.ndarray]:
        return 0.0, np.concatenate([np.full(self.d, self.alpha / np.sqrt(self.d)), np.zeros(self.d)])

    def rhs(self, t: float, state: np.ndarray) -> np.ndarray:
        self.nfev += 1
        u, v = state[: self.d], state[self.d:]
        margins = self.y * (self.X @ (u * v))
        g = self.X.T @ (-self.y / (1.0 + np.exp(np.clip(margins, -700, 700)))) / self.n  # logistic loss
        return np.concatenate([-g * v - self.lam * u, -g * u - self.lam * v])

    def observe(self, t: float, state: np.ndarray, frame=None) -> tuple[np.ndarray, float]:
        return state[: self.d] * state[self.d:], float(np.linalg.norm(state))

    def weight(self, t: float, state: np.ndarray, frame=None) -> np.ndarray:
        return self.observe(t, state)[0]

    def to_var(self, t):
        return np.asarray(t, dtype=np.float64)

    def to_time(self, t):
        return t

    def rescale(self, state):
        return None


class HadamardModel(Model):
    """w = u ⊙ v on the sparse classification task (module docstring)."""

    name: ClassVar[str] = "hadamard"
    title: ClassVar[str] = "Hadamard parametrization w = u ⊙ v (a user plug-in)"
    options: ClassVar[tuple[Option, ...]] = (
        Option("n", "int", "training samples", default=64, low=1),
        Option("d", "int", "input dimension", default=200, low=1),
        Option("n_test", "int", "test samples", default=0, low=0),
        SEED,
        with_default(ALPHA, 100.0, "initialization scale α > 0 (default 100)"),
        Option("lam", "float", "weight decay λ > 0 (default 0.02)", default=0.02, low=0.0, low_open=True),
        T_END,
        RTOL,
        ATOL,
        Option("method", "str", "RK45 | DOP853 | LSODA", default="RK45", choices=("RK45", "DOP853", "LSODA")),
    )
    analysis_keys: ClassVar[tuple[str, ...]] = ("offset_c0", "t_bias_switch", "cos_kernel_at_Tminus",
                                                "cos_kernel_at_Tplus", "cos_rich_at_Tplus")

    @classmethod
    def derive(cls, **given: Any):
        from grokode.analytic.model import Derivation, SymbolicModel

        cls.parse_derive_options(given)
        u, v, x, d, g, lam = sp.symbols("u v x d g lam", real=True)

        class Symbolic(SymbolicModel):
            name, params, output = "hadamard", [u, v], u * v * x
            init_direction = {u: 1 / sp.sqrt(d), v: sp.Integer(0)}

        model = Symbolic()
        out = Derivation("hadamard")
        out.items["homogeneity"] = model.homogeneity_degree()
        out.items["flow"] = {str(p): sp.expand(-g * sp.diff(u * v, p) - lam * p) for p in (u, v)}
        out.items["ntk_feature"] = {str(k): e for k, e in model.ntk_feature().items()}
        out.items["zero_output_at_init"] = model.zero_output_at_init()
        return out

    def prepare(self) -> Plan:
        from grokode.tasks import make_task

        c = self.config
        self.data = make_task("sparse", n=c["n"], d=c["d"], k=3, n_test=c["n_test"], seed=c["seed"])
        t_theory = theory_time(c["alpha"], c["lam"])
        t_end = c["t_end"] or default_t_end(c["alpha"], c["lam"])
        return Plan(save_times(t_end, t_theory, theorem_window=True), t_end, t_theory, c["lam"])

    def solve(self, plan: Plan, progress):
        from grokode.numeric.integrate import integrate_flow

        c = self.config
        flow = HadamardNet(self.data.X, self.data.y, c["alpha"], c["lam"])
        return integrate_flow(flow, plan.t_eval, method=c["method"], rtol=c["rtol"], atol=c["atol"],
                              progress=progress)

    def observe(self, plan: Plan, sol) -> dict[str, np.ndarray]:
        from grokode.tasks.metrics import empirical_metrics

        W = sol.weights
        loss, acc = empirical_metrics(self.data.X, self.data.y, W, "logistic")
        return {"t": sol.t, "w": W, "param_norm": sol.param_norm, "train_loss": loss, "train_acc": acc,
                "test_acc_population": np.atleast_1d(self.data.population_accuracy(W))}

    def locate_transition(self, plan: Plan, sol, arrays):
        from grokode.analysis.transition import find_transition

        return find_transition(sol.t, arrays["test_acc_population"], plan.t_theory, min_change=0.05), \
            "test_acc_population"

    def references(self, plan: Plan, sol, arrays):
        from grokode.analysis.analyze import reference_arrays

        alignment, references = reference_arrays(self.data, arrays["w"], "classification", "logistic")
        arrays.update(alignment)
        return references

    def summarize(self, plan, sol, arrays, transition, references) -> dict[str, Any]:
        return {"test_plateau": transition.plateau if transition else None,
                "test_final": transition.final if transition else None,
                "train_final": float(arrays["train_acc"][-1]), "transition_metric": "test_acc_population",
                "kernel_test": references["kernel"]["test_value"] if references else None,
                "rich_test": references["rich"]["test_value"] if references else None}

    def record(self, plan: Plan) -> tuple[dict[str, Any], dict[str, Any]]:
        return {"model": self.name, **self.config, "t_end": plan.t_end}, {"name": "sparse", **self.data.params}
