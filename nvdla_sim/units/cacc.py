"""CACC: accumulates CMAC partial sums and rounds them to 32 bits for SDP.

Accumulation saturates at the assembly-buffer width of the precision (34 bits
for INT8 in RTL, 48 for INT16 in cmod).  When ``taps * max|product| <
2**(width-1)`` no partial sum can reach that bound, and the order of
accumulation does not matter; otherwise the sums are formed in hardware
order (channel block, then kernel position) with saturation after each add.
The delivery to SDP is 32 bits for both (cmod ``ACCU_DELIVERY_BIT_WIDTH``;
rounding ``(int64)(x / 2**t +- 0.5)`` in ``ReshapeSequencerDirectConvCommon``).
"""

from __future__ import annotations

import numpy as np

from nvdla_sim.arith import rnd_shr_sat, sat
from nvdla_sim.precision import INT8, Precision

ACC_BITS = INT8.acc_bits  # the INT8 assembly buffer (RTL NV_NVDLA_CACC_CALC_int8.v)
OUT_BITS = 32
PRODUCT_MAX = INT8.product_max  # |int8 * int8| <= 2**14


def accumulation_is_safe(taps: int, prec: Precision = INT8) -> bool:
    """True when no partial sum of ``taps`` products can saturate the assembly buffer."""
    return taps * prec.product_max < (1 << (prec.acc_bits - 1))


def accumulate_in_order(stripe_sums: np.ndarray, prec: Precision = INT8) -> np.ndarray:
    """Saturating accumulation over axis 0 (one entry per stripe operation)."""
    acc = np.zeros(stripe_sums.shape[1:], np.int64)
    for psum in stripe_sums:  # one step per (block, kernel position), vectorized over the cube
        acc = sat(acc + psum, prec.acc_bits)
    return acc


def truncate(acc: np.ndarray, clip_truncate: int) -> np.ndarray:
    """Final rounding: ``sat32(round_half_away(acc / 2**CLIP_TRUNCATE))``."""
    return rnd_shr_sat(acc, clip_truncate, OUT_BITS)
