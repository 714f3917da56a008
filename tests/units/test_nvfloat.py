"""NVDLA's float templates (cmod/hls/include/nvdla_float.h) on FP32, hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from nvdla_sim.floatpath.nvfloat import MAX, MIN, SUM, fp_add, fp_alu, fp_max_min, fp_mul, fp_relu

E, M = 8, 23
FLT_MAX, NEG_ZERO = 0x7F7FFFFF, 0x80000000


def b(x: float) -> int:
    return int(np.array(x, np.float32).view(np.uint32))


def add(x: int, y: int) -> int:
    return int(fp_add(np.int64(x), np.int64(y), E, M))


def mul(x: int, y: int) -> int:
    return int(fp_mul(np.int64(x), np.int64(y), E, M))


def test_add_rounds_to_nearest_even():
    assert add(b(1.0), b(2.0 ** -24)) == b(1.0)  # a tie: stays even
    assert add(b(1.0 + 2.0 ** -23), b(2.0 ** -24)) == b(1.0 + 2.0 ** -22)  # tie: up to even
    assert add(b(1.5), b(-0.25)) == b(1.25)


def test_add_cancellation_keeps_the_larger_operands_sign():
    # FpAdd: when |a| = |b| the first operand counts as larger; IEEE would give +0 twice
    assert add(b(1.0), b(-1.0)) == 0
    assert add(b(-1.0), b(1.0)) == NEG_ZERO


def test_add_flushes_tiny_results_and_saturates_overflow():
    # 2**-125 - 1.5 * 2**-126 = 2**-127: exponent 0 after normalization -> zero (no denormal)
    assert add(b(2.0 ** -125), b(-1.5 * 2.0 ** -126)) == 0
    assert add(FLT_MAX, FLT_MAX) == FLT_MAX  # SetToInf: the largest finite, not infinity
    assert add(FLT_MAX | 1 << 31, FLT_MAX | 1 << 31) == FLT_MAX | 1 << 31


def test_mul_rounds_flushes_and_saturates():
    assert mul(b(1.5), b(1.5)) == b(2.25)
    assert mul(b(1.0 + 2.0 ** -23), b(1.0 + 2.0 ** -23)) == b(1.0 + 2.0 ** -22)  # RNE
    assert mul(b(2.0 ** -70), b(2.0 ** -70)) == 0  # below the normal range: flushed
    assert mul(b(-(2.0 ** -70)), b(2.0 ** -70)) == NEG_ZERO  # ... keeping the sign
    assert mul(b(2.0 ** 100), b(-(2.0 ** 100))) == FLT_MAX | 1 << 31  # saturates
    # a denormal input counts with an implied 1 at exponent 0: 1.0 * 2**-127 here,
    # times 2**10 is 2**-117 (IEEE: 2**-149 * 2**10)
    assert mul(0x00000001, b(2.0 ** 10)) == b(2.0 ** -117 * (1 + 2.0 ** -23))


def test_nan_propagates_first_operand_first():
    nan_a, nan_b = 0x7FC00001, 0xFFC00002
    assert add(nan_a, nan_b) == nan_a and add(b(1.0), nan_b) == nan_b
    assert mul(b(2.0), nan_b) == nan_b
    assert int(fp_max_min(np.int64(nan_b), np.int64(b(1.0)), E, M, True)) == nan_b


@pytest.mark.parametrize("x, y, big, small", [
    (1.0, 2.0, 2.0, 1.0), (-1.0, -2.0, -1.0, -2.0), (-0.0, 0.0, 0.0, -0.0),  # -0 < +0
    (-3.0, 0.5, 0.5, -3.0)])
def test_max_min(x, y, big, small):
    assert int(fp_alu(MAX, np.int64(b(x)), np.int64(b(y)), E, M)) == b(big)
    assert int(fp_alu(MIN, np.int64(b(x)), np.int64(b(y)), E, M)) == b(small)


def test_relu_maps_negatives_and_minus_zero_to_plus_zero():
    x = np.array([b(-2.0), NEG_ZERO, b(3.0), 0xFFC00001], np.int64)
    assert fp_relu(x, E, M).tolist() == [0, 0, b(3.0), 0xFFC00001]
    assert int(fp_alu(SUM, np.int64(b(1.0)), np.int64(b(2.0)), E, M)) == b(3.0)


def test_agrees_with_ieee_on_ordinary_values():
    rng = np.random.default_rng(9)
    x = (rng.standard_normal(20000) * 2.0 ** rng.integers(-30, 30, 20000)).astype(np.float32)
    y = (rng.standard_normal(20000) * 2.0 ** rng.integers(-30, 30, 20000)).astype(np.float32)
    xb, yb = x.view(np.uint32).astype(np.int64), y.view(np.uint32).astype(np.int64)
    assert np.array_equal(fp_add(xb, yb, E, M), (x + y).view(np.uint32))
    assert np.array_equal(fp_mul(xb, yb, E, M), (x * y).view(np.uint32))
