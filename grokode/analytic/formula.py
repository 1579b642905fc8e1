"""The safe parser of a separable model's formulas: φ (``"a*b*c"``) and the direction θ̂ (``"a=1, b=1, c=0"``).

Both are untrusted text, parsed with :mod:`ast` into a sympy expression built node by node from a whitelist
(never ``eval``/``sympify``), within fixed limits of length, size, degree, exponents and constants. The
derivation that uses them is :mod:`grokode.analytic.separable`.
"""

from __future__ import annotations

import ast
import math
import numbers
import re
from collections.abc import Mapping
from typing import NoReturn

import sympy as sp

from ..errors import InputError

MAX_PARAMS = 8
MAX_DEGREE = 8
MAX_EXPONENT = 8
MAX_FORMULA_LENGTH = 400
MAX_NAME_LENGTH = 24
MAX_NODES = 300
MAX_CONSTANT = 10**100
#: The separable derivation's own symbol and function names (:mod:`grokode.analytic.separable`).
_OWN_NAMES = {"x", "xp", "g", "lam", "t", "c0", "Gamma", "w_j", "r_i", "F", "F1"}
#: Names of functions and constants that rendered derivations may contain; a parameter with such a name
#: would not parse back from JSON, so it is refused up front (the full check runs after deriving).
_PRINTED_NAMES = {"exp", "log", "sqrt", "Abs", "sign", "cosh", "sinh", "tanh", "Piecewise", "CRootOf", "oo",
                  "zoo", "nan", "pi", "Sum", "DiracDelta", "Heaviside", "Max", "Min", "Rational", "Float",
                  "Integer", "Symbol", "Function", "And", "Or", "Not", "true", "false", "True", "False"}
_FUNCTIONS = {"abs": sp.Abs}
RESERVED_NAMES = frozenset(_OWN_NAMES | _PRINTED_NAMES | set(_FUNCTIONS))
_NAME_RE = re.compile(rf"[A-Za-z][A-Za-z0-9_]{{0,{MAX_NAME_LENGTH - 1}}}\Z")

_NOT_ALLOWED = {
    ast.Attribute: "attribute access", ast.Subscript: "subscripts", ast.Lambda: "lambda",
    ast.ListComp: "comprehensions", ast.SetComp: "comprehensions", ast.DictComp: "comprehensions",
    ast.GeneratorExp: "comprehensions", ast.NamedExpr: "assignment expressions (:=)",
    ast.JoinedStr: "f-strings", ast.FormattedValue: "f-strings", ast.Compare: "comparisons",
    ast.BoolOp: "'and'/'or'", ast.IfExp: "conditional expressions", ast.Tuple: "tuples (a stray comma?)",
    ast.List: "lists", ast.Dict: "dicts", ast.Set: "sets", ast.Starred: "starred expressions",
    ast.Await: "await", ast.Slice: "slices", ast.Yield: "yield", ast.YieldFrom: "yield",
}
_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_OTHER_OPS = {ast.Mod: "%", ast.FloorDiv: "//", ast.MatMult: "@", ast.LShift: "<<", ast.RShift: ">>",
              ast.BitOr: "|", ast.BitXor: "^", ast.BitAnd: "&", ast.Not: "not", ast.Invert: "~"}


