"""NVDLA's FP16 conversions, bit-exact with its C model, on numpy arrays of bit patterns.

NVDLA's FP16 is not IEEE 754 binary16 in every corner.  The rules below are
those of ``cmod/hls/include/nvdla_float.h`` (nvdla/hw branch ``nvdlav1``), the
library the HLS units (CDMA/CSC converters, SDP, PDP, CDP) are written with:

* Rounding is round-to-nearest, ties to even (``FpMantRNE``,
  ``FpMantDecShiftRight``) when a mantissa narrows: FP32 -> FP16 and
  integer -> FP16.
* **Overflow saturates** to the largest finite value, +-65504 (``0x7bff``):
  ``SetToInf`` writes exponent ``max - 1`` and an all-ones mantissa.  An FP32
  infinity converts to +-65504 too, an FP16 infinity widens to +-FLT_MAX.
* Denormals are kept (``DENORM_YES``): FP32 values below 2**-14 round to FP16
  denormals, ties to even, and what rounds below half the smallest denormal
  (2**-25) becomes a zero of the same sign; FP16 denormals widen exactly.
* NaNs keep their sign and the **low** mantissa bits (``o_mant = i_mant`` into
  a narrower ``ac_int`` keeps the low bits): FP32 -> FP16 keeps bits 9..0 of
  the FP32 mantissa, so a NaN whose low 10 bits are zero becomes ``0x7c00``;
  FP16 -> FP32 puts the 10-bit payload in the low bits.
* FP16 -> INT16 (``FpFloatToInt<16,5,10>``) rounds half away from zero
  (``IntSignedShiftRight`` in ``AC_RND_INF`` mode), saturates to
  [-32768, 32767] and maps NaN to -32768.
* CACC's FP48 assembly value -> the FP32 it delivers to SDP
  (``cmod/cacc/NV_NVDLA_cacc.cpp`` ``cacc_fp48_to_fp32``) is its own converter, see
  :func:`cacc_fp48_to_fp32`.

Every function takes and returns integer arrays (bit patterns as int64), so
callers can flip bits of the stored values directly.
"""

from __future__ import annotations

import numpy as np

from nvdla_sim.precision import FP16, FP32

F16_EXP, F16_MANT = FP16.exp_bits, FP16.mant_bits
F32_EXP, F32_MANT = FP32.exp_bits, FP32.mant_bits
F16_BIAS, F32_BIAS = (1 << (F16_EXP - 1)) - 1, (1 << (F32_EXP - 1)) - 1
# CACC FP48: FP16_ELEN exponent bits above a FP16_MLEN-bit two's-complement mantissa
ACC_EXP = FP16.acc_exp_bits
ACC_MANT = FP16.acc_bits - ACC_EXP
ACC_BIAS = (1 << (ACC_EXP - 2)) - 1  # 63: cacc adds 64 = 127 - 63 (the leading 1 is bit MLEN-2)
F16_MAX = 0x7BFF  # 65504: what overflow saturates to
F32_MAX = 0x7F7FFFFF
_DELTA = F32_BIAS - F16_BIAS  # 112


def _i64(x: np.ndarray | int) -> np.ndarray:
    return np.asarray(x, dtype=np.int64)


def _top_bit(x: np.ndarray) -> np.ndarray:
    """Index of the leading 1 of positive integers below 2**53 (``IntLeadZero``)."""
    return np.frexp(x.astype(np.float64))[1].astype(np.int64) - 1


def _rne(mant: np.ndarray, drop: np.ndarray | int) -> np.ndarray:
    """``mant >> drop`` rounded to nearest, ties to even (``drop >= 1``)."""
    drop = _i64(drop)
    kept = mant >> drop
    guard = (mant >> (drop - 1)) & 1
    sticky = (mant & ((np.int64(1) << (drop - 1)) - 1)) != 0
    return kept + (guard & (sticky | (kept & 1)))


