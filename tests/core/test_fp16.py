"""NVDLA's FP16 conversion rules (cmod hls/include/nvdla_float.h), hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from nvdla_sim.fp16 import (cacc_fp48_add, cacc_fp48_to_fp32, fp16_to_fp32, fp16_to_int16,
                             fp32_to_fp16, int_to_fp16)


def f32(x: float) -> int:
    return int(np.array(x, np.float32).view(np.uint32))


def f16(x: float) -> int:
    return int(np.array(x, np.float16).view(np.uint16))


@pytest.mark.parametrize("value, expected", [
    (1.0, 0x3C00), (-2.5, 0xC100), (65504.0, 0x7BFF),
    # ties to even: 1 + 2**-11 is halfway between 1 and 1 + 2**-10 -> 1 (even)
    (1.0 + 2.0 ** -11, 0x3C00),
    # 1 + 3 * 2**-11 is halfway between 1 + 2**-10 (odd) and 1 + 2**-9 -> up
    (1.0 + 3 * 2.0 ** -11, 0x3C02),
    # just above a tie rounds up
    (1.0 + 2.0 ** -11 + 2.0 ** -20, 0x3C01),
])
def test_fp32_to_fp16_rounds_to_nearest_even(value, expected):
    assert fp32_to_fp16(f32(value)) == expected


def test_fp32_to_fp16_overflow_saturates_to_max_finite():
    # IEEE would give infinity (0x7c00); NVDLA's SetToInf writes 0x7bff
    assert fp32_to_fp16(f32(65520.0)) == 0x7BFF  # rounds up past 65504
    assert fp32_to_fp16(f32(1e9)) == 0x7BFF
    assert fp32_to_fp16(f32(-1e9)) == 0xFBFF
    assert fp32_to_fp16(f32(float("inf"))) == 0x7BFF
    assert fp32_to_fp16(f32(65519.0)) == 0x7BFF  # below the tie: plain rounding


def test_fp32_to_fp16_denormals():
    assert fp32_to_fp16(f32(2.0 ** -24)) == 0x0001  # the smallest denormal
    assert fp32_to_fp16(f32(2.0 ** -25)) == 0x0000  # exactly half of it: tie to even -> 0
    assert fp32_to_fp16(f32(-(2.0 ** -25) * 1.5)) == 0x8001  # above half: rounds up, sign kept
    assert fp32_to_fp16(f32(-(2.0 ** -26))) == 0x8000  # signed zero
    assert fp32_to_fp16(f32(3 * 2.0 ** -25)) == 0x0002  # 1.5 denormals: tie -> even (2)
    assert fp32_to_fp16(f32(2.0 ** -14 - 2.0 ** -26)) == 0x0400  # rounds up to the normal range


def test_fp32_to_fp16_nan_keeps_low_mantissa_bits():
    assert fp32_to_fp16(0x7FC00001) == 0x7C01
    assert fp32_to_fp16(0xFFC00000) == 0xFC00  # payload only in high bits: an inf pattern


def test_fp32_to_fp16_agrees_with_ieee_inside_the_range():
    rng = np.random.default_rng(3)
    x = rng.standard_normal(20000).astype(np.float32) * np.float32(2.0) ** rng.integers(
        -30, 16, 20000).astype(np.float32)
    x = x[np.abs(x) < 65504]
    ours = fp32_to_fp16(x.view(np.uint32))
    assert np.array_equal(ours, x.astype(np.float16).view(np.uint16).astype(np.int64))


def test_fp16_to_fp32():
    assert fp16_to_fp32(0x3C00) == f32(1.0)
    assert fp16_to_fp32(0x0001) == f32(2.0 ** -24)  # denormals widen exactly
    assert fp16_to_fp32(0x83FF) == f32(-(1023 * 2.0 ** -24))
    assert fp16_to_fp32(0x7C00) == 0x7F7FFFFF  # infinity widens to FLT_MAX
    assert fp16_to_fp32(0xFC00) == 0xFF7FFFFF
    assert fp16_to_fp32(0x7E01) == 0x7F800201  # NaN: payload in the low bits
    every = np.arange(0x7C00)  # every finite positive value round-trips
    assert np.array_equal(fp32_to_fp16(fp16_to_fp32(every)), every)


@pytest.mark.parametrize("value, expected", [
    (0, 0x0000), (1, 0x3C00), (-1, 0xBC00), (2048, 0x6800),
    (2049, 0x6800),  # tie between 2048 and 2050 -> even mantissa (2048)
    (2051, 0x6802),  # tie between 2050 and 2052 -> 2052
    (65504, 0x7BFF), (65519, 0x7BFF),
    (65520, 0x7BFF),  # IEEE: infinity; NVDLA: saturates
    (-65536, 0xFBFF),  # the 17-bit minimum
])
def test_int17_to_fp16(value, expected):
    assert int_to_fp16(value, 17) == expected


@pytest.mark.parametrize("bits, expected", [
    (0x3C00, 1), (0x3800, 1),  # 0.5 rounds half away from zero
    (0xB800, -1), (0x3E00, 2),  # 1.5 -> 2
    (0x4100, 3),  # 2.5 -> 3 (away from zero, not to even)
    (0x7BFF, 32767), (0xFBFF, -32768),  # saturation
    (0x7C00, 32767), (0x0001, 0), (0x8000, 0),
    (0x7E00, -32768),  # NaN
])
def test_fp16_to_int16(bits, expected):
    assert fp16_to_int16(bits) == expected


def fp48(exp: int, mant: int) -> int:
    """A CACC FP48 value: 8-bit exponent over a 40-bit two's-complement mantissa."""
    return (exp << 40) | (mant & ((1 << 40) - 1))


