"""NVDLA's float arithmetic (``cmod/hls/include/nvdla_float.h``), vectorized on bit patterns.

The HLS units (SDP's X stages in FP32, PDP's FP17 averages, FP16 max / min) compute with
these templates, instantiated for ``E`` exponent and ``M`` mantissa bits.  They are *not*
IEEE 754; each rule below is the template's:

* **Zero** is exponent 0 and mantissa 0 only.  Other exponent-0 values get the implied 1
  like normal numbers (there are no denormals); an infinity pattern (exponent all ones,
  mantissa 0) is an ordinary number with that exponent.
* ``FpAdd``: the larger operand (by exponent, then mantissa) gives the sign and exponent;
  the smaller is aligned keeping ``M + 2`` extra bits, **bits beyond are dropped without
  a sticky bit**; on a carry out the sum shifts right once (its LSB dropped); otherwise it
  is normalized, and a result whose exponent would reach 0 or below is **flushed to zero
  with the larger operand's sign** (``FpNormalize``; so ``1 + -1 = +0``, ``-1 + 1 =
  -0``).  Rounding is to nearest even (``FpMantRNE``).
* ``FpMul``: full product, rounded to nearest even; a product whose biased exponent is
  below 1 is **flushed to zero** (signed); exponent sums past the range **saturate to the
  largest finite value** (``SetToInf`` writes exponent ``2**E - 2`` and an all-ones
  mantissa), as do roundings that carry into exponent ``2**E - 1``.
* Overflow of ``FpAdd`` saturates likewise.
* ``FpCmp`` (max / min): sign-magnitude order with ``-0 < +0``.
* **NaN** (exponent all ones, mantissa non-zero): the first operand's NaN wins, else the
  second's, passed through unchanged (sign and payload).
* ``FpRelu``: negative values (``-0`` included) become ``+0``; NaNs pass.
"""

from __future__ import annotations

import numpy as np

from nvdla_sim.fp16 import F16_MANT as FP16_MANT_BITS, _top_bit

SUM, MAX, MIN = 2, 0, 1  # SDP ALU algorithms (sdp.h SDP_ALU_MODE_*)


def _mask(bits: int) -> int:
    return (1 << bits) - 1


