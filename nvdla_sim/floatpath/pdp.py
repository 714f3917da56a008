"""PDP on float data: FP16 pooling as NVDLA computes it, and the FP32 reference.

Windows, splits and padding are the integer model's (:mod:`nvdla_sim.units.pdp`:
``_strips``, ``_taps``); what differs is how taps combine:

* FP16 max / min (``cmod/hls_wrapper/pdp_hls_wrapper.cpp``
  ``HLS_PDP_PoolingStage0Calc_FP16_W`` / ``_H``, ``vlibs/fp16_max.cpp``): ``FpCmp<5,10>``
  (:func:`.nvfloat.fp_max_min`, ``-0 < +0``) over the real taps of each row, left to right
  with the running value as first operand, then over the rows, top to bottom with the
  new row as first operand; padding is not an operand.  So a NaN wins: within a row the
  leftmost, across rows the lowest.  With ``D_NAN_FLUSH_TO_ZERO`` a NaN read from memory
  becomes +0 first (``NV_NVDLA_pdp.cpp``, off-flying mode only).
* FP16 average computes in FP17 (1 sign, 6 exponent bits with bias 31, 10 mantissa
  bits; ``HLS_fp17_add`` = ``FpAdd<6,10>``, ``HLS_fp17_mul`` = ``FpMul<6,10>``,
  :mod:`.nvfloat`): elements widen by ``Fp16ToFp17``; each row of a window sums its real
  elements left to right (running sum first), the rows sum top to bottom (new row first);
  after the last real element of a row that has ``n`` padded columns, and after the last
  real row when ``n`` rows are padded, the FP17 pattern in ``PAD_VALUE_nX`` (its low 17
  bits; for rows times the kernel width, ``FpMul``) is added (``LineOperation``,
  ``PoolingStage0Calc``, ``HLS_PDP_PoolingStage0Calc_FP16_W/_H``).  The window sum is
  multiplied by ``RECIP_KERNEL_WIDTH`` and then ``RECIP_KERNEL_HEIGHT`` (FP17 patterns)
  and narrowed by ``Fp17ToFp16`` (``HLS_PDP_PoolingStage1Calc_FP16``).  cmod takes the
  kernel width for rows' padding from a table that stops at 7 (index 8 reads past it);
  this model uses 8.0 there.
* FP32 reference: max / min in binary32 (numpy: a NaN propagates); average adds the real
  taps of each row left to right, then the rows top to bottom, each add rounded to
  binary32 (padding adds 0, so ``PAD_VALUE_*`` must be 0), and multiplies the sum by
  ``fp32(1 / kernel width)`` and then ``fp32(1 / kernel height)`` (the
  ``RECIP_KERNEL_*`` registers cannot hold binary32 and are ignored).
"""

from __future__ import annotations

import numpy as np

from nvdla_sim.config import HardwareConfig
from nvdla_sim.errors import LayerError
from nvdla_sim.floatpath import f32, f32_bits, from_bits, to_bits
from nvdla_sim.floatpath.nvfloat import (FP17_EXP, FP17_MANT, fp16_to_fp17, fp17_to_fp16,
                                         fp_add, fp_max_min, fp_mul, is_nan)
from nvdla_sim.layers import POOL_AVERAGE, POOL_MAX, POOL_MIN, Pdp
from nvdla_sim.precision import FP16, FP32, Precision
from nvdla_sim.units.pdp import _strips, _taps
from nvdla_sim.units.tap import Tap, no_tap


FP17_MASK = (1 << (1 + FP17_EXP + FP17_MANT)) - 1  # the low 17 bits of a register field


def check(pdp: Pdp) -> None:
    if pdp.method not in (POOL_AVERAGE, POOL_MAX, POOL_MIN):
        raise LayerError(f"PDP: unknown pooling method {pdp.method}")
    if pdp.precision is FP32 and pdp.method == POOL_AVERAGE and any(pdp.pad_values):
        raise LayerError("PDP: fp32 reference average pooling adds 0 for padding; "
                         "PAD_VALUE_1X..7X must be 0")


def _combine(prec: Precision, method: int):
    """(running, new) -> combined, for the width pass; the height pass swaps operands."""
    if prec is FP16 and method == POOL_AVERAGE:
        return lambda a, b: fp_add(a, b, FP17_EXP, FP17_MANT)
    if prec is FP16:
        e, m = prec.exp_bits, prec.mant_bits
        return lambda a, b: fp_max_min(a, b, e, m, maximum=method == POOL_MAX)
    fn = {POOL_MAX: np.maximum, POOL_MIN: np.minimum, POOL_AVERAGE: np.add}[method]
    return lambda a, b: fn(a, b)