ONE = 1 << 38  # the mantissa's leading 1; exponent 63 makes 1.0


@pytest.mark.parametrize("exp, mant, expected", [
    (63, ONE, 0x3F800000), (63, -ONE, 0xBF800000), (64, 3 << 37, 0x40400000),  # 1, -1, 3
    (63, -(1 << 39), 0xC0000000),  # the mantissa with no positive twin: -2 (exponent e + 65)
    # guard bit 14 alone decides: a tie rounds away from zero (IEEE RNE would give 1.0) ...
    (63, ONE | 1 << 14, 0x3F800001), (63, -(ONE | 1 << 14), 0xBF800001),
    # ... and everything below it is truncated, sticky or not
    (63, ONE | 0x3FFF, 0x3F800000),
    # rounding carries out of the mantissa: 2 - 2**-24 -> 2.0, both signs
    (63, (1 << 39) - (1 << 14), 0x40000000), (63, -((1 << 39) - (1 << 14)), 0xC0000000),
    # a zero mantissa is +0 whatever the exponent
    (0, 0, 0), (70, 0, 0),
    # the 8-bit exponent e + 64 wraps: e = 191 gives the infinity pattern, e = 192 gives +0
    (191, ONE, 0x7F800000), (192, ONE, 0x00000000),
    # e = 255: NaN / infinity, sign from bit 39, payload = mantissa bits 38..29 -> bits 9..0
    (255, (1 << 39) | 0x3FF << 29, 0xFF8003FF), (255, 0, 0x7F800000), (255, 1 << 29, 0x7F800001),
])
def test_cacc_fp48_to_fp32(exp, mant, expected):
    assert int(cacc_fp48_to_fp32(fp48(exp, mant))) == expected


