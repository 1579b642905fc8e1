"""Tasks: the paper's synthetic data sets, user data, and their population metrics (docs/math.md#data)."""

from grokode.tasks.datasets import (
    LOSSES,
    TASKS,
    Dataset,
    load_npz,
    make_task,
    margin_classification,
    sparse_classification,
    sparse_regression,
)
from grokode.tasks.population import (
    MAX_SPARSE_K,
    margin_population_accuracy,
    sparse_population_accuracy,
    squared_population_loss,
)

__all__ = [
    "LOSSES",
    "MAX_SPARSE_K",
    "TASKS",
    "Dataset",
    "load_npz",
    "make_task",
    "margin_classification",
    "margin_population_accuracy",
    "sparse_classification",
    "sparse_population_accuracy",
    "sparse_regression",
    "squared_population_loss",
]
