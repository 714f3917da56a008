"""PDP on float data: max / min pooling of FP16 as NVDLA computes it, and the FP32 reference.

Windows, splits and padding are the integer model's (:mod:`nvdla_sim.units.pdp`:
``_strips``, ``_taps``); what differs is how taps combine:

* FP16 max / min (``cmod/hls_wrapper/pdp_hls_wrapper.cpp``
  ``HLS_PDP_PoolingStage0Calc_FP16_W`` / ``_H``, ``vlibs/fp16_max.cpp``): ``FpCmp<5,10>``
  (:func:`.nvfloat.fp_max_min`, ``-0 < +0``) over the real taps of each row, left to right
  with the running value as first operand, then over the rows, top to bottom with the
  new row as first operand; padding is not an operand.  So a NaN wins: within a row the
  leftmost, across rows the lowest.  With ``D_NAN_FLUSH_TO_ZERO`` a NaN read from memory
  becomes +0 first (``NV_NVDLA_pdp.cpp``, off-flying mode only).
* FP16 average computes in FP17 (``HLS_fp17_add`` / ``_mul``); it is **not modelled**
  and refused.
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
from nvdla_sim.floatpath.nvfloat import fp_max_min, is_nan
from nvdla_sim.layers import POOL_AVERAGE, POOL_MAX, POOL_MIN, Pdp
from nvdla_sim.precision import FP16, Precision
from nvdla_sim.units.pdp import _strips, _taps
from nvdla_sim.units.tap import Tap, no_tap


def check(pdp: Pdp) -> None:
    if pdp.method not in (POOL_AVERAGE, POOL_MAX, POOL_MIN):
        raise LayerError(f"PDP: unknown pooling method {pdp.method}")
    if pdp.precision is FP16 and pdp.method == POOL_AVERAGE:
        raise LayerError("PDP: FP16 average pooling (FP17 arithmetic) is not modelled; "
                         "use max or min pooling")
    if pdp.method == POOL_AVERAGE and any(pdp.pad_values):
        raise LayerError("PDP: fp32 reference average pooling adds 0 for padding; "
                         "PAD_VALUE_1X..7X must be 0")


def _combine(prec: Precision, method: int):
    """(running, new) -> combined, for the width pass; the height pass swaps operands."""
    if prec is FP16:
        e, m = prec.exp_bits, prec.mant_bits
        return lambda a, b: fp_max_min(a, b, e, m, maximum=method == POOL_MAX)
    fn = {POOL_MAX: np.maximum, POOL_MIN: np.minimum, POOL_AVERAGE: np.add}[method]
    return lambda a, b: fn(a, b)


def _fold(taps: np.ndarray, real: np.ndarray, axis: int, combine, new_first: bool
          ) -> np.ndarray:
    """Fold the kernel axis ``axis`` of ``taps`` in order over its real taps."""
    acc = started = None
    for k in range(taps.shape[axis]):
        t = np.take(taps, k, axis=axis)
        r = real[k].reshape(real[k].shape + (1,) * (t.ndim - axis - 1))
        if acc is None:
            acc, started = t.copy(), np.broadcast_to(r, t.shape).copy()
            continue
        both = combine(t, acc) if new_first else combine(acc, t)
        acc = np.where(r, np.where(started, both, t), acc)
        started |= r
    return acc


def _pool_strip(x: np.ndarray, pdp: Pdp, pad_left: int, pad_right: int, out_width: int,
                combine) -> np.ndarray:
    ci, cr = _taps(out_width, pdp.stride_x, pad_left, pad_right, pdp.kernel_width, x.shape[2])
    ri, rr = _taps(pdp.out_height, pdp.stride_y, pdp.pad_top, pdp.pad_bottom,
                   pdp.kernel_height, x.shape[1])
    lines = _fold(np.take(x, ci, axis=2), cr, 2, combine, new_first=False)  # [C, H, ow]
    return _fold(np.take(lines, ri, axis=1), rr, 1, combine, new_first=True)


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
    values = x if prec is FP16 else f32(x)
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
        if pdp.method == POOL_AVERAGE:
            rw, rh = np.float32(1.0 / pdp.kernel_width), np.float32(1.0 / pdp.kernel_height)
            out = f32_bits((f32(acc) * rw) * rh)
    return from_bits(np.asarray(tap("out", out)).astype(np.int64), prec)