def fp32_to_fp16(bits: np.ndarray | int) -> np.ndarray:
    """``Fp32ToFp16`` = ``FpWidthDec<8,23,5,10,DENORM_YES,NAN_YES>``."""
    b = _i64(bits) & 0xFFFFFFFF
    sign = (b >> 31) << 15
    e = (b >> F32_MANT) & 0xFF
    m = b & ((1 << F32_MANT) - 1)
    full = m | (1 << F32_MANT)  # the implied 1
    # normal range: 113 <= e <= 142; a carry out of the mantissa bumps the exponent
    r = _rne(full, F32_MANT - F16_MANT)
    exp = e - _DELTA + (r >> (F16_MANT + 1))
    normal = np.where(exp >= 31, F16_MAX, (exp << F16_MANT) | (r & 0x3FF))
    # denormal range: 102 <= e <= 112, shifted right by 113 - e before rounding
    shift = np.clip(_DELTA + 1 - e, 1, 11)
    d = _rne(full, F32_MANT - F16_MANT + shift)  # <= 1024: 1024 is 2**-14, exponent 1
    out = np.where(e > _DELTA, normal, np.where(e >= _DELTA - F16_MANT, d, 0))
    out = np.where(e >= 31 + _DELTA, F16_MAX, out)  # too large, or infinity: saturate
    nan = (e == 0xFF) & (m != 0)
    out = np.where(nan, (0x1F << F16_MANT) | (m & 0x3FF), out)
    return sign | out


def fp16_to_fp32(bits: np.ndarray | int) -> np.ndarray:
    """``Fp16ToFp32`` = ``FpWidthInc<5,10,8,23,DENORM_YES,NAN_YES>``."""
    b = _i64(bits) & 0xFFFF
    sign = (b >> 15) << 31
    e = (b >> F16_MANT) & 0x1F
    m = b & 0x3FF
    normal = ((e + _DELTA) << F32_MANT) | (m << (F32_MANT - F16_MANT))
    # denormal: normalize (IntLeadZero over the 23-bit widened mantissa)
    lead = F16_MANT - _top_bit(np.maximum(m, 1))  # 1..10
    den = ((_DELTA + 1 - lead) << F32_MANT) | (((m << lead) & 0x3FF) << (F32_MANT - F16_MANT))
    out = np.where(e == 0, np.where(m == 0, 0, den), normal)
    out = np.where((e == 0x1F) & (m == 0), F32_MAX, out)  # infinity widens to FLT_MAX
    out = np.where((e == 0x1F) & (m != 0), (0xFF << F32_MANT) | m, out)  # NaN: low payload
    return sign | out


def int_to_fp16(value: np.ndarray | int, width: int) -> np.ndarray:
    """``FpIntToFloat<width,5,10>`` (``Int16ToFp16``: 16, ``Int17ToFp16``: 17) of a signed
    ``width``-bit integer."""
    v = _i64(value)
    sign = (v < 0).astype(np.int64) << 15
    mag = np.abs(v)  # -2**(width-1) gives 2**(width-1), as the unsigned ac_int does
    top = _top_bit(np.maximum(mag, 1))
    exp = top + F16_BIAS
    drop = np.maximum(top - F16_MANT, 0)
    r = np.where(top > F16_MANT, _rne(mag, np.maximum(drop, 1)), mag << (F16_MANT - top))
    exp = exp + (r >> (F16_MANT + 1))  # a carry out of the rounded mantissa
    out = np.where(exp >= 31, F16_MAX, (exp << F16_MANT) | (r & 0x3FF))
    return np.where(v == 0, 0, sign | out)


def fp16_to_int16(bits: np.ndarray | int) -> np.ndarray:
    """``Fp16ToInt16`` = ``FpFloatToInt<16,5,10>``: round half away from zero, saturate,
    NaN -> -32768 (the implied 1 is set even for denormals, which round to 0)."""
    b = _i64(bits) & 0xFFFF
    neg = (b >> 15) == 1
    e = (b >> F16_MANT) & 0x1F
    m = b & 0x3FF
    full = m | (1 << F16_MANT)
    shift = F16_MANT + F16_BIAS - e  # -6 .. 25
    left = full << np.maximum(-shift, 0)
    right = (full + (np.int64(1) << np.maximum(shift - 1, 0))) >> np.maximum(shift, 0)
    mag = np.where(shift <= 0, left, right)
    out = np.where(mag > 0x7FFF, np.where(neg, -0x8000, 0x7FFF), np.where(neg, -mag, mag))
    return np.where((e == 0x1F) & (m != 0), -0x8000, out)