def _fold(taps: np.ndarray, real: np.ndarray, axis: int, combine, new_first: bool,
          pads: np.ndarray | None = None) -> np.ndarray:
    """Fold the kernel axis ``axis`` of ``taps`` in order over its real taps; ``pads``
    (one FP17 pattern per window) is added after each window's last real tap in the slot
    cmod uses (left / top when the window starts in padding, else right / bottom)."""
    acc = started = None
    last = real.shape[0] - 1 - np.argmax(real[::-1], axis=0)  # each window's last real tap
    lead = ~real[0]  # the window starts in padding
    for k in range(taps.shape[axis]):
        t = np.take(taps, k, axis=axis)
        shape = real[k].shape + (1,) * (t.ndim - axis - 1)
        r = real[k].reshape(shape)
        if acc is None:
            acc, started = t.copy(), np.broadcast_to(r, t.shape).copy()
            step = t
        else:
            step = np.where(started, combine(t, acc) if new_first else combine(acc, t), t)
        if pads is not None:  # o = ((o + pad_left) + pad_right), zeros where nothing pads
            here = last == k
            first = np.where(here & lead, pads, 0).reshape(shape)
            second = np.where(here & ~lead, pads, 0).reshape(shape)
            step = combine(combine(step, first), second)
        acc = np.where(r, step, acc)
        started |= r
    return acc


def _pool_strip(x: np.ndarray, pdp: Pdp, pad_left: int, pad_right: int, out_width: int,
                combine) -> np.ndarray:
    ci, cr = _taps(out_width, pdp.stride_x, pad_left, pad_right, pdp.kernel_width, x.shape[2])
    ri, rr = _taps(pdp.out_height, pdp.stride_y, pdp.pad_top, pdp.pad_bottom,
                   pdp.kernel_height, x.shape[1])
    col_pads = row_pads = None
    if pdp.precision is FP16 and pdp.method == POOL_AVERAGE:  # FP17 padding terms
        table = np.array([0] + [v & FP17_MASK for v in pdp.pad_values], np.int64)
        col_pads = table[pdp.kernel_width - cr.sum(axis=0)]
        kw = fp16_to_fp17(h_bits(float(pdp.kernel_width)))
        row_pads = fp_mul(table[pdp.kernel_height - rr.sum(axis=0)], kw, FP17_EXP, FP17_MANT)
    lines = _fold(np.take(x, ci, axis=2), cr, 2, combine, new_first=False, pads=col_pads)
    return _fold(np.take(lines, ri, axis=1), rr, 1, combine, new_first=True, pads=row_pads)


def h_bits(value: float) -> np.ndarray:
    """The FP16 pattern of ``value`` (int64)."""
    return np.array(value, np.float16).view(np.uint16).astype(np.int64)


def process(cube: np.ndarray, pdp: Pdp, cfg: HardwareConfig, tap: Tap = no_tap) -> np.ndarray:
    """Pool a float ``[(B,) Cpad, H, W]`` cube (stored elements) to the output cube; ``tap``
    sees ``in``, ``acc`` (each window's pooled value, before an average's reciprocal
    multiplies) and ``out`` as bit patterns."""
    check(pdp)
    if cube.ndim == 4:
        b = cube.shape[0]
        out = process(cube.reshape(-1, *cube.shape[2:]), pdp, cfg, tap)
        return out.reshape(b, -1, *out.shape[1:])
    prec = pdp.precision
    bits = to_bits(cube, prec)
    if pdp.from_memory and pdp.nan_to_zero:
        bits = np.where(is_nan(bits, prec.exp_bits, prec.mant_bits), 0, bits)
    x = np.asarray(tap("in", bits)).astype(np.int64)
    average16 = prec is FP16 and pdp.method == POOL_AVERAGE
    values = f32(x) if prec is not FP16 else fp16_to_fp17(x) if average16 else x
    combine = _combine(prec, pdp.method)
    parts = []
    with np.errstate(over="ignore", invalid="ignore"):
        for start, width, pad_left, pad_right, out_width in _strips(pdp):
            if start < 0 or start + width > values.shape[2]:
                raise LayerError(f"PDP: split reads input columns {start}..{start + width - 1}"
                                 f" outside the {values.shape[2]}-wide cube")
            parts.append(_pool_strip(values[:, :, start:start + width], pdp, pad_left,
                                     pad_right, out_width, combine))
        pooled = np.concatenate(parts, axis=2)
        acc = np.asarray(tap("acc", pooled if prec is FP16 else f32_bits(pooled))).astype(
            np.int64)
        out = acc
        if average16:  # HLS_PDP_PoolingStage1Calc_FP16
            out = fp_mul(fp_mul(acc, pdp.recip_kernel_width & FP17_MASK, FP17_EXP, FP17_MANT),
                         pdp.recip_kernel_height & FP17_MASK, FP17_EXP, FP17_MANT)
            out = fp17_to_fp16(out)
        elif pdp.method == POOL_AVERAGE:
            rw, rh = np.float32(1.0 / pdp.kernel_width), np.float32(1.0 / pdp.kernel_height)
            out = f32_bits((f32(acc) * rw) * rh)
    return from_bits(np.asarray(tap("out", out)).astype(np.int64), prec)
