"""Matrix-completion tasks (docs/math.md#matrix): the multiplication table, random low-rank matrices, user data.

A task is a symmetric target M (d×d), the observed set Ω (``train_mask``) and the entries the test MSE
is taken over (``test_mask``, by default every entry not in Ω). Randomness only from a seeded
:class:`numpy.random.Generator`: one stream for the target (low-rank task), one for Ω.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from grokode.errors import InputError, checked_arguments
from grokode.tasks.datasets import read_npz_arrays
from grokode.tasks.population import _require_int

MATRIX_TASKS = ("multiplication", "lowrank")
#: RMS entry of the low-rank targets: that of the multiplication table (E[x²]² with x uniform on [0, 1)
#: is 1/9), so both tasks have losses on the same scale.
LOWRANK_RMS = 1.0 / 3.0


@dataclass(frozen=True, eq=False)
class MatrixTask:
    """A completion problem: target ``M`` (d, d) symmetric float64, boolean ``train_mask`` (Ω) and
    ``test_mask``; ``name`` is "multiplication", "lowrank" or "data:<file name>"; ``params`` is JSON-able."""

    M: np.ndarray
    train_mask: np.ndarray
    test_mask: np.ndarray
    name: str
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        M, train, test = validate_completion(self.M, self.train_mask, self.test_mask)
        for key, value in (("M", M), ("train_mask", train), ("test_mask", test)):
            value.flags.writeable = False
            object.__setattr__(self, key, value)

    @property
    def d(self) -> int:
        return self.M.shape[0]

    @property
    def n_obs(self) -> int:
        """N = |Ω|."""
        return int(self.train_mask.sum())

    def mse(self, W: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Mean squared error of W (d, d) or a stack (T, d, d) over the entries of ``mask``."""
        W = np.asarray(W, dtype=np.float64)
        diff = W[..., mask] - self.M[mask]
        return np.mean(diff * diff, axis=-1)


def validate_completion(M, train_mask, test_mask=None, *, where: str = "") -> tuple[np.ndarray, ...]:
    """Check a completion problem; return float64 M and bool masks (copies). Errors name the bad value.

    M must be square, finite and symmetric (to 1e-10 relative); masks boolean of M's shape, Ω non-empty;
    ``test_mask`` defaults to the complement of Ω and must not be empty.
    """
    at = f" in {where}" if where else ""
    M = np.asarray(M)
    if M.dtype.kind not in "biuf":
        raise InputError(f"M{at} must be numeric, got dtype {M.dtype}")
    if M.ndim != 2 or M.shape[0] != M.shape[1] or M.shape[0] == 0:
        raise InputError(f"M{at} must be a square d×d matrix, got shape {M.shape}")
    M = np.array(M, dtype=np.float64)
    bad = np.argwhere(~np.isfinite(M))
    if bad.size:
        i, j = bad[0]
        raise InputError(f"M{at} has a non-finite entry M[{i}, {j}] = {M[i, j]} ({len(bad)} in all)")
    big = np.argwhere(np.abs(M) > MAX_ENTRY)
    if big.size:
        i, j = big[0]
        raise InputError(f"M{at} is too large for float64 arithmetic: M[{i}, {j}] = {M[i, j]:.3g} (at most "
                         f"{MAX_ENTRY:g}; rescale the data)")
    asym = np.abs(M - M.T)
    tol = 1e-10 * max(1.0, float(np.max(np.abs(M))))
    if asym.max() > tol:
        i, j = np.unravel_index(int(np.argmax(asym)), asym.shape)
        raise InputError(f"M{at} must be symmetric: M[{i}, {j}] = {M[i, j]:.6g} but M[{j}, {i}] = {M[j, i]:.6g}")
    masks = []
    for name, mask in (("train_mask", train_mask), ("test_mask", test_mask)):
        if mask is None:
            masks.append(~masks[0])
            continue
        mask = np.asarray(mask)
        if mask.shape != M.shape:
            raise InputError(f"{name}{at} has shape {mask.shape} but M has shape {M.shape}")
        if mask.dtype != np.bool_:
            if mask.dtype.kind in "biu" and np.isin(mask, (0, 1)).all():
                mask = mask.astype(bool)
            else:
                raise InputError(f"{name}{at} must be boolean (or 0/1), got dtype {mask.dtype}")
        masks.append(np.array(mask, dtype=bool))
    if not masks[0].any():
        raise InputError(f"train_mask{at} is empty: no entry of M is observed")
    if not masks[1].any():
        raise InputError(f"test_mask{at} is empty: no entry to test on (every entry is observed?)")
    return M, masks[0], masks[1]


