"""CMAC's FP16 atomic operation, bit-exact with ``calculation_fp16`` of NVDLA's C model.

``cmod/cmac/NV_NVDLA_cmac.h`` (nvdla/hw branch ``nvdlav1``) computes one MAC cell's
partial sum of ``L`` data x weight products (``L`` = :meth:`HardwareConfig.mac_channels`,
64 on nv_full) as an **FP44**: a 6-bit exponent over a 38-bit two's-complement mantissa
(``FP16_OEXP_BIT_WIDTH``, ``FP16_MUL_BIT_WIDTH``), value ``m * 2**(e - 50)``.  Rules:

* **Zero lanes** (``cal_fp16_exp`` masks): a lane whose data or weight is +-0 (CSC's
  mask, ``NV_NVDLA_csc.cpp``: "both +0 and -0") contributes nothing, not even to the
  exponent.  Denormals count as exponent 1 without the implied 1; an infinity (exponent
  31) is an ordinary number (2**16 times its mantissa).
* **Exponent** (``cal_fp16_exp``): each operand's exponent splits into ``e >> 2`` and
  ``e & 3``; the low part shifts the 11-bit mantissa left (up to 14 bits), the high parts
  of data and weight add to the lane's ``sum``; the cell exponent is
  ``4 * max(sum)`` over the active lanes.
* **Product and alignment** (``cal_fp16_booth``): each 14 x 14-bit product is formed
  by radix-4 Booth recoding of the weight (sign folded into the recoding) and a
  carry-save tree, whose two vectors are shifted right by ``4 * (max - sum)`` **each on
  its own** (truncation) before they are added with a sign-compensation constant; a
  shift of 32 or more gives 0.  The result is ``floor(+-w*d / 2**shift)`` or one less:
  the tree is reproduced literally (:func:`booth_product`) where that can happen.  For
  shifts 0 and 4 it equals ``floor(+-w*d / 2**shift)`` for every pair of the 4608
  mantissas an FP16 operand can give (checked exhaustively by
  ``tests/units/test_fp16_cmac.py``), so those products are computed directly.
* **Sum**: the lane products add exactly (``pp_phase1``/``pp_phase3``, 38 bits).
* **NaN** (``cal_fp16_nan``): a NaN weight, else a NaN datum, in the lowest lane makes
  the result exponent 63 with that operand's sign at bit 37 and fraction at bits 36..27.
"""

from __future__ import annotations

import numpy as np

MANT_BITS, EXP_BITS = 38, 6  # FP16_MUL_BIT_WIDTH, FP16_OEXP_BIT_WIDTH
NAN_EXP = (1 << EXP_BITS) - 1
# cal_fp16_booth's sign compensation per alignment shift (cmac.h, literally)
SIGN_COMP = {0: 0xAAAB0000, 4: 0xFAAAB000, 8: 0xFFAAAB00, 12: 0xFFFAAAB0, 16: 0xFFFFAAAB,
             20: 0xFFFFFAAB, 24: 0xFFFFFFAB, 28: 0xFFFFFFFB}
CHUNK = 1 << 20  # products formed at once (memory bound of the vectorized tree)
ZERO_LANE = 64  # a masked lane's exponent part: below any sum by more than 8 steps of 4
BOOTH_DIGIT = np.array([0, 1, 1, 2, -2, -1, -1, 0], np.int8)  # radix-4 code -> digit


def _operand(bits: np.ndarray) -> tuple[np.ndarray, ...]:
    """(sign, shifted mantissa, high exponent, nonzero) of FP16 patterns."""
    exp = (bits >> 10) & 0x1F
    frac = bits & 0x3FF
    mts = frac | ((exp != 0).astype(np.int64) << 10)
    shifted = mts << np.where(exp == 0, 1, exp & 3)
    return (bits >> 15) & 1, shifted, exp >> 2, (bits & 0x7FFF) != 0


