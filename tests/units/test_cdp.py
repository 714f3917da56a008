"""CDP (LRN) against hand-computed values (cmod ``NV_NVDLA_cdp.cpp``, ``cdp_icvt``/``cdp_ocvt``)."""

from __future__ import annotations

import numpy as np

from nvdla_sim.config import NV_SMALL
from nvdla_sim.layers import Cdp
from nvdla_sim.units import cdp as cdp_unit
from tests.units.test_lut import FAR, make_lut

# LO returns its input for 0..256 (entries i -> i, one input per entry); LE always underflows
# and both-underflow picks LO, whose entry 0 is 0: the LUT output is the square sum itself.
IDENTITY = make_lut(lo={i: i for i in range(257)}, le_start=FAR, uflow_priority=1,
                    lo_uflow_scale=2)


def make_cdp(channels: int, **extra: object) -> Cdp:
    fields: dict[str, object] = dict(
        width=1, height=1, channels=channels, src_address=0, src_line_stride=0,
        src_surface_stride=0, src_ram_type=0, dst_address=0, dst_line_stride=0,
        dst_surface_stride=0, dst_ram_type=0, sqsum_bypass=False, mul_bypass=True,
        normalz_len=0, datin_offset=0, datin_scale=1, datin_shifter=0, datout_offset=0,
        datout_scale=1, datout_shifter=0, lut=IDENTITY, input_data=0)
    fields.update(extra)
    return Cdp(**fields)  # type: ignore[arg-type]


def run(lanes: list[int], channels: int, **extra: object) -> list[int]:
    """Process one pixel whose channel lanes (padded to whole atoms) are ``lanes``."""
    cube = np.array(lanes, np.int8).reshape(-1, 1, 1)
    out = cdp_unit.process(cube, make_cdp(channels, **extra), NV_SMALL)
    assert out.shape == cube.shape and out.dtype == np.int8
    return out.ravel().tolist()


def test_square_sum_window_of_3_at_the_edges() -> None:
    # 3 real channels; the padded lanes' junk (50) is replaced by the offset byte (0)
    assert run([1, 2, 3] + [50] * 5, 3) == [0 + 1 + 4, 1 + 4 + 9, 4 + 9 + 0, 9, 0, 0, 0, 0]


def test_square_sum_window_of_9_across_surfaces() -> None:
    # 10 ones in two atoms: each sum counts the real channels within c-4..c+4
    assert run([1] * 10 + [0] * 6, 10, normalz_len=3) == [5, 6, 7, 8, 9, 9, 8, 7, 6, 5,
                                                          4, 3, 2, 1, 0, 0]


def test_padded_lanes_take_the_offset_byte() -> None:
    # offset 5: v = x - 5 = [1, 2]; padded lanes become 5 -> 0, not 50 - 5
    assert run([6, 7] + [50] * 6, 2, datin_offset=5) == [5, 5, 4, 0, 0, 0, 0, 0]


def test_multiply_and_output_shift() -> None:
    # v = 4: sum 16, LUT 16, times v = 64, >> 2 -> 16; the padded lane multiplies by v = 0
    assert run([4] + [0] * 7, 1, mul_bypass=False, datout_shifter=2) == [16] + [0] * 7


def test_sqsum_bypass_looks_up_the_converted_value() -> None:
    # s = v = -3 underflows: LO entry 0 + (-3 - 0) * 2
    assert run([-3, 2] + [0] * 6, 2, sqsum_bypass=True) == [-6, 2, 0, 0, 0, 0, 0, 0]


def test_input_converter_saturates_to_9_bits() -> None:
    x = np.array([127, -100, -128, -127], np.int64)
    # offset 0x80 -> -128:  255*3/2 = 382.5 -> 383 -> 255;  28*3/2 = 42;  0
    up = make_cdp(8, datin_offset=0x80, datin_scale=3, datin_shifter=1)
    assert cdp_unit.convert_in(x, up).tolist() == [255, 42, 0, 2]  # 1*3/2 = 1.5 -> 2
    down = make_cdp(8, datin_offset=0x80, datin_scale=-3, datin_shifter=1)
    assert cdp_unit.convert_in(x, down).tolist() == [-256, -42, 0, -2]  # -382.5 -> -383 -> -256
    # only the low byte of DATIN_OFFSET counts: 0xFF9C -> -100
    assert cdp_unit.convert_in(x, make_cdp(8, datin_offset=0xFF9C)).tolist() == [227, 0, -28, -27]


def test_output_converter_uses_25_bit_offset_and_saturates() -> None:
    cdp = make_cdp(8, datout_offset=(1 << 25) + 5, datout_scale=3, datout_shifter=2)  # -> 5
    p = np.array([25, 27, -100, 1000, -1000], np.int64)
    # 20*3/4 = 15;  22*3/4 = 16.5 -> 17;  -105*3/4 = -78.75 -> -79;  then saturation
    assert cdp_unit.convert_out(p, cdp).tolist() == [15, 17, -79, 127, -128]
