"""grokode: grokking as a dynamical system.

Derive (sympy), integrate (numba + scipy) and analyse the gradient flow of homogeneous networks with
large initialization α and small weight decay λ, through the kernel→rich transition near ln(α)/λ.
"""

from ._version import __version__  # noqa: E402,F401
from .analysis.analyze import Analysis, analyze, theorem_trend  # noqa: E402
from .analysis.nuclear import kernel_completion, nuclear_norm_completion  # noqa: E402
from .analysis.predictors import reference_predictors  # noqa: E402
from .analysis.scaling import fit_scaling  # noqa: E402
from .analysis.transition import Transition, find_transition, time_to_reach  # noqa: E402
from .errors import InputError  # noqa: E402
from .numeric.diagonal import FullDiagonalFlow, ReducedDiagonalFlow  # noqa: E402
from .numeric.gd import run_gd  # noqa: E402
from .numeric.integrate import FlowSolution, integrate_flow  # noqa: E402
from .numeric.matrix import MatrixFlow  # noqa: E402
from .numeric.rkc import RKC  # noqa: E402
from .run import Run, integrate, load_run  # noqa: E402
from .sweep import grid_points, parse_grid  # noqa: E402
from .sweep import sweep as run_sweep  # noqa: E402  (the name `sweep` is the module)
from .tasks import Dataset, load_npz, make_task  # noqa: E402
from .tasks.matrix import load_matrix_npz, make_matrix_task  # noqa: E402

__all__ = [
    "Analysis", "analyze", "reference_predictors", "theorem_trend", "fit_scaling", "kernel_completion",
    "nuclear_norm_completion", "run_gd", "MatrixFlow", "RKC", "grid_points", "parse_grid", "run_sweep",
    "load_matrix_npz", "make_matrix_task",
    "Dataset", "FlowSolution", "FullDiagonalFlow", "InputError", "ReducedDiagonalFlow", "Run",
    "Transition", "find_transition", "time_to_reach",
    "integrate", "integrate_flow", "load_npz", "load_run", "make_task",
]
