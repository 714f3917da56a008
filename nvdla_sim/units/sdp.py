"""SDP: the single-point data processor, integer (INT8 / INT16) pipeline.

``x (int32) -> X1 (BS) -> X2 (BN) -> Y (EW, LUT) -> C (output converter) -> int8/int16``
following NVDLA's C model (``cmod/hls/sdp/sdp_x.cpp``, ``sdp_y*.cpp``,
``sdp_c.cpp``).  The X and Y stages are the same for INT8 and INT16
processing; only the output converter's final saturation follows
``D_DATA_FORMAT.OUT_PRECISION`` (``IntSaturation<17, 16>`` or ``<17, 8>`` in
``sdp_c.cpp``).  Value bounds (for int64 safety): X stages keep |a| < 2**33
and multiply by int16 (< 2**48); Y multiplies two int32 values (< 2**62).
"""

from __future__ import annotations

import numpy as np

from nvdla_sim.arith import rnd_shr_sat, sat, shl_sat, wrap
from nvdla_sim.errors import LayerError
from nvdla_sim.floatpath import sdp as float_sdp
from nvdla_sim.layers import Sdp, SdpX, SdpY
from nvdla_sim.units import lut as lut_unit
from nvdla_sim.units.sdp_rdma import Operands
from nvdla_sim.units.tap import Tap, no_tap

ALU_MAX, ALU_MIN, ALU_SUM, ALU_EQL = 0, 1, 2, 3


def _operand(stage_src: int, register_value: int, from_memory: np.ndarray | None,
             what: str) -> np.ndarray | int:
    if not stage_src:
        return register_value
    if from_memory is None:
        raise LayerError(f"SDP: {what} operand comes from memory but its RDMA stream is "
                         f"disabled or does not carry it (check D_*RDMA_CFG DISABLE/DATA_USE)")
    return from_memory


def x_register_live(stage: SdpX, register: str) -> bool:
    """Whether an X stage's ``alu`` / ``mul`` / ``out`` register exists in this layer:
    not in a bypassed stage, and not a bypassed ALU's or multiplier's (NVDLA steers the
    data around it by a wire: ``alu_data_out = cfg_alu_bypass ? alu_data_in : ...`` in
    ``NV_NVDLA_SDP_HLS_X_int_alu.v``, likewise ``_mul.v``)."""
    if stage.bypass:
        return False
    if register == "alu":
        return not stage.alu_bypass
    if register == "mul":
        return not stage.mul_bypass
    return True


def x_stage(x: np.ndarray, stage: SdpX, ops: Operands, name: str, tap: Tap = no_tap
            ) -> np.ndarray:
    """One X stage (BS or BN): ALU, multiplier, truncation, ReLU (cmod ``sdp_x.cpp``).

    ``tap(register, value)`` sees (and may replace) the value each pipeline
    register of the stage holds: ``<name>_alu`` (33 bits), ``<name>_mul`` (49
    bits), ``<name>_out`` (32 bits).  Only registers that exist are tapped
    (:func:`x_register_live`).
    """
    if stage.bypass:
        return x
    reg = name.lower()
    a = x
    if not stage.alu_bypass:
        op = _operand(stage.alu_src, stage.alu_operand, ops.alu, f"{name} ALU")
        op = shl_sat(op, stage.alu_shift, 32)  # IntShiftLeft<16, 6, 32>
        if stage.alu_algo == ALU_MAX:
            a = np.maximum(x, op)
        elif stage.alu_algo == ALU_MIN:
            a = np.minimum(x, op)
        else:  # SUM (EQL is an EW-only algorithm; cmod adds here too)
            a = x + op  # 33-bit, not saturated
        a = tap(f"{reg}_alu", a)
    prelu_pass = stage.mul_prelu and not stage.mul_bypass
    # PReLU's choice travels with the data, not through the multiplier
    positive = a >= 0 if prelu_pass else None
    if stage.mul_bypass or (prelu_pass and np.all(positive)):
        m = a
    else:
        op = _operand(stage.mul_src, stage.mul_operand, ops.mul, f"{name} MUL")
        if prelu_pass:
            m = np.where(positive, a, a * op)
        elif a is not x and a.ndim and np.broadcast_shapes(a.shape, np.shape(op)) == a.shape:
            # a temporary of this stage: multiplied in place
            m = np.multiply(a, op, out=a)
        else:
            m = a * op
    if not stage.mul_bypass:
        m = tap(f"{reg}_mul", m)
    # the truncation applies even with MUL bypassed; PReLU's positive path skips it
    # ReLU after saturation is the saturation's lower bound at 0, unless PReLU intervenes
    t = rnd_shr_sat(m, stage.mul_shift & 63, 32, relu=not (prelu_pass or stage.relu_bypass))
    if prelu_pass:  # positive values pass untouched (33 -> 32 bit assignment)
        t = np.where(positive, wrap(m, 32), t)
        if not stage.relu_bypass:
            t = np.maximum(t, 0, out=t) if t.ndim else np.maximum(t, 0)  # t: a new array
    return tap(f"{reg}_out", t)


