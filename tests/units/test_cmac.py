"""The exact float32 GEMM: its chunks respect the float32 bound, and results are exact."""

import numpy as np

from nvdla_sim.units.cmac import DATA_MAX, FLOAT32_EXACT, exact_matmul, exact_splits


def _reference(w: np.ndarray, d: np.ndarray) -> np.ndarray:
    return w.astype(np.int64) @ d.astype(np.int64)


def test_splits_keep_every_row_sum_below_the_float32_bound():
    rng = np.random.default_rng(1)
    w = rng.integers(-128, 128, (37, 5000)).astype(np.int8)
    w[5] = -128  # one worst-case row decides the chunks
    bounds = exact_splits(w)
    assert bounds[0] == 0 and bounds[-1] == w.shape[1] and np.all(np.diff(bounds) > 0)
    for a, b in zip(bounds[:-1], bounds[1:]):
        assert DATA_MAX * np.abs(w[:, a:b].astype(np.int64)).sum(axis=1).max() < FLOAT32_EXACT
        if b < w.shape[1]:  # greedy: one more column would break the bound
            assert DATA_MAX * np.abs(w[:, a:b + 1].astype(np.int64)).sum(axis=1).max() \
                >= FLOAT32_EXACT
    # the all -128 row allows (2**24 - 1) // 2**14 = 1023 columns per chunk
    assert np.diff(bounds).max() == 1023


def test_small_weights_need_one_chunk():
    w = np.random.default_rng(2).integers(-8, 9, (64, 4608)).astype(np.int8)
    assert exact_splits(w).tolist() == [0, 4608]


def test_worst_case_operands_are_exact_with_and_without_splits():
    w = np.full((3, 3000), -128, np.int8)
    d = np.full((3000, 7), -128, np.int8)
    want = _reference(w, d)
    assert want[0, 0] == 3000 * 2**14 > 2**24  # float32 alone would round this
    assert np.array_equal(exact_matmul(w.astype(np.float32), d, exact_splits(w)), want)
    assert np.array_equal(exact_matmul(w.astype(np.float32), d), want)


def test_random_operands_are_exact():
    rng = np.random.default_rng(3)
    w = rng.integers(-128, 128, (50, 2500)).astype(np.int8)
    d = rng.integers(-128, 128, (2500, 40)).astype(np.int8)
    assert np.array_equal(exact_matmul(w.astype(np.float32), d, exact_splits(w)),
                          _reference(w, d))
