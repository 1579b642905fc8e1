"""`grokode derive` output for every model × format: JSON parses back to the derived expressions (sympy ==),
LaTeX is well-formed (pylatexenc, strict) and every equation renders with matplotlib mathtext, text titles
are not doubled."""

import functools
import json
import pathlib
import re

import pytest
import sympy as sp
from matplotlib.mathtext import MathTextParser
from pylatexenc.latexwalker import LatexEnvironmentNode, LatexWalker

from grokode.analytic import LOSS_NAMES, DiagonalNet, MatrixNet, MLPNet, render
from grokode.analytic.report import (
    DEFAULT_TITLES,
    LOCALS_KEY,
    from_json,
    latex_equations,
    sympify_locals,
    to_markdown,
)

FAST = [("diagonal", L, loss) for L in (2, 3) for loss in LOSS_NAMES] + [
    ("diagonal", 4, "logistic"), ("matrix", 2, "squared"), ("mlp", 2, "cross_entropy")]
SLOW = [("diagonal", 4, "exponential"), ("diagonal", 4, "squared")] + [
    ("diagonal", L, loss) for L in (5, 6) for loss in LOSS_NAMES]


@functools.cache
def _model(model, depth):
    # one instance per (model, depth): the diagonal net caches its dsolve closed form across losses
    return {"diagonal": DiagonalNet, "matrix": MatrixNet, "mlp": MLPNet}[model](depth)


@functools.cache
def derivation(case):
    model, depth, loss = case
    return _model(model, depth).derive(loss)


def _walk(items, path=()):
    for key, value in items.items():
        if isinstance(value, dict):
            yield from _walk(value, (*path, key))
        else:
            yield (*path, key), value


def _at(obj, path):
    for key in path:
        obj = obj[key]
    return obj


def check_json(case):
    der = derivation(case)
    text = render(der, "json")
    obj = json.loads(text)
    assert set(obj) == {*der.items, LOCALS_KEY}
    # the table in the JSON rebuilds the very objects the derivation uses (names, assumptions, classes)
    assert sympify_locals(obj) == sympify_locals(der)
    parsed = from_json(text)
    n_symbolic = 0
    for path, derived in _walk(der.items):
        got = _at(parsed, path)
        if isinstance(derived, int | str):
            assert got == derived and _at(obj, path) == derived, path
            continue
        n_symbolic += 1
        assert isinstance(_at(obj, path), str)
        assert got == derived, f"{case} {path}: {got!r} != {derived!r}"  # structural sympy equality
        if case[0] != "matrix":  # diagonal and mlp strings parse without locals too (plain symbols/functions)
            sp.sympify(_at(obj, path))
    assert n_symbolic >= 8


def _strip_text_args(math: str) -> str:
    """Math without macro names and without the arguments of text-like macros."""
    math = re.sub(r"\\(text|operatorname|mathrm|mathcal)\{[^{}]*\}", " ", math)
    return re.sub(r"\\[a-zA-Z]+", " ", math)


def check_latex(case):
    der = derivation(case)
    text = render(der, "latex")
    nodes, _, _ = LatexWalker(text, tolerant_parsing=False).get_latex_nodes()  # raises on unbalanced input
    envs = [node for node in nodes if isinstance(node, LatexEnvironmentNode)]
    sections = [v for v in der.items.values() if not isinstance(v, int | str)]
    assert [env.environmentname for env in envs] == ["align"] * len(sections)  # one align per section
    equations = latex_equations(text)
    assert len(equations) == sum(
        sum(not isinstance(x, int | str) for x in v.values()) if isinstance(v, dict) else 1 for v in sections)
    parser = MathTextParser("agg")
    for eq in equations:
        assert eq.count("=") >= 1 and "&" not in eq and "\\\\" not in eq
        assert "\\hbar" not in eq and not re.search(r"\\text\{[^}]*_", eq), eq
        # no multi-letter identifiers (lam, xp, dw_dG, hbar…) outside \text, \operatorname and macro names
        leftovers = re.findall(r"[A-Za-z]{2,}", _strip_text_args(eq))
        assert not leftovers, f"{case}: {leftovers} in {eq}"
        parser.parse(f"${eq}$", dpi=72)  # raises ValueError on what mathtext cannot render
    if case[0] == "diagonal":
        assert "\\lambda" in text and "x'" in text
    if case[0] == "matrix":
        assert r"\mathcal{P}_{\Omega}\left(- M + W\right)" in text and "U U^{T}" in text
    if case[0] == "mlp":
        assert r"\operatorname{softmax}(f)_{c}" in text and r"\bar{h}'_{j}" in text and "c'" in text


