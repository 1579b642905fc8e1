"""The sympy layer: models declared as symbols, derivations, code generation, rendering."""

from ..errors import InputError
from .diagonal import DiagonalNet
from .losses import LOSS_NAMES, derive_loss
from .matrix import MatrixNet
from .mlp import MLPNet
from .model import Derivation, NotHomogeneousError, SymbolicModel
from .report import FORMATS, from_json, render, sympify_locals

MODELS = {"diagonal": DiagonalNet, "matrix": MatrixNet, "mlp": MLPNet}


def derive_model(model: str, *, depth: int = 2, loss: str = "logistic") -> Derivation:
    """Derive everything for ``model`` ("diagonal", "matrix": its loss is always squared, "mlp": cross-entropy);
    bad names or depths raise InputError."""
    if model not in MODELS:
        raise InputError(f"unknown model {model!r} (choose {', '.join(MODELS)})")
    if loss not in LOSS_NAMES:
        raise InputError(f"unknown loss {loss!r} (choose {', '.join(LOSS_NAMES)})")
    return MODELS[model](depth).derive(loss)


__all__ = ["DiagonalNet", "Derivation", "FORMATS", "LOSS_NAMES", "MODELS", "MLPNet", "MatrixNet", "NotHomogeneousError",
           "SymbolicModel", "derive_loss", "derive_model", "from_json", "render", "sympify_locals"]
