"""SDP and CDP lookup tables: LE (65 entries, linear or exponent) and LO (257, linear).

Every input is looked up in both tables; each table either *hits* (interpolate
between two entries) or misses by *underflow* / *overflow* (extrapolate from
its first / last entry with a slope).  A priority mux then picks one table's
result.  Index arithmetic and interpolation differ between the units:

* SDP, cmod ``hls/sdp/sdp_y_idx.cpp`` + ``sdp_y_inp.cpp`` (driven by
  ``hls_wrapper/sdp_hls_wrapper.cpp``): ac_int index logic, a 35-bit fraction,
  ``rnd(y0 * (1 - f) + y1 * f)``, int32 result.
* CDP, cmod ``cdp/NV_NVDLA_cdp.cpp::lookup_lut_int8``: plain C index logic, a
  16-bit fraction, ``y0 + rnd((y1 - y0) * f)``, int16 result.

Register values are scalars, so shifts by them branch in Python; everything
per element is vectorized.  Bounds: SDP inputs are int32, CDP inputs 22-bit
square sums and CDP start/end 38-bit, so every difference is below 2**40.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nvdla_sim.arith import rnd_shr, rnd_shr_sat, sat, sx_int, wrap
from nvdla_sim.layers import Lut

LE_DEPTH, LO_DEPTH = 65, 257
LE_EXPONENT = 0  # S_LUT_CFG.LUT_LE_FUNCTION
SDP_FRAC, CDP_FRAC = 35, 16  # fraction bits: yLutFracSize / "precision of offset is 16bits"


@dataclass(frozen=True)
class _Table:
    """One table with its miss parameters."""

    values: np.ndarray  # int64
    start: int
    end: int
    uflow_scale: int
    uflow_shift: int
    oflow_scale: int
    oflow_shift: int


@dataclass(frozen=True)
class _Index:
    """Where the inputs fall in one table; ``idx``/``frac`` only matter on hits."""

    idx: np.ndarray
    frac: np.ndarray
    uflow: np.ndarray
    oflow: np.ndarray


def _tables(lut: Lut) -> tuple[_Table, _Table]:
    le = _Table(lut.le_table.astype(np.int64), lut.le_start, lut.le_end, lut.le_uflow_scale,
                lut.le_uflow_shift, lut.le_oflow_scale, lut.le_oflow_shift)
    lo = _Table(lut.lo_table.astype(np.int64), lut.lo_start, lut.lo_end, lut.lo_uflow_scale,
                lut.lo_uflow_shift, lut.lo_oflow_scale, lut.lo_oflow_shift)
    return le, lo


def _rescale(rem: np.ndarray, bits: np.ndarray | int, width: int) -> np.ndarray:
    """``rem / 2**bits`` (``0 <= rem < 2**bits``) as a ``width``-bit fraction, truncated."""
    up = np.clip(width - np.asarray(bits), 0, 63)
    down = np.clip(np.asarray(bits) - width, 0, 63)
    return (rem << up) >> down


def _exponent(d: np.ndarray, offset: int, frac_bits: int) -> _Index:
    """LE exponent index ``floor(log2 d) - LE_INDEX_OFFSET`` (both units alike).

    Underflow when ``d <= 0`` or the exponent is below the offset, overflow
    from index 64; the fraction is the mantissa ``d - 2**e`` (sdp ``IntLog2``,
    cdp ``log2``).  ``frexp`` is exact: ``d < 2**40``.
    """
    pos = d > 0
    d1 = np.where(pos, d, 1)
    e = np.frexp(d1.astype(np.float64))[1].astype(np.int64) - 1
    idx = e - offset
    uflow = ~pos | (idx < 0)
    frac = _rescale(d1 - (np.int64(1) << e), e, frac_bits)
    return _Index(idx, frac, uflow, ~uflow & (idx >= LE_DEPTH - 1))


def _slope(x: np.ndarray, point: int, y0: int, scale: int, shift: int, bits: int) -> np.ndarray:
    """Miss extrapolation ``sat_bits(y0 + sat32(((x - point) * scale) >> shift))``.

    ``shift`` is the signed 5-bit SLOPE_SHIFT: right shifts round half away
    from zero, negative ones shift left (sdp ``IntSignedShiftRight<50,5,32>``;
    cdp ``convert``, whose 56-bit clamp equals a 32-bit one under the final
    int16 clamp).  Clipping ``point`` and the difference is exact: beyond
    2**47 the shifted product (|shift| <= 16) saturates 32 bits anyway.
    """
    lim = 1 << 47
    diff = np.clip(x - max(-lim, min(point, lim)), -lim, lim)
    prod = diff * scale  # < 2**62
    if shift >= 0:
        c = rnd_shr_sat(prod, shift, 32)
    else:
        c = sat(np.clip(prod, -(1 << 32), 1 << 32) << -shift, 32)
    return sat(y0 + c, bits)


def _results(x: np.ndarray, table: _Table, pos: _Index, uflow_point: int, bits: int,
             hit: np.ndarray) -> np.ndarray:
    """One table's result per element: extrapolated on a miss, ``hit`` otherwise."""
    under = _slope(x, uflow_point, int(table.values[0]), table.uflow_scale, table.uflow_shift,
                   bits)
    over = _slope(x, table.end, int(table.values[-1]), table.oflow_scale, table.oflow_shift, bits)
    return np.where(pos.uflow, under, np.where(pos.oflow, over, hit))


