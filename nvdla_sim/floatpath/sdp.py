"""SDP on float data: the X stages (BS, BN) in FP32 and the output converter.

FP16 follows NVDLA's C model (``cmod/hls/sdp/sdp_x.cpp``, ``sdp_c.cpp``,
``cmod/hls_wrapper/sdp_hls_wrapper.cpp``, ``cmod/sdp/NV_NVDLA_sdp.cpp``):

* the input is FP32: from CACC as delivered, from memory FP16 widened by ``Fp16ToFp32``;
  with ``D_FEATURE_MODE_CFG.NAN_TO_ZERO`` a NaN input becomes +0 (``sdp_cfg_nan_flush``);
* ALU: its FP16 operand (register or memory; a NaN flushed to +0 under NAN_TO_ZERO) is
  widened by ``Fp16ToFp32``, then ``FpAlu`` (MAX / MIN / SUM, :mod:`.nvfloat`) in FP32;
  ``ALU_SHIFT_VALUE`` plays no part;
* MUL: ``FpMul`` in FP32 by the widened FP16 operand; with PReLU a value whose sign bit is
  clear passes untouched; ``MUL_SHIFT_VALUE`` (the truncation) plays no part;
* ReLU: ``FpRelu`` (negative -> +0, NaN passes);
* output converter: ``Fp32ToFp16`` (round to nearest even, overflow saturates to
  +-65504, :func:`nvdla_sim.fp16.fp32_to_fp16`), then ``Fp16ToInt16`` when
  ``OUT_PRECISION`` is INT16; ``CVT_OFFSET`` / ``CVT_SCALE`` / ``CVT_SHIFT`` play no part.

The FP32 reference computes the same stages in IEEE binary32 (numpy float32: round to
nearest even, denormals kept, overflow to infinity, NaN propagates through max / min) and
writes binary32.  The EW stage (Y) and the LUT are not modelled on float data.
"""

from __future__ import annotations

import numpy as np

from nvdla_sim.errors import LayerError
from nvdla_sim.floatpath import MASK32, f32, f32_bits, from_bits, to_bits, widen_fp16
from nvdla_sim.floatpath.nvfloat import MAX, MIN, SUM, fp_alu, fp_mul, fp_relu, is_nan
from nvdla_sim.fp16 import fp16_to_fp32, fp16_to_int16, fp32_to_fp16
from nvdla_sim.layers import Sdp, SdpX
from nvdla_sim.precision import FP16, FP32, INT16, Precision
from nvdla_sim.units.sdp_rdma import Operands
from nvdla_sim.units.tap import Tap, no_tap

E32, M32 = FP32.exp_bits, FP32.mant_bits


def check(sdp: Sdp) -> None:
    """Refuse float SDP programs outside the modelled datapath, before any work."""
    proc, out = sdp.proc_prec, sdp.out_prec
    allowed = {FP16: (FP16, INT16), FP32: (FP32,)}[proc]
    if out not in allowed:
        raise LayerError(f"SDP: {proc.name} processing writes "
                         f"{' or '.join(p.name for p in allowed)}, not {out.name} "
                         f"(D_DATA_FORMAT.OUT_PRECISION)")
    if not sdp.ew.bypass:
        raise LayerError(f"SDP: the EW stage is not modelled on {proc.name} data; "
                         f"set D_DP_EW_CFG.EW_BYPASS")
    for name, stage in (("BS", sdp.bs), ("BN", sdp.bn)):
        if not stage.bypass and not stage.alu_bypass and stage.alu_algo not in (MAX, MIN, SUM):
            raise LayerError(f"SDP: {name} ALU algorithm {stage.alu_algo} is not one of "
                             f"MAX (0), MIN (1), SUM (2) on {proc.name} data")


def input_values(cube: np.ndarray, sdp: Sdp) -> np.ndarray:
    """A cube SDP_RDMA read from memory -> the binary32 patterns SDP computes with."""
    prec = sdp.in_prec
    if prec is FP16:
        return fp16_to_fp32(to_bits(cube, FP16))
    if prec is FP32:
        return to_bits(cube, FP32)
    raise LayerError(f"SDP: {prec.name} input with {sdp.proc_prec.name} processing is not "
                     f"modelled (SDP_RDMA D_FEATURE_MODE_CFG.IN_PRECISION)")


