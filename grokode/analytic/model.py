"""Symbolic model declarations and the derivations every homogeneous model shares.

A model is declared once: its parameters, its output f(θ; x) and its initialization direction θ̄.
From that declaration this module derives the homogeneity degree (checked symbolically), the NTK
feature φ(x) = ∇_θ f(θ̄; x) and the kernel K(x, x') = ⟨φ(x), φ(x')⟩ (docs/math.md#setting, #regimes). A new
model is a new subclass in its own file (see :mod:`grokode.analytic.diagonal`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp


def drop_delta(expr: sp.Expr) -> sp.Expr:
    """``expr`` with its DiracDelta terms set to 0.

    Derivatives of abs() bring DiracDelta terms; they vanish off the kinks, which is where the derivations and
    the kernels printed from them are evaluated.
    """
    return expr.replace(lambda e: isinstance(e, sp.DiracDelta), lambda e: sp.Integer(0)) if expr.has(
        sp.DiracDelta) else expr


class NotHomogeneousError(ValueError):
    """The declared output is not positively homogeneous in the parameters."""


@dataclass
class Derivation:
    """Named results of a derivation, in display order, and how to display them.

    ``items`` maps a section key to a value: an int, a string, a sympy expression or a dict of them.
    ``notes`` (one line per section), ``titles`` (overrides of the default section titles), ``lhs`` (LaTeX
    left-hand side per section: a string, or a dict per entry of a dict-valued section) and ``latex_names``
    (symbol or function name -> LaTeX, see :mod:`grokode.analytic.report`) only affect rendering.
    """

    model: str
    items: dict[str, object] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)
    lhs: dict[str, object] = field(default_factory=dict)
    latex_names: dict[str, object] = field(default_factory=dict)

    def __getitem__(self, key: str):
        return self.items[key]


class SymbolicModel:
    """Base class: subclasses set ``name``, ``params``, ``output`` and ``init_direction``.

    ``params`` is a list of sympy symbols θ_k, ``output`` an expression f(θ; x), ``init_direction`` a
    mapping θ_k -> θ̄_k.
    """

    name: str = "model"
    params: list[sp.Symbol]
    output: sp.Expr
    init_direction: dict[sp.Symbol, sp.Expr]

    def homogeneity_degree(self) -> int:
        """The degree L with f(cθ) = c^L f(θ), derived by substitution; raises if there is none."""
        c = sp.Symbol("c", positive=True)
        scaled = self.output.subs({p: c * p for p in self.params}, simultaneous=True)
        ratio = sp.simplify(scaled / self.output)
        degree = sp.simplify(c * sp.diff(ratio, c) / ratio)
        if degree.free_symbols or not degree.is_integer or sp.simplify(ratio - c**degree) != 0:
            raise NotHomogeneousError(
                f"output {self.output} of model {self.name!r} is not homogeneous in {self.params}: "
                f"f(c·θ)/f(θ) = {ratio}"
            )
        return int(degree)

    def ntk_feature(self) -> dict[sp.Symbol, sp.Expr]:
        """φ(x) = ∇_θ f(θ̄; x): one component per parameter."""
        return {p: sp.simplify(sp.diff(self.output, p).subs(self.init_direction)) for p in self.params}

    def zero_output_at_init(self) -> bool:
        """Assumption 3.2: f(θ̄; x) = 0 for every x."""
        return sp.simplify(self.output.subs(self.init_direction)) == 0
