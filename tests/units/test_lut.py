"""SDP and CDP LUT against hand-computed values (cmod ``sdp_y_idx.cpp``/``sdp_y_inp.cpp``
and ``NV_NVDLA_cdp.cpp::lookup_lut_int8``)."""

from __future__ import annotations

import numpy as np
import pytest

from nvdla_sim.layers import Lut
from nvdla_sim.units.lut import cdp_lookup, sdp_lookup

FAR = 1 << 20  # a START no test input reaches: that table underflows


def make_lut(le: dict[int, int] | None = None, lo: dict[int, int] | None = None,
             **fields: int) -> Lut:
    """Linear LE, all priorities LE, everything 0 unless given; tables from {entry: value}."""
    le_table, lo_table = np.zeros(65, np.int16), np.zeros(257, np.int16)
    for table, entries in ((le_table, le), (lo_table, lo)):
        for i, value in (entries or {}).items():
            table[i] = value
    base = dict(le_function=1, uflow_priority=0, oflow_priority=0, hybrid_priority=0,
                le_index_offset=0, le_index_select=0, lo_index_select=0, le_start=0,
                le_end=0, lo_start=0, lo_end=0, le_uflow_scale=0, le_oflow_scale=0,
                le_uflow_shift=0, le_oflow_shift=0, lo_uflow_scale=0, lo_oflow_scale=0,
                lo_uflow_shift=0, lo_oflow_shift=0)
    base.update(fields)
    return Lut(**base, le_table=le_table, lo_table=lo_table)


def sdp(lut: Lut, *y: int) -> list[int]:
    return sdp_lookup(np.array(y, np.int64), lut).tolist()


def cdp(lut: Lut, *x: int) -> list[int]:
    return cdp_lookup(np.array(x, np.int64), lut).tolist()


# --- SDP -------------------------------------------------------------------

def test_sdp_hit_interpolates_with_35_bit_fraction() -> None:
    # LO: 16 inputs per entry.  LE underflows, so the one table that hits wins.
    lut = make_lut(lo={2: 100, 3: 200, 5: -100, 6: -200}, lo_index_select=4, le_start=FAR)
    # 36 = 2*16 + 4: 100*3/4 + 200/4 = 125;  34: 100 + 12.5 -> 113;  82 = 5*16 + 2: -112.5 -> -113
    assert sdp(lut, 36, 34, 82) == [125, 113, -113]


def test_sdp_underflow_slope_rounds_and_shifts_both_ways() -> None:
    lo = dict(lo={0: 10}, lo_uflow_scale=3, le_start=100, uflow_priority=1)
    # 10 + (-5*3)/4 = 10 - 3.75 -> 6;  10 - 6/4 = 10 - 1.5 -> 8;  y == START underflows: 10
    assert sdp(make_lut(lo_uflow_shift=2, **lo), -5, -2, 0) == [6, 8, 10]
    # negative (signed 5-bit) shift multiplies: 10 + (-15 << 2) = -50
    assert sdp(make_lut(lo_uflow_shift=-2, **lo), -5) == [-50]
    # UFLOW_PRIORITY = 0 takes LE: -7 + (-5 - 100) * 1
    lut = make_lut(le={0: -7}, le_start=100, le_uflow_scale=1)
    assert sdp(lut, -5) == [-112]


def test_sdp_overflow_slope_from_end() -> None:
    # both tables overflow (index = y from START 0); END is the extrapolation origin
    fields = dict(le={64: 5}, lo={256: 1000}, le_end=64, lo_end=256, le_oflow_scale=2,
                  lo_oflow_scale=1, lo_oflow_shift=1)
    # LO: 1000 + 44/2 = 1022;  1000 + 0.5 -> 1001
    assert sdp(make_lut(oflow_priority=1, **fields), 300, 257) == [1022, 1001]
    # LE: 5 + (300 - 64) * 2
    assert sdp(make_lut(oflow_priority=0, **fields), 300) == [477]


def test_sdp_result_saturates_to_int32() -> None:
    lut = make_lut(lo={0: 32767}, lo_uflow_scale=-32768, lo_uflow_shift=-16, le_start=FAR,
                   uflow_priority=1)
    assert sdp(lut, -(1 << 31)) == [(1 << 31) - 1]  # 2**46 << 16, then + 32767


@pytest.mark.parametrize("hybrid", [0, 1])
def test_sdp_priorities(hybrid: int) -> None:
    le = {i: 1000 + i for i in range(65)}
    lo = {i: 2000 + i for i in range(257)}
    lut = make_lut(le=le, lo=lo, hybrid_priority=hybrid)
    # 10: both hit -> HYBRID;  100: LE overflows, LO hits -> LO
    assert sdp(lut, 10, 100) == [[1010, 2010][hybrid], 2100]
    # LE overflow with LO underflow (START 200) is a mixed miss -> HYBRID too
    lut = make_lut(le=le, lo=lo, lo_start=200, hybrid_priority=hybrid)
    assert sdp(lut, 100) == [[1064, 2000][hybrid]]
    # both underflow -> UFLOW_PRIORITY
    assert sdp(make_lut(le=le, lo=lo, uflow_priority=1), -3) == [2000]