def multiplication_table(d: int) -> np.ndarray:
    """M_ij = (i/d)(j/d), i, j ∈ {0, …, d−1}: the paper's rank-1 target (docs/math.md#matrix)."""
    x = np.arange(d, dtype=np.float64) / d
    return np.outer(x, x)


def lowrank_matrix(d: int, rank: int, rng: np.random.Generator) -> np.ndarray:
    """Symmetric PSD M = GGᵀ of the given rank (G Gaussian d×rank), scaled to RMS entry :data:`LOWRANK_RMS`."""
    G = rng.standard_normal((d, rank))
    M = G @ G.T
    M = 0.5 * (M + M.T)
    return M * (LOWRANK_RMS / np.sqrt(np.mean(M * M)))


def observed_mask(d: int, frac: float, rng: np.random.Generator) -> np.ndarray:
    """Ω: round(frac·d²) index pairs drawn without replacement from [d]×[d] (both (i,j) and (j,i) may be in)."""
    n_obs = int(round(frac * d * d))
    if n_obs < 1 or n_obs >= d * d:
        raise InputError(f"frac={frac:g} observes {n_obs} of the {d * d} entries of a {d}×{d} matrix "
                         "(need at least one observed and one unobserved entry)")
    mask = np.zeros(d * d, dtype=bool)
    mask[rng.choice(d * d, size=n_obs, replace=False)] = True
    return mask.reshape(d, d)


@checked_arguments
def make_matrix_task(task: str = "multiplication", *, d: int = 30, frac: float = 0.25, rank: int = 1,
                     seed: int = 0) -> MatrixTask:
    """A generated completion task.

    Parameters
    ----------
    task : "multiplication" (M_ij = (i/d)(j/d)) or "lowrank" (random symmetric PSD of rank ``rank``).
    d : matrix size (≥ 2).
    frac : fraction of the d² entries observed, 0 < frac < 1.
    rank : rank of the low-rank target (ignored by "multiplication", which has rank 1).
    seed : seed of the generator (target stream and mask stream are independent).
    """
    if task not in MATRIX_TASKS:
        raise InputError(f"unknown matrix task {task!r} (choose {', '.join(MATRIX_TASKS)})")
    d = _require_int("d", d, 2)
    seed = _require_int("seed", seed, 0)
    try:
        frac = float(frac)
    except (TypeError, ValueError):
        raise InputError(f"frac must be a number in (0, 1), got {frac!r}") from None
    if not 0.0 < frac < 1.0:
        raise InputError(f"frac must be in (0, 1), got {frac!r}")
    target_rng, mask_rng = np.random.default_rng(seed).spawn(2)
    if task == "multiplication":
        M, rank = multiplication_table(d), 1
    else:
        rank = _require_int("rank", rank, 1)
        if rank > d:
            raise InputError(f"rank must be at most d = {d}, got {rank}")
        M = lowrank_matrix(d, rank, target_rng)
    train = observed_mask(d, frac, mask_rng)
    params = {"task": task, "d": d, "frac": frac, "rank": rank, "seed": seed, "n_obs": int(train.sum())}
    return MatrixTask(M, train, ~train, name=task, params=params)


#: Largest |M_ij| of completion data: the flows and the predictors form products of entries (squares must stay
#: finite in float64, max ≈ 1.8e308).
MAX_ENTRY = 1e150


@checked_arguments
def load_matrix_npz(path: str | os.PathLike) -> MatrixTask:
    """User completion data: ``.npz`` with ``M`` (d×d symmetric), ``train_mask`` (d×d bool), optional ``test_mask``."""
    try:
        path = Path(os.fspath(path))
    except TypeError:
        raise InputError(f"data path must be a string or path, got {path!r}") from None
    arrays, files = read_npz_arrays(path, ("M", "train_mask", "test_mask"), "M, train_mask")
    for key in ("M", "train_mask"):
        if key not in files:
            raise InputError(f"data file '{path}' has no array '{key}' (found: {', '.join(files) or 'none'})")
    M, train, test = validate_completion(arrays["M"], arrays["train_mask"], arrays.get("test_mask"),
                                         where=f"'{path}'")
    params = {"task": "data", "path": str(path.resolve()), "d": M.shape[0], "n_obs": int(train.sum()),
              "frac": float(train.mean())}
    return MatrixTask(M, train, test, name=f"data:{path.name}", params=params)