def _short(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")


class _Builder:
    """Turns a whitelisted :mod:`ast` tree into a sympy expression (see :func:`parse_phi`)."""

    def __init__(self, what: str, text: str, *, allow_names: bool, allow_root_exponents: bool):
        self.what, self.text = what, text
        self.allow_names, self.allow_root_exponents = allow_names, allow_root_exponents
        self.names: list[str] = []
        self.degrees: dict[int, int] = {}  # id(ast node) → bound on its total degree
        self.exponents: dict[int, int] = {}  # id(ast.BinOp of **) → its integer exponent

    def fail(self, message: str) -> NoReturn:
        raise InputError(f"{self.what} {_short(self.text)}: {message}")

    def constant(self, value: sp.Expr) -> sp.Expr:
        if value.is_finite is False or abs(float(value)) > MAX_CONSTANT:
            self.fail(f"constant {sp.sstr(value)[:30]} is too large (at most 1e100 in magnitude)")
        return value

    def build(self, node: ast.AST, depth: int = 0) -> sp.Expr:
        """The sympy expression of ``node``; its total degree is bounded first (:meth:`_degree_bound`)."""
        expr = self._build(node, depth)
        bound = self._degree_bound(node, expr)
        self.degrees[id(node)] = bound
        if bound > MAX_DEGREE:
            self.fail(f"its total degree can reach {bound} (at most {MAX_DEGREE}); nested powers and products "
                      "are bounded before anything is expanded")
        return expr

    def _degree_bound(self, node: ast.AST, expr: sp.Expr) -> int:
        """An upper bound on the total degree of ``node`` as a polynomial, from its children's bounds (a sum takes
        the larger, a product the sum, a power e times the base's): checked before sympy expands anything, since
        ``((a+b)**8)**8)**8…`` has a short text and an expansion beyond any memory."""
        if not expr.free_symbols:
            return 0
        child = self.degrees.get
        if isinstance(node, ast.Name):
            return 1
        if isinstance(node, ast.Expression):
            return child(id(node.body), 0)
        if isinstance(node, ast.UnaryOp):
            return child(id(node.operand), 0)
        if isinstance(node, ast.Call):
            return child(id(node.args[0]), 0)
        if isinstance(node, ast.BinOp):
            left, right = child(id(node.left), 0), child(id(node.right), 0)
            if isinstance(node.op, ast.Add | ast.Sub):
                return max(left, right)
            if isinstance(node.op, ast.Mult):
                return left + right
            if isinstance(node.op, ast.Div):
                return left
            if isinstance(node.op, ast.Pow):
                exponent = self.exponents.get(id(node), 0)
                return left * abs(exponent)
        return 0

    def _build(self, node: ast.AST, depth: int) -> sp.Expr:
        if depth > 64:
            self.fail("the expression is nested too deeply")
        if isinstance(node, ast.Expression):
            return self.build(node.body, depth + 1)
        if isinstance(node, ast.Constant):
            return self._literal(node.value)
        if isinstance(node, ast.Name):
            return self._name(node.id)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return -self.build(node.operand, depth + 1)
            if isinstance(node.op, ast.UAdd):
                return self.build(node.operand, depth + 1)
            self.fail(f"operator {_OTHER_OPS.get(type(node.op), type(node.op).__name__)!r} is not allowed")
        if isinstance(node, ast.BinOp):
            return self._binop(node, depth)
        if isinstance(node, ast.Call):
            return self._call(node, depth)
        self.fail(f"{_NOT_ALLOWED.get(type(node), type(node).__name__)} not allowed "
                  f"(only names, numbers, + - * / **, parentheses{', abs()' if self.allow_names else ''})")

    def _literal(self, value) -> sp.Expr:
        if isinstance(value, bool) or value is None or value is Ellipsis:
            self.fail(f"{value!r} is not a number")
        if isinstance(value, int):
            if abs(value) > MAX_CONSTANT:
                self.fail("integer literal is too large (at most 1e100 in magnitude)")
            return sp.Integer(value)
        if isinstance(value, float):
            if not math.isfinite(value):
                self.fail(f"number {value!r} is not finite")
            return self.constant(sp.Rational(repr(value)))
        if isinstance(value, complex):
            self.fail("complex numbers are not allowed")
        self.fail(f"{type(value).__name__} literals are not allowed")

    def _name(self, name: str) -> sp.Expr:
        if not self.allow_names:
            self.fail(f"name {name!r} is not allowed here (only numbers)")
        if name in _FUNCTIONS:
            self.fail(f"{name!r} is a function, write {name}(...)")
        if not _NAME_RE.match(name):
            self.fail(f"parameter name {name!r} is not allowed (letters, digits and _, starting with a letter, "
                      f"at most {MAX_NAME_LENGTH} characters)")
        if name in RESERVED_NAMES:
            self.fail(f"parameter name {name!r} is reserved (used by the derivation); rename it")
        if name not in self.names:
            self.names.append(name)
        return sp.Symbol(name, real=True)

    def _binop(self, node: ast.BinOp, depth: int) -> sp.Expr:
        op = type(node.op)
        if op not in _BINOPS:
            self.fail(f"operator {_OTHER_OPS.get(op, op.__name__)!r} is not allowed")
        left = self.build(node.left, depth + 1)
        right = self.build(node.right, depth + 1)
        if op is ast.Add:
            out = left + right
        elif op is ast.Sub:
            out = left - right
        elif op is ast.Mult:
            out = left * right
        elif op is ast.Div:
            if right.free_symbols:
                self.fail("division by an expression with parameters is not allowed (divide by numbers only)")
            if right == 0:
                self.fail("division by zero")
            out = left / right
        else:
            out = self._power(left, right)
            if right.is_integer:
                self.exponents[id(node)] = int(right)
        return self.constant(out) if not out.free_symbols else out

    def _power(self, base: sp.Expr, exponent: sp.Expr) -> sp.Expr:
        if exponent.free_symbols:
            self.fail("exponents must be numbers, not expressions with parameters")
        if not exponent.is_integer:
            if self.allow_root_exponents and not base.free_symbols and base.is_nonnegative \
                    and exponent.is_rational and abs(exponent) <= MAX_EXPONENT and exponent.q <= MAX_EXPONENT:
                return base**exponent
            self.fail(f"exponent {sp.sstr(exponent)} is not an integer (φ must be a polynomial: a rational "
                      "power is not real for negative bases and not smooth at 0)")
        e = int(exponent)
        if abs(e) > MAX_EXPONENT:
            self.fail(f"exponent {e} is too large (at most {MAX_EXPONENT})")
        if base.free_symbols and e < 0:
            self.fail(f"negative exponent {e} of an expression with parameters is not allowed")
        if base == 0 and e < 0:
            self.fail("division by zero")
        return base**e

    def _call(self, node: ast.Call, depth: int) -> sp.Expr:
        func = node.func
        name = func.id if isinstance(func, ast.Name) else None
        if name is None or not self.allow_names or name not in _FUNCTIONS:
            label = name if name is not None else ast.unparse(func)[:40]
            allowed = ", ".join(f"{f}()" for f in _FUNCTIONS) if self.allow_names else "none"
            self.fail(f"calling {label!r} is not allowed (functions allowed: {allowed})")
        if node.keywords or len(node.args) != 1 or isinstance(node.args[0], ast.Starred):
            self.fail(f"{name}() takes exactly one argument")
        return _FUNCTIONS[name](self.build(node.args[0], depth + 1))


def _parse_tree(what: str, text: str) -> ast.Expression:
    if not isinstance(text, str):
        raise InputError(f"{what} must be a string, got {type(text).__name__}")
    if len(text) > MAX_FORMULA_LENGTH:
        raise InputError(f"{what} is too long ({len(text)} characters, at most {MAX_FORMULA_LENGTH})")
    if not text.strip():
        raise InputError(f"{what} is empty")
    bad = next((ch for ch in text if not (ch.isascii() and (ch.isprintable() or ch in " \t"))), None)
    if bad is not None:
        raise InputError(f"{what} {_short(text)}: character {bad!r} is not allowed (ASCII names and numbers only)")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        msg = exc.msg if isinstance(exc, SyntaxError) else type(exc).__name__
        raise InputError(f"{what} {_short(text)} is not a formula: {msg}") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise InputError(f"{what} {_short(text)} is too complex (more than {MAX_NODES} syntax nodes)")
    return tree


def parse_phi(text: str) -> tuple[sp.Expr, list[sp.Symbol]]:
    """Parse the formula φ(θ) into (expression, parameters in order of first appearance).

    Allowed: parameter names, int/float literals, unary ±, binary + − * /, ** with an integer exponent
    0…8, division by nonzero numbers, parentheses and ``abs(·)``. Anything else raises :class:`InputError`
    with a one-line message naming what is not allowed. Nothing is ever evaluated by Python.

    Rational exponents are refused: θ^{p/q} is not real for negative θ (q even) and not smooth at 0, while
    the flow needs a real, locally Lipschitz ∇φ everywhere along Ψ and the exact derivations (Lagrange
    conditions, conserved forms, Lie derivatives) need polynomials. ``abs`` keeps homogeneity decidable
    (|cθ| = c|θ| for c > 0); with it the symbolic c_±, conserved forms and closed forms are skipped
    (numeric only), and ∇φ is taken as sign(·) off the kinks.
    """
    builder = _Builder("phi", text, allow_names=True, allow_root_exponents=False)
    try:
        expr = builder.build(_parse_tree("phi", text))
    except RecursionError:
        raise InputError(f"phi {_short(text)}: the expression is nested too deeply") from None
    params = [sp.Symbol(n, real=True) for n in builder.names]
    if not params:
        raise InputError(f"phi {_short(text)} has no parameters")
    if len(params) > MAX_PARAMS:
        raise InputError(f"phi {_short(text)} has {len(params)} parameters (at most {MAX_PARAMS})")
    if sp.expand(expr) == 0:
        raise InputError(f"phi {_short(text)} is identically zero")
    return expr, params


def _parse_number(text: str, what: str) -> sp.Expr:
    builder = _Builder(what, text, allow_names=False, allow_root_exponents=True)
    try:
        value = builder.build(_parse_tree(what, text))
    except RecursionError:
        raise InputError(f"{what} {_short(text)}: the expression is nested too deeply") from None
    return value


def parse_init(init: str | Mapping, params: list[sp.Symbol]) -> dict[sp.Symbol, sp.Expr]:
    """Parse the initialization direction θ̂: ``"a=1, b=1, c=0"`` or a mapping ``{"a": 1, "b": 0}``.

    Values are exact (a float literal 0.1 means 1/10; ``2**(1/2)`` is allowed for a value). Every
    parameter must appear exactly once; values must be finite and not all zero.
    """
    names = [p.name for p in params]
    values: dict[str, sp.Expr] = {}
    if isinstance(init, str):
        if len(init) > MAX_FORMULA_LENGTH:
            raise InputError(f"init is too long ({len(init)} characters, at most {MAX_FORMULA_LENGTH})")
        if not init.strip():
            raise InputError("init is empty (expected name=value pairs such as 'a=1, b=0')")
        for item in init.split(","):
            if item.count("=") != 1:
                raise InputError(f"init item {_short(item.strip())} is not of the form name=value")
            name, value = (part.strip() for part in item.split("="))
            if not _NAME_RE.match(name):
                raise InputError(f"init name {_short(name)} is not a parameter name")
            if name in values:
                raise InputError(f"init gives {name!r} twice")
            values[name] = _parse_number(value, f"init value of {name}")
    elif isinstance(init, Mapping):
        for name, value in init.items():
            if not isinstance(name, str) or not _NAME_RE.match(name):
                raise InputError(f"init name {name!r} is not a parameter name")
            if isinstance(value, str):
                values[name] = _parse_number(value, f"init value of {name}")
            elif isinstance(value, numbers.Real) and not isinstance(value, bool):
                v = float(value)
                if not math.isfinite(v) or abs(v) > MAX_CONSTANT:
                    raise InputError(f"init value of {name} must be a finite number, got {value!r}")
                values[name] = sp.Integer(int(v)) if float(v).is_integer() and abs(v) < 2**53 \
                    else sp.Rational(repr(v))
            else:
                raise InputError(f"init value of {name} must be a number, got {value!r}")
    else:
        raise InputError(f"init must be a string 'a=1, b=0' or a mapping, got {type(init).__name__}")
    unknown = [n for n in values if n not in names]
    if unknown:
        raise InputError(f"init names {unknown[0]!r}, which is not a parameter of phi (parameters: {', '.join(names)})")
    missing = [n for n in names if n not in values]
    if missing:
        raise InputError(f"init misses parameter {missing[0]!r} (give every one of {', '.join(names)} once)")
    if all(values[n] == 0 for n in names):
        raise InputError("init direction is zero; it must be a nonzero direction θ̂")
    return {p: values[p.name] for p in params}


__all__ = ["MAX_DEGREE", "MAX_PARAMS", "RESERVED_NAMES", "parse_init", "parse_phi"]
