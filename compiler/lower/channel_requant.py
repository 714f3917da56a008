"""Per-channel requantization across SDP's two X stages, at full precision for every channel.

A convolution's output channels need multipliers ``M_k = s_x * s_w[k] / s_y``
that can span several octaves, while each X stage has one shift.  With one
stage, channels with small ``M_k`` keep few significant bits.  So the
multiplier is split into an exponent and a 15-bit mantissa:

* BS: ``y1 = round((acc + b << bs) * 2**g_k >> s1)`` (bias, exact power of two),
* BN: ``y  = round((y1 + r << rs) * mu_k >> s2)`` with ``mu_k`` in [2**14, 2**15),

so every channel keeps a 15-bit multiplier, and ``y1`` carries about 2**-9 of
an output LSB of fraction.  The bias is large when the input zero point is
(its ``-zx * sum(w)`` part), so BS adds it rounded to 16 bits and BN's ALU
adds the rounding remainder ``r`` in y1 units.  When a Clip needs BN's ALU
instead, the bound becomes a per-channel clamp point ``c_k`` in y1 units
with ``round(c_k * mu_k >> s2)`` equal to the bound, so clamping commutes
exactly with the rounding, and the bias keeps its 16-bit rounding (the error
bound says so).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compiler.ir import CompileError
from compiler.requant import INT16_MAX, MAX_SHIFT, fit_bias
from nvdla_sim.arith import rnd_shr



def y1_shift_max(out_range: float) -> int:
    """Largest s2 keeping y1 = y * 2**(s2 - 14) within 32 bits for |y| <= out_range
    (36 at int8, 28 at int16)."""
    return 44 - int(np.log2(out_range))


@dataclass(frozen=True)
class ChannelRequant:
    bias: np.ndarray  # int16 per channel, ALU operand of BS
    bias_shift: int
    pow2: np.ndarray  # int16 per channel (powers of two), MUL operand of BS
    s1: int
    mu: np.ndarray  # int16 per channel, MUL operand of BN
    s2: int
    bn_alu: np.ndarray  # int16 per channel, ALU operand of BN: bias remainder or clamp point
    bn_alu_shift: int
    clamped: bool  # BN's ALU clamps (MIN/MAX) instead of adding the remainder
    error: float  # max |computed - exact| before the final rounding, in output LSB


def fit_channel_requant(bias_real: np.ndarray, mult_real: np.ndarray, out_range: float,
                        clamp_bound: int | None, what: str) -> ChannelRequant:
    """Operands for ``(x + bias_real) * mult_real`` per channel (``mult_real`` > 0), with an
    optional clamp of the rounded result to ``clamp_bound`` (the caller picks MIN or MAX)."""
    mult = np.asarray(mult_real, np.float64)
    exponent = np.floor(np.log2(mult)).astype(np.int64)
    f_min = int(exponent.min())
    s2 = min(y1_shift_max(out_range), 14 - f_min)
    if s2 < 0:
        raise CompileError(f"{what}: multiplier {mult.max():.6g} exceeds SDP's range")
    s1 = 14 - f_min - s2
    if s1 > MAX_SHIFT:
        raise CompileError(f"{what}: multiplier {mult.min():.3g} is below SDP's range")
    pow2 = (1 << np.minimum(exponent - f_min, 14)).astype(np.int64)
    mu = np.clip(np.rint(mult * 2.0 ** (s1 + s2) / pow2), 1, INT16_MAX).astype(np.int64)
    bias, bias_shift = fit_bias(bias_real, what)
    unit = mu / 2.0 ** s2  # output LSB per unit of y1
    effective = pow2 / 2.0 ** s1 * unit
    span = (out_range + 1.0) / mult
    remainder = (bias_real - bias * 2.0 ** bias_shift) * pow2 / 2.0 ** s1  # in y1 units
    if clamp_bound is not None:
        alu, alu_shift = _clamp_points(clamp_bound, mu, s2, what)
        bias_error = np.abs(remainder) * unit
    else:
        alu, alu_shift = fit_bias(remainder, what)
        bias_error = np.abs(remainder - alu * 2.0 ** alu_shift) * unit
    error = (span * np.abs(effective - mult)  # multiplier rounding
             + bias_error  # what the bias keeps of its rounding
             + 0.5 * unit * (s1 > 0))  # BS rounds y1 when it shifts
    return ChannelRequant(bias, bias_shift, pow2, s1, mu, s2, alu, alu_shift,
                          clamp_bound is not None, float(np.max(error)))


def _clamp_points(bound: int, mu: np.ndarray, s2: int, what: str) -> tuple[np.ndarray, int]:
    """int16 ``c`` and shift with ``round((c << shift) * mu >> s2) == bound`` per channel."""
    centre = bound * 2.0 ** s2 / mu  # y1 value whose output is exactly ``bound``
    shift = max(0, int(np.ceil(np.log2(max(float(np.abs(centre).max()), 1.0) / INT16_MAX))))
    c = np.rint(centre / 2.0 ** shift).astype(np.int64)
    chosen = np.full(mu.shape, np.iinfo(np.int64).min)
    for candidate in (c, c - 1, c + 1):  # the nearest point may round one bin off
        fits = (np.abs(candidate) <= INT16_MAX) & (rnd_shr((candidate << shift) * mu, s2) == bound)
        chosen = np.where((chosen == np.iinfo(np.int64).min) & fits, candidate, chosen)
    if np.any(chosen == np.iinfo(np.int64).min):
        raise CompileError(f"{what}: a clamp to {bound} cannot be placed exactly in SDP's "
                           f"16-bit ALU operand")
    return chosen, shift
