"""The model contract stays small, and stays countable (docs/extending.md, CONTRIBUTING.md).

The counts are the contract's promises: at most five hooks a model must write and five optional ones, no other
method of the base that a built-in model overrides, the example plug-in within 80 lines of code, and no module of
grokode over 700 lines (generated code aside).
"""

from __future__ import annotations

import ast
import inspect
import io
import re
import tokenize
from pathlib import Path

import numpy as np
import pytest

from grokode.models import get_model, model_names
from grokode.models.base import Model

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "examples" / "hadamard_model" / "grokode_hadamard.py"


def code_lines(source: str) -> int:
    """Lines that hold code: blank lines, comments and docstrings (a string alone as a statement) excluded."""
    tree = ast.parse(source)
    docstrings: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            docstrings.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    lines: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
                        tokenize.ENDMARKER):
            continue
        lines.update(n for n in range(tok.start[0], tok.end[0] + 1) if n not in docstrings)
    return len(lines)


def test_the_line_counter_on_a_known_text():
    source = ('"""doc\n\nstring"""\n\n# a comment\nx = 1  # code\n\n\ndef f():\n    """Doc."""\n'
              "    return (x +\n            1)\n")
    assert code_lines(source) == 4  # x = 1, def f():, return (x +, 1)


def test_a_model_writes_at_most_five_hooks_and_has_at_most_five_optional_ones():
    required = sorted(name for name in Model.__abstractmethods__)
    assert required == sorted(Model.REQUIRED_HOOKS) and len(required) <= 5
    assert len(Model.OPTIONAL_HOOKS) <= 5
    for name in Model.OPTIONAL_HOOKS:
        assert callable(getattr(Model, name)) and name not in Model.__abstractmethods__


def test_no_built_in_model_overrides_a_base_method_that_is_not_a_hook():
    hooks = set(Model.REQUIRED_HOOKS) | set(Model.OPTIONAL_HOOKS)
    base_methods = {name for name, value in vars(Model).items()
                    if callable(value) or isinstance(value, classmethod | staticmethod | property)}
    for name in model_names():
        cls = get_model(name)
        for klass in cls.__mro__:
            if klass is Model or not issubclass(klass, Model):
                continue
            overridden = (set(vars(klass)) & base_methods) - hooks - {"__init__", "__doc__", "__module__"}
            assert not overridden, f"{klass.__name__} overrides {sorted(overridden)}"
        assert not getattr(cls, "__abstractmethods__", None), name


def test_the_plugin_is_at_most_80_lines_of_code_and_sets_nothing_unread():
    source = PLUGIN.read_text(encoding="utf-8")
    assert code_lines(source) <= 80
    assert "variable" not in source


def test_no_grokode_module_is_over_700_lines():
    generated = {ROOT / "grokode" / "numeric" / "generated.py"}
    sizes = {str(path.relative_to(ROOT)): len(path.read_text(encoding="utf-8").splitlines())
             for path in (ROOT / "grokode").rglob("*.py") if path not in generated}
    assert len(sizes) > 40 and max(sizes.values()) > 100
    over = {p: n for p, n in sizes.items() if n > 700}
    assert not over, over


def test_the_hooks_are_documented_where_they_are_declared():
    for name in (*Model.REQUIRED_HOOKS, *Model.OPTIONAL_HOOKS):
        assert inspect.getdoc(getattr(Model, name)), name


SMALL_RUNS = {
    "diagonal": dict(n=16, d=24, alpha=100.0, lam=0.05),
    "matrix": dict(d=6, alpha=10.0, lam=0.05),
    "mlp": dict(p=5, width=8),
}


@pytest.mark.parametrize("name", sorted(SMALL_RUNS))
def test_each_hook_works_on_a_fresh_instance_from_the_values_it_is_given(name):
    """No hook reads what another left on ``self``: each hook below runs on its own new instance of the model and
    gives what the pipeline's one instance gave."""
    import grokode

    options = SMALL_RUNS[name]
    run = grokode.integrate(model=name, **options)

    def fresh():
        return grokode.build(name, **options)

    plan = fresh().prepare()
    solution = fresh().solve(plan, None)
    arrays = fresh().observe(plan, solution)
    transition, metric = fresh().transition(plan, solution, arrays)
    references = fresh().references(plan, solution, arrays)
    if references is not None:
        arrays.update(references.arrays)
    summary = fresh().summarize(plan, solution, arrays, transition, references)
    summary.update(references.summary if references is not None else {})
    assert sorted(arrays) == sorted(run.arrays)
    for key, value in arrays.items():
        assert np.array_equal(value, run.arrays[key], equal_nan=True), key
    assert metric == run.summary["transition_metric"]
    assert (None if transition is None else transition.t_transition) == run.summary["t_transition"]
    for key, value in summary.items():
        if not key.endswith("seconds"):
            assert value == run.summary[key], key
    assert fresh().record(plan) == (run.meta["options"], run.meta["dataset"])


def test_the_run_path_does_not_probe_what_a_model_or_solution_has():
    for module in ("pipeline.py", "result.py", "resuming.py", "analysis/plots.py", "analysis/analyze.py"):
        found = re.findall(r"(?:getattr|hasattr)\([^)]*\)", (ROOT / "grokode" / module).read_text(encoding="utf-8"))
        assert not found, (module, found)
