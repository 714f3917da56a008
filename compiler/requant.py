"""Fixed-point requantization on SDP's X stages, with its error bound.

An X stage computes ``round((x + b << bs) * m >> ms)`` with 16-bit ``b`` and
``m`` (per channel from memory, or one register value) and one shift each per
stage.  :func:`fit_affine` chooses them to approximate the real affine map
``(x + bias) * mult``; :meth:`Affine.error` bounds the difference before
rounding.  This is the only approximation the lowering makes for
convolution, fully connected, residual add and rescale layers; the bound is
documented in ``docs/compiler.md`` and checked by the tests layer by layer.

The reference (ONNX semantics) rounds half to even, NVDLA half away from
zero; with a pre-rounding difference ``d`` the int8 results differ by at most
``floor(d) + 1`` LSB (and are equal whenever the exact value is not within
``d`` of a rounding boundary).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from compiler.ir import CompileError

INT16_MAX = (1 << 15) - 1
MAX_SHIFT = 63  # the 6 bits of *_SHIFT_VALUE that hardware uses


@dataclass(frozen=True)
class Affine:
    """``y = round((x + bias << bias_shift) * mult >> mult_shift)``; int16 bias and mult."""

    bias: np.ndarray  # int64 values in int16 range, per channel (or shape (1,))
    bias_shift: int
    mult: np.ndarray
    mult_shift: int

    def effective_mult(self) -> np.ndarray:
        return self.mult / float(1 << self.mult_shift)

    def effective_bias(self) -> np.ndarray:
        return self.bias * float(1 << self.bias_shift)

    def error(self, bias_real: np.ndarray, mult_real: np.ndarray, out_range: float) -> float:
        """Max |computed - exact| before rounding, over inputs whose exact result
        lies within ``out_range`` (outside it both saturate identically)."""
        mult_real = np.broadcast_to(np.asarray(mult_real, np.float64), self.mult.shape)
        bias_real = np.broadcast_to(np.asarray(bias_real, np.float64), self.bias.shape)
        span = (out_range + 1.0) / np.abs(mult_real)  # |x + bias| where the result matters
        d_mult = np.abs(self.effective_mult() - mult_real)
        d_bias = np.abs(self.effective_bias() - bias_real)
        return float(np.max(span * d_mult + np.abs(self.effective_mult()) * d_bias))


def _shift_to_fit(magnitude: float, limit: int, *, left: bool, what: str) -> int:
    """Smallest right shift (``left=False``) or largest left shift bringing magnitude under limit."""
    if magnitude == 0:
        return 0 if not left else MAX_SHIFT
    if left:
        shift = min(MAX_SHIFT, math.floor(math.log2(limit / magnitude)))
        while shift >= 0 and round(magnitude * 2.0 ** shift) > limit:
            shift -= 1
        if shift < 0:
            raise CompileError(f"{what}: multiplier {magnitude:.6g} exceeds the int16 range "
                               f"of SDP's multiplier")
        return shift
    shift = max(0, math.ceil(math.log2(magnitude / limit)))
    while round(magnitude / 2.0 ** shift) > limit:
        shift += 1
    if shift > MAX_SHIFT:
        raise CompileError(f"{what}: offset {magnitude:.6g} exceeds SDP's range")
    return shift


def fit_bias(bias_real: np.ndarray, what: str) -> tuple[np.ndarray, int]:
    """int16 values and a left shift approximating ``bias_real`` (SDP's ALU operand)."""
    bias_real = np.atleast_1d(np.asarray(bias_real, np.float64))
    shift = _shift_to_fit(float(np.max(np.abs(bias_real))), INT16_MAX, left=False, what=what)
    bias = np.clip(np.rint(bias_real / 2.0 ** shift), -INT16_MAX - 1, INT16_MAX)
    if np.max(np.abs(bias)) * 2.0 ** shift >= 2.0 ** 31:
        raise CompileError(f"{what}: bias {np.max(np.abs(bias_real)):.6g} does not fit SDP's "
                           f"32-bit ALU operand")
    return bias.astype(np.int64), shift


def fit_affine(bias_real: np.ndarray, mult_real: np.ndarray, what: str) -> Affine:
    """Choose int16 operands and shifts for ``(x + bias_real) * mult_real``."""
    mult_real = np.atleast_1d(np.asarray(mult_real, np.float64))
    mult_shift = _shift_to_fit(float(np.max(np.abs(mult_real))), INT16_MAX, left=True, what=what)
    mult = np.clip(np.rint(mult_real * 2.0 ** mult_shift), -INT16_MAX - 1, INT16_MAX)
    bias, bias_shift = fit_bias(bias_real, what)
    return Affine(bias, bias_shift, mult.astype(np.int64), mult_shift)


def fit_scale(mult_real: float, what: str) -> tuple[int, int]:
    """A single multiplier ``m >> shift`` (int16 m) approximating ``mult_real``."""
    shift = _shift_to_fit(abs(mult_real), INT16_MAX, left=True, what=what)
    return int(round(mult_real * 2.0 ** shift)), shift
