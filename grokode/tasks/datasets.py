"""Data sets: the paper's synthetic tasks (docs/math.md#data) and user data from ``.npz`` files.

±1-valued design matrices are stored as int8: at d = 1e5 a float64 copy of a 1256-row train+test set
would cost 1 GB, the int8 one 126 MB. Everything else is float64. Arrays held by a :class:`Dataset`
are read-only views, so a cached data set cannot be changed behind a run's back.

Randomness comes only from :class:`numpy.random.Generator`. Each generator splits its generator into
three independent streams (teacher, training set, test set), so the teacher and the test set do not
change when ``n`` changes, and the teacher does not change with ``n_test``.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from grokode.errors import InputError, checked_arguments
from grokode.tasks.population import (
    MAX_SPARSE_K,
    _nonnegative,
    _require_int,
    margin_population_accuracy,
    sparse_population_accuracy,
    squared_population_loss,
)

__all__ = [
    "LOSSES",
    "TASKS",
    "Dataset",
    "load_npz",
    "make_task",
    "margin_classification",
    "sparse_classification",
    "sparse_regression",
]

TASKS = ("sparse", "margin", "sparse-regression")
LOSSES = ("logistic", "exponential", "squared")

# Rows of the margin design are shifted in blocks so no second full-size float64 array is built.
_BLOCK_ELEMENTS = 1 << 22


@dataclass(frozen=True, eq=False)
class TestDraw:
    """The test set of a generated task as a recipe: ``task`` ("sparse", "sparse-regression" or "margin") with
    ``n_test`` rows, from the random stream ``seed_sequence`` (its own: drawing it again gives the same arrays) and the
    teacher. Called, returns (X_test, y_test) as the task's function draws them."""

    task: str
    n_test: int
    d: int
    teacher: np.ndarray
    seed_sequence: Any  # np.random.SeedSequence
    bit_generator: type
    k: int = 0
    gamma: float = 0.0

    def __call__(self) -> tuple[np.ndarray, np.ndarray]:
        return self.draw(np.random.Generator(self.bit_generator(self.seed_sequence)))

    def draw(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(X_test, y_test) drawn from ``rng``."""
        if self.task == "margin":
            return _margin_sample(rng, self.n_test, self.teacher, self.gamma)
        X_test = _rademacher(rng, self.n_test, self.d)
        scores = _teacher_scores(X_test, self.teacher, self.k)
        return X_test, (np.sign(scores) if self.task == "sparse" else scores)


def _test_set(task: str, n_test: int, d: int, teacher: np.ndarray, stream: np.random.Generator,
              **extra: Any) -> tuple[np.ndarray | None, np.ndarray | None, TestDraw | None]:
    """(X_test, y_test, test_draw) for a Dataset: the test set drawn from ``stream`` as a recipe (drawn when read), or
    drawn now if the stream cannot be recreated from its seed sequence; all None without a test set."""
    if n_test <= 0:
        return None, None, None
    seq = getattr(stream.bit_generator, "seed_seq", None)
    recipe = TestDraw(task, n_test, d, teacher, seq, type(stream.bit_generator), **extra)
    if isinstance(seq, np.random.SeedSequence):
        return None, None, recipe
    X_test, y_test = recipe.draw(stream)
    return X_test, y_test, None


@dataclass(frozen=True, eq=False)
class Dataset:
    """A training set, an optional test set and what is known about the distribution they came from.

    Attributes
    ----------
    X : (n, d) ndarray
        Inputs; int8 when every entry (of ``X`` and ``X_test``) is ±1, else float64. C-contiguous.
    y : (n,) float64 ndarray
        Targets; ±1 for classification.
    X_test, y_test : ndarray or None
        Test set (same dtype rule), or None when there is none.
    kind : str
        ``"classification"`` or ``"regression"``.
    name : str
        ``"sparse"``, ``"margin"``, ``"sparse-regression"`` or ``"data:<file name>"``.
    teacher : (d,) float64 ndarray or None
        The teacher w*; None for user data.
    params : dict
        Every parameter that produced the data set (JSON-serialisable), for run metadata.
    """

    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray | None
    y_test: np.ndarray | None
    kind: str
    name: str
    teacher: np.ndarray | None = None
    params: dict[str, Any] = field(default_factory=dict)
    #: A generated task's test set, drawn when ``X_test`` or ``y_test`` is first read (``X_test`` and ``y_test`` are
    #: then given as None): a run that never reads it (a compact run's test metrics wait until read) never draws
    #: it. A :class:`TestDraw` recreates its own random stream, so every draw gives the same arrays.
    test_draw: TestDraw | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in ("classification", "regression"):
            raise InputError(f"kind must be 'classification' or 'regression', got {self.kind!r}")
        if (self.X_test is None) != (self.y_test is None):
            raise InputError("X_test and y_test must be given together (one of them is None)")
        if self.test_draw is not None and self.X_test is not None:
            raise InputError("a data set's test set is given either as X_test, y_test or as test_draw, not both")
        X = _frozen_design("X", self.X)
        y = _frozen_vector("y", self.y, X.shape[0])
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "y", y)
        if self.X_test is not None:
            self._set_test(self.X_test, self.y_test)
        if self.teacher is not None:
            object.__setattr__(self, "teacher", _frozen_vector("teacher", self.teacher, X.shape[1]))
        if self.test_draw is not None:  # read through __getattr__ until drawn
            object.__delattr__(self, "X_test")
            object.__delattr__(self, "y_test")

    def _set_test(self, X_test: np.ndarray, y_test: np.ndarray) -> None:
        X_test = _frozen_design("X_test", X_test)
        if X_test.shape[1] != self.X.shape[1]:
            raise InputError(f"X_test has {X_test.shape[1]} columns but X has {self.X.shape[1]}")
        object.__setattr__(self, "X_test", X_test)
        object.__setattr__(self, "y_test", _frozen_vector("y_test", y_test, X_test.shape[0]))

    def __getattr__(self, name: str) -> Any:
        # called only for an attribute not found: X_test or y_test of a test set not drawn yet
        draw = self.__dict__.get("test_draw")
        if name not in ("X_test", "y_test") or draw is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        self._set_test(*draw())
        return self.__dict__[name]

    @property
    def test_drawn(self) -> bool:
        """Whether the test set is held (always, but for a generated task's test set not read yet)."""
        return "X_test" in self.__dict__

    @property
    def n(self) -> int:
        """Number of training examples."""
        return self.X.shape[0]

    @property
    def d(self) -> int:
        """Input dimension."""
        return self.X.shape[1]

    @property
    def n_test(self) -> int:
        """Number of test examples (0 when there is no test set)."""
        if self.test_draw is not None and not self.test_drawn:
            return self.test_draw.n_test
        return 0 if self.X_test is None else self.X_test.shape[0]

    def population_accuracy(self, W: np.ndarray) -> np.ndarray | None:
        """Population accuracy of each row of ``W`` ((d,) -> 0-d array, (T, d) -> (T,)).

        Exact for ``"margin"``, the CLT formula for ``"sparse"`` (k <= ``MAX_SPARSE_K``); None when the
        distribution is unknown (user data) or the task is a regression.
        """
        if self.name == "sparse" and self.params.get("k", MAX_SPARSE_K + 1) <= MAX_SPARSE_K:
            return sparse_population_accuracy(W, self.teacher, self.params["k"])
        if self.name == "margin":
            return margin_population_accuracy(W, self.teacher, self.params["gamma"])
        return None

    def population_loss(self, W: np.ndarray) -> np.ndarray | None:
        """Population squared error ``||w - w*||^2`` per row of ``W`` (sparse-regression only, else None)."""
        if self.name == "sparse-regression":
            return squared_population_loss(W, self.teacher)
        return None

    def __repr__(self) -> str:
        return (f"Dataset(name={self.name!r}, kind={self.kind!r}, n={self.n}, d={self.d}, "
                f"n_test={self.n_test}, X.dtype={self.X.dtype})")


def _frozen_design(name: str, X: np.ndarray) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2:
        raise InputError(f"{name} must be a 2-D array, got shape {X.shape}")
    if X.dtype != np.int8:
        X = X.astype(np.float64, copy=False)
    X = np.ascontiguousarray(X).view()
    X.flags.writeable = False
    return X


def _frozen_vector(name: str, v: np.ndarray, length: int) -> np.ndarray:
    v = np.ascontiguousarray(v, dtype=np.float64).view()
    if v.shape != (length,):
        raise InputError(f"{name} must have shape ({length},), got {v.shape}")
    v.flags.writeable = False
    return v


# ----------------------------------------------------------------------------------------------------
# Synthetic tasks
# ----------------------------------------------------------------------------------------------------


def _streams(seed: int | np.random.Generator) -> tuple[list[np.random.Generator], int | None]:
    """Three independent generators (teacher, train, test) and the seed to record (None for a Generator)."""
    if isinstance(seed, np.random.Generator):
        return seed.spawn(3), None
    seed = _require_int("seed", seed, 0)
    return np.random.default_rng(seed).spawn(3), seed


def _check_sizes(n: int, d: int, n_test: int) -> tuple[int, int, int]:
    return _require_int("n", n, 1), _require_int("d", d, 1), _require_int("n_test", n_test, 0)


def _check_k(k: int, d: int) -> int:
    k = _require_int("k", k, 1)
    if k % 2 == 0 or k > d:
        # Even k would allow ties <w*, x> = 0, i.e. undefined labels.
        raise InputError(f"k must be odd with 1 <= k <= d = {d}, got {k}")
    return k


def _rademacher(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """(n, d) int8 array of independent uniform ±1 entries.

    One random bit per entry (unpacked from random bytes, most significant bit first: numpy's unpackbits order) is
    8x fewer random draws than one integer per entry, and the only full-size array ever built is the int8 result
    itself, written in one pass.
    """
    from grokode.numeric.sign_bits import unpack_signs

    size = n * d
    if size == 0:
        return np.empty((n, d), dtype=np.int8)
    raw = np.frombuffer(rng.bytes((size + 7) // 8), dtype=np.uint8)
    return unpack_signs(raw, size).reshape(n, d)


def _sparse_teacher(rng: np.random.Generator, d: int, k: int) -> np.ndarray:
    teacher = np.zeros(d)
    teacher[:k] = 2.0 * rng.integers(0, 2, size=k) - 1.0
    return teacher


def _sparse_common(task: str, n: int, d: int, k: int, n_test: int, seed: int | np.random.Generator):
    """(teacher, X, params, test) with test = (X_test, y_test, test_draw): the test set as a recipe, drawn when read,
    or drawn now when its stream cannot be recreated."""
    n, d, n_test = _check_sizes(n, d, n_test)
    k = _check_k(k, d)
    (r_teacher, r_train, r_test), seed_rec = _streams(seed)
    teacher = _sparse_teacher(r_teacher, d, k)
    X = _rademacher(r_train, n, d)
    params = {"n": n, "d": d, "k": k, "n_test": n_test, "seed": seed_rec}
    return teacher, X, params, _test_set(task, n_test, d, teacher, r_test, k=k)


def _teacher_scores(X: np.ndarray, teacher: np.ndarray, k: int) -> np.ndarray:
    # Integer arithmetic on the k support columns only: exact, and never touches the d - k noise columns.
    return (X[:, :k].astype(np.int64) @ teacher[:k].astype(np.int64)).astype(np.float64)


def sparse_classification(n: int = 256, d: int = 10_000, k: int = 3, n_test: int = 1000,
                          seed: int | np.random.Generator = 0) -> Dataset:
    """Sparse linear classification: x uniform on {±1}^d, y = sign(<w*_{1:k}, x_{1:k}>).

    Parameters
    ----------
    n, d, n_test : int
        Training-set size (>= 1), dimension (>= 1), test-set size (>= 0; 0 means no test set).
    k : int
        Teacher support size: odd, 1 <= k <= d. w* has random signs on the first k coordinates.
    seed : int or numpy.random.Generator
        Source of randomness; an int ``s`` is the same as ``np.random.default_rng(s)``.

    Returns
    -------
    Dataset
        ``name="sparse"``, int8 inputs, ±1 float64 labels.
    """
    teacher, X, params, (X_test, y_test, draw) = _sparse_common("sparse", n, d, k, n_test, seed)
    y = np.sign(_teacher_scores(X, teacher, params["k"]))
    return Dataset(X, y, X_test, y_test, kind="classification", name="sparse", teacher=teacher,
                   params={"task": "sparse", **params}, test_draw=draw)


def sparse_regression(n: int = 256, d: int = 10_000, k: int = 3, n_test: int = 1000,
                      seed: int | np.random.Generator = 0) -> Dataset:
    """Sparse linear regression: x uniform on {±1}^d, y = <w*, x>, w* in {±1}^k on the first k coordinates.

    Parameters are as in :func:`sparse_classification`. Returns a Dataset with ``name="sparse-regression"``,
    ``kind="regression"``.
    """
    teacher, X, params, (X_test, y_test, draw) = _sparse_common("sparse-regression", n, d, k, n_test, seed)
    y = _teacher_scores(X, teacher, params["k"])
    return Dataset(X, y, X_test, y_test, kind="regression", name="sparse-regression", teacher=teacher,
                   params={"task": "sparse-regression", **params}, test_draw=draw)


def _margin_sample(rng: np.random.Generator, m: int, teacher: np.ndarray, gamma: float):
    z = rng.standard_normal((m, teacher.size))
    y = np.where(z @ teacher >= 0, 1.0, -1.0)  # a tie has probability 0; it is sent to +1
    shift = 0.5 * gamma * y
    step = max(1, _BLOCK_ELEMENTS // teacher.size)
    for start in range(0, m, step):
        blk = slice(start, start + step)
        z[blk] += shift[blk, None] * teacher
    return z, y


def margin_classification(n: int = 256, d: int = 10_000, gamma: float = 5.0, n_test: int = 1000,
                          seed: int | np.random.Generator = 0) -> Dataset:
    """Large-l2-margin Gaussian data: z ~ N(0, I_d), y = sign(<w*, z>), x = z + y (gamma/2) w*.

    w* is a dense random unit vector, so every example has y <w*, x> >= gamma/2.

    Parameters
    ----------
    n, d, n_test : int
        As in :func:`sparse_classification`. The inputs are float64: (n + n_test) * d * 8 bytes.
    gamma : float
        Margin, >= 0.
    seed : int or numpy.random.Generator
        Source of randomness.

    Returns
    -------
    Dataset
        ``name="margin"``, float64 inputs, ±1 labels, unit ``teacher``.
    """
    n, d, n_test = _check_sizes(n, d, n_test)
    gamma = _nonnegative("gamma", gamma)
    (r_teacher, r_train, r_test), seed_rec = _streams(seed)
    teacher = r_teacher.standard_normal(d)
    teacher /= np.linalg.norm(teacher)
    X, y = _margin_sample(r_train, n, teacher, gamma)
    X_test, y_test, draw = _test_set("margin", n_test, d, teacher, r_test, gamma=gamma)
    params = {"task": "margin", "n": n, "d": d, "gamma": gamma, "n_test": n_test, "seed": seed_rec}
    return Dataset(X, y, X_test, y_test, kind="classification", name="margin", teacher=teacher, params=params,
                   test_draw=draw)


@checked_arguments
def make_task(name: str, *, n: int = 256, d: int = 10_000, k: int = 3, gamma: float = 5.0,
              n_test: int = 1000, seed: int | np.random.Generator = 0) -> Dataset:
    """Build a synthetic task by name: ``"sparse"``, ``"margin"`` or ``"sparse-regression"``.

    Parameters a task does not use (``gamma`` for the sparse tasks, ``k`` for margin) are ignored and not
    recorded in ``params``.
    """
    from grokode.errors import require_int
    from grokode.files import require_memory

    n, d, n_test = require_int("n", n, 1), require_int("d", d, 1), require_int("n_test", n_test, 0)
    # X and X_test as float64 while they are drawn, before any packing: refused before allocating
    require_memory(8.0 * (n + n_test) * d, f"make_task({name!r}, n={n}, d={d}, n_test={n_test})")
    if name == "sparse":
        return sparse_classification(n=n, d=d, k=k, n_test=n_test, seed=seed)
    if name == "margin":
        return margin_classification(n=n, d=d, gamma=gamma, n_test=n_test, seed=seed)
    if name == "sparse-regression":
        return sparse_regression(n=n, d=d, k=k, n_test=n_test, seed=seed)
    raise InputError(f"unknown task {name!r} (choose {', '.join(TASKS)})")


# ----------------------------------------------------------------------------------------------------
# User data
# ----------------------------------------------------------------------------------------------------


def read_npz_arrays(path: Path, keys: tuple[str, ...], expected: str) -> tuple[dict[str, np.ndarray], list[str]]:
    """The arrays named in ``keys`` that ``path`` holds, and the names of all its arrays.

    Every way a file can fail to be read (missing, a directory, a pipe or device, not a zip, not an .npz,
    truncated, corrupt, pickled objects) becomes an :class:`InputError` naming the path; ``expected`` ("X, y")
    is said when the file is not an .npz archive. The arrays' headers are read first, so a file whose
    header claims more memory than is available is refused before anything is allocated.
    """
    from grokode.files import npz_array_headers, npz_size, one_line, open_npz, require_memory, require_regular_file

    require_regular_file(path, "data file")
    try:
        headers = npz_array_headers(path, "data file")
    except InputError:
        if not zipfile.is_zipfile(path):
            raise InputError(f"data file '{path}' is not an .npz archive (expected arrays {expected})") from None
        raise
    require_memory(npz_size({k: v for k, v in headers.items() if k in keys}), f"data file '{path}'")
    with open_npz(path, "data file", expected=f"arrays {expected}") as archive:
        try:
            return {key: np.asarray(archive[key]) for key in keys if key in archive.files}, sorted(archive.files)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise InputError(f"cannot read data file '{path}': {one_line(exc)}") from None


def _as_float_array(name: str, arr: np.ndarray, ndim: int, path: Path) -> np.ndarray:
    if arr.dtype.kind not in "biuf":
        raise InputError(f"array {name} in '{path}' must be numeric, got dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise InputError(f"array {name} in '{path}' must be {ndim}-D, got shape {arr.shape}")
    if arr.size == 0:
        raise InputError(f"array {name} in '{path}' is empty (shape {arr.shape})")
    out = np.ascontiguousarray(arr, dtype=np.float64)
    finite = np.isfinite(out)
    if not finite.all():
        idx = tuple(int(i) for i in np.argwhere(~finite)[0])
        where = idx[0] if ndim == 1 else idx
        raise InputError(f"array {name} in '{path}' contains {out[idx]} at index {where}")
    return out


#: Largest ‖row‖ of X (and |y|) a data set may have: the flows form inner products and Gram entries of rows, whose
#: squares must stay finite in float64 (max ≈ 1.8e308) with room for the sums over n samples.
MAX_ROW_NORM = 1e150


def _check_magnitude(name: str, arr: np.ndarray | None, path: Path) -> None:
    """InputError when a row of ``arr`` (an entry of a vector) is so large that products of rows overflow."""
    if arr is None or arr.size == 0:
        return
    scale = np.max(np.abs(arr)) or 1.0
    with np.errstate(over="ignore"):  # a norm beyond float64 is inf, which the check below reports
        norms = np.sqrt(np.einsum("ij,ij->i", arr / scale, arr / scale)) * scale if arr.ndim == 2 else np.abs(arr)
    worst = int(np.argmax(norms))
    if not norms[worst] <= MAX_ROW_NORM:
        what = f"row {worst} has norm {norms[worst]:.3g}" if arr.ndim == 2 else f"{name}[{worst}] = {arr[worst]:.3g}"
        raise InputError(f"array {name} in '{path}' is too large for float64 arithmetic: {what} (at most "
                         f"{MAX_ROW_NORM:g}; rescale the data)")
    if arr.ndim == 2 and name == "X" and not norms[worst] >= 1.0 / MAX_ROW_NORM:
        raise InputError(f"array {name} in '{path}' is too small for float64 arithmetic: its largest row norm is "
                         f"{norms[worst]:.3g} (at least {1.0 / MAX_ROW_NORM:g}; rescale the data)")


def _check_labels(name: str, y: np.ndarray, loss: str, path: Path | None = None) -> None:
    bad = np.flatnonzero(np.abs(y) != 1.0)
    if bad.size:
        i = int(bad[0])
        where = f" in '{path}'" if path is not None else ""
        raise InputError(f"label {name}[{i}] = {float(y[i])!r}{where} is not ±1 "
                         f"(loss '{loss}' is a classification loss; --loss squared for regression)")


@checked_arguments
def load_npz(path: str | os.PathLike, loss: str) -> Dataset:
    """Load user data from an ``.npz`` file with arrays ``X`` (n, d), ``y`` (n,) and optionally
    ``X_test``, ``y_test`` (both or neither).

    Parameters
    ----------
    path : str or path-like
        The file. It is closed before returning.
    loss : str
        ``"logistic"`` or ``"exponential"`` (classification: every label must be ±1) or ``"squared"``
        (regression).

    Returns
    -------
    Dataset
        ``name="data:<file name>"``, ``teacher=None``; X stored as int8 when all of X and X_test are ±1.
    """
    if loss not in LOSSES:
        raise InputError(f"unknown loss {loss!r} (choose {', '.join(LOSSES)})")
    try:
        path = Path(os.fspath(path))
    except TypeError:
        raise InputError(f"data path must be a string or path, got {path!r}") from None
    arrays, files = read_npz_arrays(path, ("X", "y", "X_test", "y_test"), "X, y")
    found = ", ".join(files) or "none"
    for key in ("X", "y"):
        if key not in arrays:
            raise InputError(f"data file '{path}' has no array '{key}' (found: {found})")
    if ("X_test" in arrays) != ("y_test" in arrays):
        have, missing = ("X_test", "y_test") if "X_test" in arrays else ("y_test", "X_test")
        raise InputError(f"data file '{path}' has {have} but no {missing} (give both or neither)")

    X = _as_float_array("X", arrays["X"], 2, path)
    y = _as_float_array("y", arrays["y"], 1, path)
    if y.shape[0] != X.shape[0]:
        raise InputError(f"data file '{path}': y has {y.shape[0]} entries but X has {X.shape[0]} rows")
    X_test = y_test = None
    if "X_test" in arrays:
        X_test = _as_float_array("X_test", arrays["X_test"], 2, path)
        y_test = _as_float_array("y_test", arrays["y_test"], 1, path)
        if X_test.shape[1] != X.shape[1]:
            raise InputError(f"data file '{path}': X_test has {X_test.shape[1]} columns but X has "
                             f"{X.shape[1]}")
        if y_test.shape[0] != X_test.shape[0]:
            raise InputError(f"data file '{path}': y_test has {y_test.shape[0]} entries but X_test has "
                             f"{X_test.shape[0]} rows")

    for name, arr in (("X", X), ("y", y), ("X_test", X_test), ("y_test", y_test)):
        _check_magnitude(name, arr, path)
    kind = "regression" if loss == "squared" else "classification"
    if kind == "classification":
        _check_labels("y", y, loss, path)
        if y_test is not None:
            _check_labels("y_test", y_test, loss, path)

    # One dtype for train and test, so downstream kernels see a single input type.
    if np.all(np.abs(X) == 1.0) and (X_test is None or np.all(np.abs(X_test) == 1.0)):
        X = X.astype(np.int8)
        X_test = None if X_test is None else X_test.astype(np.int8)

    params = {"task": "data", "path": str(path.resolve()), "loss": loss, "n": X.shape[0], "d": X.shape[1],
              "n_test": 0 if X_test is None else X_test.shape[0]}
    return Dataset(X, y, X_test, y_test, kind=kind, name=f"data:{path.name}", teacher=None, params=params)