def _entries(table: _Table, pos: _Index) -> tuple[np.ndarray, np.ndarray]:
    idx = np.clip(pos.idx, 0, len(table.values) - 2)  # misses index anything valid
    return table.values[idx], table.values[idx + 1]


def _select(le: np.ndarray, le_pos: _Index, lo: np.ndarray, lo_pos: _Index,
            lut: Lut) -> np.ndarray:
    """Priority mux, identical in sdp_y_idx.cpp ("INDEX MUXING") and cdp.cpp.

    Both underflow -> UFLOW_PRIORITY, both overflow -> OFLOW_PRIORITY, exactly
    one hit -> that table, otherwise (both hit, or one under- and one
    overflow) -> HYBRID_PRIORITY; priority 1 selects LO.
    """
    le_hit = ~(le_pos.uflow | le_pos.oflow)
    lo_hit = ~(lo_pos.uflow | lo_pos.oflow)
    pick_lo = np.where(le_hit ^ lo_hit, lo_hit, bool(lut.hybrid_priority))
    pick_lo = np.where(le_pos.oflow & lo_pos.oflow, bool(lut.oflow_priority), pick_lo)
    pick_lo = np.where(le_pos.uflow & lo_pos.uflow, bool(lut.uflow_priority), pick_lo)
    return np.where(pick_lo, lo, le)


# --- SDP -------------------------------------------------------------------

def _sdp_linear(y: np.ndarray, start: int, raw_select: int, depth: int, le: bool) -> _Index:
    """sdp_y_idx.cpp linear index (INT8/INT16 path).

    ``u = y - start`` (uint32); the index is ``u >> sel`` for the signed 8-bit
    INDEX_SELECT (negative: left shift), truncated and saturated to 9 bits
    (``IntSignedShiftRightTZ<32,8,9>``).  The fraction is
    ``(u & ((1 << sel) - 1)) >> (sel - 35)`` in ac_int: a negative shift
    count shifts the other way, so ``sel < 0`` leaves nothing in the 35-bit
    fraction.  LE holds the masked bits in an int32 (yLutInType), which
    sign-extends into the fraction when ``sel >= 32``.
    """
    sel = sx_int(raw_select, 8)
    above = y > start
    u = np.where(above, y - start, 0)  # < 2**32
    if sel >= 0:
        idx = np.minimum(u >> min(sel, 32), 511)
        rem = u & ((1 << min(sel, 32)) - 1)  # masks of 32 bits and more keep all of u
        if le:
            rem = wrap(rem, 32) & ((1 << SDP_FRAC) - 1)
        frac = _rescale(rem & ((1 << min(sel, SDP_FRAC)) - 1), sel, SDP_FRAC)
    else:
        idx = np.minimum(np.minimum(u, 512) << min(-sel, 10), 511)
        frac = np.zeros_like(u)
    return _Index(idx, frac, ~above, above & (idx >= depth - 1))


def _sdp_interpolate(table: _Table, pos: _Index) -> np.ndarray:
    """``rnd((y0 * (2**35 - f) + y1 * f) / 2**35)`` (sdp_y_inp.cpp); |terms| < 2**51."""
    y0, y1 = _entries(table, pos)
    return rnd_shr(y0 * ((1 << SDP_FRAC) - pos.frac) + y1 * pos.frac, SDP_FRAC)


