"""PDP pooling against hand-computed values (rules from cmod ``NV_NVDLA_pdp.cpp``)."""

from __future__ import annotations

import numpy as np
import pytest

from nvdla_sim.config import NV_SMALL
from nvdla_sim.errors import LayerError
from nvdla_sim.layers import POOL_AVERAGE, POOL_MAX, POOL_MIN, Pdp
from nvdla_sim.units import pdp as pdp_unit

ONE = 0x10000  # RECIP_KERNEL_* = 1.0


def make_pdp(cube: np.ndarray, *, method: int, kernel: tuple[int, int], stride: tuple[int, int],
             pads: tuple[int, int, int, int] = (0, 0, 0, 0), pad_values: tuple[int, ...] = (0,) * 7,
             recip: tuple[int, int] = (ONE, ONE), **extra: int) -> Pdp:
    """A descriptor for ``cube`` ([C, H, W]); ``pads`` is (left, top, right, bottom)."""
    c, h, w = cube.shape
    (kw, kh), (sx, sy), (pl, pt, pr, pb) = kernel, stride, pads
    fields = dict(
        from_memory=True, method=method, in_width=w, in_height=h, in_channels=c,
        out_width=(pl + w + pr - kw) // sx + 1, out_height=(pt + h + pb - kh) // sy + 1,
        out_channels=c, kernel_width=kw, kernel_height=kh, stride_x=sx, stride_y=sy,
        pad_left=pl, pad_top=pt, pad_right=pr, pad_bottom=pb, pad_values=pad_values,
        recip_kernel_width=recip[0], recip_kernel_height=recip[1], split_num=0,
        partial_in_first=0, partial_in_mid=0, partial_in_last=0, partial_out_first=0,
        partial_out_mid=0, partial_out_last=0, src_address=0, src_line_stride=0,
        src_surface_stride=0, src_ram_type=0, dst_address=0, dst_line_stride=0,
        dst_surface_stride=0, dst_ram_type=0, input_data=0)
    fields.update(extra)
    return Pdp(**fields)


def run(cube: np.ndarray, **kw: object) -> np.ndarray:
    cube = np.asarray(cube, dtype=np.int8)
    return pdp_unit.process(cube, make_pdp(cube, **kw), NV_SMALL).astype(int)


# 3x3 all-negative plane; 2x2 windows, stride 1, one padded row/column on every side.
X = np.array([[-5, -3, -7], [-2, -9, -4], [-6, -1, -8]])
MAX_X = np.array([[-5, -3, -3, -7],
                  [-2, -2, -3, -4],
                  [-2, -1, -1, -4],
                  [-6, -1, -1, -8]])


def test_max_ignores_padding() -> None:
    # Padding taking part (as 0 or as a pad value) would make every border output >= 0.
    cube = np.stack([X] + [np.full((3, 3), 100)] * 7)
    out = run(cube, method=POOL_MAX, kernel=(2, 2), stride=(1, 1), pads=(1, 1, 1, 1),
              pad_values=(0x7F,) * 7)
    assert out.shape == (8, 4, 4)
    np.testing.assert_array_equal(out[0], MAX_X)
    assert (out[1:] == 100).all()  # lanes past the real channels are pooled like real ones


def test_min_ignores_padding() -> None:
    cube = np.stack([-X] * 8)
    out = run(cube, method=POOL_MIN, kernel=(2, 2), stride=(1, 1), pads=(1, 1, 1, 1),
              pad_values=(0x80,) * 7)
    np.testing.assert_array_equal(out[0], -MAX_X)


def test_average_pad_terms_per_real_row_and_per_padded_row() -> None:
    # 1x1 input, 3x3 window, one pad on every side: the single real row has 2 padded
    # columns (left + right together) -> P[2]; the 2 padded rows add KW * P[2] = 3 * P[2].
    # P[1] = 10 and P[2] = 7 are deliberately not "n * pad": the table is indexed by count.
    # RECIP = 1.0, so out = int8(x + 4 * 7); 100 + 28 = 128 wraps to -128 (static_cast).
    cube = np.array([5, -20, 100, -128, 0, 1, 2, 3]).reshape(8, 1, 1)
    out = run(cube, method=POOL_AVERAGE, kernel=(3, 3), stride=(1, 1), pads=(1, 1, 1, 1),
              pad_values=(10, 7, 0, 0, 0, 0, 0))
    assert out.ravel().tolist() == [33, 8, -128, -100, 28, 29, 30, 31]


def test_average_padded_row_counts_kernel_width() -> None:
    # 1x2 column [1, 2], window 2 wide x 3 tall, pad left 1 and top 1: each of the 2 real
    # rows gets P[1] for its padded column; the padded top row gets KW * P[1] = 2 * P[1]
    # (the corner is counted there once).  P[1] = 10: 1 + 2 + 2 * 10 + 2 * 10 = 43.
    cube = np.tile(np.array([[1], [2]]), (8, 1, 1))
    out = run(cube, method=POOL_AVERAGE, kernel=(2, 3), stride=(1, 1), pads=(1, 1, 0, 0),
              pad_values=(10, 0, 0, 0, 0, 0, 0))
    assert out.shape == (8, 1, 1)
    assert (out == 43).all()


