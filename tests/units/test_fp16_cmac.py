"""CMAC's FP16 atomic operation (cmod/cmac/NV_NVDLA_cmac.h calculation_fp16), pinned."""

from __future__ import annotations

import numpy as np

from nvdla_sim.floatpath.cmac16 import SIGN_COMP, atomic, booth_product

LANES = 64


def fp44(exp: int, mant: int) -> int:
    return (exp << 38) | (mant & ((1 << 38) - 1))


def cell(pairs: list[tuple[int, int]]) -> int:
    """One MAC cell over (weight, data) FP16 patterns in lanes 0, 1, ...; the rest zero."""
    w = np.zeros((1, LANES), np.int64)
    d = np.zeros((LANES, 1), np.int64)
    for i, (wb, db) in enumerate(pairs):
        w[0, i], d[i, 0] = wb, db
    return int(atomic(w, d)[0, 0])


ONE, TWO, HALF = 0x3C00, 0x4000, 0x3800


def test_one_times_one():
    # exponent 15 = 4*3 + 3: mantissa 0x400 << 3 = 0x2000 per operand, lane sum 3 + 3 = 6
    # cell exponent 4 * 6 = 24, mantissa 0x2000**2 = 2**26: 2**26 * 2**(24 - 50) = 1
    assert cell([(ONE, ONE)]) == fp44(24, 1 << 26)
    assert cell([(ONE | 0x8000, ONE)]) == fp44(24, -(1 << 26))  # the sign folds into Booth


def test_zero_lanes_take_no_part_in_the_exponent():
    # +-0 lanes are masked (CSC: "both +0 and -0"): the big datum next to them is ignored
    assert cell([(ONE, ONE), (0x0000, 0x7BFF), (0x8000, 0x7BFF)]) == fp44(24, 1 << 26)


def test_products_align_to_the_largest_lane_exponent():
    # 2 * 2 (exponent 16 = 4*4 + 0: mantissa 0x400, lane sum 8) next to 1 * 1 (sum 6):
    # cell exponent 32; 1 * 1 shifts right by 4 * (8 - 6) = 8: 2**26 >> 8 = 2**18
    assert cell([(TWO, TWO), (ONE, ONE)]) == fp44(32, (1 << 20) + (1 << 18))


def test_alignment_truncates_beyond_32_places():
    # 0.5 * 0.5 has lane sum 3 + 3 (exponent 14 = 4*3 + 2), 2**-14 * 1 has sum 0 + 3:
    # with 65504 * 1 (sum 7 + 3 = 10) the shifts are 16 and 28; a shift of 32 or more
    # drops the product entirely (cal_fp16_booth returns 0)
    big = cell([(0x7BFF, ONE)])
    assert cell([(0x7BFF, ONE), (0x0400, 0x0400)]) == big  # sum 0: shift 40 -> nothing
    with_half = cell([(0x7BFF, ONE), (HALF, HALF)])
    # 0x1000 * 0x1000 = 2**24 >> 16 = 2**8 (exact here: no low bits to lose)
    assert with_half - big == 1 << 8


def test_truncating_the_two_carry_save_vectors_loses_a_carry():
    # (1 + 2**-10)**2 next to 65504 * 1: shift 16; 0x2008**2 = 67240000, / 2**16 = 1026.001
    # but the tree truncates its sum and carry vectors separately: 1025 (cmod's checker
    # allows exactly this: |delta| <= 1)
    big = cell([(0x7BFF, ONE)])
    assert cell([(0x7BFF, ONE), (0x3C01, 0x3C01)]) - big == 1025
    assert 0x2008 ** 2 >> 16 == 1026


def test_infinity_is_a_number_and_denormals_have_exponent_one():
    # exponent 31 = 4*7 + 3 with no NaN payload: 2**16 (cmac's own checker maps it to 65536)
    assert cell([(0x7C00, ONE)]) == fp44(40, 1 << 26)  # 2**26 * 2**(40 - 50) = 2**16
    # 2**-24 (denormal 0x0001): mantissa 1 << 1, lane sum 0 + 3: 2 * 0x2000 * 2**(12 - 50)
    assert cell([(0x0001, ONE)]) == fp44(12, 2 * 0x2000)


def test_nan_weight_beats_nan_data_lowest_lane_first():
    nan_w = 0xFE05  # sign 1, fraction 0x205
    out = cell([(ONE, 0x7C11), (ONE, ONE), (ONE, ONE), (nan_w, ONE), (0x7C01, ONE)])
    assert out == fp44(63, (1 << 37) | (0x205 << 27))
    assert cell([(ONE, ONE), (ONE, 0x7C11)]) == fp44(63, 0x011 << 27)  # data NaN, sign 0


