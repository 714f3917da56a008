"""Builders for hardware-layer descriptors with everything unused switched off.

Descriptors list every register field; the lowering only states what a layer
uses and takes the rest (bypassed stages, disabled DMAs, an empty LUT) from
here, so a compiled layer programs exactly what NVDLA's compiler would.
"""

from __future__ import annotations

import numpy as np

from nvdla_sim.config import HardwareConfig
from nvdla_sim.floatpath.nvfloat import fp16_to_fp17
from nvdla_sim.layers import Cdp, ConvCore, Lut, OperandDma, Pdp, Sdp, SdpX, SdpY
from nvdla_sim.precision import INT8, Precision
from nvdla_sim.surface import FeatureSurface, weight_bytes

RAM_MC = 1  # memory interface: MCIF (the primary memory)


def disabled_dma() -> OperandDma:
    return OperandDma(disable=True, data_use=0, data_size=0, data_mode=0, ram_type=RAM_MC,
                      address=0, line_stride=0, surface_stride=0)


def per_kernel_dma(address: int, data_use: int, two_bytes: bool) -> OperandDma:
    return OperandDma(disable=False, data_use=data_use, data_size=int(two_bytes), data_mode=0,
                      ram_type=RAM_MC, address=address, line_stride=0, surface_stride=0)


def per_element_dma(surface: FeatureSurface, data_use: int) -> OperandDma:
    """One component per element of ``surface``: 1 byte at INT8, the element at FP16 /
    FP32 (``DATA_SIZE`` 1, :func:`nvdla_sim.units.sdp_rdma.float_operand_surface`)."""
    return OperandDma(disable=False, data_use=data_use,
                      data_size=int(surface.precision.is_float), data_mode=1, ram_type=RAM_MC,
                      address=surface.address, line_stride=surface.line_stride,
                      surface_stride=surface.surface_stride)


def bypass_x() -> SdpX:
    return SdpX(bypass=True, alu_bypass=True, alu_algo=0, mul_bypass=True, mul_prelu=False,
                relu_bypass=True, alu_src=0, alu_shift=0, alu_operand=0, mul_src=0, mul_shift=0,
                mul_operand=0, dma=disabled_dma())


def bypass_y() -> SdpY:
    return SdpY(bypass=True, alu_bypass=True, alu_algo=0, mul_bypass=True, mul_prelu=False,
                lut_bypass=True, alu_src=0, alu_cvt_bypass=True, alu_operand=0, alu_cvt_offset=0,
                alu_cvt_scale=0, alu_cvt_truncate=0, mul_src=0, mul_cvt_bypass=True,
                mul_operand=0, mul_cvt_offset=0, mul_cvt_scale=0, mul_cvt_truncate=0,
                truncate=0, dma=disabled_dma())


def empty_lut() -> Lut:
    return Lut(le_function=0, uflow_priority=0, oflow_priority=0, hybrid_priority=0,
               le_index_offset=0, le_index_select=0, lo_index_select=0, le_start=0, le_end=0,
               lo_start=0, lo_end=0, le_uflow_scale=0, le_oflow_scale=0, le_uflow_shift=0,
               le_oflow_shift=0, lo_uflow_scale=0, lo_oflow_scale=0, lo_uflow_shift=0,
               lo_oflow_shift=0, le_table=np.zeros(65, np.int16), lo_table=np.zeros(257, np.int16))


def sdp(*, width: int, height: int, channels: int, dst: FeatureSurface | None,
        src: FeatureSurface | None = None, bs: SdpX | None = None, bn: SdpX | None = None,
        cvt_offset: int = 0, cvt_scale: int = 1, cvt_shift: int = 0,
        prec: Precision = INT8) -> Sdp:
    """An SDP layer: flying from CACC when ``src`` is None, to PDP when ``dst`` is None;
    input, processing and output at ``prec``."""
    return Sdp(
        flying=src is None, output_to_pdp=dst is None,
        width=width, height=height, channels=channels,
        src_address=src.address if src else 0,
        src_line_stride=src.line_stride if src else 0,
        src_surface_stride=src.surface_stride if src else 0,
        src_ram_type=RAM_MC,
        dst_address=dst.address if dst else 0,
        dst_line_stride=dst.line_stride if dst else 0,
        dst_surface_stride=dst.surface_stride if dst else 0,
        dst_ram_type=RAM_MC,
        bs=bs or bypass_x(), bn=bn or bypass_x(), ew=bypass_y(), lut=empty_lut(),
        cvt_offset=cvt_offset, cvt_scale=cvt_scale, cvt_shift=cvt_shift,
        proc_precision=prec.code, out_precision=prec.code, rdma_in_precision=prec.code,
        rdma_proc_precision=prec.code, rdma_out_precision=prec.code)


