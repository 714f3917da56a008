import numpy as np
import pytest

from nvdla_sim.arith import rnd_shr, rnd_shr_sat, sat, shl_sat, sx, sx_int, wrap


def test_rnd_shr_ties_away_from_zero():
    values = np.array([5, -5, 6, -6, 7, -7, 4, -4, 0, 1, -1])
    # x / 2: 2.5 -> 3, -2.5 -> -3, 3 -> 3, 3.5 -> 4, 2 -> 2, 0.5 -> 1, -0.5 -> -1
    assert rnd_shr(values, 1).tolist() == [3, -3, 3, -3, 4, -4, 2, -2, 0, 1, -1]


def test_rnd_shr_larger_shift_and_zero_shift():
    # 100 / 16 = 6.25 -> 6; 104 / 16 = 6.5 -> 7; -104 / 16 -> -7; -103/16 = -6.4375 -> -6
    assert rnd_shr(np.array([100, 104, -104, -103]), 4).tolist() == [6, 7, -7, -6]
    assert rnd_shr(np.array([7, -7]), 0).tolist() == [7, -7]


def test_rnd_shr_per_element_shift():
    assert rnd_shr(np.array([3, 3, 3]), np.array([0, 1, 2])).tolist() == [3, 2, 1]


def test_rnd_shr_rejects_negative_shift():
    with pytest.raises(ValueError):
        rnd_shr(np.array([1]), -1)


def test_sat_and_sign_extension():
    assert sat(np.array([300, -300, 127, -128]), 8).tolist() == [127, -128, 127, -128]
    assert sx(np.array([0xFF, 0x7F, 0x80, 0x1FF]), 8).tolist() == [-1, 127, -128, -1]
    assert sx_int(0xD0C0, 8) == -64  # a trace pad value: low byte 0xc0
    assert wrap(np.array([1 << 32, (1 << 31)]), 32).tolist() == [0, -(1 << 31)]


def test_shift_left_saturates():
    # 0x4000 << 3 = 2**17 fits 32 bits; 0x7fff << 20 = 2**35 - 2**20 does not
    assert shl_sat(np.array([0x4000, 0x7FFF, -0x8000]), 20, 32).tolist() == [
        (1 << 31) - 1, (1 << 31) - 1, -(1 << 31)]
    assert shl_sat(np.array([0x4000]), 3, 32).tolist() == [1 << 17]


@pytest.mark.parametrize("shift", [0, 1, 7, 20, np.array([0, 3, 9, 20])])
@pytest.mark.parametrize("rows", [64, 4096])  # below and above CLIP_ELEMENTS
def test_fused_round_and_saturate_equals_the_two_steps(shift, rows):
    values = np.random.default_rng(1).integers(-(1 << 45), 1 << 45, size=(rows, 4))
    values[:4, 0] = [0, -1, 1 << 40, -(1 << 40)]
    if np.ndim(shift):
        shift = np.resize(shift, values.shape)
    for relu in (False, True):
        expected = sat(rnd_shr(values, shift), 32)
        if relu:
            expected = np.maximum(expected, 0)
        got = rnd_shr_sat(values, shift, 32, relu=relu)
        assert got.dtype == np.int64 and np.array_equal(got, expected)
    before = values.copy()
    rnd_shr_sat(values, shift, 17)
    assert np.array_equal(values, before)  # the input is left alone
    assert int(rnd_shr_sat(np.int64(-(1 << 40)), 3, 32)) == -(1 << 31)