def check_text(case):
    der = derivation(case)
    text = render(der, "text")
    headers = [line for line in text.splitlines() if line.startswith("── ")]
    assert len(headers) == len(der.items)
    for (key, value), header in zip(der.items.items(), headers, strict=True):
        title = der.titles.get(key, DEFAULT_TITLES[key])
        assert header.startswith(f"── {title}")
        assert header.count(title.split(" ")[0]) == 1, header  # "Jacobian … (Jacobian …)" was the bug
        note = der.notes.get(key, "")
        assert title.lower() not in note.lower(), (title, note)
        for formula in re.findall(r"\S*\(.*\)", title):  # "Kernel K(x, x′)" with a note "K(x, x′) = …"
            assert formula not in note, (title, note)
        if isinstance(value, dict):
            for sub in value:
                assert f"    {sub}:" in text
    assert "lam" not in text  # λ in the text format


CHECKS = {"json": check_json, "latex": check_latex, "text": check_text}


@pytest.mark.parametrize("fmt", list(CHECKS))
@pytest.mark.parametrize("case", FAST, ids=lambda c: "-".join(map(str, c)))
def test_derive_output(case, fmt):
    CHECKS[fmt](case)


@pytest.mark.slow
@pytest.mark.parametrize("case", SLOW, ids=lambda c: "-".join(map(str, c)))
def test_derive_output_every_depth_and_loss(case):
    for check in CHECKS.values():
        check(case)


def test_sympify_locals_from_the_table_alone():
    """The JSON's own table gives the names their assumptions and grokode's function classes."""
    from grokode.analytic.functions import sigmoid

    matrix = json.loads(render(derivation(("matrix", 2, "squared")), "json"))
    names = sympify_locals(matrix[LOCALS_KEY])
    d = sp.Symbol("d", positive=True, integer=True)
    assert names["U"] == sp.MatrixSymbol("U", d, d) and names["Omega"] == sp.MatrixSymbol("Omega", d, d)
    E, N = names["E"], names["N"]
    assert sp.sympify(matrix["flow"]["R"], locals=names) == 2 * (E + E.T) / N
    diagonal = json.loads(render(derivation(("diagonal", 2, "logistic")), "json"))
    names = sympify_locals(diagonal[LOCALS_KEY])
    assert names["sigmoid"] is sigmoid and names["u0"] == sp.Symbol("u0", positive=True)
    residual, curvature = (sp.sympify(diagonal["loss"][k], locals=names) for k in ("residual", "curvature"))
    assert residual.diff(names["f"]).subs(names["y"] ** 2, 1) == curvature  # sigmoid's derivative is grokode's


@pytest.mark.parametrize("case", [("diagonal", 2, "logistic"), ("matrix", 2, "squared"), ("mlp", 2, "cross_entropy")],
                         ids=lambda c: c[0])
def test_docs_derivation_pages_are_fresh(case):
    path = pathlib.Path(__file__).resolve().parents[2] / "docs" / "_generated" / f"derive-{case[0]}.md"
    assert path.read_text(encoding="utf-8") == to_markdown(derivation(case)), (
        f"{path} is stale: run python docs/gen_derive.py")
