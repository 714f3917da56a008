"""SDP_RDMA: reads SDP's input cube (memory mode) and its BS/BN/EW operand streams."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nvdla_sim.arith import sx
from nvdla_sim.config import HardwareConfig
from nvdla_sim.errors import LayerError
from nvdla_sim.layers import OperandDma, Sdp
from nvdla_sim.memory import Memory
from nvdla_sim.precision import INT8, Precision
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
                          sdp.src_line_stride, sdp.src_surface_stride,
                          precision=sdp.in_prec, ram_type=sdp.src_ram_type)


def output_surface(sdp: Sdp) -> FeatureSurface:
    return FeatureSurface(sdp.dst_address, sdp.width, sdp.height, sdp.channels,
                          sdp.dst_line_stride, sdp.dst_surface_stride,
                          precision=sdp.out_prec, ram_type=sdp.dst_ram_type)


def component_bytes(dma: OperandDma, prec: Precision = INT8) -> int:
    """Bytes of one operand component: 1 or 2 (DATA_SIZE) on integer data; on float data
    DATA_SIZE must be 1 and a component is one element (FP16 2, FP32 reference 4 bytes,
    :mod:`nvdla_sim.floatpath`)."""
    if not prec.is_float:
        return 2 if dma.data_size else 1
    if not dma.data_size:
        raise LayerError(f"SDP_RDMA: {prec.name} operands are {prec.element_bytes}-byte "
                         f"elements; D_*RDMA_CFG DATA_SIZE must be 1")
    return prec.element_bytes


def element_bytes(dma: OperandDma, prec: Precision = INT8) -> int:
    """Bytes per operand element: one or two components."""
    return component_bytes(dma, prec) * (2 if dma.data_use == USE_BOTH else 1)


def operand_surface(dma: OperandDma, sdp: Sdp) -> FeatureSurface:
    """Where a per-element operand stream lies (a cube laid out like an int8 feature
    surface, ``element_bytes`` per channel)."""
    return FeatureSurface(dma.address, sdp.width, sdp.height, sdp.channels, dma.line_stride,
                          dma.surface_stride, element_bytes=element_bytes(dma),
                          ram_type=dma.ram_type)


def float_operand_surface(dma: OperandDma, sdp: Sdp) -> FeatureSurface:
    """A per-element operand stream on float data: one component per element (DATA_USE
    ALU or MUL, DATA_SIZE 1), laid out as a feature surface of the processing precision
    (16 FP16 or 8 binary32 channels per 32-byte atom; the layout NVIDIA's traces do not
    exercise, :mod:`nvdla_sim.floatpath`)."""
    prec = sdp.proc_prec
    if dma.data_use == USE_BOTH or not dma.data_size:
        raise LayerError(f"SDP_RDMA: a per-element {prec.name} operand stream carries one "
                         f"{prec.element_bytes}-byte component: DATA_USE must be ALU or MUL "
                         f"and DATA_SIZE 1")
    return FeatureSurface(dma.address, sdp.width, sdp.height, sdp.channels, dma.line_stride,
                          dma.surface_stride, precision=prec, ram_type=dma.ram_type)


def operand_raw(dma: OperandDma, sdp: Sdp, mem: Memory, cfg: HardwareConfig) -> np.ndarray:
    """Raw operand bytes: [Cpad, H, W, E] per element, [Cpad, 1, 1, E] per kernel (one
    vector of ceil(C/A)*A elements, A the atom's channels at the input precision)."""
    prec = sdp.in_prec
    if dma.data_mode == MODE_PER_ELEMENT and sdp.proc_prec.is_float:
        return float_operand_surface(dma, sdp).read_bytes(mem, cfg)
    if dma.data_mode == MODE_PER_ELEMENT:
        if prec.element_bytes != 1:
            raise LayerError(f"SDP_RDMA: per-element operand streams with {prec.name} "
                             f"processing are not modelled (their surface layout is unverified)")
        return operand_surface(dma, sdp).read_bytes(mem, cfg)
    cpad, elem = cfg.channels_padded(sdp.channels, prec), element_bytes(dma, sdp.proc_prec)
    return mem.port(dma.ram_type).read(dma.address, cpad * elem).reshape(cpad, 1, 1, elem)


def decode_operands(dma: OperandDma, raw: np.ndarray | None, prec: Precision = INT8
                    ) -> Operands:
    """Components of an operand stream: sign-extended little-endian integers (on float
    data: the elements' bit patterns, sign-extended alike), ALU first when an element
    holds both."""
    if dma.disable:
        return Operands(None, None)
    comp_bytes = component_bytes(dma, prec)
    comps = 2 if dma.data_use == USE_BOTH else 1
    raw = raw.astype(np.int64)
    values = [sx(sum(raw[..., j * comp_bytes + i] << (8 * i) for i in range(comp_bytes)),
                 8 * comp_bytes) for j in range(comps)]
    if dma.data_use == USE_BOTH:
        return Operands(values[0], values[1])
    if dma.data_use == USE_ALU:
        return Operands(values[0], None)
    return Operands(None, values[0])


def read_operands(dma: OperandDma, sdp: Sdp, mem: Memory, cfg: HardwareConfig) -> Operands:
    """One operand stream as SDP_RDMA fetches it from memory."""
    return decode_operands(dma, None if dma.disable else operand_raw(dma, sdp, mem, cfg),
                           sdp.proc_prec)
