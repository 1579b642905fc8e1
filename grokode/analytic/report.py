"""Render a :class:`~grokode.analytic.model.Derivation` as text, LaTeX or JSON, and read the JSON back.

* **text**: sympy's pretty printer, one block per section: ``── Title``, a note line, the entries.
  ``lam`` is shown as λ, ``xp`` as x′, index functions such as ``Svec(i)`` with their short names.
* **latex**: a fragment for amsmath, one ``align`` environment per section, preceded by ``%`` comments
  (title, note, plain values such as the depth). Every equation is ``lhs &= rhs``; the left-hand sides come
  from :attr:`Derivation.lhs` and the names from :attr:`Derivation.latex_names` (``lam`` → ``\\lambda``,
  ``xp`` → ``x'``, index functions ``X(i, j)`` → ``X_{i j}``, the projection onto the observed entries
  ``HadamardProduct(Omega, A)`` → ``\\mathcal{P}_{\\Omega}(A)``). Wrap it in ``\\begin{document}`` with
  ``\\usepackage{amsmath}``; each equation also renders with matplotlib's mathtext (tested).
* **json**: one object with the items; every symbolic value is a string and the key ``"sympify_locals"``
  maps each name the strings use to its sympy constructor (``"u0": "Symbol('u0', positive=True)"``,
  ``"U": "MatrixSymbol('U', d, d)"``, ``"X": "Function('X')"``; grokode's own functions by their import
  path, ``"sigmoid": "grokode.analytic.functions.sigmoid"``). :func:`sympify_locals` turns that table
  into the ``locals`` of ``sympy.sympify``, and :func:`from_json` parses a whole object:
  ``sympify(text, locals=sympify_locals(obj)) == derived expression`` for every value (tested for every
  model, depth and loss). The diagonal and mlp strings also parse without ``locals`` (plain symbols and
  undefined functions then stand for the named ones); the matrix strings need them (``U.T``, and ``E``,
  ``N``, ``Q`` are sympy names).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterator

import sympy as sp
from sympy.core.function import AppliedUndef, UndefinedFunction
from sympy.printing.latex import LatexPrinter

from .model import Derivation

FORMATS = ("text", "latex", "json")
#: Key of the JSON object that holds the name table for ``sympify``.
LOCALS_KEY = "sympify_locals"
#: Masks whose Hadamard product is printed as the projection 𝒫_Ω (matrix completion's observed set).
PROJECTION_MASKS = ("Omega",)

DEFAULT_TITLES = {
    "model": "Model", "depth": "Depth L", "homogeneity": "Homogeneity degree", "output": "Output",
    "flow": "Gradient flow", "ntk_feature": "NTK feature", "kernel": "Kernel", "closed_form": "Closed form",
    "conserved": "Conserved quantity", "reduced_flow": "Reduced flow", "jacobian": "Jacobian of the reduced flow",
    "loss": "Loss", "lifted_flow": "Lifted flow", "kernel_predictor": "Kernel predictor",
}

LatexName = str | Callable[[list[str]], str]


def index_notation(base: str) -> Callable[[list[str]], str]:
    """LaTeX for an index function: ``X(i, j)`` → ``X_{i j}``; a base with a subscript is parenthesized.

    Arguments that are not single symbols are separated by commas (``W1(j, b + p)`` → ``(W_{1})_{j, b + p}``).
    """
    head = f"({base})" if "_" in base else base

    def render(args: list[str]) -> str:
        simple = all(len(a) == 1 or (a.startswith("\\") and " " not in a) or a.endswith("'") for a in args)
        return f"{head}_{{{(' ' if simple else ', ').join(args)}}}"

    return render


#: Names shared by every model (a model adds its own in ``Derivation.latex_names``).
DEFAULT_LATEX_NAMES: dict[str, LatexName] = {
    "lam": r"\lambda", "xp": "x'", "sigmoid": r"\sigma", "softplus": r"\operatorname{softplus}",
    "log1p": r"\operatorname{log1p}", "relu": r"\operatorname{ReLU}",
}
#: Display names in the text format (sympy's pretty printer).
DEFAULT_TEXT_NAMES = {"lam": "λ", "xp": "x′", "Svec": "S", "cp": "c′", "hbar": "h̄", "hbarp": "h̄′", "Wbar1": "W̄1"}


# -- LaTeX ---------------------------------------------------------------------------------------------------
class DerivationLatexPrinter(LatexPrinter):
    """sympy's LaTeX printer with per-name replacements for symbols and functions (see module docstring)."""

    def __init__(self, names: dict[str, LatexName] | None = None):
        super().__init__()
        self._names = {**DEFAULT_LATEX_NAMES, **(names or {})}

    def _print_Symbol(self, expr, style="plain"):
        name = self._names.get(expr.name)
        return name if isinstance(name, str) else super()._print_Symbol(expr, style=style)

    def _print_MatrixSymbol(self, expr):
        name = self._names.get(expr.name)
        return name if isinstance(name, str) else super()._print_MatrixSymbol(expr)

    def _print_Function(self, expr, exp=None):
        name = self._names.get(type(expr).__name__)
        if name is None:
            return super()._print_Function(expr, exp)
        args = [self._print(a) for a in expr.args]
        body = name(args) if callable(name) else rf"{name}\left({', '.join(args)}\right)"
        return body if exp is None else rf"\left({body}\right)^{{{exp}}}"

    def _print_HadamardProduct(self, expr):
        mask, *rest = expr.args
        if isinstance(mask, sp.MatrixSymbol) and mask.name in PROJECTION_MASKS and len(rest) == 1:
            return rf"\mathcal{{P}}_{{{self._print(mask)}}}\left({self._print(rest[0])}\right)"
        return super()._print_HadamardProduct(expr)


