"""Descriptor of a direct convolution on the convolution core (CDMA, CSC, CMAC, CACC)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from nvdla_sim.errors import LayerError
from nvdla_sim.layers.binding import Binding, bits
from nvdla_sim.precision import Precision, from_code


@dataclass(frozen=True)
class ConvCore:
    """What CDMA, CSC, CMAC_A/B and CACC are programmed with for one direct convolution.

    Sizes are true sizes (registers hold size - 1); strides and addresses in
    bytes; ``pad_value`` and the CDMA converter values are signed.
    """

    in_width: int
    in_height: int
    in_channels: int
    in_address: int
    in_line_stride: int
    in_surface_stride: int
    line_packed: bool
    surf_packed: bool
    weight_address: int
    weight_bytes: int
    byte_per_kernel: int
    kernel_width: int
    kernel_height: int
    kernel_channels: int
    kernels: int
    stride_x: int
    stride_y: int
    pad_left: int
    pad_top: int
    pad_right: int
    pad_bottom: int
    pad_value: int
    dilation_x: int
    dilation_y: int
    out_width: int
    out_height: int
    out_channels: int
    cvt_enable: bool
    cvt_truncate: int
    cvt_offset: int
    cvt_scale: int
    clip_truncate: int
    data_bank: int
    weight_bank: int
    entries_per_slice: int
    fetch_grain: int
    atomics: int
    release_slices: int
    conv_mode: int
    in_precision: int
    proc_precision: int
    datain_format: int
    weight_format: int
    data_ram_type: int
    weight_ram_type: int

    @cached_property
    def precision(self) -> Precision:
        """The core's precision (D_MISC_CFG IN_PRECISION = PROC_PRECISION)."""
        if self.in_precision != self.proc_precision:
            raise LayerError(f"CDMA: input precision {self.in_precision} differs from "
                             f"processing precision {self.proc_precision}; only equal "
                             f"precisions are modelled")
        return from_code(self.proc_precision, "CDMA/CSC D_MISC_CFG.PROC_PRECISION")


