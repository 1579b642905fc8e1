"""Symbolic special functions with numerically stable numeric counterparts.

The derivations are written with these instead of ``log(1 + exp(z))`` so that the code generator can
emit calls to the stable implementations in :mod:`grokode.numeric.primitives` (a naive
``log(1 + exp(1000))`` overflows; ``softplus(1000)`` does not). Each function knows its derivative and
how to rewrite itself in elementary functions, which the tests use to check every derivation.
"""

from __future__ import annotations

import sympy as sp
from sympy.codegen.cfunctions import log1p

__all__ = ["softplus", "sigmoid", "log1p"]


class sigmoid(sp.Function):  # noqa: N801  (sympy functions are lower case)
    """Logistic sigmoid 1/(1 + e^{-z})."""

    def fdiff(self, argindex=1):
        z = self.args[0]
        return sigmoid(z) * sigmoid(-z)

    def _eval_rewrite_as_exp(self, z, **kwargs):
        return 1 / (1 + sp.exp(-z))

    def _eval_is_positive(self):
        return True if self.args[0].is_extended_real else None

    @classmethod
    def eval(cls, z):
        if z == 0:
            return sp.Rational(1, 2)


class softplus(sp.Function):  # noqa: N801
    """softplus(z) = log(1 + e^z), the logistic loss of margin -z."""

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0])

    def _eval_rewrite_as_exp(self, z, **kwargs):
        return sp.log(1 + sp.exp(z))

    @classmethod
    def eval(cls, z):
        if z == 0:
            return sp.log(2)


def to_elementary(expr: sp.Expr) -> sp.Expr:
    """Rewrite ``softplus``/``sigmoid``/``log1p`` in exp/log so that sympy can simplify and compare."""
    return expr.replace(softplus, lambda z: sp.log(1 + sp.exp(z))).replace(
        sigmoid, lambda z: 1 / (1 + sp.exp(-z))
    ).replace(log1p, lambda z: sp.log(1 + z))
