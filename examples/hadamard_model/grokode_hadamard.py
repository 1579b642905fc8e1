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

import numpy as np

from grokode.models import base
from grokode.models.base import ALPHA, ATOL, RTOL, SEED, T_END, Model, Plan, References
from grokode.numeric.flow import FlowBase
from grokode.observables import Observables
from grokode.options import Option


class HadamardFlow(FlowBase):
    """The full 2d-dimensional flow of (u, v), integrated in t itself, as grokode's flow driver steps it
    (:class:`~grokode.numeric.flow.FlowBase` supplies the optional members of the Flow protocol)."""

    def __init__(self, X: np.ndarray, y: np.ndarray, alpha: float, lam: float):
        self.X, self.y, self.alpha, self.lam = X, y, alpha, lam
        self.n, self.d = X.shape
        self.nfev = self.njev = 0

    def start(self) -> tuple[float, np.ndarray]:
        return 0.0, np.concatenate([np.full(self.d, self.alpha / np.sqrt(self.d)), np.zeros(self.d)])

    def rhs(self, t: float, state: np.ndarray) -> np.ndarray:
        self.nfev += 1
        u, v = state[: self.d], state[self.d:]
        margins = self.y * (self.X @ (u * v))
        g = self.X.T @ (-self.y / (1.0 + np.exp(np.clip(margins, -700, 700)))) / self.n  # logistic loss
        return np.concatenate([-g * v - self.lam * u, -g * u - self.lam * v])

    def weight(self, t: float, state: np.ndarray, frame=None) -> np.ndarray:
        return state[: self.d] * state[self.d:]

    def observe(self, t: float, state: np.ndarray, frame=None) -> tuple[np.ndarray, float]:
        return self.weight(t, state), float(np.linalg.norm(state))


class HadamardModel(Model):
    """w = u ⊙ v on the sparse classification task (module docstring)."""

    name, title = "hadamard", "Hadamard parametrization w = u ⊙ v (a user plug-in)"
    options = (Option("n", "int", "training samples", default=64, low=1),
               Option("d", "int", "input dimension", default=200, low=1),
               Option("n_test", "int", "test samples", default=0, low=0), SEED,
               base.with_default(ALPHA, 100.0, "initialization scale α > 0 (default 100)"),
               Option("lam", "float", "weight decay λ > 0 (default 0.02)", default=0.02, low=0.0, low_open=True),
               T_END, RTOL, ATOL,
               Option("method", "str", "RK45 | DOP853 | LSODA", default="RK45", choices=("RK45", "DOP853", "LSODA")))

    @classmethod
    def declare(cls, options) -> Observables:  # w (T×d), accuracies, cosines to the reference predictors
        keys = ("offset_c0", "t_bias_switch", "cos_kernel_at_Tminus", "cos_kernel_at_Tplus", "cos_rich_at_Tplus")
        per_time = {"w": 2, "param_norm": 1, "train_loss": 1, "train_acc": 1, "test_acc_population": 1}
        return Observables(predictor="w", transition=("test_acc_population",), alignment="cos", per_time=per_time,
                           shaped_like_row=("w_kernel", "w_rich"), analysis_keys=keys)

    @classmethod
    def derive(cls, **given):
        import sympy as sp  # imported here: the command line loads every plug-in, and sympy takes seconds

        from grokode.analytic.model import Derivation, SymbolicModel

        cls.parse_derive_options(given)
        u, v, x, d, g, lam = sp.symbols("u v x d g lam", real=True)

        class Symbolic(SymbolicModel):
            name, params, output = "hadamard", [u, v], u * v * x
            init_direction = {u: 1 / sp.sqrt(d), v: sp.Integer(0)}

        model, out = Symbolic(), Derivation("hadamard")
        out.items["homogeneity"] = model.homogeneity_degree()
        out.items["flow"] = {str(p): sp.expand(-g * sp.diff(u * v, p) - lam * p) for p in (u, v)}
        out.items["ntk_feature"] = {str(k): e for k, e in model.ntk_feature().items()}
        out.items["zero_output_at_init"] = model.zero_output_at_init()
        return out

    def prepare(self) -> Plan:
        from grokode.tasks import make_task

        cfg = self.config
        data = make_task("sparse", n=cfg["n"], d=cfg["d"], k=3, n_test=cfg["n_test"], seed=cfg["seed"])
        t_theory = base.theory_time(cfg["alpha"], cfg["lam"])
        t_end = cfg["t_end"] or base.default_t_end(cfg["alpha"], cfg["lam"])
        return Plan(base.save_times(t_end, t_theory, theorem_window=True), t_end, t_theory, cfg["lam"], data=data,
                    dynamics=HadamardFlow(data.X, data.y, cfg["alpha"], cfg["lam"]))

    def solve(self, plan: Plan, progress):
        from grokode.numeric.integrate import integrate_flow

        cfg = self.config
        return integrate_flow(plan.dynamics, plan.t_eval, method=cfg["method"], rtol=cfg["rtol"], atol=cfg["atol"],
                              progress=progress)

    def observe(self, plan: Plan, solution) -> dict[str, np.ndarray]:
        from grokode.tasks.metrics import empirical_metrics

        W, data = solution.weights, plan.data
        loss, acc = empirical_metrics(data.X, data.y, W, "logistic")
        return {"t": solution.t, "w": W, "param_norm": solution.param_norm, "train_loss": loss, "train_acc": acc,
                "test_acc_population": np.atleast_1d(data.population_accuracy(W))}

    def references(self, plan: Plan, solution, arrays) -> References:
        from grokode.analysis.analyze import reference_arrays

        alignment, predictors = reference_arrays(plan.data, arrays["w"], "classification", "logistic")
        return References(predictors, alignment)
