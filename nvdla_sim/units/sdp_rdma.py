"""SDP_RDMA: reads SDP's input cube (memory mode) and its BS/BN/EW operand streams."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nvdla_sim.arith import sx
from nvdla_sim.config import HardwareConfig
from nvdla_sim.layers import OperandDma, Sdp
from nvdla_sim.memory import Memory
from nvdla_sim.surface import FeatureSurface

USE_MUL, USE_ALU, USE_BOTH = 0, 1, 2
MODE_PER_KERNEL, MODE_PER_ELEMENT = 0, 1


@dataclass(frozen=True)
class Operands:
    """Operand values of one stage, broadcastable to the cube [C, H, W] (None = not fetched)."""

    alu: np.ndarray | None
    mul: np.ndarray | None


def input_surface(sdp: Sdp) -> FeatureSurface:
    return FeatureSurface(sdp.src_address, sdp.width, sdp.height, sdp.channels,
                          sdp.src_line_stride, sdp.src_surface_stride)


def output_surface(sdp: Sdp) -> FeatureSurface:
    return FeatureSurface(sdp.dst_address, sdp.width, sdp.height, sdp.channels,
                          sdp.dst_line_stride, sdp.dst_surface_stride)


def read_input(sdp: Sdp, mem: Memory, cfg: HardwareConfig) -> np.ndarray:
    """int8 input cube sign-extended to int64, channels padded to whole atoms."""
    return input_surface(sdp).read(mem, cfg).astype(np.int64)


def read_operands(dma: OperandDma, sdp: Sdp, mem: Memory, cfg: HardwareConfig) -> Operands:
    """Fetch one operand stream; components are sign-extended little-endian integers.

    An element holds one component (MUL or ALU) or both (ALU first, then MUL)
    of 1 or 2 bytes each.  Per-kernel data is one vector of ceil(C/A)*A
    elements; per-element data is a cube laid out like a feature surface.
    """
    if dma.disable:
        return Operands(None, None)
    comp_bytes = 2 if dma.data_size else 1
    comps = 2 if dma.data_use == USE_BOTH else 1
    elem = comp_bytes * comps
    cpad = cfg.channels_padded(sdp.channels)
    if dma.data_mode == MODE_PER_ELEMENT:
        surf = FeatureSurface(dma.address, sdp.width, sdp.height, sdp.channels,
                              dma.line_stride, dma.surface_stride, element_bytes=elem)
        raw = surf.read_bytes(mem, cfg)  # [Cpad, H, W, elem]
    else:
        raw = mem.read(dma.address, cpad * elem).reshape(cpad, 1, 1, elem)
    raw = raw.astype(np.int64)
    values = [sx(sum(raw[..., j * comp_bytes + i] << (8 * i) for i in range(comp_bytes)),
                 8 * comp_bytes) for j in range(comps)]
    if dma.data_use == USE_BOTH:
        return Operands(values[0], values[1])
    if dma.data_use == USE_ALU:
        return Operands(values[0], None)
    return Operands(None, values[0])