def latex(expr: sp.Basic, names: dict[str, LatexName] | None = None) -> str:
    """LaTeX of one expression with the derivation's names."""
    return DerivationLatexPrinter(names).doprint(expr)


def _escape_text(text: str) -> str:
    return "".join("\\" + ch if ch in "_#%&$" else ch for ch in text).replace(" ", r"\ ")


def _lhs(derivation: Derivation, key: str, sub: str | None) -> str:
    spec = derivation.lhs.get(key)
    if sub is None and isinstance(spec, str):
        return spec
    if sub is not None and isinstance(spec, dict) and sub in spec:
        return spec[sub]
    return rf"\mathrm{{{_escape_text(sub if sub is not None else key)}}}"


def _comment(text: str) -> str:
    return "% " + text.replace("\n", " ")


def _latex_sections(derivation: Derivation):
    """Per section: (title with its plain values, note, [lhs &= rhs, …]) with the derivation's names."""
    names = {**derivation.latex_names}
    for key, value in derivation.items.items():
        title = derivation.titles.get(key, DEFAULT_TITLES.get(key, key))
        entries = value if isinstance(value, dict) else {None: value}
        plain = [(sub, v) for sub, v in entries.items() if isinstance(v, int | str)]
        symbolic = [(sub, v) for sub, v in entries.items() if not isinstance(v, int | str)]
        header = title + "".join(f"; {sub}: {v}" if sub is not None else f": {v}" for sub, v in plain)
        equations = [f"{_lhs(derivation, key, sub)} &= {latex(expr, names)}" for sub, expr in symbolic]
        yield header, derivation.notes.get(key), equations


def to_latex(derivation: Derivation) -> str:
    """amsmath fragment: a comment header, then per section its comments and one ``align`` environment."""
    lines = [_comment(f"grokode derive {derivation.model}: LaTeX for amsmath, one align environment per section")]
    for header, note, equations in _latex_sections(derivation):
        lines += ["", _comment(header)] + ([_comment(note)] if note else [])
        if equations:
            lines += [r"\begin{align}", " \\\\\n".join(f"  {eq}" for eq in equations), r"\end{align}"]
    return "\n".join(lines) + "\n"