def cacc_fp48_to_fp32(bits: np.ndarray | int) -> np.ndarray:
    """CACC's FP48 -> FP32 delivery converter (``cacc_fp48_to_fp32``), literally.

    FP48 is an 8-bit exponent ``e`` over a 40-bit two's-complement mantissa ``m`` whose
    leading 1 sits at bit 38: the value is ``m * 2**(e - 63 - 38)``.  The converter

    * takes sign-magnitude of ``m`` and keeps magnitude bits 37..15 (bit 38 is the implied
      1), rounding **half away from zero on the guard bit 14 alone** (no sticky bit: the
      bits below are truncated); a carry out of the mantissa bumps the exponent;
    * writes exponent ``e + 64`` in an 8-bit field: it **wraps** modulo 256 (no overflow
      check), and a zero mantissa gives +0 whatever ``e``;
    * maps ``m = -2**39`` (no positive counterpart) to ``-2 * 2**(e - 63)`` (exponent
      ``e + 65``, mantissa 0);
    * treats ``e = 255`` as NaN/infinity: exponent 255, sign from bit 39, mantissa bits
      38..29 into FP32 bits 9..0 (bits 22..10 zero), so a zero payload is an infinity.
    """
    b = _i64(bits) & ((np.int64(1) << (ACC_EXP + ACC_MANT)) - 1)
    e = b >> ACC_MANT
    m = b & ((np.int64(1) << ACC_MANT) - 1)
    top = ACC_MANT - 1  # sign bit of the mantissa (39)
    sign = m >> top
    low_mask = (np.int64(1) << top) - 1
    low = m & low_mask
    mag = np.where(sign == 1, (-low) & low_mask, low)  # ~low + 1 in 39 bits
    drop = top - F32_MANT - 1  # 15: magnitude bits kept are 37..15 (+ implied 1 at 38)
    kept = (sign << (F32_MANT + 1)) | (mag >> drop)  # 25 bits: sign, implied 1, mantissa
    guard = (mag >> (drop - 1)) & 1
    rounded = (kept + guard) & ((1 << (F32_MANT + 2)) - 1)
    carry = (rounded >> (F32_MANT + 1)) != sign  # the magnitude rounded past its 25 bits
    rounded = np.where(carry, (sign << (F32_MANT + 1)) | (rounded >> 1), rounded)
    exp = np.where(m == 0, 0, e + F32_BIAS - ACC_BIAS) + carry
    finite = (sign << 31) | ((exp & 0xFF) << F32_MANT) | (rounded & ((1 << F32_MANT) - 1))
    minus_two = (sign << 31) | (((e + F32_BIAS - ACC_BIAS + 1) & 0xFF) << F32_MANT)
    out = np.where((sign == 1) & (low == 0), minus_two, finite)
    special = (sign << 31) | (0xFF << F32_MANT) | ((m >> (top - F16_MANT)) & 0x3FF)
    return np.where(e == 0xFF, special, out)


MAC_EXP, MAC_MANT = 6, 38  # CMAC's FP16 partial sum "FP44": cmac.h FP16_OEXP/MUL_BIT_WIDTH



def _sx(value: np.ndarray, bits: int) -> np.ndarray:
    """The low ``bits`` bits as a two's-complement number."""
    v = value & ((np.int64(1) << bits) - 1)
    return v - ((v >> (bits - 1)) << bits)


def _sign_run(value: np.ndarray, top: int) -> np.ndarray:
    """Index of the highest bit below ``top`` that differs from bit ``top`` (the sign) of a
    ``top + 1``-bit pattern, -1 if none: the scan loops of ``cacc_fp16_add``."""
    low = (np.int64(1) << top) - 1
    differing = (value ^ -((value >> top) & 1)) & low
    return np.where(differing > 0, _top_bit(np.maximum(differing, 1)), -1)


