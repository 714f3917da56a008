"""Descriptor of an SDP operation (X1 = BS, X2 = BN, Y = EW with LUT, output CVT)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from nvdla_sim.layers.binding import Binding, bits
from nvdla_sim.layers.lut import SDP_LUT_BINDING, Lut
from nvdla_sim.precision import Precision, from_code


@dataclass(frozen=True)
class OperandDma:
    """One SDP_RDMA operand stream (BRDMA, NRDMA or ERDMA)."""

    disable: bool
    data_use: int  # 0 = MUL operand, 1 = ALU operand, 2 = both
    data_size: int  # 0 = 1 byte, 1 = 2 bytes per component
    data_mode: int  # 0 = per kernel (channel vector), 1 = per element (cube)
    ram_type: int
    address: int
    line_stride: int
    surface_stride: int


@dataclass(frozen=True)
class SdpX:
    """An X stage (BS or BN): ALU -> multiplier -> truncate -> ReLU."""

    bypass: bool
    alu_bypass: bool
    alu_algo: int  # 0 MAX, 1 MIN, 2 SUM
    mul_bypass: bool
    mul_prelu: bool
    relu_bypass: bool
    alu_src: int  # 0 register, 1 memory
    alu_shift: int
    alu_operand: int  # signed 16
    mul_src: int
    mul_shift: int
    mul_operand: int  # signed 16
    dma: OperandDma


@dataclass(frozen=True)
class SdpY:
    """The Y stage (EW): multiplier -> truncate -> ALU -> LUT, with operand converters."""

    bypass: bool
    alu_bypass: bool
    alu_algo: int  # 0 MAX, 1 MIN, 2 SUM, 3 EQL
    mul_bypass: bool
    mul_prelu: bool
    lut_bypass: bool
    alu_src: int
    alu_cvt_bypass: bool
    alu_operand: int  # signed 32
    alu_cvt_offset: int
    alu_cvt_scale: int
    alu_cvt_truncate: int
    mul_src: int
    mul_cvt_bypass: bool
    mul_operand: int
    mul_cvt_offset: int
    mul_cvt_scale: int
    mul_cvt_truncate: int
    truncate: int
    dma: OperandDma


@dataclass(frozen=True)
class Sdp:
    """SDP with its read DMA: input from CACC (flying) or memory, output to memory or PDP."""

    flying: bool
    output_to_pdp: bool
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
    bs: SdpX
    bn: SdpX
    ew: SdpY
    lut: Lut
    cvt_offset: int  # signed 32
    cvt_scale: int  # signed 16
    cvt_shift: int
    proc_precision: int
    out_precision: int
    rdma_in_precision: int
    rdma_proc_precision: int
    rdma_out_precision: int
    nan_to_zero: bool = False  # D_FEATURE_MODE_CFG.NAN_TO_ZERO (float data only)

    @cached_property
    def proc_prec(self) -> Precision:
        return from_code(self.proc_precision, "SDP D_DATA_FORMAT.PROC_PRECISION")

    @cached_property
    def out_prec(self) -> Precision:
        return from_code(self.out_precision, "SDP D_DATA_FORMAT.OUT_PRECISION")

    @cached_property
    def in_prec(self) -> Precision:
        """Precision of the input cube: from memory (SDP_RDMA IN_PRECISION) or from CACC."""
        if self.flying:
            return self.proc_prec
        return from_code(self.rdma_in_precision, "SDP_RDMA D_FEATURE_MODE_CFG.IN_PRECISION")


def _dma(name: str, prefix: str) -> Binding:
    cfg = f"SDP_RDMA.D_{name}RDMA_CFG.{name}RDMA"
    return Binding(OperandDma, {
        "disable": bits(f"{cfg}_DISABLE"),
        "data_use": bits(f"{cfg}_DATA_USE"),
        "data_size": bits(f"{cfg}_DATA_SIZE"),
        "data_mode": bits(f"{cfg}_DATA_MODE"),
        "ram_type": bits(f"{cfg}_RAM_TYPE"),
        "address": bits(f"SDP_RDMA.D_{prefix}_BASE_ADDR_LOW.{prefix}_BASE_ADDR_LOW",
                        f"SDP_RDMA.D_{prefix}_BASE_ADDR_HIGH.{prefix}_BASE_ADDR_HIGH"),
        "line_stride": bits(f"SDP_RDMA.D_{prefix}_LINE_STRIDE.{prefix}_LINE_STRIDE"),
        "surface_stride": bits(f"SDP_RDMA.D_{prefix}_SURFACE_STRIDE.{prefix}_SURFACE_STRIDE"),
    })


def _x(p: str, dma: Binding) -> Binding:
    return Binding(SdpX, {
        "bypass": bits(f"SDP.D_DP_{p}_CFG.{p}_BYPASS"),
        "alu_bypass": bits(f"SDP.D_DP_{p}_CFG.{p}_ALU_BYPASS"),
        "alu_algo": bits(f"SDP.D_DP_{p}_CFG.{p}_ALU_ALGO"),
        "mul_bypass": bits(f"SDP.D_DP_{p}_CFG.{p}_MUL_BYPASS"),
        "mul_prelu": bits(f"SDP.D_DP_{p}_CFG.{p}_MUL_PRELU"),
        "relu_bypass": bits(f"SDP.D_DP_{p}_CFG.{p}_RELU_BYPASS"),
        "alu_src": bits(f"SDP.D_DP_{p}_ALU_CFG.{p}_ALU_SRC"),
        "alu_shift": bits(f"SDP.D_DP_{p}_ALU_CFG.{p}_ALU_SHIFT_VALUE"),
        "alu_operand": bits(f"SDP.D_DP_{p}_ALU_SRC_VALUE.{p}_ALU_OPERAND", signed=True),
        "mul_src": bits(f"SDP.D_DP_{p}_MUL_CFG.{p}_MUL_SRC"),
        "mul_shift": bits(f"SDP.D_DP_{p}_MUL_CFG.{p}_MUL_SHIFT_VALUE"),
        "mul_operand": bits(f"SDP.D_DP_{p}_MUL_SRC_VALUE.{p}_MUL_OPERAND", signed=True),
        "dma": dma,
    })


def _ew_cvt(kind: str, what: str, signed: bool = True):
    return bits(f"SDP.D_DP_EW_{kind}_CVT_{what}_VALUE.EW_{kind}_CVT_{what}", signed=signed)


EW_BINDING = Binding(SdpY, {
    "bypass": bits("SDP.D_DP_EW_CFG.EW_BYPASS"),
    "alu_bypass": bits("SDP.D_DP_EW_CFG.EW_ALU_BYPASS"),
    "alu_algo": bits("SDP.D_DP_EW_CFG.EW_ALU_ALGO"),
    "mul_bypass": bits("SDP.D_DP_EW_CFG.EW_MUL_BYPASS"),
    "mul_prelu": bits("SDP.D_DP_EW_CFG.EW_MUL_PRELU"),
    "lut_bypass": bits("SDP.D_DP_EW_CFG.EW_LUT_BYPASS"),
    "alu_src": bits("SDP.D_DP_EW_ALU_CFG.EW_ALU_SRC"),
    "alu_cvt_bypass": bits("SDP.D_DP_EW_ALU_CFG.EW_ALU_CVT_BYPASS"),
    "alu_operand": bits("SDP.D_DP_EW_ALU_SRC_VALUE.EW_ALU_OPERAND", signed=True),
    "alu_cvt_offset": _ew_cvt("ALU", "OFFSET"),
    "alu_cvt_scale": _ew_cvt("ALU", "SCALE"),
    "alu_cvt_truncate": _ew_cvt("ALU", "TRUNCATE", signed=False),
    "mul_src": bits("SDP.D_DP_EW_MUL_CFG.EW_MUL_SRC"),
    "mul_cvt_bypass": bits("SDP.D_DP_EW_MUL_CFG.EW_MUL_CVT_BYPASS"),
    "mul_operand": bits("SDP.D_DP_EW_MUL_SRC_VALUE.EW_MUL_OPERAND", signed=True),
    "mul_cvt_offset": _ew_cvt("MUL", "OFFSET"),
    "mul_cvt_scale": _ew_cvt("MUL", "SCALE"),
    "mul_cvt_truncate": _ew_cvt("MUL", "TRUNCATE", signed=False),
    "truncate": bits("SDP.D_DP_EW_TRUNCATE_VALUE.EW_TRUNCATE"),
    "dma": _dma("E", "EW"),
})

SDP_BINDING = Binding(Sdp, {
    "flying": bits("SDP.D_FEATURE_MODE_CFG.FLYING_MODE", copies=(
        ("SDP_RDMA.D_FEATURE_MODE_CFG.FLYING_MODE",),)),
    "output_to_pdp": bits("SDP.D_FEATURE_MODE_CFG.OUTPUT_DST"),
    "width": bits("SDP.D_DATA_CUBE_WIDTH.WIDTH", plus_one=True, copies=(
        ("SDP_RDMA.D_DATA_CUBE_WIDTH.WIDTH",),)),
    "height": bits("SDP.D_DATA_CUBE_HEIGHT.HEIGHT", plus_one=True, copies=(
        ("SDP_RDMA.D_DATA_CUBE_HEIGHT.HEIGHT",),)),
    "channels": bits("SDP.D_DATA_CUBE_CHANNEL.CHANNEL", plus_one=True, copies=(
        ("SDP_RDMA.D_DATA_CUBE_CHANNEL.CHANNEL",),)),
    "src_address": bits("SDP_RDMA.D_SRC_BASE_ADDR_LOW.SRC_BASE_ADDR_LOW",
                        "SDP_RDMA.D_SRC_BASE_ADDR_HIGH.SRC_BASE_ADDR_HIGH"),
    "src_line_stride": bits("SDP_RDMA.D_SRC_LINE_STRIDE.SRC_LINE_STRIDE"),
    "src_surface_stride": bits("SDP_RDMA.D_SRC_SURFACE_STRIDE.SRC_SURFACE_STRIDE"),
    "src_ram_type": bits("SDP_RDMA.D_SRC_DMA_CFG.SRC_RAM_TYPE"),
    "dst_address": bits("SDP.D_DST_BASE_ADDR_LOW.DST_BASE_ADDR_LOW",
                        "SDP.D_DST_BASE_ADDR_HIGH.DST_BASE_ADDR_HIGH"),
    "dst_line_stride": bits("SDP.D_DST_LINE_STRIDE.DST_LINE_STRIDE"),
    "dst_surface_stride": bits("SDP.D_DST_SURFACE_STRIDE.DST_SURFACE_STRIDE"),
    "dst_ram_type": bits("SDP.D_DST_DMA_CFG.DST_RAM_TYPE"),
    "bs": _x("BS", _dma("B", "BS")),
    "bn": _x("BN", _dma("N", "BN")),
    "ew": EW_BINDING,
    "lut": SDP_LUT_BINDING,
    "cvt_offset": bits("SDP.D_CVT_OFFSET.CVT_OFFSET", signed=True),
    "cvt_scale": bits("SDP.D_CVT_SCALE.CVT_SCALE", signed=True),
    "cvt_shift": bits("SDP.D_CVT_SHIFT.CVT_SHIFT"),
    "proc_precision": bits("SDP.D_DATA_FORMAT.PROC_PRECISION"),
    "out_precision": bits("SDP.D_DATA_FORMAT.OUT_PRECISION"),
    "rdma_in_precision": bits("SDP_RDMA.D_FEATURE_MODE_CFG.IN_PRECISION"),
    "rdma_proc_precision": bits("SDP_RDMA.D_FEATURE_MODE_CFG.PROC_PRECISION"),
    "rdma_out_precision": bits("SDP_RDMA.D_FEATURE_MODE_CFG.OUT_PRECISION"),
    "nan_to_zero": bits("SDP.D_FEATURE_MODE_CFG.NAN_TO_ZERO"),
})
