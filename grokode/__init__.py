"""grokode: grokking as a dynamical system.

Derive (sympy), integrate (numba + scipy) and analyse the gradient flow of homogeneous networks with
large initialization α and small weight decay λ, through the kernel→rich transition near ln(α)/λ.
"""

from ._version import __version__  # noqa: E402,F401
from .analysis.analyze import Analysis, analyze, theorem_trend  # noqa: E402
from .analysis.predictors import reference_predictors  # noqa: E402
from .analysis.transition import Transition, find_transition  # noqa: E402
from .errors import InputError  # noqa: E402
from .numeric.diagonal import FullDiagonalFlow, ReducedDiagonalFlow  # noqa: E402
from .numeric.integrate import FlowSolution, integrate_flow  # noqa: E402
from .run import Run, integrate, load_run  # noqa: E402
from .tasks import Dataset, load_npz, make_task  # noqa: E402

__all__ = [
    "Analysis", "analyze", "reference_predictors", "theorem_trend",
    "Dataset", "FlowSolution", "FullDiagonalFlow", "InputError", "ReducedDiagonalFlow", "Run",
    "Transition", "find_transition", "integrate", "integrate_flow", "load_npz", "load_run", "make_task",
]
