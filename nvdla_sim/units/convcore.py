"""The convolution core as one function: CDMA -> CSC -> CMAC -> CACC."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nvdla_sim.config import HardwareConfig
from nvdla_sim.layers import ConvCore
from nvdla_sim.memory import Memory
from nvdla_sim.units import cacc, cdma, cmac, csc


@dataclass(frozen=True)
class ConvOperands:
    """What the convolution core fetched: input [C, H, W] and weights [K, C, R, S], int8."""

    data: np.ndarray
    weights: np.ndarray


def fetch(conv: ConvCore, mem: Memory, cfg: HardwareConfig) -> ConvOperands:
    csc.check_geometry(conv)
    return ConvOperands(cdma.fetch_feature(conv, mem, cfg), cdma.fetch_weights(conv, mem, cfg))


def accumulate(conv: ConvCore, ops: ConvOperands, cfg: HardwareConfig) -> np.ndarray:
    """Full-precision accumulator [K, Ho, Wo] (int64) as CACC holds it before rounding."""
    k = conv.kernels
    taps = conv.in_channels * conv.kernel_height * conv.kernel_width
    if cacc.accumulation_is_safe(taps):
        acc = cmac.exact_matmul(ops.weights.reshape(k, -1), csc.im2col(conv, ops.data))
        return acc.reshape(k, conv.out_height, conv.out_width)
    # Saturation is possible: add stripe operations in hardware order (block, then tap).
    win = csc.windows(conv, ops.data)  # [C, R, S, Ho, Wo]
    steps = []
    for b in range(0, conv.in_channels, cfg.atom_c):
        for y in range(conv.kernel_height):
            for x in range(conv.kernel_width):
                w = ops.weights[:, b:b + cfg.atom_c, y, x]
                d = win[b:b + cfg.atom_c, y, x].reshape(w.shape[1], -1)
                steps.append(cmac.exact_matmul(w, d))
    return cacc.accumulate_in_order(np.stack(steps)).reshape(k, conv.out_height, conv.out_width)


def to_sdp(conv: ConvCore, acc: np.ndarray, cfg: HardwareConfig) -> np.ndarray:
    """CACC output: rounded int32 values, channels padded to whole atoms with zeros."""
    out = np.zeros((cfg.channels_padded(conv.kernels), conv.out_height, conv.out_width), np.int64)
    out[: conv.kernels] = cacc.truncate(acc, conv.clip_truncate)
    return out
