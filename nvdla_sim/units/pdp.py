"""PDP: the planar data processor (max / min / average pooling), INT8 and INT16.

Follows NVDLA's C model ``cmod/pdp/NV_NVDLA_pdp.cpp``: ``LineOperation`` pools
each input line over the kernel width into a line-operation buffer,
``PoolingStage0Calc`` pools those over the kernel height into a line buffer
(both int16_t for INT8 input, int32_t for INT16: ``Precision.pdp_buffer_bits``)
and ``PoolingStage1Calc`` turns an average's sum into the output element.
Both passes are vectorized over the whole cube; the taps of one axis are
gathered at once, so nothing loops per element.
"""

from __future__ import annotations

import numpy as np

from nvdla_sim.arith import rnd_shr, wrap
from nvdla_sim.config import HardwareConfig
from nvdla_sim.errors import LayerError
from nvdla_sim.layers import POOL_AVERAGE, POOL_MAX, POOL_MIN, Pdp
from nvdla_sim.precision import PRECISIONS, Precision
from nvdla_sim.surface import FeatureSurface
from nvdla_sim.units.tap import Tap, no_tap

_COMBINE = {POOL_MAX: np.maximum, POOL_MIN: np.minimum, POOL_AVERAGE: np.add}


def _neutral(prec: Precision) -> dict[int, int]:
    """What a tap that falls on padding contributes: it never wins a max / min (the
    buffer's extreme value), adds 0 to a sum."""
    half = 1 << (prec.pdp_buffer_bits - 1)
    return {POOL_MAX: -half, POOL_MIN: half - 1, POOL_AVERAGE: 0}


_NEUTRAL = {prec.name: _neutral(prec) for prec in PRECISIONS.values() if not prec.is_float}


def input_surface(pdp: Pdp) -> FeatureSurface:
    return FeatureSurface(pdp.src_address, pdp.in_width, pdp.in_height, pdp.in_channels,
                          pdp.src_line_stride, pdp.src_surface_stride,
                          precision=pdp.precision, ram_type=pdp.src_ram_type)


def output_surface(pdp: Pdp) -> FeatureSurface:
    return FeatureSurface(pdp.dst_address, pdp.out_width, pdp.out_height, pdp.out_channels,
                          pdp.dst_line_stride, pdp.dst_surface_stride,
                          precision=pdp.precision, ram_type=pdp.dst_ram_type)


def _pad_table(pdp: Pdp, prec: Precision) -> np.ndarray:
    """``P[n]`` for n = 0..7 padded elements (``P[0] = 0``), as the buffer type like cmod.

    cmod ``int_sign_extend`` ORs ones above the sign bit (``prec.pdp_pad_sign_bits``)
    over the raw 19-bit field and stores the result in an ``int16_t`` (INT8) or
    ``int32_t`` (INT16).
    """
    table = [0]
    for raw, bit in zip(pdp.pad_values, prec.pdp_pad_sign_bits, strict=True):
        ones = -(1 << (bit + 1)) if (raw >> bit) & 1 else 0
        table.append(int(wrap(raw | ones, prec.pdp_buffer_bits)))
    return np.asarray(table, dtype=np.int64)


def _strips(pdp: Pdp) -> list[tuple[int, int, int, int, int]]:
    """``(first input column, input width, pad left, pad right, output width)`` per split.

    cmod ``PdpRdmaSequenceThread`` / ``PoolingStage0SequenceThread``: strip
    ``i > 0`` starts ``K - S`` columns before the end of the previous strip's
    PARTIAL_WIDTH_IN and is that much wider; left padding applies to the first
    strip only, right padding to the last only.
    """
    if pdp.split_num == 0:
        return [(0, pdp.in_width, pdp.pad_left, pdp.pad_right, pdp.out_width)]
    n = pdp.split_num + 1
    overlap = pdp.kernel_width - pdp.stride_x
    first, mid, last = pdp.partial_in_first + 1, pdp.partial_in_mid + 1, pdp.partial_in_last + 1
    out = [(0, first, pdp.pad_left, 0, pdp.partial_out_first + 1)]
    for i in range(1, n):
        start = first + (i - 1) * mid - overlap
        if i < n - 1:
            out.append((start, mid + overlap, 0, 0, pdp.partial_out_mid + 1))
        else:
            out.append((start, last + overlap, 0, pdp.pad_right, pdp.partial_out_last + 1))
    return out


def _taps(n_out: int, stride: int, pad_before: int, pad_after: int, kernel: int,
          size: int) -> tuple[np.ndarray, np.ndarray]:
    """Input index (clipped) of tap ``k`` of output ``o`` along one axis, and whether it is real.

    cmod computes a window only from its real elements and only if it fits in
    the padded input; any other window would never complete, so it is an error.
    """
    idx = np.arange(kernel)[:, None] + stride * np.arange(n_out)[None, :] - pad_before
    real = (idx >= 0) & (idx < size)
    if idx[-1, -1] >= size + pad_after or not real.any(axis=0).all():
        raise LayerError(f"PDP: {n_out} windows of {kernel} (stride {stride}) do not all fit in "
                         f"{pad_before} + {size} + {pad_after} with a real element each")
    return np.clip(idx, 0, size - 1), real


