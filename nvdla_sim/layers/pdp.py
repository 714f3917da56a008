"""Descriptor of a PDP (pooling) operation."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from nvdla_sim.layers.binding import Binding, bits
from nvdla_sim.precision import Precision, from_code

POOL_AVERAGE, POOL_MAX, POOL_MIN = 0, 1, 2


@dataclass(frozen=True)
class Pdp:
    """PDP with its read DMA; ``from_memory`` is NVDLA's OFF_FLYING mode."""

    from_memory: bool
    method: int  # POOL_AVERAGE / POOL_MAX / POOL_MIN
    in_width: int
    in_height: int
    in_channels: int
    out_width: int
    out_height: int
    out_channels: int
    kernel_width: int
    kernel_height: int
    stride_x: int
    stride_y: int
    pad_left: int
    pad_top: int
    pad_right: int
    pad_bottom: int
    pad_values: tuple[int, ...]  # PAD_VALUE_1X .. 7X, 19-bit raw fields
    recip_kernel_width: int
    recip_kernel_height: int
    split_num: int  # number of width splits - 1
    partial_in_first: int
    partial_in_mid: int
    partial_in_last: int
    partial_out_first: int
    partial_out_mid: int
    partial_out_last: int
    src_address: int
    src_line_stride: int
    src_surface_stride: int
    src_ram_type: int
    dst_address: int
    dst_line_stride: int
    dst_surface_stride: int
    dst_ram_type: int
    input_data: int  # precision: 0 = int8, 1 = int16, 2 = fp16, 3 = fp32 reference
    nan_to_zero: bool = False  # D_NAN_FLUSH_TO_ZERO (float data read from memory)

    @cached_property
    def precision(self) -> Precision:
        return from_code(self.input_data, "PDP D_DATA_FORMAT.INPUT_DATA")


class _PadValues:
    """The seven PAD_VALUE_nX registers as one tuple-valued descriptor field."""

    def __init__(self) -> None:
        self.parts = [bits(f"PDP.D_POOLING_PADDING_VALUE_{n}_CFG.PAD_VALUE_{n}X") for n in range(1, 8)]

    def decode(self, read) -> tuple[int, ...]:
        return tuple(p.decode(read) for p in self.parts)

    def encode(self, values, words) -> None:
        for p, v in zip(self.parts, values, strict=True):
            p.encode(v, words)


def _copy(*locs: str) -> tuple[tuple[str, ...], ...]:
    return tuple((loc,) for loc in locs)