def _split(x: np.ndarray, e: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.asarray(x, np.int64)
    return (x >> (e + m)) & 1, (x >> m) & _mask(e), x & _mask(m)


def _join(sign: np.ndarray, exp: np.ndarray, mant: np.ndarray, e: int, m: int) -> np.ndarray:
    return (sign << (e + m)) | ((exp & _mask(e)) << m) | (mant & _mask(m))


def is_nan(x: np.ndarray, e: int, m: int) -> np.ndarray:
    _, exp, mant = _split(x, e, m)
    return (exp == _mask(e)) & (mant != 0)


def _nan_first(a: np.ndarray, b: np.ndarray, out: np.ndarray, e: int, m: int) -> np.ndarray:
    """NaN propagation of every template: ``a``'s NaN, else ``b``'s, else ``out``."""
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    return np.where(is_nan(a, e, m), a, np.where(is_nan(b, e, m), b, out))


def _rne(value: np.ndarray, drop: int) -> tuple[np.ndarray, np.ndarray]:
    """``FpMantRNE``: (``value >> drop`` rounded to nearest even, wrapped to its width,
    whether it carried out) for a ``value`` whose top bit is the implied 1."""
    top = value >> drop
    guard = (value >> (drop - 1)) & 1
    sticky = (value & _mask(drop - 1)) != 0
    carry = (guard == 1) & (sticky | ((top & 1) == 1))
    return top + carry, carry


def fp_add(a: np.ndarray, b: np.ndarray, e: int, m: int) -> np.ndarray:
    """``FpAdd<E, M>`` on bit patterns."""
    emax, wide = _mask(e), 2 * m + 3  # InternalMantWidth
    sa, ea, ma = _split(a, e, m)
    sb, eb, mb = _split(b, e, m)
    pa = ma | (((ea | ma) != 0).astype(np.int64) << m)
    pb = mb | (((eb | mb) != 0).astype(np.int64) << m)
    a_big = (ea > eb) | ((ea == eb) & (ma >= mb))
    exp = np.where(a_big, ea, eb)
    extra = m + 2  # kMantMoreWidth
    shift = np.abs(ea - eb)  # the smaller operand's right shift

    def aligned(p: np.ndarray, rs: np.ndarray) -> np.ndarray:
        left = extra - rs  # a negative left shift shifts right (ac_int)
        return np.where(left >= 0, p << np.maximum(left, 0), p >> np.minimum(-left, 63))
    larger = np.where(a_big, pa, pb) << extra
    smaller = aligned(np.where(a_big, pb, pa), shift)
    total = np.where(sa == sb, larger + smaller, larger - smaller)
    sign = np.where(a_big, sa, sb)
    carry = (total >> wide) & 1 == 1
    room = exp < emax - 1
    inf = carry & ~room
    mant = np.where(carry, total >> 1, total) & _mask(wide)
    exp = np.where(carry & room, exp + 1, exp)
    # FpNormalize (no carry): leading zeros of the wide mantissa
    zeros = np.where(mant > 0, wide - 1 - _top_bit(np.maximum(mant, 1)), wide)
    flush = ~carry & ((exp <= zeros) | (mant == 0))
    norm = ~carry & ~flush
    mant = np.where(norm, mant << np.where(norm, zeros, 0), np.where(flush, 0, mant))
    exp = np.where(norm, exp - zeros, np.where(flush, 0, exp))
    rounded, _ = _rne(mant, wide - (m + 1))
    over = (rounded >> (m + 1)) == 1
    inf |= over & ~(exp < emax - 1)
    exp = np.where(over & (exp < emax - 1), exp + 1, exp)
    out = np.where(inf, _join(sign, np.int64(emax - 1), np.int64(_mask(m)), e, m),
                   _join(sign, exp, rounded, e, m))
    return _nan_first(a, b, out, e, m)


def fp_mul(a: np.ndarray, b: np.ndarray, e: int, m: int) -> np.ndarray:
    """``FpMul<E, M>`` on bit patterns (its product narrowed by ``FpMantWidthDec`` with
    ``DENORM_NO``)."""
    emax, bias, wide = _mask(e), (1 << (e - 1)) - 1, 2 * m + 1  # pMantWidth
    sa, ea, ma = _split(a, e, m)
    sb, eb, mb = _split(b, e, m)
    za, zb = (ea == 0) & (ma == 0), (eb == 0) & (mb == 0)
    prod = ((ma | ((~za).astype(np.int64) << m)) * (mb | ((~zb).astype(np.int64) << m)))
    sign = sa ^ sb
    esum = ea + eb
    zero = za | zb | (esum < bias)
    inf = ~zero & (esum >= emax + bias)
    exp = esum - bias
    high = ((prod >> wide) & 1) == 1
    inf |= ~zero & high & ~(exp < emax - 1)
    exp = np.where(high & (exp < emax - 1), exp + 1, exp)
    mant = np.where(high, prod, prod << 1) & _mask(wide)
    rounded, _ = _rne(mant | (1 << wide), wide - m)  # FpMantWidthDec: implied 1 at the top
    over = (rounded >> (m + 1)) == 1
    exp = np.where(over, exp + 1, exp) & emax
    inf |= over & (exp == emax)
    out = np.where(inf, _join(sign, np.int64(emax - 1), np.int64(_mask(m)), e, m),
                   _join(sign, exp, rounded, e, m))
    out = np.where(zero | (~inf & (exp == 0)), sign << (e + m), out)
    return _nan_first(a, b, out, e, m)


def fp_max_min(a: np.ndarray, b: np.ndarray, e: int, m: int, maximum: bool) -> np.ndarray:
    """``FpCmp<E, M, MAX>``: ``a`` is greater when it is positive and ``b`` negative, or both
    positive and ``|a| > |b|``, or both negative and ``|a| <= |b|``."""
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    sa, sb = (a >> (e + m)) & 1, (b >> (e + m)) & 1
    mag_a, mag_b = a & _mask(e + m), b & _mask(e + m)
    abs_greater = mag_a > mag_b
    a_greater = np.where(sa == 0, (sb == 1) | abs_greater, (sb == 1) & ~abs_greater)
    out = np.where(a_greater == maximum, a, b)
    return _nan_first(a, b, out, e, m)


def fp_relu(x: np.ndarray, e: int, m: int) -> np.ndarray:
    """``FpRelu``: negative (sign set, not NaN) -> +0."""
    x = np.asarray(x, np.int64)
    return np.where(((x >> (e + m)) & 1 == 1) & ~is_nan(x, e, m), 0, x)


def fp_alu(algo: int, a: np.ndarray, b: np.ndarray, e: int, m: int) -> np.ndarray:
    """SDP's ``FpAlu`` (``cmod/hls/sdp/sdp.h``): SUM, MAX or MIN."""
    if algo == SUM:
        return fp_add(a, b, e, m)
    return fp_max_min(a, b, e, m, maximum=algo == MAX)


FP17_EXP, FP17_MANT = 6, 10  # PDP's FP17 (vlibs.h vFp17Type): 1 sign, 6 exponent, 10 mantissa
_FP17_DELTA = (1 << (FP17_EXP - 1)) - 1 - 15  # bias 31 - FP16 bias 15


def fp16_to_fp17(bits: np.ndarray) -> np.ndarray:
    """``Fp16ToFp17`` = ``FpExpoWidthInc<5,6,10,DENORM_YES,NAN_YES>``: exact for finite
    values (a denormal becomes a normal), an infinity becomes the largest finite FP17 and a
    NaN keeps its sign and payload."""
    b = np.asarray(bits, np.int64) & 0xFFFF
    sign, exp, mant = (b >> 15) & 1, (b >> 10) & 0x1F, b & 0x3FF
    zeros = FP16_MANT_BITS - 1 - _top_bit(np.maximum(mant, 1))  # IntLeadZero<10>
    out_exp = np.where(exp == 0, np.where(mant == 0, 0, _FP17_DELTA - zeros), exp + _FP17_DELTA)
    out_mant = np.where((exp == 0) & (mant != 0), (mant << (zeros + 1)) & 0x3FF, mant)
    inf, nan = (exp == 0x1F) & (mant == 0), (exp == 0x1F) & (mant != 0)
    out_exp = np.where(inf, _mask(FP17_EXP) - 1, np.where(nan, _mask(FP17_EXP), out_exp))
    out_mant = np.where(inf, 0x3FF, out_mant)
    return _join(sign, out_exp, out_mant, FP17_EXP, FP17_MANT)


def fp17_to_fp16(bits: np.ndarray) -> np.ndarray:
    """``Fp17ToFp16`` = ``FpExpoWidthDec<6,5,10,DENORM_YES,NAN_YES>``: exponents from 47
    saturate to +-65504, below 6 flush to a signed zero, 6..16 become denormals (the
    mantissa with its implied 1 shifted right, rounded to nearest even,
    ``FpMantDecShiftRight``; a carry makes exponent 1); NaNs keep sign and payload."""
    sign, exp, mant = _split(bits, FP17_EXP, FP17_MANT)
    shift = np.clip(_FP17_DELTA - exp + 1, 1, 11)
    full = mant | (1 << FP17_MANT)
    guard = (full >> (shift - 1)) & 1
    sticky = (full & ((np.int64(1) << (shift - 1)) - 1)) != 0
    least = (full >> shift) & 1
    den = (full >> shift) + ((guard == 1) & (sticky | (least == 1)))
    out_exp = np.where(exp >= 31 + _FP17_DELTA, 30, np.where(
        exp < _FP17_DELTA - FP17_MANT, 0, np.where(exp <= _FP17_DELTA, den >> FP17_MANT,
                                                   exp - _FP17_DELTA)))
    out_mant = np.where(exp >= 31 + _FP17_DELTA, 0x3FF, np.where(
        exp < _FP17_DELTA - FP17_MANT, 0, np.where(exp <= _FP17_DELTA, den & 0x3FF, mant)))
    nan = (exp == _mask(FP17_EXP)) & (mant != 0)
    out_exp, out_mant = np.where(nan, 0x1F, out_exp), np.where(nan, mant, out_mant)
    return (sign << 15) | (out_exp << 10) | out_mant
