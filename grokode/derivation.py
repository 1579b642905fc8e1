"""The text ``grokode derive`` prints: a registered model's sympy derivation (flow, NTK, closed form, conservation
law, reduced flow), rendered as text, LaTeX or JSON, and cached by the sources it comes from."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ._version import __version__
from .errors import InputError

#: The formats of :func:`derivation_text`.
FORMATS = ("text", "latex", "json")


def derivation_text(model: str, options: dict[str, Any], format: str) -> str:
    """The derivation of ``model`` with its derive ``options`` (as the user gave them) in ``format``.

    Bad input (format, model, options) raises InputError before any cache or sympy. A derivation takes seconds of
    sympy, so the text is cached (:func:`grokode.files.cached_text`) by model, options, format and the sources it
    comes from (grokode's analytic layer and the model's own file): a second call is instant, and editing a source
    recomputes it.
    """
    from .files import cached_text, source_stamp
    from .models import get_model

    if format not in FORMATS:
        raise InputError(f"unknown format {format!r} (choose {', '.join(FORMATS)})")
    cls = get_model(model)
    parsed = cls.parse_derive_options(options)
    analytic = Path(__file__).parent / "analytic"
    sources = sorted(str(f) for f in analytic.glob("*.py")) + [getattr(sys.modules[cls.__module__], "__file__", "")]
    key = json.dumps([__version__, model, sorted(parsed.items()), format, source_stamp(*sources)], default=str)

    def compute() -> str:
        from .analytic import render

        return render(cls.derive(**options), format)

    return cached_text("derive", key, compute)
