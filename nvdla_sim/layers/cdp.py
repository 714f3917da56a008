"""Descriptor of a CDP (cross-channel LRN) operation."""

from __future__ import annotations

from dataclasses import dataclass

from nvdla_sim.layers.binding import Binding, bits
from nvdla_sim.layers.lut import CDP_LUT_BINDING, Lut


@dataclass(frozen=True)
class Cdp:
    """CDP with its read DMA (always from memory)."""

    width: int
    height: int
    channels: int
    src_address: int
    src_line_stride: int
    src_surface_stride: int
    src_ram_type: int
    dst_address: int
    dst_line_stride: int
    dst_surface_stride: int
    dst_ram_type: int
    sqsum_bypass: bool
    mul_bypass: bool
    normalz_len: int  # 0..3 -> 3, 5, 7, 9 channels
    datin_offset: int  # raw 16-bit field (int8 uses the low 8 bits, signed)
    datin_scale: int  # signed 16
    datin_shifter: int
    datout_offset: int  # signed 32 (25 bits used)
    datout_scale: int  # signed 16
    datout_shifter: int
    lut: Lut
    input_data: int  # precision: 0 = int8


CDP_BINDING = Binding(Cdp, {
    "width": bits("CDP_RDMA.D_DATA_CUBE_WIDTH.WIDTH", plus_one=True),
    "height": bits("CDP_RDMA.D_DATA_CUBE_HEIGHT.HEIGHT", plus_one=True),
    "channels": bits("CDP_RDMA.D_DATA_CUBE_CHANNEL.CHANNEL", plus_one=True),
    "src_address": bits("CDP_RDMA.D_SRC_BASE_ADDR_LOW.SRC_BASE_ADDR_LOW",
                        "CDP_RDMA.D_SRC_BASE_ADDR_HIGH.SRC_BASE_ADDR_HIGH"),
    "src_line_stride": bits("CDP_RDMA.D_SRC_LINE_STRIDE.SRC_LINE_STRIDE"),
    "src_surface_stride": bits("CDP_RDMA.D_SRC_SURFACE_STRIDE.SRC_SURFACE_STRIDE"),
    "src_ram_type": bits("CDP_RDMA.D_SRC_DMA_CFG.SRC_RAM_TYPE"),
    "dst_address": bits("CDP.D_DST_BASE_ADDR_LOW.DST_BASE_ADDR_LOW",
                        "CDP.D_DST_BASE_ADDR_HIGH.DST_BASE_ADDR_HIGH"),
    "dst_line_stride": bits("CDP.D_DST_LINE_STRIDE.DST_LINE_STRIDE"),
    "dst_surface_stride": bits("CDP.D_DST_SURFACE_STRIDE.DST_SURFACE_STRIDE"),
    "dst_ram_type": bits("CDP.D_DST_DMA_CFG.DST_RAM_TYPE"),
    "sqsum_bypass": bits("CDP.D_FUNC_BYPASS.SQSUM_BYPASS"),
    "mul_bypass": bits("CDP.D_FUNC_BYPASS.MUL_BYPASS"),
    "normalz_len": bits("CDP.D_LRN_CFG.NORMALZ_LEN"),
    "datin_offset": bits("CDP.D_DATIN_OFFSET.DATIN_OFFSET"),
    "datin_scale": bits("CDP.D_DATIN_SCALE.DATIN_SCALE", signed=True),
    "datin_shifter": bits("CDP.D_DATIN_SHIFTER.DATIN_SHIFTER"),
    "datout_offset": bits("CDP.D_DATOUT_OFFSET.DATOUT_OFFSET", signed=True),
    "datout_scale": bits("CDP.D_DATOUT_SCALE.DATOUT_SCALE", signed=True),
    "datout_shifter": bits("CDP.D_DATOUT_SHIFTER.DATOUT_SHIFTER"),
    "lut": CDP_LUT_BINDING,
    "input_data": bits("CDP.D_DATA_FORMAT.INPUT_DATA_TYPE", copies=(
        ("CDP_RDMA.D_DATA_FORMAT.INPUT_DATA",),)),
})