def _y_convert(value: np.ndarray | int, bypass: bool, offset: int, scale: int,
               truncate: int) -> np.ndarray | int:
    """EW operand converter: ``sat32(rnd((v - offset) * scale >> truncate))``."""
    if bypass:
        return value
    return rnd_shr_sat((np.asarray(value, np.int64) - offset) * scale, truncate, 32)


def y_stage(x: np.ndarray, ew: SdpY, ops: Operands, sdp: Sdp) -> np.ndarray:
    """The EW stage: multiply -> truncate -> ALU -> LUT (cmod ``sdp_y*.cpp``)."""
    if ew.bypass:
        return x
    m = x
    if not ew.mul_bypass:
        op = _operand(ew.mul_src, ew.mul_operand, ops.mul, "EW MUL")
        if ew.mul_src:
            op = _y_convert(op, ew.mul_cvt_bypass, ew.mul_cvt_offset, ew.mul_cvt_scale,
                            ew.mul_cvt_truncate)
        m = rnd_shr_sat(x * op, ew.truncate, 32)
        if ew.mul_prelu:
            m = np.where(x >= 0, x, m)
    y = m
    if not ew.alu_bypass:
        op = _operand(ew.alu_src, ew.alu_operand, ops.alu, "EW ALU")
        if ew.alu_src:
            op = _y_convert(op, ew.alu_cvt_bypass, ew.alu_cvt_offset, ew.alu_cvt_scale,
                            ew.alu_cvt_truncate)
        if ew.alu_algo == ALU_MAX:
            y = np.maximum(m, op)
        elif ew.alu_algo == ALU_MIN:
            y = np.minimum(m, op)
        elif ew.alu_algo == ALU_EQL:
            y = np.where(m == op, 0, 1).astype(np.int64)
        else:
            y = sat(m + op, 32)
    if not ew.lut_bypass:
        y = lut_unit.sdp_lookup(y, sdp.lut)
    return y


CVT_BITS = 17  # the output converter's rounded value before saturation (cTrunOutSize)


def convert_out(y: np.ndarray, sdp: Sdp) -> np.ndarray:
    """Output converter C: ``sat_P(sat17(rnd((y - offset) * scale >> shift)))`` with P the
    output precision (cmod sdp_c)."""
    prec = sdp.out_prec
    if not sdp.ew.bypass and not sdp.ew.alu_bypass and sdp.ew.alu_algo == ALU_EQL:
        # cfg_mode_eql: the comparison result passes through
        return sat(y, prec.bits).astype(prec.dtype)
    t = np.subtract(y, sdp.cvt_offset, dtype=np.int64)
    t *= sdp.cvt_scale
    # sat_P(sat17(v)) = sat_P(v): the output precision's range lies within 17 bits
    return rnd_shr_sat(t, sdp.cvt_shift, min(CVT_BITS, prec.bits)).astype(prec.dtype)


def check(sdp: Sdp) -> None:
    """Refuse programs that are not modelled, before any work: decoding raises on unknown
    precisions; float data go to :mod:`nvdla_sim.floatpath.sdp`."""
    if sdp.proc_prec.is_float:
        float_sdp.check(sdp)
    elif sdp.out_prec.is_float or sdp.in_prec.is_float:
        raise LayerError(f"SDP: {sdp.proc_prec.name} processing with {sdp.in_prec.name} "
                         f"input and {sdp.out_prec.name} output is not modelled "
                         f"(D_DATA_FORMAT / SDP_RDMA D_FEATURE_MODE_CFG precisions)")


def input_values(cube: np.ndarray, sdp: Sdp) -> np.ndarray:
    """A cube read from memory as the values SDP computes with (int64 integers; float
    data: binary32 patterns)."""
    if sdp.proc_prec.is_float:
        return float_sdp.input_values(cube, sdp)
    return cube.astype(np.int64)


def process(x: np.ndarray, sdp: Sdp, bs_ops: Operands, bn_ops: Operands,
            ew_ops: Operands, tap: Tap = no_tap) -> np.ndarray:
    """The full integer pipeline on int32 values (int64 array, any shape) -> int8 / int16.

    ``tap`` sees every pipeline register (``in``, ``bs_*``, ``bn_*``, ``ew_out``,
    ``out``); the fault model uses it to corrupt one.  Float processing:
    :func:`nvdla_sim.floatpath.sdp.process` (binary32 patterns in, same register names).
    """
    if sdp.proc_prec.is_float:
        return float_sdp.process(x, sdp, bs_ops, bn_ops, tap)
    y = x_stage(tap("in", x), sdp.bs, bs_ops, "BS", tap)
    y = x_stage(y, sdp.bn, bn_ops, "BN", tap)
    if not sdp.ew.bypass:
        y = tap("ew_out", y_stage(y, sdp.ew, ew_ops, sdp))
    return tap("out", convert_out(y, sdp))