def conv_core(*, src: FeatureSurface, weight_address: int, kernels: int, kernel_height: int,
              kernel_width: int, stride: tuple[int, int], pads: tuple[int, int, int, int],
              dilation: tuple[int, int], pad_value: int, out_height: int, out_width: int,
              clip_truncate: int, data_bank: int, weight_bank: int, cfg: HardwareConfig) -> ConvCore:
    """A direct convolution; pads are (top, left, bottom, right), stride/dilation (y, x)."""
    channels, prec = src.channels, cfg.prec
    entries = entries_per_slice(src.width, channels, cfg)
    return ConvCore(
        in_width=src.width, in_height=src.height, in_channels=channels,
        in_address=src.address, in_line_stride=src.line_stride,
        in_surface_stride=src.surface_stride,
        line_packed=src.line_stride == src.width * cfg.mem_atom,
        surf_packed=src.surface_stride == src.line_stride * src.height,
        weight_address=weight_address,
        weight_bytes=weight_bytes(kernels, channels, kernel_height, kernel_width, prec),
        byte_per_kernel=channels * kernel_height * kernel_width * prec.element_bytes,
        kernel_width=kernel_width, kernel_height=kernel_height, kernel_channels=channels,
        kernels=kernels, stride_x=stride[1], stride_y=stride[0],
        pad_left=pads[1], pad_top=pads[0], pad_right=pads[3], pad_bottom=pads[2],
        pad_value=pad_value, dilation_x=dilation[1], dilation_y=dilation[0],
        out_width=out_width, out_height=out_height, out_channels=kernels,
        cvt_enable=False, cvt_truncate=0, cvt_offset=0, cvt_scale=1,
        clip_truncate=clip_truncate, data_bank=data_bank, weight_bank=weight_bank,
        entries_per_slice=entries, fetch_grain=1, atomics=out_width * out_height,
        release_slices=src.height, conv_mode=0, in_precision=prec.code,
        proc_precision=prec.code,
        datain_format=0, weight_format=0, data_ram_type=RAM_MC, weight_ram_type=RAM_MC)


def entries_per_slice(width: int, channels: int, cfg: HardwareConfig) -> int:
    """CBUF entries one input row occupies (nvdla/sw ``ConvCoreNode::calculateEPS``)."""
    atoms = -(-channels * cfg.bpe // 8 // cfg.mem_atom)
    per_entry = max(1, cfg.cbuf_bank_width // cfg.mem_atom)
    full, last = divmod(atoms, per_entry)
    return full * width + (width if last == 3 else -(-last * width // per_entry))


def pdp(*, src: FeatureSurface | None, in_height: int, in_width: int, dst: FeatureSurface,
        method: int, kernel: tuple[int, int], stride: tuple[int, int],
        pads: tuple[int, int, int, int], pad_value: int) -> Pdp:
    """A PDP layer (from memory, or on the fly from SDP when ``src`` is None).

    ``pad_value`` is the value (int8 or int16, the surfaces' precision) padded
    elements stand for in an average:
    PAD_VALUE_nX = n * pad_value, as NVDLA's software programs it.  PDP
    divides by ``RECIP_W / 2**16`` and then ``RECIP_H / 2**16``, rounding after
    each; programming ``RECIP_W = round(2**16 / area)`` and ``RECIP_H = 2**16``
    (exactly 1) rounds once.  At FP16 the reciprocals are FP17 values of ``1 / kw`` and
    ``1 / kh`` (:func:`recip_fp17`; PDP averages in FP17); the FP32 reference datapath
    ignores them.  Float padding is +0 (pad values 0).
    """
    kh, kw = kernel
    prec = dst.precision
    if prec.is_float and pad_value != 0:
        raise ValueError(f"PDP at {prec.name} pads with 0 only, got {pad_value}")
    recip_w, recip_h = ((recip_fp17(kw), recip_fp17(kh)) if prec.is_float
                        else (round(65536 / (kw * kh)), 65536))
    return Pdp(
        from_memory=src is not None, method=method,
        in_width=in_width, in_height=in_height, in_channels=dst.channels,
        out_width=dst.width, out_height=dst.height, out_channels=dst.channels,
        kernel_width=kw, kernel_height=kh, stride_x=stride[1], stride_y=stride[0],
        pad_left=pads[1], pad_top=pads[0], pad_right=pads[3], pad_bottom=pads[2],
        pad_values=tuple((n * pad_value) & 0x7FFFF for n in range(1, 8)),
        recip_kernel_width=recip_w, recip_kernel_height=recip_h,
        split_num=0, partial_in_first=0, partial_in_mid=0, partial_in_last=0,
        partial_out_first=0, partial_out_mid=0, partial_out_last=0,
        src_address=src.address if src else 0,
        src_line_stride=src.line_stride if src else 0,
        src_surface_stride=src.surface_stride if src else 0, src_ram_type=RAM_MC,
        dst_address=dst.address, dst_line_stride=dst.line_stride,
        dst_surface_stride=dst.surface_stride, dst_ram_type=RAM_MC,
        input_data=dst.precision.code)


def recip_fp17(k: int) -> int:
    """``RECIP_KERNEL_*`` at FP16: the FP17 pattern of binary16 ``1 / k``."""
    half = np.array(1 / k, np.float16).view(np.uint16)
    return int(fp16_to_fp17(half))


def cdp(*, src: FeatureSurface, dst: FeatureSurface, normalz_len: int, datin_offset: int,
        datout_offset: int, datout_scale: int, datout_shifter: int, lut: Lut) -> Cdp:
    """A CDP (LRN) layer with input scale 1 and square sum and multiplier enabled."""
    return Cdp(
        width=src.width, height=src.height, channels=src.channels, src_address=src.address,
        src_line_stride=src.line_stride, src_surface_stride=src.surface_stride,
        src_ram_type=RAM_MC, dst_address=dst.address, dst_line_stride=dst.line_stride,
        dst_surface_stride=dst.surface_stride, dst_ram_type=RAM_MC, sqsum_bypass=False,
        mul_bypass=False, normalz_len=normalz_len, datin_offset=datin_offset & 0xFFFF,
        datin_scale=1, datin_shifter=0, datout_offset=datout_offset, datout_scale=datout_scale,
        datout_shifter=datout_shifter, lut=lut, input_data=0)
