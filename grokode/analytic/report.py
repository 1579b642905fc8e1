"""Render a :class:`~grokode.analytic.model.Derivation` as text (sympy pretty print), LaTeX or JSON."""

from __future__ import annotations

import json

import sympy as sp

FORMATS = ("text", "latex", "json")

_TITLES = {
    "model": "Model", "depth": "Depth L", "homogeneity": "Homogeneity degree",
    "output": "Output f(θ; x), per coordinate",
    "flow": "Gradient flow", "ntk_feature": "NTK feature φ(x)", "kernel": "Kernel K(x, x'), per coordinate",
    "closed_form": "Closed form", "conserved": "Conserved quantity u·v·e^(2λt)", "reduced_flow": "Reduced flow",
    "jacobian": "Jacobian of the reduced flow", "loss": "Loss", "lifted_flow": "Lifted flow",
    "kernel_predictor": "Kernel predictor",
}


def _flatten(value, fn):
    if isinstance(value, dict):
        return {k: _flatten(v, fn) for k, v in value.items()}
    if isinstance(value, int | bool) or (isinstance(value, str) and not value.startswith("_")):
        return value if isinstance(value, int | bool) else value
    return fn(value)


def to_json(derivation) -> str:
    """One JSON object; every symbolic value is a string that ``sympy.sympify`` parses back."""
    items = {k: _flatten(v, lambda e: str(sp.sympify(e))) for k, v in derivation.items.items()}
    return json.dumps(items, indent=2, ensure_ascii=False)


def to_latex(derivation) -> str:
    lines = [f"% grokode derive {derivation.model}"]
    for key, value in derivation.items.items():
        lines.append(f"% {_TITLES.get(key, key)}" + (f": {derivation.notes[key]}" if key in derivation.notes else ""))
        if isinstance(value, dict):
            for sub, expr in value.items():
                lines.append(f"\\text{{{sub}}}:\\quad {expr if isinstance(expr, str) else sp.latex(expr)} \\\\")
        else:
            lines.append(f"{value if isinstance(value, str) else sp.latex(value)} \\\\")
    return "\n".join(lines)


def to_text(derivation) -> str:
    out = []
    for key, value in derivation.items.items():
        title = _TITLES.get(key, key)
        note = derivation.notes.get(key)
        out.append(f"── {title}" + (f"  ({note})" if note else ""))
        if isinstance(value, dict):
            for sub, expr in value.items():
                pretty = expr if isinstance(expr, str) else sp.pretty(expr, use_unicode=True)
                out.append(_indent(f"{sub}:", pretty))
        else:
            out.append("    " + (str(value) if isinstance(value, int | str) else
                                 sp.pretty(value, use_unicode=True).replace("\n", "\n    ")))
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _indent(label: str, body: str) -> str:
    lines = body.split("\n")
    if len(lines) == 1:
        return f"    {label} {body}"
    return f"    {label}\n" + "\n".join("        " + ln for ln in lines)


def render(derivation, fmt: str) -> str:
    return {"text": to_text, "latex": to_latex, "json": to_json}[fmt](derivation)