def cacc_fp48_add(acc: np.ndarray | int, mac: np.ndarray | int) -> np.ndarray:
    """One CACC FP16 accumulation step, ``cacc_fp16_add`` (``cmod/cacc/NV_NVDLA_cacc.cpp``),
    elementwise on FP48 accumulators and CMAC FP44 partial sums (bit patterns).

    FP44 is a 6-bit exponent over a 38-bit two's-complement mantissa, value
    ``m * 2**(e - 50)``; FP48 (see :func:`cacc_fp48_to_fp32`) is ``m * 2**(e - 101)``.
    The step normalizes the partial sum, aligns the smaller operand by a right shift
    (bits past 40 places are lost), adds in 40 bits, renormalizes (one right shift on
    overflow, left shifts pulling the aligned-out bits back in), and rounds to
    nearest with **ties away from zero** (a positive sum rounds up on the guard bit; a
    negative one, whose truncation already rounds away from zero, only on guard and
    sticky).  A zero partial sum leaves the accumulator as is; a NaN accumulator
    (exponent 255) keeps mantissa bits 39..29, a NaN partial sum (exponent 63) moves its
    bits 37..27 there; a zero result has exponent 0.  Exponents wrap in 8 bits."""
    m40 = (np.int64(1) << ACC_MANT) - 1
    acc = _i64(acc) & ((np.int64(1) << (ACC_EXP + ACC_MANT)) - 1)
    mac = _i64(mac) & ((np.int64(1) << (MAC_EXP + MAC_MANT)) - 1)
    mac_e, mac_mu = mac >> MAC_MANT, mac & ((np.int64(1) << MAC_MANT) - 1)
    acc_e, acc_mu = acc >> ACC_MANT, acc & m40
    mac_m, acc_m = _sx(mac_mu, MAC_MANT), _sx(acc_mu, ACC_MANT)
    top = ACC_MANT - 1
    # normalize the partial sum: leading bit just below its sign bit, then widen to 40 bits
    shift0 = MAC_MANT - 2 - _sign_run(mac_mu, MAC_MANT - 1)
    mac_x = _sx(mac_m << shift0, MAC_MANT) << (ACC_MANT - MAC_MANT)
    mac_x_e = (mac_e - shift0 + 49) & 0xFF  # 49 = 16 - 30 + 63 (cacc.cpp)
    acc_x, acc_x_e = acc_m, np.where(acc_m != 0, acc_e, 0)
    bigger = np.maximum(mac_x_e, acc_x_e)
    diff = np.abs(mac_x_e - acc_x_e)
    mac_big = mac_x_e > acc_x_e
    small = np.where(mac_big, acc_x, mac_x)
    d = np.minimum(diff, ACC_MANT)
    fits = diff <= ACC_MANT
    out_bits = np.where(fits, (small & ((np.int64(1) << d) - 1)) << (ACC_MANT - d), 0)
    small = np.where(fits, small >> d, 0)
    acc_x = np.where(mac_big, small, acc_x)
    mac_x = np.where(mac_x_e < acc_x_e, small, mac_x)
    total = _sx(acc_x + mac_x, ACC_MANT)
    mac_neg = mac_x < 0
    overflow = (mac_neg == (acc_x < 0)) & ((total < 0) != mac_neg)
    # overflow: one right shift, the shifted-out bit is the guard
    high_bit = total & 1
    right = _sx((mac_neg.astype(np.int64) << top) | ((total & m40) >> 1), ACC_MANT)
    # no overflow, bits 39 and 38 equal: left shifts pull the aligned-out bits back in
    tu = total & m40
    n1 = top - 1 - _sign_run(tu, top)
    left_needed = ((tu >> (top - 1)) & 1) == (tu >> top)
    n1 = np.where(left_needed, n1, 0)
    kept = (tu & ((np.int64(1) << (ACC_MANT - n1)) - 1)) << n1
    left = _sx(kept | (out_bits >> (ACC_MANT - n1)), ACC_MANT)
    out_left = (out_bits << n1) & m40
    summed = np.where(overflow, right, np.where(left_needed, left, total))
    exp = np.where(overflow, bigger + 1, bigger - n1)
    guard = np.where(overflow, high_bit, out_left >> top)
    sticky = np.where(overflow, out_bits != 0, (out_left & ((np.int64(1) << top) - 1)) != 0)
    need = (guard == 1) & (sticky | (summed >= 0))
    rounded = _sx(summed + need, ACC_MANT)
    carry = (rounded < 0) != (summed < 0)  # carried out: shift right once
    rounded = np.where(carry, _sx(((summed < 0).astype(np.int64) << top)
                                  | ((rounded & m40) >> 1), ACC_MANT), rounded)
    exp = np.where(rounded == 0, 0, (exp + carry) & 0xFF)
    out = (exp << ACC_MANT) | (rounded & m40)
    low = ACC_MANT - 11  # a NaN keeps 11 mantissa bits: 39..29
    out = np.where(mac_e == (1 << MAC_EXP) - 1,
                   (np.int64(0xFF) << ACC_MANT) | ((mac_mu >> (MAC_MANT - 11)) << low), out)
    out = np.where(acc_e == 0xFF, (np.int64(0xFF) << ACC_MANT) | ((acc_mu >> low) << low), out)
    return np.where(mac_m == 0, acc, out)
