"""CACC: accumulates CMAC partial sums and rounds them to 32 bits for SDP.

Accumulation saturates at 34 bits in RTL (the assembly buffer width).  When
``taps * 2**14 < 2**33`` no partial sum can reach that bound, and the order of
accumulation does not matter; otherwise the sums are formed in hardware
order (channel block, then kernel position) with saturation after each add.
"""

from __future__ import annotations

import numpy as np

from nvdla_sim.arith import rnd_shr, sat

ACC_BITS = 34  # assembly buffer width (RTL NV_NVDLA_CACC_CALC_int8.v)
OUT_BITS = 32
PRODUCT_MAX = 1 << 14  # |int8 * int8| <= 2**14


def accumulation_is_safe(taps: int) -> bool:
    """True when no partial sum of ``taps`` products can saturate the assembly buffer."""
    return taps * PRODUCT_MAX < (1 << (ACC_BITS - 1))


def accumulate_in_order(stripe_sums: np.ndarray) -> np.ndarray:
    """Saturating accumulation over axis 0 (one entry per stripe operation)."""
    acc = np.zeros(stripe_sums.shape[1:], np.int64)
    for psum in stripe_sums:  # one step per (block, kernel position), vectorized over the cube
        acc = sat(acc + psum, ACC_BITS)
    return acc


def truncate(acc: np.ndarray, clip_truncate: int) -> np.ndarray:
    """Final rounding: ``sat32(round_half_away(acc / 2**CLIP_TRUNCATE))``."""
    return sat(rnd_shr(acc, clip_truncate), OUT_BITS)
