"""Modular addition (paper §2, docs/math.md#data): every pair (a, b) ∈ Z_p², label (a + b) mod p, seeded split.

The input of a pair is onehot(a) ⊕ onehot(b) ∈ R^{2p}; it is stored as the two token indices (a, p + b)
and never materialised (the net gathers two embedding rows instead). A fraction ``frac`` of the p² pairs,
drawn without replacement by a seeded :class:`numpy.random.Generator`, is the training set; the rest is
the test set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..errors import InputError

#: train fraction of the paper (40 % of the p² pairs)
DEFAULT_FRAC = 0.4


@dataclass(frozen=True, eq=False)
class ModAddTask:
    """Pairs as token indices: ``tokens`` (n, 2) int64 rows (a, p + b), labels ``y`` = (a + b) mod p.

    ``train``/``test`` hold the index arrays into the p² pairs (row-major: pair k is (k // p, k % p)).
    """

    #: The task's name (``meta["dataset"]["name"]`` of a run).
    name: ClassVar[str] = "modadd"
    p: int
    frac: float
    seed: int
    train: np.ndarray
    test: np.ndarray

    @property
    def n_train(self) -> int:
        return int(self.train.size)

    @property
    def n_test(self) -> int:
        return int(self.test.size)

    def tokens(self, which: str) -> np.ndarray:
        """(n, 2) int64 token indices (a, p + b) of the "train" or "test" pairs."""
        idx = self.train if which == "train" else self.test
        return np.ascontiguousarray(np.stack([idx // self.p, self.p + idx % self.p], axis=1), dtype=np.int64)

    def labels(self, which: str) -> np.ndarray:
        """(n,) int64 labels (a + b) mod p of the "train" or "test" pairs."""
        idx = self.train if which == "train" else self.test
        return ((idx // self.p + idx % self.p) % self.p).astype(np.int64)

    @property
    def params(self) -> dict:
        return {"p": self.p, "frac": self.frac, "seed": self.seed, "n_train": self.n_train, "n_test": self.n_test}


def make_modadd(p: int, frac: float = DEFAULT_FRAC, seed: int = 0) -> ModAddTask:
    """The modular-addition task mod ``p`` with ``round(frac·p²)`` training pairs chosen by ``seed``.

    Raises InputError for p < 2, frac outside (0, 1), or a split that leaves the training or test set empty.
    """
    if isinstance(p, bool) or not isinstance(p, int | np.integer) or p < 2:
        raise InputError(f"p must be an integer >= 2, got {p!r}")
    p = int(p)
    try:
        frac = float(frac)
    except (TypeError, ValueError):
        raise InputError(f"frac must be a number in (0, 1), got {frac!r}") from None
    if not (math.isfinite(frac) and 0.0 < frac < 1.0):
        raise InputError(f"frac must lie in (0, 1), got {frac!r}")
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise InputError(f"seed must be an integer >= 0, got {seed!r}")
    total = p * p
    n_train = int(round(frac * total))
    if not 0 < n_train < total:
        raise InputError(f"frac={frac!r} of the {total} pairs of p={p} leaves {n_train} training and "
                         f"{total - n_train} test pairs: both must be non-empty")
    rng = np.random.default_rng(np.random.SeedSequence(int(seed)).spawn(1)[0])
    perm = rng.permutation(total)
    return ModAddTask(p=p, frac=frac, seed=int(seed), train=np.sort(perm[:n_train]), test=np.sort(perm[n_train:]))
