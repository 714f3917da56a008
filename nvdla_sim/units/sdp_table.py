"""SDP reading an 8-bit cube from memory, as a table of every case.

With an 8-bit input and at most one per-element operand of one byte (a
residual addend, say), each output element depends only on its channel, its
input byte and its operand byte; register and per-kernel operands are
constants of the channel.  The stage-by-stage model
(:func:`nvdla_sim.units.sdp.process`) run once on all 256 x 256 byte pairs
gives that function exactly -- whatever the stages do, LUT included -- so the
layer becomes one gather per element instead of a dozen int64 passes (and no
decoding of the operand stream).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from nvdla_sim.layers import Sdp
from nvdla_sim.units import sdp as sdp_unit
from nvdla_sim.units.sdp_rdma import (MODE_PER_ELEMENT, USE_ALU, USE_BOTH, Operands,
                                      element_bytes)

BYTES = np.arange(256, dtype=np.uint8).view(np.int8).astype(np.int64)  # value of each byte


def element_stage(sdp: Sdp) -> tuple[bool, int | None]:
    """(whether a table applies, the stage reading a per-element operand or None)."""
    if sdp.flying or sdp.in_prec.is_float or sdp.in_prec.element_bytes != 1 \
            or sdp.out_prec.is_float:
        return False, None
    stage = None
    for i, s in enumerate((sdp.bs, sdp.bn, sdp.ew)):
        dma = s.dma
        if dma.disable or dma.data_mode != MODE_PER_ELEMENT:
            continue
        if stage is not None or element_bytes(dma) != 1 or dma.data_use == USE_BOTH:
            return False, None
        stage = i
    return True, stage


def key(sdp: Sdp, stage: int | None) -> tuple:
    """What a table depends on: the descriptor without its geometry (the cube's size
    and addresses, the per-element stream's place), so a layer restricted to part of
    its output (the fault propagator's cones) shares the whole layer's table; the
    LUT's tables take no part in the descriptor's equality, so they are part of it."""
    flat = dataclasses.replace(sdp, width=0, height=0, src_address=0, src_line_stride=0,
                               src_surface_stride=0, dst_address=0, dst_line_stride=0,
                               dst_surface_stride=0)
    if stage is not None:
        name = ("bs", "bn", "ew")[stage]
        x = getattr(sdp, name)
        flat = dataclasses.replace(flat, **{name: dataclasses.replace(x, dma=dataclasses.replace(
            x.dma, address=0, line_stride=0, surface_stride=0))})
    return flat, sdp.lut.le_table.tobytes(), sdp.lut.lo_table.tobytes()


def build(sdp: Sdp, operands: list[Operands], stage: int | None) -> np.ndarray:
    """The table ``[c, x_byte << 8 | e_byte]`` (``[c, x_byte]`` with no per-element
    operand; one row when no operand depends on the channel) of the output precision,
    from the decoded register / per-kernel operands (``operands[stage]``, the
    per-element stream's, is not read)."""
    ops = list(operands)
    if stage is not None:
        e = BYTES[None, None, :]
        use_alu = (sdp.bs, sdp.bn, sdp.ew)[stage].dma.data_use == USE_ALU
        ops[stage] = Operands(e, None) if use_alu else Operands(None, e)
    channels = max([np.shape(v)[0] for i, o in enumerate(ops) if i != stage
                    for v in (o.alu, o.mul) if np.ndim(v) == 3] or [1])
    shape = (channels, 256, 1 if stage is None else 256)
    out = np.broadcast_to(sdp_unit.process(BYTES[None, :, None], sdp, *ops), shape)
    return np.ascontiguousarray(out).reshape(channels, -1)


def apply(table: np.ndarray, cube: np.ndarray, operand: np.ndarray | None) -> np.ndarray:
    """Output [(B,) Cpad, H, W] for the 8-bit input ``cube`` and the per-element
    operand's raw bytes ``operand`` (same shape; None without one)."""
    index = cube.view(np.uint8).astype(np.int32)
    if operand is not None:
        index <<= 8
        index |= operand
    if table.shape[0] > 1:
        index += np.arange(cube.shape[-3], dtype=np.int32)[:, None, None] * table.shape[1]
    return np.take(table.reshape(-1), index)