def booth_product(sign: np.ndarray, wt: np.ndarray, dat: np.ndarray, shift: np.ndarray
                  ) -> np.ndarray:
    """``cal_fp16_booth``: the signed, aligned product of 14-bit mantissas (int64)."""
    u32 = np.uint32
    shape = np.broadcast_shapes(sign.shape, wt.shape, dat.shape, shift.shape)
    # Booth digits of the weight, negated for a negative product (code ^ 7): each
    # partial product is 0x10000 + digit * dat, minus 1 (and an inverted-flag bit) for a
    # negative digit -- ``~(x) & 0xffff`` is 0xffff - x for the codes' x < 2**16
    w = wt.astype(np.int64) << 1
    neg = np.where(sign == 1, -1, 1).astype(np.int8)
    d = dat.astype(np.int64)
    pps, invs = [], []
    for i in range(8):
        code = (w >> (2 * i)) & 7
        digit = BOOTH_DIGIT[code] * neg  # [-2, 2]
        inv = (digit < 0).astype(u32)
        pps.append(np.broadcast_to((0x10000 + digit * d - inv).astype(u32), shape))
        invs.append(np.broadcast_to(inv, shape))
    csa = [pps[0], (pps[1] << u32(2)) | invs[0], (pps[2] << u32(4)) | (invs[1] << u32(2)),
           (pps[3] << u32(6)) | (invs[2] << u32(4)), invs[3] << u32(6), pps[4] << u32(8),
           (pps[5] << u32(10)) | (invs[4] << u32(8)), (pps[6] << u32(12)) | (invs[5] << u32(10)),
           (pps[7] << u32(14)) | (invs[6] << u32(12)), invs[7] << u32(14)]
    for rnd in range(3):  # the carry-save reduction of cal_fp16_booth, step by step
        if rnd < 2:
            cur, st = 5, 5 * rnd
        else:
            csa[2], csa[3] = csa[5], csa[6]
            cur, st = 4, 0
        while cur >= 3:
            groups = cur // 3
            for j in range(groups):
                a, b, c = csa[st + 3 * j], csa[st + 3 * j + 1], csa[st + 3 * j + 2]
                csa[st + 2 * j] = a ^ b ^ c
                csa[st + 2 * j + 1] = ((a & b) | (b & c) | (a & c)) << u32(1)
            for j in range(groups * 3, cur):
                csa[st + j - groups] = csa[st + j]
            cur -= groups
    s = np.broadcast_to(np.minimum(shift, 31), shape).astype(u32)
    comp = np.zeros(shape, u32)
    for amount, value in SIGN_COMP.items():
        comp[s == amount] = value
    total = ((csa[0] >> s).astype(np.int64) + (csa[1] >> s) + comp) & 0xFFFFFFFF
    total -= (total >> 31) << 32
    return np.where(shift >= 32, 0, total)


def atomic(weights: np.ndarray, data: np.ndarray) -> np.ndarray:
    """FP44 partial sums [K, P] of weights [K, L] and data [L, P] (FP16 patterns, int64)."""
    k, lanes = weights.shape
    p = data.shape[1]
    ws, wm, wh, wnz = (a[:, :, None] for a in _operand(weights))
    # narrow types: products fit int32 (|w * d| < 2**28), exponent sums int16
    w_signed = np.where(ws == 1, -wm, wm).astype(np.int32)
    w_high = np.where(wnz, wh, -ZERO_LANE).astype(np.int16)  # a zero lane adds 0
    out = np.empty((k, p), np.int64)
    step = max(1, CHUNK // max(1, k * lanes))
    for a in range(0, p, step):
        ds, dm, dh, dnz = (x[None, :, a:a + step] for x in _operand(data))
        lane_sum = w_high + np.where(dnz, dh, -ZERO_LANE).astype(np.int16)  # [K, L, p]
        top = np.maximum(lane_sum.max(axis=1, keepdims=True), 0)  # max_exp starts at 0
        shift = 4 * (top - lane_sum)
        exact = w_signed * np.where(ds == 1, -dm, dm).astype(np.int32)
        prod = np.where(shift < 32, exact >> np.minimum(shift, 31), 0)
        tree = (shift >= 8) & (shift < 32)  # where the Booth tree can differ
        if tree.any():
            full = prod.shape
            prod[tree] = booth_product((exact[tree] < 0).astype(np.int64),
                                       np.broadcast_to(wm, full)[tree],
                                       np.broadcast_to(dm, full)[tree],
                                       shift[tree].astype(np.int64))
        mant = prod.sum(axis=1, dtype=np.int64)
        out[:, a:a + step] = ((4 * top[:, 0].astype(np.int64)) << MANT_BITS) | (
            mant & ((1 << MANT_BITS) - 1))
    return np.where(*_nan(weights, data), out)


def _nan(weights: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(where a NaN decides the result, that FP44 NaN) per [K, P]."""
    def first(bits: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
        nan = (((bits >> 10) & 0x1F) == 31) & ((bits & 0x3FF) != 0)
        lane = np.take_along_axis(bits, np.expand_dims(nan.argmax(axis=axis), axis), axis)
        value = ((np.int64(NAN_EXP) << MANT_BITS) | (((lane >> 15) & 1) << 37)
                 | ((lane & 0x3FF) << 27))
        return nan.any(axis=axis), value.squeeze(axis)
    w_any, w_val = first(weights, 1)  # [K]
    d_any, d_val = first(data, 0)  # [P]
    hit = w_any[:, None] | d_any[None, :]
    return hit, np.where(w_any[:, None], w_val[:, None], d_val[None, :])