def test_cacc_fp48_to_fp32_is_exact_when_nothing_is_dropped():
    rng = np.random.default_rng(4)
    mant = rng.integers(1 << 23, 1 << 24, 500, dtype=np.int64) << 15  # bits 38..15 only
    sign = rng.choice([-1, 1], 500)
    exp = rng.integers(1, 190, 500)
    got = cacc_fp48_to_fp32(fp48(exp, sign * mant)).astype(np.uint32).view(np.float32)
    want = sign * np.ldexp(mant.astype(np.float64), exp - 63 - 38)
    assert np.array_equal(got.astype(np.float64), want)


def fp44(exp: int, mant: int) -> int:
    """A CMAC FP16 partial sum: 6-bit exponent over a 38-bit two's-complement mantissa."""
    return (exp << 38) | (mant & ((1 << 38) - 1))


MAC_ONE = fp44(14, 1 << 36)  # 2**36 * 2**(14 - 50) = 1.0


@pytest.mark.parametrize("acc, mac, expected", [
    (0, MAC_ONE, fp48(63, ONE)),  # 0 + 1: the partial sum, widened (exponent 14 - 0 + 49)
    (fp48(63, ONE), MAC_ONE, fp48(64, ONE)),  # 1 + 1 overflows 40 bits: shift right, e + 1
    (fp48(63, ONE), fp44(14, -(1 << 36)), 0),  # 1 - 1: a zero result has exponent 0
    (fp48(63, ONE), fp44(13, 3 << 35), fp48(63, 7 << 36)),  # 1 + 0.75 = 1.75
    # a tie (2**-14 is half an LSB of 2**25) rounds away from zero, both signs
    (fp48(88, ONE), fp44(0, 1 << 36), fp48(88, ONE + 1)),
    (fp48(88, -ONE), fp44(0, -(1 << 36)), fp48(88, -ONE - 1)),
    # a zero partial sum leaves the accumulator alone; NaNs keep mantissa bits 39..29
    (fp48(63, ONE), 0, fp48(63, ONE)),
    (fp48(255, 0x7FF << 29 | 0x1234), MAC_ONE, fp48(255, 0x7FF << 29)),
    (fp48(63, ONE), fp44(63, 0x7FF << 27 | 0x55), fp48(255, 0x7FF << 29)),
])
def test_cacc_fp48_add(acc, mac, expected):
    assert cacc_fp48_add(acc, mac) == expected


def test_cacc_fp48_add_is_within_one_lsb():
    """cmod's own check in cacc_fp16_add: |result - exact sum| <= one LSB of the result."""
    from fractions import Fraction
    rng = np.random.default_rng(7)

    def value(bits: int, mant: int, exp: int, scale: int) -> Fraction:
        m = bits & ((1 << mant) - 1)
        m -= (m >> (mant - 1)) << mant
        return Fraction(m) * Fraction(2) ** (((bits >> mant) & ((1 << exp) - 1)) - scale)

    for _ in range(300):
        acc = fp48(int(rng.integers(40, 80)), int(rng.integers(-(1 << 39), 1 << 39)))
        mac = fp44(int(rng.integers(0, 63)), int(rng.integers(-(1 << 37), 1 << 37)))
        out = int(cacc_fp48_add(acc, mac))
        exact = value(acc, 40, 8, 101) + value(mac, 38, 6, 50)
        assert abs(value(out, 40, 8, 101) - exact) <= Fraction(2) ** ((out >> 40) - 101)


def test_cacc_fp48_add_is_elementwise_on_arrays():
    """The vectorized step gives, on whole arrays, what it gives value by value."""
    cases = [(0, MAC_ONE), (fp48(63, ONE), MAC_ONE), (fp48(63, ONE), fp44(14, -(1 << 36))),
             (fp48(88, -ONE), fp44(0, -(1 << 36))), (fp48(255, 0x7FF << 29), MAC_ONE),
             (fp48(63, ONE), fp44(63, 0x7FF << 27)), (fp48(63, ONE), 0)]
    acc, mac = np.array(cases).T
    assert cacc_fp48_add(acc, mac).tolist() == [int(cacc_fp48_add(a, m)) for a, m in cases]