def test_average_pad_value_sign_bit() -> None:
    # PAD_VALUE_1X = 0xF0 has its sign at bit 7 -> -16 (not +240).  Row [4, 6] under a
    # 3x1 window with one left pad: sum = 4 + 6 - 16 = -6.
    # RECIP_W = 0x5555: -6 * 21845 / 65536 = -1.99997 -> -2; RECIP_H = 1.0 -> -2.
    cube = np.tile(np.array([4, 6]), (8, 1, 1))
    out = run(cube, method=POOL_AVERAGE, kernel=(3, 1), stride=(1, 1), pads=(1, 0, 0, 0),
              pad_values=(0xF0, 0, 0, 0, 0, 0, 0), recip=(0x5555, ONE))
    assert out.shape == (8, 1, 1)
    assert (out == -2).all()


def test_average_rounds_twice_half_away_from_zero() -> None:
    # 2x2 windows, RECIP_W = RECIP_H = 0x8000 (1/2), each product rounded on its own:
    #   sum 5:    2.5 -> 3,   1.5 -> 2      (one rounding of 5/4 would give 1)
    #   sum -5:  -2.5 -> -3, -1.5 -> -2     (half up would give -1)
    #   sum 508:  254 -> 127; sum -512: -256 -> -128; sum 3: 1.5 -> 2, 1.0 -> 1
    #   sum -3: -1.5 -> -2, -1.0 -> -1; sum 1: 0.5 -> 1, 0.5 -> 1; sum -1: -> -1
    lanes = [[1, 1, 1, 2], [-1, -1, -1, -2], [127] * 4, [-128] * 4,
             [1, 1, 1, 0], [-1, -1, -1, 0], [1, 0, 0, 0], [-1, 0, 0, 0]]
    cube = np.array(lanes).reshape(8, 2, 2)
    out = run(cube, method=POOL_AVERAGE, kernel=(2, 2), stride=(2, 2), recip=(0x8000, 0x8000))
    assert out.ravel().tolist() == [2, -2, 127, -128, 1, -1, 1, -1]


def test_average_sum_wraps_at_16_bits() -> None:
    # PAD_VALUE_2X = 0x3E7F (sign bit 8 clear) = 15999.  1x1 input x = 4, 3x3 window,
    # one pad all round: 4 + 4 * 15999 = 64000, stored in int16 -> -1536.
    # RECIP 0x5555 twice: -1536 * 21845 / 65536 = -511.99 -> -512; -170.66 -> -171;
    # int8(-171) = 85.  (Without the int16 wrap: 21333 -> 7111 -> int8 -57.)
    cube = np.full((8, 1, 1), 4)
    out = run(cube, method=POOL_AVERAGE, kernel=(3, 3), stride=(1, 1), pads=(1, 1, 1, 1),
              pad_values=(0, 0x3E7F, 0, 0, 0, 0, 0), recip=(0x5555, 0x5555))
    assert (out == 85).all()


@pytest.mark.parametrize("method", [POOL_MAX, POOL_MIN, POOL_AVERAGE])
def test_split_width_equals_unsplit(method: int) -> None:
    # 16 columns split 2 / 12 / 2 (outputs 1 / 6 / 2) as in pdp_16x6x16_4x2_split_max_int8_0.
    cube = np.random.default_rng(7).integers(-128, 128, (16, 6, 16))
    common = dict(method=method, kernel=(4, 2), stride=(2, 2), pads=(2, 1, 2, 1),
                  pad_values=(3, 6, 9, 12, 15, 18, 21), recip=(0x4000, 0x8000))
    whole = run(cube, **common)
    split = run(cube, **common, split_num=2, partial_in_first=1, partial_in_mid=11,
                partial_in_last=1, partial_out_first=0, partial_out_mid=5, partial_out_last=1)
    assert whole.shape == (16, 4, 9)
    np.testing.assert_array_equal(split, whole)


def test_window_without_real_elements_is_rejected() -> None:
    # Kernel 1, stride 2, pad left 1: window 0 is the pad column alone (cmod never completes it).
    with pytest.raises(LayerError):
        run(np.zeros((8, 1, 3)), method=POOL_MAX, kernel=(1, 1), stride=(2, 1), pads=(1, 0, 0, 0))


@pytest.mark.parametrize("method", [POOL_MAX, POOL_MIN])
@pytest.mark.parametrize("pads", [(0, 0, 0, 0), (1, 1, 1, 1), (0, 1, 2, 0)])
def test_max_min_in_the_data_type_equal_the_line_buffer(method, pads) -> None:
    """Untapped max/min pooling runs on int8 values; a pass-through tap forces the int64
    line-buffer path: identical, extremes (-128, 127) included."""
    rng = np.random.default_rng(3)
    cube = rng.choice(np.array([-128, -127, -1, 0, 1, 126, 127, 5], np.int8), (2, 8, 7, 9))
    desc = make_pdp(cube[0], method=method, kernel=(3, 2), stride=(2, 1), pads=pads)
    fast = pdp_unit.process(cube, desc, NV_SMALL)
    slow = pdp_unit.process(cube, desc, NV_SMALL, lambda name, value: value)
    assert fast.dtype == slow.dtype == np.int8 and np.array_equal(fast, slow)