def _pool_axis(x: np.ndarray, axis: int, idx: np.ndarray, real: np.ndarray,
               method: int, prec: Precision) -> np.ndarray:
    """Combine the real taps of every window along ``axis`` (padding is not an operand)."""
    if real.all():  # no padding: one strided view per tap, combined pairwise (no gather)
        kernel, n_out = idx.shape
        step = idx[0, 1] - idx[0, 0] if n_out > 1 else 1
        lead = (slice(None),) * axis
        views = [x[(*lead, slice(int(i), int(i) + step * (n_out - 1) + 1, step))]
                 for i in idx[:, 0]]
        out = views[0].copy() if kernel == 1 else _COMBINE[method](views[0], views[1])
        for view in views[2:]:
            _COMBINE[method](out, view, out=out)
        return out
    taps = np.take(x, idx, axis=axis)  # the (kernel, n_out) tap grid replaces ``axis``
    if not real.all():
        mask = real.reshape(real.shape + (1,) * (x.ndim - 1 - axis))
        neutral = _NEUTRAL[prec.name][method]
        if x.dtype != np.int64:  # max / min in the data's type: its extreme never wins either
            info = np.iinfo(x.dtype)
            neutral = min(max(neutral, info.min), info.max)
        taps = np.where(mask, taps, np.asarray(neutral, x.dtype))
    return _COMBINE[method].reduce(taps, axis=axis)


def _pool_strip(x: np.ndarray, pdp: Pdp, pad_left: int, pad_right: int, out_width: int,
                pads: np.ndarray, prec: Precision) -> np.ndarray:
    """Pool one strip to its line-buffer value (cmod ``PoolingStage0SequenceCommon``).

    Average adds padding as ``P[n]`` terms: ``LineOperation`` adds ``P[pad columns]``
    once per real row of the window (left and right padding together when the
    window has both), ``PoolingStage0Calc`` adds ``KW * P[pad rows]`` once per
    window.  Every store is to the buffer type, so the sum wraps modulo
    2**pdp_buffer_bits.
    """
    ci, cr = _taps(out_width, pdp.stride_x, pad_left, pad_right, pdp.kernel_width, x.shape[2])
    ri, rr = _taps(pdp.out_height, pdp.stride_y, pdp.pad_top, pdp.pad_bottom, pdp.kernel_height,
                   x.shape[1])
    lines = _pool_axis(x, 2, ci, cr, pdp.method, prec)
    if pdp.method == POOL_AVERAGE:
        lines = lines + pads[pdp.kernel_width - cr.sum(axis=0)]
    out = _pool_axis(lines, 1, ri, rr, pdp.method, prec)
    if pdp.method == POOL_AVERAGE:
        row_pads = pdp.kernel_width * pads[pdp.kernel_height - rr.sum(axis=0)]
        out = wrap(out + row_pads[:, None], prec.pdp_buffer_bits)
    return out


def process(cube: np.ndarray, pdp: Pdp, cfg: HardwareConfig, tap: Tap = no_tap) -> np.ndarray:
    """Pool a ``[(B,) Cpad, H, W]`` cube to ``[(B,) Cpad, out_height, out_width]`` of the
    same precision (int8 or int16).

    ``tap`` sees the registers ``in`` (the input elements), ``acc`` (each window's
    line-buffer result before the average division) and ``out``.

    Average: ``out = T(R(R(sum * RECIP_W / 2**16) * RECIP_H / 2**16))`` with ``R``
    rounding half away from zero (cmod ``PoolingStage1Calc``, exact in its
    doubles) and the final ``static_cast<T>`` (int8_t / int16_t) wrapping, not
    saturating.  The sum is at most 32 bits and RECIP 17 bits, so every product
    stays below 2**49.
    """
    if pdp.method not in _COMBINE:
        raise LayerError(f"PDP: unknown pooling method {pdp.method}")
    if pdp.precision.is_float:
        from nvdla_sim.floatpath import pdp as float_pdp  # it builds on this module
        return float_pdp.process(cube, pdp, cfg, tap)
    if cube.ndim == 4:  # a batch: channels pool independently, so stack them
        b = cube.shape[0]
        out = process(cube.reshape(-1, *cube.shape[2:]), pdp, cfg, tap)
        return out.reshape(b, -1, *out.shape[1:])
    prec = pdp.precision
    # a max or min of int8/int16 values is one of them: pooled in their own type (8x less
    # memory traffic) unless a fault model taps the registers
    native = tap is no_tap and pdp.method != POOL_AVERAGE and cube.dtype == prec.dtype
    x = cube if native else tap("in", cube.astype(np.int64))
    pads = _pad_table(pdp, prec)
    parts = []
    for start, width, pad_left, pad_right, out_width in _strips(pdp):
        if start < 0 or start + width > x.shape[2]:
            raise LayerError(f"PDP: split reads input columns {start}..{start + width - 1} "
                             f"outside the {x.shape[2]}-wide cube")
        parts.append(_pool_strip(x[:, :, start:start + width], pdp, pad_left, pad_right,
                                 out_width, pads, prec))
    out = tap("acc", np.concatenate(parts, axis=2))
    if pdp.method == POOL_AVERAGE:
        out = rnd_shr(rnd_shr(out * pdp.recip_kernel_width, 16) * pdp.recip_kernel_height, 16)
    if native:  # a max / min of the stored values is one of them: nothing to wrap
        return out
    return tap("out", wrap(out, prec.bits)).astype(prec.dtype)