def to_markdown(derivation: Derivation) -> str:
    """Markdown for the documentation: per section a bold title, its note, and the equations in one
    ``aligned`` block between ``$$`` (pymdownx.arithmatex + MathJax)."""
    def escape(text: str) -> str:
        return "".join("\\" + ch if ch in "_*[]<>" else ch for ch in text)

    out = [f"<!-- grokode derive {derivation.model} as Markdown (grokode.analytic.report.to_markdown); "
           "regenerate with: python docs/gen_derive.py -->", ""]
    for header, note, equations in _latex_sections(derivation):
        out.append(f"**{escape(header)}**" + (f" — {escape(note)}" if note else ""))
        out.append("")
        if equations:
            out += ["$$", r"\begin{aligned}", " \\\\\n".join(equations), r"\end{aligned}", "$$", ""]
    return "\n".join(out).rstrip() + "\n"


def latex_equations(text: str) -> list[str]:
    """The equations of a :func:`to_latex` output as ``lhs = rhs`` strings (for mathtext and tests)."""
    out, inside = [], False
    for line in text.splitlines():
        if line.startswith(r"\begin{align}"):
            inside = True
        elif line.startswith(r"\end{align}"):
            inside = False
        elif inside:
            out.append(line.strip().removesuffix("\\\\").strip().replace("&=", "="))
    return out


# -- text ----------------------------------------------------------------------------------------------------
def _display(expr):
    """Replace symbol and index-function names by their display names (text format only)."""
    if not isinstance(expr, sp.Basic):
        return expr
    swap = {s: sp.Symbol(DEFAULT_TEXT_NAMES[s.name], **s.assumptions0) for s in expr.atoms(sp.Symbol)
            if s.name in DEFAULT_TEXT_NAMES}
    expr = expr.xreplace(swap)
    return expr.replace(lambda e: isinstance(e, AppliedUndef) and type(e).__name__ in DEFAULT_TEXT_NAMES,
                        lambda e: sp.Function(DEFAULT_TEXT_NAMES[type(e).__name__])(*e.args))


def _pretty(value) -> str:
    return str(value) if isinstance(value, int | str) else sp.pretty(_display(value), use_unicode=True)


def _indent(label: str, body: str) -> str:
    lines = body.split("\n")
    if len(lines) == 1:
        return f"    {label} {body}"
    return f"    {label}\n" + "\n".join("        " + ln for ln in lines)


def to_text(derivation: Derivation) -> str:
    """Sections ``── Title`` (``── Title: value`` for a plain value), a note line, then the entries."""
    out = []
    for key, value in derivation.items.items():
        title = derivation.titles.get(key, DEFAULT_TITLES.get(key, key))
        note = derivation.notes.get(key)
        if isinstance(value, int | str):
            out.append(f"── {title}: {value}")
            if note:
                out.append(f"   {note}")
            out.append("")
            continue
        out.append(f"── {title}")
        if note:
            out.append(f"   {note}")
        if isinstance(value, dict):
            out.extend(_indent(f"{sub}:", _pretty(expr)) for sub, expr in value.items())
        else:
            out.append("    " + _pretty(value).replace("\n", "\n    "))
        out.append("")
    return "\n".join(out).rstrip() + "\n"


# -- JSON ----------------------------------------------------------------------------------------------------
def _symbolic(items: dict) -> Iterator[sp.Basic]:
    for value in items.values():
        if isinstance(value, dict):
            yield from _symbolic(value)
        elif isinstance(value, sp.Basic):
            yield value


def _is_grokode_function(func) -> bool:
    return isinstance(func, type) and issubclass(func, sp.Function) and (func.__module__ or "").startswith("grokode.")


