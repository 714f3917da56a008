"""SDP stage programs shared by every lowering that requantizes.

The output of a layer is produced in three steps, all on SDP:

* BS (X1): ``(x + bias) * mult`` with one register value (:func:`affine_stage`),
  or per channel together with BN (:func:`channel_stages`, ``channel_requant``);
* BN (X2): the second operand of an Add, ``+ r << p`` then ``* m >> s``
  (:func:`residual_stage`), or a clamp for Clip/ReLU6 (:func:`clamp_stage`);
* the output converter adds the output zero point and saturates to int8 (int16).

At FP16 / FP32 there is no requantization: BS adds a float bias read per kernel
(:func:`bias_stage`) and applies the ReLU; SDP converts its float result to the
output format (the converter's offset and scale are not used).
"""

from __future__ import annotations

import numpy as np

from compiler import descriptors
from compiler.ir import RELU, Activation, CompileError, Tensor
from compiler.lower.planner import MemoryPlan
from compiler.lower.channel_requant import ChannelRequant
from compiler.requant import Affine
from nvdla_sim.layers import SdpX
from nvdla_sim.precision import Precision
from nvdla_sim.surface import FeatureSurface
from nvdla_sim.units.sdp import ALU_MAX, ALU_MIN, ALU_SUM
from nvdla_sim.units.sdp_rdma import USE_ALU, USE_BOTH


def out_range(prec: Precision) -> float:
    """Results further than this from zero saturate in both models (256 at int8)."""
    return 2.0 ** prec.bits


def operand_vector(components: list[np.ndarray], channels_padded: int, plan: MemoryPlan) -> int:
    """Place a per-kernel operand vector of int16 components, interleaved per channel
    (ALU component first when there are two: cmod ``NvdlaPacker``)."""
    table = np.zeros((channels_padded, len(components)), "<i2")
    for j, values in enumerate(components):
        table[: values.size, j] = values
    return plan.place(table)


def float_operand_vector(values: np.ndarray, channels_padded: int, plan: MemoryPlan,
                         prec: Precision) -> int:
    """Place a per-kernel operand vector of one float component (binary16 at FP16,
    binary32 at FP32), zero past the real channels."""
    table = np.zeros(channels_padded, prec.dtype)
    table[: values.size] = values
    return plan.place(table)


def float_activation(activation: Activation | None, node: str
                     ) -> tuple[bool, SdpX | None]:
    """(ReLU?, BN clamp stage or None) of a float layer's activation: a bound other than
    ReLU's 0 is BN's ALU MIN / MAX with a register operand, which holds a binary16
    pattern at FP16 and FP32 alike (the FP32 datapath widens it exactly), so the
    bound must be a binary16 value."""
    if activation is None:
        return False, None
    relu = activation.low == 0.0
    low = None if relu else activation.low
    bounds = [(b, algo) for b, algo in ((low, ALU_MAX), (activation.high, ALU_MIN))
              if b is not None]
    if len(bounds) > 1:
        raise CompileError(f"node {node}: a clamp to [{activation.low}, {activation.high}] "
                           f"needs two ALU stages after the bias; SDP has one (BN)")
    if not bounds:
        return relu, None
    bound, algo = bounds[0]
    half = np.float16(bound)
    if float(half) != bound:
        raise CompileError(f"node {node}: clamp bound {bound} is not a binary16 value; "
                           f"SDP's float operand registers hold binary16")
    return relu, clamp_stage(algo, int(np.array(half).view(np.int16)))


def bias_stage(vector_address: int, relu: bool, prec: Precision) -> SdpX:
    """BS at FP16 / FP32: ``x + bias[k]`` (ALU SUM, bias read per kernel in ``prec``'s
    format), then the ReLU; the multiplier is bypassed."""
    return SdpX(bypass=False, alu_bypass=False, alu_algo=ALU_SUM, mul_bypass=True,
                mul_prelu=False, relu_bypass=not relu, alu_src=1, alu_shift=0, alu_operand=0,
                mul_src=0, mul_shift=0, mul_operand=0,
                dma=descriptors.per_kernel_dma(vector_address, USE_ALU,
                                               two_bytes=prec.element_bytes > 1))


def float_sum_stage(addend: FeatureSurface, relu: bool) -> SdpX:
    """BS at FP16 / FP32: ``x + b`` with ``b`` read per element from ``addend`` (a
    residual), then the ReLU."""
    return SdpX(bypass=False, alu_bypass=False, alu_algo=ALU_SUM, mul_bypass=True,
                mul_prelu=False, relu_bypass=not relu, alu_src=1, alu_shift=0, alu_operand=0,
                mul_src=0, mul_shift=0, mul_operand=0,
                dma=descriptors.per_element_dma(addend, USE_ALU))


def relu_stage() -> SdpX:
    """BS with only the ReLU (a standalone ReLU at float precisions)."""
    return SdpX(bypass=False, alu_bypass=True, alu_algo=0, mul_bypass=True, mul_prelu=False,
                relu_bypass=False, alu_src=0, alu_shift=0, alu_operand=0, mul_src=0,
                mul_shift=0, mul_operand=0, dma=descriptors.disabled_dma())


