"""grokode: grokking as a dynamical system.

Derive (sympy), integrate (numba + scipy) and analyse the gradient flow of homogeneous networks with
large initialization α and small weight decay λ, through the kernel→rich transition near ln(α)/λ.

The public API is imported lazily (``import grokode`` stays fast; each name loads its module on first use)::

    run = grokode.integrate(model="diagonal", alpha=1e3, lam=1e-3)   # a Run
    run.save("run.npz"); grokode.load_run("run.npz")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__ as __version__

#: public name → module that defines it
_EXPORTS = {
    "integrate": "grokode.pipeline",
    "build": "grokode.pipeline",
    "run_model": "grokode.pipeline",
    "resume": "grokode.resuming",
    "Run": "grokode.result",
    "load_run": "grokode.result",
    "Status": "grokode.numeric.solution",
    "InputError": "grokode.errors",
    "GrokodeWarning": "grokode.errors",
    "Option": "grokode.options",
    "Model": "grokode.models.base",
    "Plan": "grokode.models.base",
    "register_model": "grokode.models",
    "get_model": "grokode.models",
    "model_names": "grokode.models",
    "Analysis": "grokode.analysis.analyze",
    "analyze": "grokode.analysis.analyze",
    "theorem_trend": "grokode.analysis.analyze",
    "reference_predictors": "grokode.analysis.predictors",
    "fit_scaling": "grokode.analysis.scaling",
    "kernel_completion": "grokode.analysis.nuclear",
    "nuclear_norm_completion": "grokode.analysis.nuclear",
    "Transition": "grokode.analysis.transition",
    "find_transition": "grokode.analysis.transition",
    "time_to_reach": "grokode.analysis.transition",
    "FullDiagonalFlow": "grokode.numeric.diagonal",
    "ReducedDiagonalFlow": "grokode.numeric.diagonal",
    "MatrixFlow": "grokode.numeric.matrix",
    "RKC": "grokode.numeric.rkc",
    "run_gd": "grokode.numeric.gd",
    "FlowSolution": "grokode.numeric.integrate",
    "integrate_flow": "grokode.numeric.integrate",
    "Dataset": "grokode.tasks.datasets",
    "load_npz": "grokode.tasks.datasets",
    "make_task": "grokode.tasks.datasets",
    "load_matrix_npz": "grokode.tasks.matrix",
    "make_matrix_task": "grokode.tasks.matrix",
    "grid_points": "grokode.sweep",
    "parse_grid": "grokode.sweep",
}
_RENAMED = {"run_sweep": ("grokode.sweep", "sweep")}  # the name ``sweep`` is the module

__all__ = sorted([*_EXPORTS, *_RENAMED, "__version__"])


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _RENAMED:
        module, attr = _RENAMED[name]
        value = getattr(importlib.import_module(module), attr)
    else:
        raise AttributeError(f"module 'grokode' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from .analysis.analyze import Analysis, analyze, theorem_trend  # noqa: F401
    from .errors import InputError  # noqa: F401
    from .pipeline import integrate  # noqa: F401
    from .result import Run, load_run  # noqa: F401