def booth_literal(res_sign: int, wt_mts: int, dat_mts: int, sft: int) -> int:
    """cal_fp16_booth transliterated line by line (scalar, uint32 arithmetic)."""
    m32 = 0xFFFFFFFF
    if sft >= 32:
        return 0
    rev = 7 if res_sign else 0
    wt = wt_mts << 1
    pp, inv = [], []
    for _ in range(8):
        code = (wt & 7) ^ rev
        wt >>= 2
        if code in (0, 7):
            pp.append(0x10000), inv.append(0)
        elif code in (1, 2):
            pp.append(dat_mts | 0x10000), inv.append(0)
        elif code == 3:
            pp.append((dat_mts << 1) | 0x10000), inv.append(0)
        elif code == 4:
            pp.append(~(dat_mts << 1) & 0xFFFF), inv.append(1)
        else:
            pp.append(~dat_mts & 0xFFFF), inv.append(1)
    c = [pp[0], (pp[1] << 2) | inv[0], (pp[2] << 4) | (inv[1] << 2), (pp[3] << 6) | (inv[2] << 4),
         inv[3] << 6, pp[4] << 8, (pp[5] << 10) | (inv[4] << 8), (pp[6] << 12) | (inv[5] << 10),
         (pp[7] << 14) | (inv[6] << 12), inv[7] << 14]
    for i in range(3):
        if i == 0:
            cur, st = 5, 0
        elif i == 1:
            cur, st = 5, 5
        else:
            c[2], c[3], cur, st = c[5], c[6], 4, 0
        while cur >= 3:
            g = cur // 3
            for j in range(g):
                a, b, e = c[st + j * 3], c[st + j * 3 + 1], c[st + j * 3 + 2]
                c[st + j * 2], c[st + j * 2 + 1] = (a ^ b ^ e) & m32, (((a & b) | (b & e) | (a & e))
                                                                       << 1) & m32
            for j in range(g * 3, cur):
                c[st + j - g] = c[st + j]
            cur -= g
    total = ((c[0] >> sft) + (c[1] >> sft) + SIGN_COMP[sft]) & m32
    return total - (1 << 32) if total >> 31 else total


def test_booth_matches_the_transliteration_and_cmods_own_bound():
    rng = np.random.default_rng(5)
    n = 3000
    w, d = rng.integers(0, 1 << 14, n), rng.integers(0, 1 << 14, n)
    s, sign = rng.integers(0, 9, n) * 4, rng.integers(0, 2, n)
    got = booth_product(sign, w, d, s)
    want = [booth_literal(int(a), int(b), int(c), int(e)) for a, b, c, e in zip(sign, w, d, s)]
    assert got.tolist() == want
    exact = np.where(sign == 1, -(w * d), w * d) >> np.minimum(s, 40)
    assert np.abs(got - np.where(s >= 32, 0, exact)).max() <= 1  # DEBUG_ERROR_CHECK
    assert (got != np.where(s >= 32, 0, exact)).any()  # ... and not always equal


def test_shifts_zero_and_four_are_the_floored_product():
    """What lets CMAC skip the tree there: every pair of the 4608 mantissas an FP16
    operand can give, both signs (85 million products, about 6 s)."""
    frac = np.arange(1024)
    mants = np.unique(np.concatenate([(frac | 1024) << s for s in range(4)] + [frac << 1]))
    assert len(mants) == 4608
    for shift in (0, 4):
        for sign in (0, 1):
            for i in range(0, len(mants), 256):
                w, d = mants[i:i + 256, None], mants[None, :]
                got = booth_product(np.array([[sign]]), w, d, np.array([[shift]]))
                want = (-(w * d) if sign else w * d) >> shift
                assert np.array_equal(got, want), (shift, sign, i)


def test_atomic_equals_the_tree_everywhere():
    """The direct products for shifts 0 and 4 change nothing: Booth on every lane agrees."""
    from nvdla_sim.floatpath.cmac16 import _operand
    rng = np.random.default_rng(7)
    vals = (rng.standard_normal(4000) * 2.0 ** rng.integers(-20, 12, 4000)).astype(np.float16)
    vals[:40] = 0
    bits = vals.view(np.uint16).astype(np.int64)
    w, d = rng.choice(bits, (5, LANES)), rng.choice(bits, (LANES, 30))
    ws, wm, wh, wnz = (a[:, :, None] for a in _operand(w))
    ds, dm, dh, dnz = (a[None] for a in _operand(d))
    active = wnz & dnz
    lane_sum = np.where(active, wh + dh, 0)
    top = lane_sum.max(axis=1, keepdims=True)
    prod = np.where(active, booth_product(ws ^ ds, wm, dm, 4 * (top - lane_sum)), 0)
    want = ((4 * top[:, 0]) << 38) | (prod.sum(axis=1) & ((1 << 38) - 1))
    assert np.array_equal(atomic(w, d), want)
