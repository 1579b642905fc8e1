"""The one-pass sign check and column packing, and the XOR-popcount Gram matrix, against numpy's formulation."""

from __future__ import annotations

import numpy as np
import pytest

from grokode.numeric import sign_bits
from grokode.numeric.linalg import DataMatrix
from grokode.numeric.sign_bits import sign_columns, sign_gram


def _numpy_columns(X: np.ndarray) -> np.ndarray | None:
    """The reference: every |x| == 1 (int8 abs(−128) is −128), then packbits of Xᵀ > 0 along samples."""
    if not np.all(np.abs(X) == 1):
        return None
    return np.packbits(X.T > 0, axis=1, bitorder="little")


def _signs(n: int, d: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).choice(np.array([-1, 1], dtype=np.int8), size=(n, d))


# n and d around multiples of 8 and of the 4096-column block (partial bytes, partial blocks, one row, one column)
SHAPES = [(1, 1), (1, 9), (7, 3), (8, 8), (9, 4095), (13, 1037), (16, 4096), (17, 4097), (33, 8195)]


@pytest.mark.parametrize("n, d", SHAPES)
def test_sign_columns_matches_packbits(n, d):
    X = _signs(n, d, n * 7919 + d)
    expected = _numpy_columns(X)
    got = sign_columns(X)
    assert got is not None and got.dtype == np.uint8 and got.shape == expected.shape
    assert np.array_equal(got, expected)
    for build in (sign_bits._pack_columns.serial, sign_bits._pack_columns.parallel):
        out = np.empty_like(expected)
        assert build(X, out, sign_bits._COLUMN_BLOCK) == 0
        assert np.array_equal(out, expected)


@pytest.mark.parametrize("value", [0, 2, -2, 127, -128])
@pytest.mark.parametrize("where", ["first", "last", "middle", "last_block"])
def test_sign_columns_refuses_any_other_value(value, where):
    n, d = 17, 8195
    X = _signs(n, d, 5)
    i, j = {"first": (0, 0), "last": (n - 1, d - 1), "middle": (8, 4096), "last_block": (16, 8194)}[where]
    X[i, j] = value
    assert _numpy_columns(X) is None
    assert sign_columns(X) is None
    for build in (sign_bits._pack_columns.serial, sign_bits._pack_columns.parallel):
        assert build(X, np.empty((d, 3), dtype=np.uint8), sign_bits._COLUMN_BLOCK) > 0


def test_sign_columns_refuses_other_dtypes():
    with pytest.raises(ValueError, match="int8"):
        sign_columns(np.ones((2, 3)))


@pytest.mark.parametrize("n, d", [(1, 1), (5, 7), (8, 64), (13, 1037), (40, 130)])
def test_sign_gram_is_the_exact_product(n, d):
    X = _signs(n, d, 3 * n + d)
    D = DataMatrix(X)
    expected = X.astype(np.float64) @ X.T.astype(np.float64)  # integers below 2^53: exact
    K = sign_gram(D.colbits, d)
    assert K.flags.c_contiguous and K.dtype == np.float64
    assert np.array_equal(K, expected) and np.array_equal(K, K.T)
    assert np.array_equal(D.gram(), expected)
    words = np.zeros((n, 8 * ((D.colbits.shape[0] + 7) // 8)), dtype=np.uint8)
    words[:, :D.colbits.shape[0]] = D.colbits.T
    for build in (sign_bits._xor_counts.serial, sign_bits._xor_counts.parallel):
        out = np.empty((n, n))
        build(words.view(np.uint64), d, out)
        assert np.array_equal(out, expected)


def test_data_matrix_without_signs_keeps_the_general_path():
    X = _signs(9, 100, 1)
    X[4, 50] = 0
    D = DataMatrix(X)
    assert D.bits is None and D.colbits is None
    assert np.array_equal(D.gram(), X.astype(np.float64) @ X.T.astype(np.float64))


@pytest.mark.parametrize("size", [0, 1, 7, 8, 9, 63, 64, 65, 1037 * 13])
def test_unpack_signs_is_numpy_unpackbits(size):
    raw = np.random.default_rng(size).integers(0, 256, size=(size + 7) // 8 + 1, dtype=np.uint8)  # a spare byte
    expected = 2 * np.unpackbits(raw, count=size).astype(np.int8) - 1
    got = sign_bits.unpack_signs(raw, size)
    assert got.dtype == np.int8 and got.shape == (size,)
    assert np.array_equal(got, expected)
    with pytest.raises(ValueError, match="bits asked"):
        sign_bits.unpack_signs(raw, 8 * raw.size + 1)


@pytest.mark.parametrize("n, d", [(1, 1), (3, 5), (13, 1037), (256, 64)])
def test_rademacher_draws_the_same_signs_from_the_same_stream(n, d):
    """A seed's data set does not change: the ±1 entries are numpy's unpacked bits of the same random bytes."""
    from grokode.tasks.datasets import _rademacher

    size = n * d
    before = np.random.default_rng(11)
    raw = np.frombuffer(before.bytes((size + 7) // 8), dtype=np.uint8)
    expected = (2 * np.unpackbits(raw, count=size).astype(np.int8) - 1).reshape(n, d)
    rng = np.random.default_rng(11)
    got = _rademacher(rng, n, d)
    assert got.dtype == np.int8 and got.flags.c_contiguous and np.array_equal(got, expected)
    assert rng.random() == before.random()  # the stream moved as before