CONV_BINDING = Binding(ConvCore, {
    "in_width": bits("CDMA.D_DATAIN_SIZE_0.DATAIN_WIDTH", plus_one=True, copies=(
        ("CDMA.D_DATAIN_SIZE_EXT_0.DATAIN_WIDTH_EXT",), ("CSC.D_DATAIN_SIZE_EXT_0.DATAIN_WIDTH_EXT",))),
    "in_height": bits("CDMA.D_DATAIN_SIZE_0.DATAIN_HEIGHT", plus_one=True, copies=(
        ("CDMA.D_DATAIN_SIZE_EXT_0.DATAIN_HEIGHT_EXT",), ("CSC.D_DATAIN_SIZE_EXT_0.DATAIN_HEIGHT_EXT",))),
    "in_channels": bits("CDMA.D_DATAIN_SIZE_1.DATAIN_CHANNEL", plus_one=True, copies=(
        ("CSC.D_DATAIN_SIZE_EXT_1.DATAIN_CHANNEL_EXT",),)),
    "in_address": bits("CDMA.D_DAIN_ADDR_LOW_0.DATAIN_ADDR_LOW_0", "CDMA.D_DAIN_ADDR_HIGH_0.DATAIN_ADDR_HIGH_0"),
    "in_line_stride": bits("CDMA.D_LINE_STRIDE.LINE_STRIDE"),
    "in_surface_stride": bits("CDMA.D_SURF_STRIDE.SURF_STRIDE"),
    "line_packed": bits("CDMA.D_DAIN_MAP.LINE_PACKED"),
    "surf_packed": bits("CDMA.D_DAIN_MAP.SURF_PACKED"),
    "weight_address": bits("CDMA.D_WEIGHT_ADDR_LOW.WEIGHT_ADDR_LOW", "CDMA.D_WEIGHT_ADDR_HIGH.WEIGHT_ADDR_HIGH"),
    "weight_bytes": bits("CDMA.D_WEIGHT_BYTES.WEIGHT_BYTES", copies=(("CSC.D_WEIGHT_BYTES.WEIGHT_BYTES",),)),
    "byte_per_kernel": bits("CDMA.D_WEIGHT_SIZE_0.BYTE_PER_KERNEL", plus_one=True),
    "kernel_width": bits("CSC.D_WEIGHT_SIZE_EXT_0.WEIGHT_WIDTH_EXT", plus_one=True),
    "kernel_height": bits("CSC.D_WEIGHT_SIZE_EXT_0.WEIGHT_HEIGHT_EXT", plus_one=True),
    "kernel_channels": bits("CSC.D_WEIGHT_SIZE_EXT_1.WEIGHT_CHANNEL_EXT", plus_one=True),
    "kernels": bits("CSC.D_WEIGHT_SIZE_EXT_1.WEIGHT_KERNEL", plus_one=True, copies=(
        ("CDMA.D_WEIGHT_SIZE_1.WEIGHT_KERNEL",),)),
    "stride_x": bits("CSC.D_CONV_STRIDE_EXT.CONV_X_STRIDE_EXT", plus_one=True, copies=(
        ("CDMA.D_CONV_STRIDE.CONV_X_STRIDE",),)),
    "stride_y": bits("CSC.D_CONV_STRIDE_EXT.CONV_Y_STRIDE_EXT", plus_one=True, copies=(
        ("CDMA.D_CONV_STRIDE.CONV_Y_STRIDE",),)),
    "pad_left": bits("CSC.D_ZERO_PADDING.PAD_LEFT", copies=(("CDMA.D_ZERO_PADDING.PAD_LEFT",),)),
    "pad_top": bits("CSC.D_ZERO_PADDING.PAD_TOP", copies=(("CDMA.D_ZERO_PADDING.PAD_TOP",),)),
    "pad_right": bits("CDMA.D_ZERO_PADDING.PAD_RIGHT"),
    "pad_bottom": bits("CDMA.D_ZERO_PADDING.PAD_BOTTOM"),
    "pad_value": bits("CSC.D_ZERO_PADDING_VALUE.PAD_VALUE", signed=True, copies=(
        ("CDMA.D_ZERO_PADDING_VALUE.PAD_VALUE",),)),
    "dilation_x": bits("CSC.D_DILATION_EXT.X_DILATION_EXT", plus_one=True),
    "dilation_y": bits("CSC.D_DILATION_EXT.Y_DILATION_EXT", plus_one=True),
    "out_width": bits("CSC.D_DATAOUT_SIZE_0.DATAOUT_WIDTH", plus_one=True, copies=(
        ("CACC.D_DATAOUT_SIZE_0.DATAOUT_WIDTH",),)),
    "out_height": bits("CSC.D_DATAOUT_SIZE_0.DATAOUT_HEIGHT", plus_one=True, copies=(
        ("CACC.D_DATAOUT_SIZE_0.DATAOUT_HEIGHT",),)),
    "out_channels": bits("CSC.D_DATAOUT_SIZE_1.DATAOUT_CHANNEL", plus_one=True, copies=(
        ("CACC.D_DATAOUT_SIZE_1.DATAOUT_CHANNEL",),)),
    "cvt_enable": bits("CDMA.D_CVT_CFG.CVT_EN"),
    "cvt_truncate": bits("CDMA.D_CVT_CFG.CVT_TRUNCATE"),
    "cvt_offset": bits("CDMA.D_CVT_OFFSET.CVT_OFFSET", signed=True),
    "cvt_scale": bits("CDMA.D_CVT_SCALE.CVT_SCALE", signed=True),
    "clip_truncate": bits("CACC.D_CLIP_CFG.CLIP_TRUNCATE"),
    "data_bank": bits("CSC.D_BANK.DATA_BANK", plus_one=True, copies=(("CDMA.D_BANK.DATA_BANK",),)),
    "weight_bank": bits("CSC.D_BANK.WEIGHT_BANK", plus_one=True, copies=(("CDMA.D_BANK.WEIGHT_BANK",),)),
    "entries_per_slice": bits("CSC.D_ENTRY_PER_SLICE.ENTRIES", plus_one=True, copies=(
        ("CDMA.D_ENTRY_PER_SLICE.ENTRIES",),)),
    "fetch_grain": bits("CDMA.D_FETCH_GRAIN.GRAINS", plus_one=True),
    "atomics": bits("CSC.D_ATOMICS.ATOMICS", plus_one=True),
    "release_slices": bits("CSC.D_RELEASE.RLS_SLICES", plus_one=True),
    "conv_mode": bits("CSC.D_MISC_CFG.CONV_MODE", copies=(
        ("CDMA.D_MISC_CFG.CONV_MODE",), ("CMAC_A.D_MISC_CFG.CONV_MODE",),
        ("CMAC_B.D_MISC_CFG.CONV_MODE",), ("CACC.D_MISC_CFG.CONV_MODE",))),
    "in_precision": bits("CDMA.D_MISC_CFG.IN_PRECISION", copies=(("CSC.D_MISC_CFG.IN_PRECISION",),)),
    "proc_precision": bits("CSC.D_MISC_CFG.PROC_PRECISION", copies=(
        ("CDMA.D_MISC_CFG.PROC_PRECISION",), ("CMAC_A.D_MISC_CFG.PROC_PRECISION",),
        ("CMAC_B.D_MISC_CFG.PROC_PRECISION",), ("CACC.D_MISC_CFG.PROC_PRECISION",))),
    "datain_format": bits("CDMA.D_DATAIN_FORMAT.DATAIN_FORMAT", copies=(
        ("CSC.D_DATAIN_FORMAT.DATAIN_FORMAT",),)),
    "weight_format": bits("CSC.D_WEIGHT_FORMAT.WEIGHT_FORMAT", copies=(
        ("CDMA.D_WEIGHT_FORMAT.WEIGHT_FORMAT",),)),
    "data_ram_type": bits("CDMA.D_DAIN_RAM_TYPE.DATAIN_RAM_TYPE"),
    "weight_ram_type": bits("CDMA.D_WEIGHT_RAM_TYPE.WEIGHT_RAM_TYPE"),
})