def channel_stages(req: ChannelRequant, relu: bool, clamp_algo: int | None, bs_vector: int,
                   bn_vector: int) -> tuple[SdpX, SdpX]:
    """BS and BN of a per-channel requantization (see ``channel_requant``); the
    vectors hold (bias, 2**g) and (remainder or clamp point, mu) per channel."""
    bs = SdpX(bypass=False, alu_bypass=False, alu_algo=ALU_SUM, mul_bypass=False,
              mul_prelu=False, relu_bypass=True, alu_src=1, alu_shift=req.bias_shift,
              alu_operand=0, mul_src=1, mul_shift=req.s1, mul_operand=0,
              dma=descriptors.per_kernel_dma(bs_vector, USE_BOTH, two_bytes=True))
    bn = SdpX(bypass=False, alu_bypass=False,
              alu_algo=clamp_algo if req.clamped else ALU_SUM, mul_bypass=False,
              mul_prelu=False, relu_bypass=not relu, alu_src=1, alu_shift=req.bn_alu_shift,
              alu_operand=0, mul_src=1, mul_shift=req.s2, mul_operand=0,
              dma=descriptors.per_kernel_dma(bn_vector, USE_BOTH, two_bytes=True))
    return bs, bn


def affine_stage(affine: Affine, relu: bool, vector_address: int | None) -> SdpX:
    """BS: ALU SUM then MUL; operands from a per-kernel vector or from registers."""
    from_memory = vector_address is not None
    dma = (descriptors.per_kernel_dma(vector_address, USE_BOTH, two_bytes=True) if from_memory
           else descriptors.disabled_dma())
    return SdpX(bypass=False, alu_bypass=False, alu_algo=ALU_SUM, mul_bypass=False,
                mul_prelu=False, relu_bypass=not relu, alu_src=int(from_memory),
                alu_shift=affine.bias_shift,
                alu_operand=0 if from_memory else int(affine.bias[0]),
                mul_src=int(from_memory), mul_shift=affine.mult_shift,
                mul_operand=0 if from_memory else int(affine.mult[0]), dma=dma)


def residual_stage(residual: FeatureSurface, shift: int, mult: int, mult_shift: int,
                   relu: bool) -> SdpX:
    """BN: ``(y + r << shift) * mult >> mult_shift`` with r read per element (int8)."""
    return SdpX(bypass=False, alu_bypass=False, alu_algo=ALU_SUM, mul_bypass=False,
                mul_prelu=False, relu_bypass=not relu, alu_src=1, alu_shift=shift,
                alu_operand=0, mul_src=0, mul_shift=mult_shift, mul_operand=mult,
                dma=descriptors.per_element_dma(residual, USE_ALU))


def clamp_stage(algo: int, bound: int) -> SdpX:
    """BN: ``max(y, bound)`` or ``min(y, bound)`` (a Clip bound in output units)."""
    return SdpX(bypass=False, alu_bypass=False, alu_algo=algo, mul_bypass=True,
                mul_prelu=False, relu_bypass=True, alu_src=0, alu_shift=0,
                alu_operand=bound, mul_src=0, mul_shift=0, mul_operand=0,
                dma=descriptors.disabled_dma())


def activation_bounds(activation: Activation | None, out: Tensor, node: str
                      ) -> tuple[bool, int | None, int | None]:
    """(ReLU?, clamp ALU algorithm or None, clamp bound in output units) of an activation.

    Rounding commutes with min/max, so a bound ``b`` becomes the integer
    ``round(b / scale)`` in output units; bounds the int8 (int16) range already
    enforces are dropped.
    """
    if activation is None:
        return False, None, None
    zp, scale = out.quant.zero_point, out.quant.scale
    qmin, qmax = out.quant.range
    relu = activation.low == 0.0 and zp > qmin  # at zp = qmin, saturation is the ReLU
    low = None if activation.low is None or relu else int(np.rint(activation.low / scale))
    high = None if activation.high is None else int(np.rint(activation.high / scale))
    if low is not None and low + zp <= qmin:
        low = None
    if high is not None and high + zp >= qmax:
        high = None
    if low is not None and high is not None:
        raise CompileError(f"node {node}: a clamp to [{activation.low}, {activation.high}] needs "
                           f"two ALU stages after requantization; SDP has one (BN)")
    for bound in (low, high):
        if bound is not None and not -32768 <= bound <= 32767:
            raise CompileError(f"node {node}: clamp bound {bound} exceeds SDP's int16 operand")
    if high is not None:
        return relu, ALU_MIN, high
    if low is not None:
        return relu, ALU_MAX, low
    return relu, None, None


def activation_stages(activation: Activation | None, out: Tensor, node: str
                      ) -> tuple[bool, SdpX | None]:
    """(ReLU?, BN clamp stage or None) when BS already produces output units."""
    relu, algo, bound = activation_bounds(activation, out, node)
    return relu, None if algo is None else clamp_stage(algo, bound)


def residual_unit(residual: Tensor, out: Tensor) -> tuple[int, float]:
    """(shift p, unit u = s_r / 2**p) for adding an int8 residual ``r << p`` in units u.

    ``p`` puts u about 2**-10 output LSB (fine enough that rounding there is
    negligible) while ``r << p`` and intermediate sums stay within 32 bits.
    """
    ratio = residual.quant.scale / out.quant.scale
    p = int(np.clip(np.ceil(np.log2(ratio)) + 10, 0, 23))
    return p, residual.quant.scale / 2.0 ** p


def rescale_error(stage1_error: float, ideal: float, mult: int, mult_shift: int,
                  span: float) -> float:
    """Pre-rounding error after BN rescales by ``mult >> mult_shift`` (ideally ``ideal``),
    given BS's pre-rounding error (BS then rounds: +0.5) and the relevant |input| ``span``."""
    scale = mult / 2.0 ** mult_shift
    return (stage1_error + 0.5) * scale + span * abs(scale - ideal)


def bound_lsb(error: float) -> int:
    """Output deviation bound in LSB for a pre-rounding error (see compiler.requant)."""
    return int(np.floor(error)) + 1