def test_sdp_exponent_index() -> None:
    lut = make_lut(le={0: 50, 1: 10, 2: 20}, le_function=0, le_index_offset=2, lo_start=FAR,
                   le_uflow_scale=8, le_uflow_shift=1)
    # 12 = 2**3 + 4: entry 3 - 2 = 1, fraction 4/8 -> 15;  13: 10 + 10*5/8 = 16.25 -> 16;
    # 4 = 2**2: entry 0, no fraction -> 50
    assert sdp(lut, 12, 13, 4) == [15, 16, 50]
    # 3: exponent 1 < offset -> underflow, extrapolated from START + 2**offset = 4:
    # 50 + (3 - 4) * 8 / 2
    assert sdp(lut, 3) == [46]


def test_sdp_exponent_offset_zero_has_no_bias_and_overflows() -> None:
    lut = make_lut(le={0: 50, 63: 63, 64: 7}, le_function=0, le_index_offset=-40,
                   le_end=1 << 24, lo_start=FAR, le_oflow_scale=1)
    # 2**23: entry 23 + 40 = 63 -> 63;  2**24: entry 64 overflows -> 7 + (y - END)
    assert sdp(lut, 1 << 23, 1 << 24, (1 << 24) + 10) == [63, 7, 17]
    lut = make_lut(le={0: 50}, le_function=0, lo_start=FAR, le_uflow_scale=8,
                   le_uflow_shift=1)
    assert sdp(lut, 0, -1) == [50, 46]  # offset 0: START itself is the origin


def test_sdp_negative_index_select_shifts_left() -> None:
    le = {12: 120, 60: 600}
    lut = make_lut(le=le, le_index_select=0xFE, lo_start=FAR)  # select -2: 4 entries per input
    assert sdp(lut, 3, 15) == [120, 600]
    assert sdp(make_lut(le={64: 9}, le_index_select=0xFE, lo_start=FAR), 16) == [9]


# --- CDP -------------------------------------------------------------------

def test_cdp_hit_interpolates_from_y0_with_16_bit_fraction() -> None:
    lut = make_lut(lo={2: 100, 3: 92, 5: 100, 6: 108}, lo_index_select=4, le_start=FAR)
    # 33 = 2*16 + 1: 100 + rnd(-8/16) = 99 (SDP's rnd(99.5) would give 100);  81: 100 + rnd(0.5)
    assert cdp(lut, 33, 81) == [99, 101]


def test_cdp_fraction_wider_than_16_bits_truncates() -> None:
    lut = make_lut(lo={1: 0, 2: 400}, lo_index_select=18, le_start=FAR)
    # 2**18 + 2**16 + 3: entry 1, fraction (2**16 + 3) >> 2 = 2**14 -> 400 / 4
    assert cdp(lut, (1 << 18) + (1 << 16) + 3) == [100]


def test_cdp_exponent_fraction_and_underflow_bias() -> None:
    lut = make_lut(le={1: 10, 2: 20}, le_function=0, le_index_offset=2, lo_start=FAR)
    assert cdp(lut, 12, 13) == [15, 16]  # as SDP: mantissa 4/8 and 5/8 (16.25)
    lut = make_lut(le={10: 0, 11: 400}, le_function=0, le_index_offset=10, lo_start=FAR)
    # 2**20 + 2**18: entry 10, mantissa 2**18 >> 4 = 2**14 -> 100
    assert cdp(lut, (1 << 20) + (1 << 18)) == [100]
    # offset 0 still extrapolates from START + 2**0 (SDP would use START): 50 + (-1 - 1)*8/2
    lut = make_lut(le={0: 50}, le_function=0, lo_start=FAR, le_uflow_scale=8, le_uflow_shift=1)
    assert cdp(lut, -1) == [42]


def test_cdp_index_select_sign_is_bit_5() -> None:
    lut = make_lut(le={10: 77}, le_index_select=0x3F, lo_start=FAR)  # -1: idx = d << 1
    assert cdp(lut, 5) == [77]
    # 0x21 reads as -31 (not +33): 1 << 31 overflows to entry 64
    assert cdp(make_lut(le={0: 1, 64: 9}, le_index_select=0x21, lo_start=FAR), 1) == [9]


def test_cdp_start_underflows_and_result_clamps_to_int16() -> None:
    lut = make_lut(lo={0: 4, 256: 32000}, lo_start=5, lo_end=256 + 5, lo_oflow_scale=10,
                   le_start=FAR, uflow_priority=1, hybrid_priority=1)
    # 5 == START underflows (LO entry 0);  1000 (LE under-, LO overflow): 32000 + 7340 clamps
    assert cdp(lut, 5, 1000) == [4, 32767]
