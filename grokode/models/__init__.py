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
from typing import TYPE_CHECKING, Any

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

#: Names (Python and command-line spellings) the commands take themselves: a model option cannot use them.
RESERVED_OPTION_NAMES = frozenset({"model", "out", "out_path", "plot", "no_plot", "force", "json", "as_json", "format",
                                   "seeds", "workers", "scheduler", "fresh", "resume", "retries", "keep_runs",
                                   "version", "help", "runs", "c", "checkpoint_every"})

_registry: dict[str, type[Model]] = {}
_loaded = False


def _load(target: str) -> type:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


@checked_arguments
def register_model(model: type[Model] | None = None, *, name: str | None = None, replace: bool = False) -> Any:
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
    import warnings
    from importlib.metadata import entry_points

    from ..errors import GrokodeWarning

    try:
        found = list(entry_points(group=ENTRY_POINT_GROUP))
    except Exception as exc:  # noqa: BLE001 - a damaged installed package must not take the built-ins down
        warnings.warn(f"the model plug-ins of installed packages could not be read ({_one_line(exc)}); only the "
                      "built-in models are available", GrokodeWarning, stacklevel=2)
        return
    for ep in found:
        if ep.name in _registry:
            continue
        try:
            cls = ep.load()
        except BaseException as exc:  # noqa: BLE001 - a broken plug-in must not take the built-ins down with it
            if isinstance(exc, KeyboardInterrupt):
                raise
            warnings.warn(f"model plug-in {ep.name!r} ({ep.value}) failed to load, so it is left out: "
                          f"{type(exc).__name__}: {_one_line(exc)}", GrokodeWarning, stacklevel=2)
            continue
        try:
            check_declarations(cls)
            register_model(cls, name=ep.name)
        except Exception as exc:  # noqa: BLE001 - any defect of the plug-in's class or declarations
            warnings.warn(f"model plug-in {ep.name!r} ({ep.value}) is not usable, so it is left out: "
                          f"{_one_line(exc)}", GrokodeWarning, stacklevel=2)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__


def check_declarations(cls: object) -> None:
    """TypeError naming the defect when a model class's declarations cannot build a command line: it must be a
    Model subclass with a string ``title``; ``options`` and ``derive_options`` sequences of
    :class:`~grokode.options.Option` with identifier names (no name twice), string help, numeric or absent
    bounds and string choices."""
    from ..options import Option
    from .base import Model

    if not (isinstance(cls, type) and issubclass(cls, Model)):
        raise TypeError(f"{cls!r} is not a grokode Model subclass")
    if not isinstance(getattr(cls, "title", None), str):
        raise TypeError(f"its title must be a string, got {getattr(cls, 'title', None)!r:.60}")
    for attr in ("options", "derive_options"):
        declared = getattr(cls, attr, None)
        if not isinstance(declared, tuple | list):
            raise TypeError(f"its {attr} must be a tuple of grokode.Option, got {type(declared).__name__}")
        names: set[str] = set()
        for opt in declared:
            if not isinstance(opt, Option):
                raise TypeError(f"its {attr} must hold grokode.Option objects, got {opt!r:.60}")
            if not isinstance(opt.name, str) or not opt.name.isidentifier() or opt.name.startswith("_"):
                raise TypeError(f"option name {opt.name!r:.60} in its {attr} is not an identifier")
            if opt.name in names:
                raise TypeError(f"option {opt.name!r} is declared twice in its {attr}")
            if opt.name in RESERVED_OPTION_NAMES:
                raise TypeError(f"option {opt.name!r} in its {attr} has a name the command line uses itself "
                                f"(--{opt.name.replace('_', '-')})")
            for other in _registry.values():
                same = next((o for o in getattr(other, attr) if o.name == opt.name), None)
                if same is not None and (same.kind == "bool") != (opt.kind == "bool"):
                    raise TypeError(f"option {opt.name!r} is {'a flag' if opt.kind == 'bool' else 'not a flag'} "
                                    f"here but {'a flag' if same.kind == 'bool' else 'takes a value'} in model "
                                    f"{other.name!r}")
            names.add(opt.name)
            if not isinstance(opt.help, str):
                raise TypeError(f"option {opt.name!r} has a help that is not text ({opt.help!r:.60})")
            for bound in (opt.low, opt.high):
                if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int | float)):
                    raise TypeError(f"option {opt.name!r} has a bound that is not a number ({bound!r:.60})")
            if opt.choices is not None and not (isinstance(opt.choices, tuple | list) and opt.choices
                                                and all(isinstance(c, str) for c in opt.choices)):
                raise TypeError(f"option {opt.name!r} has choices that are not words ({opt.choices!r:.60})")


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