def _operand(src: int, register: int, memory: np.ndarray | None, prec: Precision,
             nan_to_zero: bool, what: str) -> np.ndarray:
    """A stage operand as a binary32 pattern: the 16-bit register (an FP16 pattern) or the
    memory component (FP16 for FP16, binary32 for the FP32 reference)."""
    if src:
        if memory is None:
            raise LayerError(f"SDP: {what} operand comes from memory but its RDMA stream is "
                             f"disabled or does not carry it (check D_*RDMA_CFG "
                             f"DISABLE/DATA_USE)")
        raw = np.asarray(memory, np.int64)
        if prec is FP32:
            bits = raw & MASK32
            return np.where(nan_to_zero & is_nan(bits, E32, M32), 0, bits)
    else:
        raw = np.int64(register)
    bits16 = raw & 0xFFFF
    if nan_to_zero:
        bits16 = np.where(is_nan(bits16, FP16.exp_bits, FP16.mant_bits), 0, bits16)
    return widen_fp16(bits16, prec)


def x_stage(x: np.ndarray, stage: SdpX, ops: Operands, name: str, prec: Precision,
            nan_to_zero: bool, tap: Tap = no_tap) -> np.ndarray:
    """One X stage on binary32 patterns; taps ``<name>_alu``, ``_mul``, ``_out`` (32-bit
    patterns) where the register exists."""
    if stage.bypass:
        return x
    reg = name.lower()
    a = x
    if not stage.alu_bypass:
        op = _operand(stage.alu_src, stage.alu_operand, ops.alu, prec, nan_to_zero,
                      f"{name} ALU")
        if prec is FP16:
            a = fp_alu(stage.alu_algo, x, op, E32, M32)
        else:
            fn = {SUM: np.add, MAX: np.maximum, MIN: np.minimum}[stage.alu_algo]
            with np.errstate(over="ignore", invalid="ignore"):
                a = f32_bits(fn(f32(x), f32(op)))
        a = _bits(tap(f"{reg}_alu", a))
    m = a
    if not stage.mul_bypass:
        op = _operand(stage.mul_src, stage.mul_operand, ops.mul, prec, nan_to_zero,
                      f"{name} MUL")
        if prec is FP16:
            m = fp_mul(a, op, E32, M32)
        else:
            with np.errstate(over="ignore", invalid="ignore"):
                m = f32_bits(f32(a) * f32(op))
        if stage.mul_prelu:  # sdp_x.cpp: a value with a clear sign bit passes
            m = np.where((a >> 31) & 1 == 0, a, m)
        m = _bits(tap(f"{reg}_mul", m))
    t = m
    if not stage.relu_bypass:
        t = fp_relu(m, E32, M32) if prec is FP16 else np.where(
            ((m >> 31) & 1 == 1) & ~is_nan(m, E32, M32), 0, m)
    return _bits(tap(f"{reg}_out", t))


def _bits(value: np.ndarray) -> np.ndarray:
    """A tapped value back to int64 bit patterns (a fault model may hand back unsigned)."""
    return np.asarray(value).astype(np.int64) & MASK32


def convert_out(y: np.ndarray, sdp: Sdp) -> np.ndarray:
    """Output converter: FP16 patterns (or INT16 values) for FP16, binary32 unchanged for
    the FP32 reference."""
    if sdp.proc_prec is FP32:
        return y
    h = fp32_to_fp16(y)
    return fp16_to_int16(h) if sdp.out_prec is INT16 else h


def process(x: np.ndarray, sdp: Sdp, bs_ops: Operands, bn_ops: Operands,
            tap: Tap = no_tap) -> np.ndarray:
    """The float pipeline on binary32 patterns (int64, any shape) -> stored output
    elements (``out_prec.dtype``).  ``tap`` sees ``in``, the X-stage registers and
    ``out`` (the output element's bit pattern)."""
    prec = sdp.proc_prec
    x = np.asarray(x, np.int64)
    if sdp.nan_to_zero:
        x = np.where(is_nan(x, E32, M32), 0, x)
    y = _bits(tap("in", x))
    y = x_stage(y, sdp.bs, bs_ops, "BS", prec, sdp.nan_to_zero, tap)
    y = x_stage(y, sdp.bn, bn_ops, "BN", prec, sdp.nan_to_zero, tap)
    out = np.asarray(tap("out", convert_out(y, sdp))).astype(np.int64)
    if sdp.out_prec is INT16:
        return out.astype(INT16.dtype)
    return from_bits(out, sdp.out_prec)
