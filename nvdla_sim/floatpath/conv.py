"""The convolution core on float data: CSC's atomic operations, CMAC, CACC, delivery to SDP.

Both float datapaths run the atomic operations in the order CSC issues them for a
direct convolution (``NV_NVDLA_csc.cpp`` ``SendDataToMacSequencerDirectConvCommon``:
channel block, then kernel row, then kernel column), each one over ``L`` lanes
(:meth:`HardwareConfig.mac_channels`) of one channel block at one kernel position, for
every output pixel and kernel at once.  Lanes past the last channel hold 0 (CSC zeroes
them: ``last_super_channel_element_num``); padded positions hold ``PAD_VALUE``.

* **FP16** (:mod:`.cmac16`): each atomic operation gives an FP44 partial sum, added to the
  FP48 assembly value (starting from 0) by :func:`nvdla_sim.fp16.cacc_fp48_add`
  (``NV_NVDLA_cacc.cpp``: ``fp16_accu_data = 0; cacc_fp16_add(...)`` for the first,
  then the assembly buffer); SDP receives ``cacc_fp48_to_fp32`` of it.
* **FP32 reference**: each product is rounded to binary32; an atomic operation sums its
  ``L`` products in a fixed pairwise tree (lanes ``2i`` and ``2i + 1``, then pairs of
  those sums, ..., every add rounded to binary32); CACC adds the atomic sums to a
  binary32 accumulator starting at +0, in CSC's order, and hands it to SDP unrounded.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from nvdla_sim.config import HardwareConfig
from nvdla_sim.fp16 import cacc_fp48_add, cacc_fp48_to_fp32
from nvdla_sim.floatpath import cmac16, f32_bits, to_bits
from nvdla_sim.layers import ConvCore
from nvdla_sim.precision import FP16
from nvdla_sim.units import csc


def atomic_operands(conv: ConvCore, data: np.ndarray, weights: np.ndarray,
                    cfg: HardwareConfig, zero_lanes: bool = True
                    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(weights [K, L], data [L, (B*)Ho*Wo]) of every atomic-operation slot, in CSC's
    order; ``data`` [(B,) C, H, W] and ``weights`` [K, C, R, S] hold stored elements (a
    batch puts its samples side by side).  Without ``zero_lanes`` the last block has only
    its real lanes (FP16: zero lanes are masked and take no part)."""
    lanes = cfg.mac_channels(conv.precision)
    win = csc.windows(conv, data)  # [(B,) C, R, S, Ho, Wo]
    if data.ndim == 4:
        win = np.moveaxis(win, 0, 3)  # [C, R, S, B, Ho, Wo]
    for b in range(0, conv.in_channels, lanes):
        n = min(lanes, conv.in_channels - b)
        width = lanes if zero_lanes else n
        for y in range(conv.kernel_height):
            for x in range(conv.kernel_width):
                w = np.zeros((conv.kernels, width), weights.dtype)
                d = np.zeros((width, win[0, 0, 0].size), data.dtype)
                w[:, :n] = weights[:, b:b + n, y, x]
                d[:n] = win[b:b + n, y, x].reshape(n, -1)
                yield w, d


def pairwise_sum(products: np.ndarray) -> np.ndarray:
    """Sum over axis 1 (a power-of-two number of lanes) by the fixed binary32 tree."""
    s = products
    while s.shape[1] > 1:
        s = s[:, 0::2] + s[:, 1::2]
    return s[:, 0]


def accumulate(conv: ConvCore, data: np.ndarray, weights: np.ndarray,
               cfg: HardwareConfig) -> np.ndarray:
    """CACC's assembly values [(B,) K, Ho, Wo] as bit patterns: FP48 (FP16) or binary32
    (FP32 reference)."""
    batch = data.shape[:-3]
    pixels = int(np.prod(batch, dtype=np.int64)) * conv.out_height * conv.out_width
    if conv.precision is FP16:
        acc = np.zeros((conv.kernels, pixels), np.int64)
        for w, d in atomic_operands(conv, data, weights, cfg, zero_lanes=False):
            acc = cacc_fp48_add(acc, cmac16.atomic(to_bits(w, FP16), to_bits(d, FP16)))
    else:
        acc32 = np.zeros((conv.kernels, pixels), np.float32)
        with np.errstate(over="ignore", invalid="ignore"):
            for w, d in atomic_operands(conv, data, weights, cfg):
                acc32 = acc32 + pairwise_sum(w[:, :, None] * d[None, :, :])
        acc = f32_bits(acc32)
    acc = acc.reshape(conv.kernels, *batch, conv.out_height, conv.out_width)
    return np.moveaxis(acc, 0, len(batch)) if batch else acc


def to_sdp(conv: ConvCore, acc: np.ndarray, cfg: HardwareConfig) -> np.ndarray:
    """The binary32 patterns CACC delivers [(B,) Kpad, Ho, Wo], channels padded to whole
    atoms with +0."""
    values = cacc_fp48_to_fp32(acc) if conv.precision is FP16 else acc
    padded = cfg.channels_padded(conv.kernels, conv.precision)
    out = np.zeros((*acc.shape[:-3], padded, conv.out_height, conv.out_width), np.int64)
    out[..., : conv.kernels, :, :] = values
    return out