def sdp_lookup(y: np.ndarray, lut: Lut) -> np.ndarray:
    """SDP EW LUT on int32 values -> int32 values.

    The LE-exponent underflow extrapolates from ``start + 2**offset`` when
    ``offset > 0`` (the wrapper's ``bias``); all other misses from START
    (underflow) or END (overflow) of their table.
    """
    le, lo = _tables(lut)
    le_uflow_point = le.start
    if lut.le_function == LE_EXPONENT:
        le_pos = _exponent(y - le.start, lut.le_index_offset, SDP_FRAC)
        if lut.le_index_offset > 0:
            le_uflow_point += 1 << lut.le_index_offset
    else:
        le_pos = _sdp_linear(y, le.start, lut.le_index_select, LE_DEPTH, le=True)
    lo_pos = _sdp_linear(y, lo.start, lut.lo_index_select, LO_DEPTH, le=False)
    le_out = _results(y, le, le_pos, le_uflow_point, 32, _sdp_interpolate(le, le_pos))
    lo_out = _results(y, lo, lo_pos, lo.start, 32, _sdp_interpolate(lo, lo_pos))
    return _select(le_out, le_pos, lo_out, lo_pos, lut)


# --- CDP -------------------------------------------------------------------

def _cdp_select(raw: int) -> int:
    """INDEX_SELECT as cdp.cpp reads it: bit 5 is the sign (``sel | 0xFFFFFFC0``)."""
    return (raw & 0x3F) - 64 if raw & 0x20 else raw


def _cdp_linear(x: np.ndarray, start: int, raw_select: int, depth: int) -> _Index:
    """cdp.cpp linear index: ``d = x - start``, ``d >> sel`` (``d << -sel`` if sel < 0).

    Underflow when ``d <= 0``, overflow from the last entry.  The fraction is
    ``d % 2**sel`` scaled to 16 bits, 0 when ``sel < 0``.  (cmod's C shifts
    that overflow -- ``1 << sel`` is an ``int`` -- are undefined; they give
    the mathematical result here.)
    """
    sel = _cdp_select(raw_select)
    d = x - start  # |d| < 2**39
    if sel >= 0:
        idx = d >> min(sel, 63)
        frac = _rescale(d & ((1 << min(sel, 62)) - 1), sel, CDP_FRAC)
    else:
        idx = np.clip(d, 0, depth) << -sel  # only "< depth" matters on d > 0; -sel <= 32
        frac = np.zeros_like(d)
    uflow = d <= 0
    return _Index(idx, frac, uflow, ~uflow & (idx >= depth - 1))


def _cdp_interpolate(table: _Table, pos: _Index) -> np.ndarray:
    """``y0 + rnd((y1 - y0) * f / 2**16)`` (cdp.cpp ``convert(..., 16, ...)``); < 2**33."""
    y0, y1 = _entries(table, pos)
    return y0 + rnd_shr((y1 - y0) * pos.frac, CDP_FRAC)


def cdp_lookup(x: np.ndarray, lut: Lut) -> np.ndarray:
    """CDP LUT (``lookup_lut_int8``) on square sums (int64, 22-bit) -> int16 values.

    The LE-exponent underflow extrapolates from ``start + 2**offset`` for any
    ``offset >= 0`` (``le_index_offset_uflow``; SDP needs ``offset > 0``).
    """
    le, lo = _tables(lut)
    le_uflow_point = le.start
    if lut.le_function == LE_EXPONENT:
        le_pos = _exponent(x - le.start, lut.le_index_offset, CDP_FRAC)
        if lut.le_index_offset >= 0:
            le_uflow_point += 1 << lut.le_index_offset
    else:
        le_pos = _cdp_linear(x, le.start, lut.le_index_select, LE_DEPTH)
    lo_pos = _cdp_linear(x, lo.start, lut.lo_index_select, LO_DEPTH)
    le_out = _results(x, le, le_pos, le_uflow_point, 16, _cdp_interpolate(le, le_pos))
    lo_out = _results(x, lo, lo_pos, lo.start, 16, _cdp_interpolate(lo, lo_pos))
    return _select(le_out, le_pos, lo_out, lo_pos, lut)
