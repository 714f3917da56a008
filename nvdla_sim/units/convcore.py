"""The convolution core as one function: CDMA -> CSC -> CMAC -> CACC."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nvdla_sim.config import HardwareConfig
from nvdla_sim.floatpath import conv as float_conv
from nvdla_sim.layers import ConvCore
from nvdla_sim.memory import Memory
from nvdla_sim.units import cacc, cdma, cmac, csc


@dataclass(frozen=True)
class ConvOperands:
    """What the convolution core fetched: input [C, H, W] and weights [K, C, R, S] (int8 or
    int16); ``matrix`` is the weights as the float [K, C*R*S] operand of the exact GEMM
    (float32 for INT8, float64 for INT16: :func:`cmac.gemm_dtype`), and
    ``splits`` its exact column chunks (:func:`cmac.exact_splits`; None: the default)."""

    data: np.ndarray
    weights: np.ndarray
    matrix: np.ndarray
    splits: np.ndarray | None


Weights = tuple[np.ndarray, np.ndarray, np.ndarray | None]  # weights, matrix, splits
WeightCache = dict[tuple, Weights]


def check(conv: ConvCore) -> None:
    csc.check_geometry(conv)


def weights(conv: ConvCore, mem: Memory, cfg: HardwareConfig,
            cache: WeightCache | None = None) -> Weights:
    """(weights [K, C, R, S], float [K, C*R*S], exact GEMM splits); ``cache`` keeps them by
    address and shape for callers whose weight memory never changes (fault campaigns on
    datapath registers).  Splits, worth finding only for weights used many times, come
    with the cache."""
    key = (conv.weight_address, conv.kernels, conv.kernel_channels, conv.kernel_height,
           conv.kernel_width)
    cached = cache.get(key) if cache is not None else None
    if cached is None:
        w = cdma.fetch_weights(conv, mem, cfg)
        matrix = w.reshape(conv.kernels, -1)
        # float weights stay stored elements (bit patterns matter): floatpath.conv
        dtype = w.dtype if conv.precision.is_float else cmac.gemm_dtype(conv.precision)
        splits = cmac.exact_splits(matrix) if cache is not None and dtype == np.float32 else None
        cached = (w, matrix.astype(dtype), splits)
        if cache is not None:
            cache[key] = cached
    return cached


def accumulate(conv: ConvCore, ops: ConvOperands, cfg: HardwareConfig) -> np.ndarray:
    """Full-precision accumulator [(B,) K, Ho, Wo] (int64) as CACC holds it before rounding
    (float precisions: its bit patterns, :func:`nvdla_sim.floatpath.conv.accumulate`)."""
    k, data = conv.kernels, ops.data
    prec = conv.precision
    if prec.is_float:
        return float_conv.accumulate(conv, data, ops.weights, cfg)
    taps = conv.in_channels * conv.kernel_height * conv.kernel_width
    if not cacc.accumulation_is_safe(taps, prec):
        if data.ndim == 4:
            return np.stack([accumulate(conv, ConvOperands(d, ops.weights, ops.matrix,
                                                           ops.splits), cfg)
                             for d in data])
        return _accumulate_in_order(conv, ops, cfg)
    acc = gemm(conv, ops).astype(np.int64).reshape(k, -1, conv.out_height, conv.out_width)
    return acc[:, 0] if data.ndim == 3 else acc.transpose(1, 0, 2, 3)


def gemm(conv: ConvCore, ops: ConvOperands) -> np.ndarray:
    """The accumulators as floats holding exact integers, [K, (B*)Ho*Wo] (samples side by
    side), where :func:`cacc.accumulation_is_safe` holds."""
    patches, row = csc.im2col(conv, ops.data, ops.matrix.dtype.type)
    acc = cmac.exact_product(ops.matrix, patches, ops.splits)
    if row == conv.out_width:
        return acc
    k = len(acc)  # wide patches: keep each row's outputs
    return acc.reshape(k, -1, conv.out_height, row)[..., :conv.out_width].reshape(k, -1)


def accumulator_bounds(conv: ConvCore, weights: np.ndarray) -> list[tuple[int, int]]:
    """(lowest, highest) accumulator of each kernel over every input of the precision's
    range (data, padding and CDMA's converted values all are): a bound that needs no data."""
    prec = conv.precision
    w = weights.reshape(weights.shape[0], -1).astype(np.int64)
    pos = np.maximum(w, 0).sum(axis=1).tolist()
    neg = np.minimum(w, 0).sum(axis=1).tolist()
    lo, hi = int(prec.min), int(prec.max)
    return [(lo * p + hi * n, hi * p + lo * n) for p, n in zip(pos, neg)]


def _accumulate_in_order(conv: ConvCore, ops: ConvOperands, cfg: HardwareConfig) -> np.ndarray:
    """Saturation is possible: add stripe operations in hardware order (block, then tap)."""
    win = csc.windows(conv, ops.data)  # [C, R, S, Ho, Wo]
    dtype = ops.matrix.dtype.type  # exact GEMM type of the precision
    steps = []
    for b in range(0, conv.in_channels, cfg.atom_c):
        for y in range(conv.kernel_height):
            for x in range(conv.kernel_width):
                w = ops.weights[:, b:b + cfg.atom_c, y, x]
                d = win[b:b + cfg.atom_c, y, x].reshape(w.shape[1], -1)
                steps.append(cmac.exact_matmul(w.astype(dtype), d.astype(dtype)))
    acc = cacc.accumulate_in_order(np.stack(steps), conv.precision)
    return acc.reshape(conv.kernels, conv.out_height, conv.out_width)


def to_sdp(conv: ConvCore, acc: np.ndarray, cfg: HardwareConfig) -> np.ndarray:
    """CACC output: rounded int32 values, channels padded to whole atoms with zeros (float
    precisions: binary32 patterns, :func:`nvdla_sim.floatpath.conv.to_sdp`)."""
    if conv.precision.is_float:
        return float_conv.to_sdp(conv, acc, cfg)
    rounded = cacc.truncate(acc, conv.clip_truncate)
    padded = cfg.channels_padded(conv.kernels, conv.precision)
    if padded == conv.kernels:
        return rounded
    out = np.zeros((*acc.shape[:-3], padded, conv.out_height, conv.out_width), np.int64)
    out[..., : conv.kernels, :, :] = rounded
    return out
