"""Regions of tensors, and hardware layers restricted to a region of their output.

A fault that changes a few values reaches, through each following layer, only
the outputs whose window covers them: a small box grows by the kernel's reach
per convolution.  :func:`reach` maps changed input boxes to the output boxes they
can affect, and :func:`restrict` makes the descriptor of the same layer that
computes only that output box, reading and writing the same memory, so the
executor recomputes just the cone of a fault.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np

from nvdla_sim.config import HardwareConfig
from nvdla_sim.layers import HardwareLayer
from nvdla_sim.surface import FeatureSurface


class Box(NamedTuple):
    """Half-open ranges of channels, rows and columns: the output a restricted layer
    computes (boxes of many faults at once are int64 arrays [N, 6] in this order)."""

    c0: int
    c1: int
    y0: int
    y1: int
    x0: int
    x1: int


def window_reach(lo: np.ndarray, hi: np.ndarray, stride: int, pad: int, span: int,
                 n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Outputs [o0, o1) whose window (o * stride - pad .. + span - 1) meets inputs [lo, hi)."""
    o0 = np.maximum(0, -(-(lo + pad - span + 1) // stride))
    o1 = np.minimum(n_out, (hi - 1 + pad) // stride + 1)
    return o0, o1


def reach(layer: HardwareLayer, boxes: np.ndarray, cfg: HardwareConfig) -> np.ndarray:
    """Output boxes (in the layer's final output) that changes of the input boxes can
    reach (boxes: int64 [N, 6] rows c0, c1, y0, y1, x0, x1)."""
    out = boxes.copy()
    if layer.cdp is not None:
        c = layer.cdp
        half = c.normalz_len + 1
        out[:, 0] -= half
        out[:, 1] += half
        np.maximum(out[:, 0::2], 0, out=out[:, 0::2])
        for k, size in enumerate((cfg.channels_padded(c.channels), c.height, c.width)):
            np.minimum(out[:, 2 * k + 1], size, out=out[:, 2 * k + 1])
        return out
    if layer.conv is not None:
        v = layer.conv
        out[:, 2], out[:, 3] = window_reach(boxes[:, 2], boxes[:, 3], v.stride_y, v.pad_top,
                                            (v.kernel_height - 1) * v.dilation_y + 1,
                                            v.out_height)
        out[:, 4], out[:, 5] = window_reach(boxes[:, 4], boxes[:, 5], v.stride_x, v.pad_left,
                                            (v.kernel_width - 1) * v.dilation_x + 1,
                                            v.out_width)
        out[:, 0], out[:, 1] = 0, cfg.channels_padded(v.kernels)
    # else SDP from memory: element-wise
    p = layer.pdp
    if p is not None:
        out[:, 2], out[:, 3] = window_reach(out[:, 2], out[:, 3], p.stride_y, p.pad_top,
                                            p.kernel_height, p.out_height)
        out[:, 4], out[:, 5] = window_reach(out[:, 4], out[:, 5], p.stride_x, p.pad_left,
                                            p.kernel_width, p.out_width)
    return out


def sub_surface(s: FeatureSurface, y0: int, y1: int, x0: int, x1: int,
                cfg: HardwareConfig) -> FeatureSurface:
    return FeatureSurface(s.address + y0 * s.line_stride + x0 * cfg.mem_atom * s.element_bytes,
                          x1 - x0, y1 - y0, s.channels, s.line_stride, s.surface_stride,
                          s.element_bytes)


def can_restrict(layer: HardwareLayer) -> bool:
    """Whether :func:`restrict` can cut the layer (not a flying or split-width PDP)."""
    return layer.pdp is None or (layer.sdp is None and not layer.pdp.split_num)


def restrict(layer: HardwareLayer, box: Box, cfg: HardwareConfig) -> HardwareLayer | None:
    """The layer computing only output rows/columns of ``box`` (all channels), or None
    when it cannot be cut (see :func:`can_restrict`)."""
    if not can_restrict(layer):
        return None
    if layer.conv is not None:
        return _restrict_conv(layer, box, cfg)
    if layer.sdp is not None:
        return dataclasses.replace(layer, sdp=_restrict_sdp_memory(layer.sdp, box, cfg))
    if layer.pdp is not None:
        return dataclasses.replace(layer, pdp=_restrict_pdp(layer.pdp, box, cfg))
    c = layer.cdp
    src = sub_surface(FeatureSurface(c.src_address, c.width, c.height, c.channels,
                                     c.src_line_stride, c.src_surface_stride),
                      box.y0, box.y1, box.x0, box.x1, cfg)
    dst = sub_surface(FeatureSurface(c.dst_address, c.width, c.height, c.channels,
                                     c.dst_line_stride, c.dst_surface_stride),
                      box.y0, box.y1, box.x0, box.x1, cfg)
    return dataclasses.replace(layer, cdp=dataclasses.replace(
        c, width=src.width, height=src.height, src_address=src.address,
        dst_address=dst.address))


def _input_range(o0: int, o1: int, stride: int, pad: int, span: int, size: int
                 ) -> tuple[int, int, int, int]:
    """(first input, end input, pad before, pad after) feeding outputs [o0, o1)."""
    i0 = o0 * stride - pad
    i1 = (o1 - 1) * stride - pad + span
    return max(i0, 0), min(i1, size), max(0, -i0), max(0, i1 - size)


def _restrict_conv(layer: HardwareLayer, box: Box, cfg: HardwareConfig) -> HardwareLayer:
    v, s = layer.conv, layer.sdp
    y0, y1, pt, pb = _input_range(box.y0, box.y1, v.stride_y, v.pad_top,
                                  (v.kernel_height - 1) * v.dilation_y + 1, v.in_height)
    x0, x1, pl, pr = _input_range(box.x0, box.x1, v.stride_x, v.pad_left,
                                  (v.kernel_width - 1) * v.dilation_x + 1, v.in_width)
    src = sub_surface(FeatureSurface(v.in_address, v.in_width, v.in_height, v.in_channels,
                                     v.in_line_stride, v.in_surface_stride), y0, y1, x0, x1, cfg)
    conv = dataclasses.replace(
        v, in_width=src.width, in_height=src.height, in_address=src.address,
        pad_top=pt, pad_bottom=pb, pad_left=pl, pad_right=pr,
        out_width=box.x1 - box.x0, out_height=box.y1 - box.y0,
        atomics=(box.x1 - box.x0) * (box.y1 - box.y0))
    return dataclasses.replace(layer, conv=conv, sdp=_restrict_sdp_out(s, box, cfg))


def _restrict_sdp_out(s, box: Box, cfg: HardwareConfig):
    dst = sub_surface(FeatureSurface(s.dst_address, s.width, s.height, s.channels,
                                     s.dst_line_stride, s.dst_surface_stride),
                      box.y0, box.y1, box.x0, box.x1, cfg)
    stages = {}
    for name in ("bs", "bn", "ew"):
        stage = getattr(s, name)
        dma = stage.dma
        if not dma.disable and dma.data_mode == 1:  # per-element operands move with the box
            elem = (2 if dma.data_size else 1) * (2 if dma.data_use == 2 else 1)
            view = sub_surface(FeatureSurface(dma.address, s.width, s.height, s.channels,
                                              dma.line_stride, dma.surface_stride, elem),
                               box.y0, box.y1, box.x0, box.x1, cfg)
            stages[name] = dataclasses.replace(stage, dma=dataclasses.replace(
                dma, address=view.address))
    return dataclasses.replace(s, width=dst.width, height=dst.height, dst_address=dst.address,
                               **stages)


def _restrict_sdp_memory(s, box: Box, cfg: HardwareConfig):
    src = sub_surface(FeatureSurface(s.src_address, s.width, s.height, s.channels,
                                     s.src_line_stride, s.src_surface_stride),
                      box.y0, box.y1, box.x0, box.x1, cfg)
    return dataclasses.replace(_restrict_sdp_out(s, box, cfg), src_address=src.address)


def _restrict_pdp(p, box: Box, cfg: HardwareConfig):
    y0, y1, pt, pb = _input_range(box.y0, box.y1, p.stride_y, p.pad_top, p.kernel_height,
                                  p.in_height)
    x0, x1, pl, pr = _input_range(box.x0, box.x1, p.stride_x, p.pad_left, p.kernel_width,
                                  p.in_width)
    src = sub_surface(FeatureSurface(p.src_address, p.in_width, p.in_height, p.in_channels,
                                     p.src_line_stride, p.src_surface_stride), y0, y1, x0, x1, cfg)
    dst = sub_surface(FeatureSurface(p.dst_address, p.out_width, p.out_height, p.out_channels,
                                     p.dst_line_stride, p.dst_surface_stride),
                      box.y0, box.y1, box.x0, box.x1, cfg)
    return dataclasses.replace(
        p, in_width=src.width, in_height=src.height, src_address=src.address,
        out_width=dst.width, out_height=dst.height, dst_address=dst.address,
        pad_top=pt, pad_bottom=pb, pad_left=pl, pad_right=pr)


def cut_key(layer: HardwareLayer, box: Box) -> tuple:
    """What the restriction of ``layer`` to ``box`` looks like, addresses aside: equal
    keys mean equal descriptors but for where they read and write."""
    h, w = box.y1 - box.y0, box.x1 - box.x0
    v = layer.conv or layer.pdp
    if v is None:  # element-wise in space (SDP from memory, CDP)
        return (h, w)
    if layer.conv is not None:
        ky = (v.kernel_height - 1) * v.dilation_y + 1
        kx = (v.kernel_width - 1) * v.dilation_x + 1
    else:
        ky, kx = v.kernel_height, v.kernel_width
    rows = _input_range(box.y0, box.y1, v.stride_y, v.pad_top, ky, v.in_height)
    cols = _input_range(box.x0, box.x1, v.stride_x, v.pad_left, kx, v.in_width)
    return (h, w, rows[1] - rows[0], rows[2], rows[3], cols[1] - cols[0], cols[2], cols[3])


def read_strides(layer: HardwareLayer) -> list[tuple[int, int]]:
    """How far each surface the layer reads (in ``layer_reads`` order) moves per output
    row / column: the stride for a convolution's or a pooling's input, 1 otherwise."""
    strides = []
    if layer.conv is not None:
        strides.append((layer.conv.stride_y, layer.conv.stride_x))
    if layer.sdp is not None:
        s = layer.sdp
        strides += [(1, 1)] * ((not s.flying) + sum(
            not st.dma.disable and st.dma.data_mode == 1 for st in (s.bs, s.bn, s.ew)))
    if layer.pdp is not None and layer.pdp.from_memory:
        strides.append((layer.pdp.stride_y, layer.pdp.stride_x))
    if layer.cdp is not None:
        strides.append((1, 1))
    return strides
