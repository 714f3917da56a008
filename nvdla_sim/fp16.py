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
