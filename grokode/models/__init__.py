"""The model registry: built-in models, models registered in code, and models of installed packages.

A model is a :class:`~grokode.models.base.Model` subclass registered by name. Three ways in:

* built-ins (:mod:`grokode.models.diagonal`, :mod:`~grokode.models.matrix`, :mod:`~grokode.models.mlp`,
  :mod:`~grokode.models.separable`),
  loaded on first use;
* :func:`register_model` in code (also usable as a class decorator);
* an installed package's entry point in the group ``grokode.models`` (``pyproject.toml``:
  ``[project.entry-points."grokode.models"] mymodel = "mypackage.model:MyModel"``), loaded on first use.

Nothing else in grokode names a model: the pipeline, the command line and sweeps look models up here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ..errors import InputError, checked_arguments

if TYPE_CHECKING:
    from .base import Model

ENTRY_POINT_GROUP = "grokode.models"
#: name → "module:Class" of the built-in models (imported lazily: the registry is read by ``--help``).
BUILTIN = {
    "diagonal": "grokode.models.diagonal:DiagonalModel",
    "matrix": "grokode.models.matrix:MatrixModel",
    "mlp": "grokode.models.mlp:MLPModel",
    "separable": "grokode.models.separable:SeparableModel",
}

_registry: dict[str, type[Model]] = {}
_loaded = False


def _load(target: str) -> type:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


@checked_arguments
def register_model(model: type[Model] | None = None, *, name: str | None = None, replace: bool = False):
    """Register a Model subclass under ``name`` (default: its ``name`` attribute); usable as a decorator.

    Registering a second model under a taken name is an error unless ``replace``.
    """
    def add(cls: type[Model]) -> type[Model]:
        from .base import Model

        if not (isinstance(cls, type) and issubclass(cls, Model)):
            raise TypeError(f"{cls!r} is not a grokode Model subclass")
        key = name or getattr(cls, "name", None)
        if not isinstance(key, str) or not key.isidentifier():
            raise TypeError(f"model name must be an identifier, got {key!r}")
        _ensure_loaded()
        if key in _registry and _registry[key] is not cls and not replace:
            raise ValueError(f"a model named {key!r} is already registered ({_registry[key].__module__})")
        _registry[key] = cls
        return cls

    return add if model is None else add(model)


def _ensure_loaded() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for key, target in BUILTIN.items():
        _registry.setdefault(key, _load(target))
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in _registry:
            continue
        try:
            cls = ep.load()
        except Exception as exc:  # a broken plug-in must not take the built-ins down with it
            import warnings

            warnings.warn(f"grokode: model plug-in {ep.name!r} ({ep.value}) failed to load: {exc}", stacklevel=2)
            continue
        try:
            register_model(cls, name=ep.name)
        except (TypeError, ValueError) as exc:
            import warnings

            warnings.warn(f"grokode: model plug-in {ep.name!r} ({ep.value}) is not usable: {exc}", stacklevel=2)


def get_model(name: str) -> type[Model]:
    """The model class registered as ``name``; InputError listing the known names otherwise."""
    _ensure_loaded()
    if not isinstance(name, str) or name not in _registry:
        raise InputError(f"unknown model {name!r} (choose {', '.join(model_names())})")
    return _registry[name]


def model_names() -> list[str]:
    """Registered model names: built-ins first, then the others in registration order."""
    _ensure_loaded()
    return list(_registry)


__all__ = ["ENTRY_POINT_GROUP", "get_model", "model_names", "register_model"]