PDP_BINDING = Binding(Pdp, {
    "from_memory": bits("PDP.D_OPERATION_MODE_CFG.FLYING_MODE", copies=_copy(
        "PDP_RDMA.D_FLYING_MODE.FLYING_MODE")),
    "method": bits("PDP.D_OPERATION_MODE_CFG.POOLING_METHOD"),
    "in_width": bits("PDP.D_DATA_CUBE_IN_WIDTH.CUBE_IN_WIDTH", plus_one=True, copies=_copy(
        "PDP_RDMA.D_DATA_CUBE_IN_WIDTH.CUBE_IN_WIDTH")),
    "in_height": bits("PDP.D_DATA_CUBE_IN_HEIGHT.CUBE_IN_HEIGHT", plus_one=True, copies=_copy(
        "PDP_RDMA.D_DATA_CUBE_IN_HEIGHT.CUBE_IN_HEIGHT")),
    "in_channels": bits("PDP.D_DATA_CUBE_IN_CHANNEL.CUBE_IN_CHANNEL", plus_one=True, copies=_copy(
        "PDP_RDMA.D_DATA_CUBE_IN_CHANNEL.CUBE_IN_CHANNEL")),
    "out_width": bits("PDP.D_DATA_CUBE_OUT_WIDTH.CUBE_OUT_WIDTH", plus_one=True),
    "out_height": bits("PDP.D_DATA_CUBE_OUT_HEIGHT.CUBE_OUT_HEIGHT", plus_one=True),
    "out_channels": bits("PDP.D_DATA_CUBE_OUT_CHANNEL.CUBE_OUT_CHANNEL", plus_one=True),
    "kernel_width": bits("PDP.D_POOLING_KERNEL_CFG.KERNEL_WIDTH", plus_one=True, copies=_copy(
        "PDP_RDMA.D_POOLING_KERNEL_CFG.KERNEL_WIDTH")),
    "kernel_height": bits("PDP.D_POOLING_KERNEL_CFG.KERNEL_HEIGHT", plus_one=True),
    "stride_x": bits("PDP.D_POOLING_KERNEL_CFG.KERNEL_STRIDE_WIDTH", plus_one=True, copies=_copy(
        "PDP_RDMA.D_POOLING_KERNEL_CFG.KERNEL_STRIDE_WIDTH")),
    "stride_y": bits("PDP.D_POOLING_KERNEL_CFG.KERNEL_STRIDE_HEIGHT", plus_one=True),
    "pad_left": bits("PDP.D_POOLING_PADDING_CFG.PAD_LEFT"),
    "pad_top": bits("PDP.D_POOLING_PADDING_CFG.PAD_TOP"),
    "pad_right": bits("PDP.D_POOLING_PADDING_CFG.PAD_RIGHT"),
    "pad_bottom": bits("PDP.D_POOLING_PADDING_CFG.PAD_BOTTOM"),
    "pad_values": _PadValues(),
    "recip_kernel_width": bits("PDP.D_RECIP_KERNEL_WIDTH.RECIP_KERNEL_WIDTH"),
    "recip_kernel_height": bits("PDP.D_RECIP_KERNEL_HEIGHT.RECIP_KERNEL_HEIGHT"),
    "split_num": bits("PDP.D_OPERATION_MODE_CFG.SPLIT_NUM", copies=_copy(
        "PDP_RDMA.D_OPERATION_MODE_CFG.SPLIT_NUM")),
    "partial_in_first": bits("PDP.D_PARTIAL_WIDTH_IN.PARTIAL_WIDTH_IN_FIRST", copies=_copy(
        "PDP_RDMA.D_PARTIAL_WIDTH_IN.PARTIAL_WIDTH_IN_FIRST")),
    "partial_in_mid": bits("PDP.D_PARTIAL_WIDTH_IN.PARTIAL_WIDTH_IN_MID", copies=_copy(
        "PDP_RDMA.D_PARTIAL_WIDTH_IN.PARTIAL_WIDTH_IN_MID")),
    "partial_in_last": bits("PDP.D_PARTIAL_WIDTH_IN.PARTIAL_WIDTH_IN_LAST", copies=_copy(
        "PDP_RDMA.D_PARTIAL_WIDTH_IN.PARTIAL_WIDTH_IN_LAST")),
    "partial_out_first": bits("PDP.D_PARTIAL_WIDTH_OUT.PARTIAL_WIDTH_OUT_FIRST"),
    "partial_out_mid": bits("PDP.D_PARTIAL_WIDTH_OUT.PARTIAL_WIDTH_OUT_MID"),
    "partial_out_last": bits("PDP.D_PARTIAL_WIDTH_OUT.PARTIAL_WIDTH_OUT_LAST"),
    "src_address": bits("PDP_RDMA.D_SRC_BASE_ADDR_LOW.SRC_BASE_ADDR_LOW",
                        "PDP_RDMA.D_SRC_BASE_ADDR_HIGH.SRC_BASE_ADDR_HIGH"),
    "src_line_stride": bits("PDP_RDMA.D_SRC_LINE_STRIDE.SRC_LINE_STRIDE"),
    "src_surface_stride": bits("PDP_RDMA.D_SRC_SURFACE_STRIDE.SRC_SURFACE_STRIDE"),
    "src_ram_type": bits("PDP_RDMA.D_SRC_RAM_CFG.SRC_RAM_TYPE"),
    "dst_address": bits("PDP.D_DST_BASE_ADDR_LOW.DST_BASE_ADDR_LOW",
                        "PDP.D_DST_BASE_ADDR_HIGH.DST_BASE_ADDR_HIGH"),
    "dst_line_stride": bits("PDP.D_DST_LINE_STRIDE.DST_LINE_STRIDE"),
    "dst_surface_stride": bits("PDP.D_DST_SURFACE_STRIDE.DST_SURFACE_STRIDE"),
    "dst_ram_type": bits("PDP.D_DST_RAM_CFG.DST_RAM_TYPE"),
    "input_data": bits("PDP.D_DATA_FORMAT.INPUT_DATA", copies=_copy("PDP_RDMA.D_DATA_FORMAT.INPUT_DATA")),
    "nan_to_zero": bits("PDP.D_NAN_FLUSH_TO_ZERO.NAN_TO_ZERO"),
})
