"""INT16 arithmetic rules, hand-computed (cmod branch nvdlav1)."""

from __future__ import annotations

import dataclasses

import numpy as np

from nvdla_sim.config import NV_FULL
from nvdla_sim.layers import POOL_AVERAGE, POOL_MAX
from nvdla_sim.precision import INT8, INT16
from nvdla_sim.units import cacc, cmac, pdp as pdp_unit
from tests.units.test_pdp import make_pdp


def test_cacc_saturates_at_48_bits_for_int16():
    big = (1 << 46) + 5
    steps = np.array([[big], [big], [-3]], np.int64)
    assert cacc.accumulate_in_order(steps, INT16)[0] == (1 << 47) - 1 - 3
    assert cacc.accumulate_in_order(steps, INT8)[0] == (1 << 33) - 1 - 3
    assert cacc.accumulation_is_safe(576, INT16)  # googlenet conv2: 64 x 3 x 3 taps
    assert not cacc.accumulation_is_safe(1 << 17, INT16)


def test_int16_gemm_is_exact():
    # products of -32768 * -32768 = 2**30 summed over 5000 columns exceed float32's 2**24
    w = np.full((2, 5000), -32768, np.float64)
    d = np.full((5000, 3), -32768, np.float64)
    assert cmac.gemm_dtype(INT16) is np.float64 and cmac.gemm_dtype(INT8) is np.float32
    assert (cmac.exact_matmul(w, d) == 5000 << 30).all()
    d[17, 1] = 32767
    assert cmac.exact_matmul(w, d)[0, 1] == (4999 << 30) - 32768 * 32767


def test_pdp_int16_pad_values_sign_extend_from_bit_15():
    cube = np.array([[[100, -200]]], np.int16)  # C=1, H=1, W=2
    # PAD_VALUE_1X = 0x8000: bit 15 set -> -32768 in the int32 buffer (INT8 would keep bit 7)
    pdp = make_pdp(cube, method=POOL_AVERAGE, kernel=(3, 1), stride=(1, 1), pads=(1, 0, 0, 0),
                   pad_values=(0x8000,) + (0,) * 6, input_data=INT16.code)
    table = pdp_unit._pad_table(pdp, INT16)
    assert table[1] == -32768
    out = pdp_unit.process(cube, pdp, NV_FULL)
    # window (pad, 100, -200) = -32768 - 100 in the 32-bit buffer, RECIP 1.0, then int16 wrap
    assert out.dtype == np.int16 and out[0, 0, 0] == np.int16(-32868 + 65536)


def test_pdp_int16_max_keeps_full_range():
    cube = np.array([[[-32768, -32767, 32767]]], np.int16)
    pdp = make_pdp(cube, method=POOL_MAX, kernel=(2, 1), stride=(1, 1),
                   input_data=INT16.code)
    assert pdp_unit.process(cube, pdp, NV_FULL)[0, 0].tolist() == [-32767, 32767]
    # the same bits read as INT8 wrap: the precision decides the element type
    pdp8 = dataclasses.replace(pdp, input_data=INT8.code)
    assert pdp_unit.process(np.array([[[-128, 127, 5]]], np.int8), pdp8, NV_FULL
                            ).dtype == np.int8