def _named_objects(derivation: Derivation) -> dict[str, object]:
    """Every name the derivation's expressions use -> its sympy object (symbol, matrix, function class)."""
    found: dict[str, object] = {}

    def add(name: str, obj) -> None:
        if name in found and found[name] != obj:
            raise AssertionError(f"derivation {derivation.model!r} uses the name {name!r} for two objects: "
                                 f"{sp.srepr(found[name])} and {sp.srepr(obj)}")
        found[name] = obj

    for expr in _symbolic(derivation.items):
        for sym in sorted(expr.atoms(sp.Symbol), key=str):
            add(sym.name, sym)
        for mat in sorted(expr.atoms(sp.MatrixSymbol), key=str):
            add(mat.name, mat)
        for call in sorted(expr.atoms(sp.Function), key=str):
            func = type(call)
            if isinstance(func, UndefinedFunction) or _is_grokode_function(func):
                add(func.__name__, func)
    return found


def _spec(obj) -> str:
    if isinstance(obj, sp.MatrixSymbol):
        return f"MatrixSymbol({obj.name!r}, {sp.sstr(obj.rows)}, {sp.sstr(obj.cols)})"
    if _is_grokode_function(obj):
        return f"{obj.__module__}.{obj.__name__}"
    return sp.srepr(obj)


def symbol_table(derivation: Derivation) -> dict[str, str]:
    """Name -> sympy constructor of every name used (symbols first, then matrices, then functions)."""
    found = _named_objects(derivation)
    order = {sp.Symbol: 0, sp.MatrixSymbol: 1}
    ranked = sorted(found, key=lambda n: (next((r for c, r in order.items() if isinstance(found[n], c)), 2), n))
    return {name: _spec(found[name]) for name in ranked}


def sympify_locals(source: Derivation | dict) -> dict[str, object]:
    """The ``locals`` for ``sympy.sympify`` of ``grokode derive --format json`` strings.

    Parameters
    ----------
    source : Derivation or dict
        A derivation, a parsed JSON object of one, or its ``"sympify_locals"`` table.

    Returns
    -------
    dict
        Name -> sympy object (``Symbol`` with its assumptions, ``MatrixSymbol``, function class).
    """
    if not isinstance(source, dict):
        return _named_objects(source)
    table = source.get(LOCALS_KEY, source)
    out: dict[str, object] = {}
    for name, spec in table.items():
        if spec.startswith("grokode."):
            module, _, attr = spec.rpartition(".")
            out[name] = getattr(importlib.import_module(module), attr)
        else:  # Symbol(...), Function(...), MatrixSymbol(..., d, d) with d defined above it
            out[name] = sp.sympify(spec, locals=dict(out))
    return out


#: JSON keys whose string values are plain text, not expressions.
TEXT_KEYS = ("model", "name")


def from_json(obj: str | dict) -> dict:
    """Parse every symbolic string of a ``grokode derive --format json`` object (text or dict) with its locals."""
    if isinstance(obj, str):
        obj = json.loads(obj)
    names = sympify_locals(obj)

    def parse(key, value):
        if isinstance(value, dict):
            return {k: parse(k, v) for k, v in value.items()}
        if isinstance(value, str) and key not in TEXT_KEYS:
            return sp.sympify(value, locals=names)
        return value

    return {k: (v if k == LOCALS_KEY else parse(k, v)) for k, v in obj.items()}


def _as_sympy_strings(value):
    """A derivation item for JSON: ints and strings as they are, symbolic values as sympy strings (recursively)."""
    if isinstance(value, dict):
        return {k: _as_sympy_strings(v) for k, v in value.items()}
    if isinstance(value, int | str):
        return value
    return sp.sstr(value)


def to_json(derivation: Derivation) -> str:
    """One JSON object: the items (symbolic values as strings) and the ``"sympify_locals"`` table."""
    items = {k: _as_sympy_strings(v) for k, v in derivation.items.items()}
    items[LOCALS_KEY] = symbol_table(derivation)
    return json.dumps(items, indent=2, ensure_ascii=False) + "\n"


def render(derivation: Derivation, fmt: str) -> str:
    """The derivation in ``fmt`` (one of :data:`FORMATS`)."""
    return {"text": to_text, "latex": to_latex, "json": to_json}[fmt](derivation)
