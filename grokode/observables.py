"""What a run holds, how it is summarized and how it is plotted: the declaration a model makes once.

A model (:class:`grokode.models.base.Model`) declares an :class:`Observables` for a run from its options
(:meth:`~grokode.models.base.Model.declare`). The pipeline records it in the run's meta (``meta["observables"]``),
and everything that reads a run afterwards — file validation (:mod:`grokode.result`), the theorem check
(:mod:`grokode.analysis.analyze`), the figure (:mod:`grokode.analysis.plots`) and the command line — reads the
declaration instead of guessing from array or model names. A file written before declarations were recorded
(format 1) takes the declaration of its registered model.

This module sits in the utilities' layer, so that every layer above can read a declaration.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, ItemsView, KeysView, Mapping, ValuesView
from dataclasses import dataclass, field
from typing import Any

from .errors import InputError

#: The newest file format (``meta["format"]``; a file without one is format 1). A format-3 file leaves out per-time
#: arrays besides the predictor, rebuilt when it is read (the test metrics of a compact run,
#: :attr:`Observables.rebuilt_metrics`). :meth:`grokode.Run.save` writes the oldest format that holds the file
#: (:data:`PREDICTOR_ONLY_FORMAT` for every other file), so that a grokode reading formats 1–2 still reads those
#: and says it cannot read the others instead of misreading their meta.
FILE_FORMAT = 3
#: The format of a file that leaves out at most its predictor (a compact run's w).
PREDICTOR_ONLY_FORMAT = 2
#: The formats this grokode reads.
FILE_FORMATS = (1, PREDICTOR_ONLY_FORMAT, FILE_FORMAT)
#: Fields of :class:`Observables` that are the model's code, not the run's contents: never recorded.
CODE_FIELDS = ("rebuild", "rebuilt_metrics", "rebuild_metrics")


@dataclass(frozen=True)
class Curves:
    """The train and test curves of a run: arrays ``train_<key>``, ``test_<key>``, ``test_<key>_population``,
    the y label, the three curves' labels and what the reference predictors' test values are called."""

    key: str
    ylabel: str
    labels: tuple[str, str, str]
    reference: str
    #: True for accuracies (higher is better, fitting means train accuracy 1, linear axis), False for losses.
    accuracy: bool


ACCURACY = Curves("acc", "accuracy", ("train accuracy", "test accuracy (test set)", "test accuracy (population)"),
                  "test accuracy", True)
LOSS = Curves("loss", "loss", ("train loss", "test loss (test set)", "test loss (population)"), "test loss", False)
MSE = Curves("loss", "mean squared error", ("train MSE (observed entries)", "test MSE (unobserved entries)", ""),
             "test MSE", False)
_CURVES = {"accuracy": ACCURACY, "loss": LOSS, "mse": MSE}


@dataclass(frozen=True)
class Observables:
    """A model's declaration of one run's contents (see the module docstring).

    Attributes
    ----------
    predictor : the array of the predictor the run saves at every time (``w``: T×d, ``W``: T×d×d), or None.
    solver_rows : the arrays whose rows, flattened and joined, are the solver's ``weights`` (what a resumed run
        continues); default: the predictor.
    curves : "accuracy", "loss" or "mse": the train/test curves (:class:`Curves`).
    transition : the arrays the kernel → rich transition may be located on, the first one the run has wins.
    log_metric : the transition is located on log10 of that array (losses).
    higher_is_better : the metric's direction (accuracies: True; losses: False), for the regime labels.
    min_change : the smallest change of the metric that counts as a transition.
    alignment : "cos" (cosines ``cos_kernel``/``cos_rich`` of w with ``w_kernel``/``w_rich``), "dist" (relative
        distances ``dist_kernel``/``dist_rich``) or None (no reference predictors).
    norm_start : how the figure names ‖θ(0)‖ ("α" when they are equal).
    per_time : the arrays with one entry per saved time, and their number of dimensions.
    shaped_like_row : arrays shaped like one saved row of the predictor (the reference predictors, the problem).
    analysis_keys : keys of the theorem check (:class:`~grokode.analysis.analyze.Analysis`) the summary copies.
    rebuilt_from : the array a compact file stores instead of the predictor (which is then rebuilt when read).
    rebuild : ``rebuild(meta, arrays) → predictor`` for such files (not recorded: it is the model's code).
    rebuilt_metrics : per-time arrays a compact file may leave out as well (listed in the meta's
        ``trajectory.derived``): ``rebuild_metrics(meta, arrays)`` computes all of them the run has from the
        predictor and the data set, and returns them with the predictor when ``arrays`` (a
        :class:`TrajectoryArrays`) has not computed it yet. Not recorded (the model's code): a file is checked
        against its registered model's.
    title_sizes : the options the figure's title shows as sizes; title_depth: whether it shows the depth L.
    """

    predictor: str | None = None
    solver_rows: tuple[str, ...] = ()
    curves: str = "accuracy"
    transition: tuple[str, ...] = ()
    log_metric: bool = False
    higher_is_better: bool = True
    min_change: float = 0.05
    alignment: str | None = None
    norm_start: str = "‖θ(0)‖"
    per_time: Mapping[str, int] = field(default_factory=dict)
    shaped_like_row: tuple[str, ...] = ()
    analysis_keys: tuple[str, ...] = ()
    rebuilt_from: str | None = None
    rebuild: Callable[[dict, Mapping], Any] | None = field(default=None, compare=False, repr=False)
    rebuilt_metrics: tuple[str, ...] = field(default=(), compare=False, repr=False)
    rebuild_metrics: Callable[[dict, Mapping], Mapping[str, Any]] | None = field(default=None, compare=False,
                                                                                  repr=False)
    title_sizes: tuple[str, ...] = ("n", "d")
    title_depth: bool = True

    def __post_init__(self) -> None:
        if self.curves not in _CURVES:
            raise TypeError(f"Observables.curves must be one of {', '.join(_CURVES)}, got {self.curves!r}")
        if self.alignment not in (None, "cos", "dist"):
            raise TypeError(f"Observables.alignment must be 'cos', 'dist' or None, got {self.alignment!r}")
        if self.predictor is not None and self.predictor not in self.per_time:
            raise TypeError(f"the predictor {self.predictor!r} must be one of the per-time arrays")

    @property
    def curve(self) -> Curves:
        return _CURVES[self.curves]

    @property
    def rows(self) -> tuple[str, ...]:
        """The solver's rows (:attr:`solver_rows`, else the predictor)."""
        return self.solver_rows or ((self.predictor,) if self.predictor else ())

    def record(self) -> dict[str, Any]:
        """The JSON-able declaration ``meta["observables"]`` keeps."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in CODE_FIELDS}
        out["per_time"] = dict(self.per_time)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    @classmethod
    def from_record(cls, record: object, where: str) -> Observables:
        """The declaration recorded in a file's meta; InputError naming ``where`` when it is not one."""
        names = {f.name for f in dataclasses.fields(cls)} - set(CODE_FIELDS)
        if not isinstance(record, dict) or not set(record) <= names:
            raise InputError(f"{where}: its meta 'observables' is not a grokode declaration ({record!r:.80})")
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in record.items()}
        per_time = values.get("per_time", {})
        if not (isinstance(per_time, dict) and all(isinstance(n, int) and not isinstance(n, bool)
                                                   for n in per_time.values())):
            raise InputError(f"{where}: its meta 'observables' has per-time arrays that are not name: ndim")
        try:
            return cls(**values)
        except TypeError as exc:
            raise InputError(f"{where}: its meta 'observables' is not a grokode declaration ({exc})") from None


class TrajectoryArrays(dict):
    """A run's arrays, some of which are computed from the others on first access (``w`` of a compact file, the
    test metrics of a run that keeps its reduced states).

    A pending key is in the mapping (``in``, iteration, ``keys()``, ``len``) before it is computed; reading it
    (also through ``items()`` or ``values()``) computes it. A loader returns the key's array, or a mapping of
    several arrays computed together (each is kept, and their loaders dropped). ``dict.items(arrays)`` lists only
    the arrays computed so far.
    """

    def __init__(self, stored: Mapping[str, Any], loaders: Mapping[str, Callable[[], Any]] | None = None):
        super().__init__(stored)
        self._loaders: dict[str, Callable[[], Any]] = {}
        self.defer(loaders or {})

    def defer(self, loaders: Mapping[str, Callable[[], Any]]) -> None:
        """Add keys computed on first access by their loaders (a key already computed keeps its value)."""
        self._loaders.update({k: v for k, v in loaders.items() if not dict.__contains__(self, k)})

    def __missing__(self, key: str) -> Any:
        if key not in self._loaders:
            raise KeyError(key)
        found = self._loaders[key]()
        for name, value in (found.items() if isinstance(found, Mapping) else ((key, found),)):
            self._loaders.pop(name, None)
            self[name] = value
        return dict.__getitem__(self, key)

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or key in self._loaders

    def __iter__(self):
        return iter([*dict.keys(self), *(k for k in self._loaders if not dict.__contains__(self, k))])

    def __len__(self) -> int:
        return dict.__len__(self) + sum(1 for k in self._loaders if not dict.__contains__(self, k))

    def keys(self):  # type: ignore[override]
        return KeysView(self)

    def items(self):  # type: ignore[override]
        return ItemsView(self)

    def values(self):  # type: ignore[override]
        return ValuesView(self)

    def get(self, key, default=None):
        return self[key] if key in self else default

    @property
    def pending(self) -> list[str]:
        """Keys that exist but have not been computed yet."""
        return sorted(self._loaders)
