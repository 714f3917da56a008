"""Vectorized numpy kernels of the float forward pass on NCHW batches (ONNX semantics)."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from compiler.ir import conv_output_size


def _windows(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
             pads: tuple[int, int, int, int], dilation: tuple[int, int] = (1, 1),
             fill: float = 0.0) -> np.ndarray:
    """View (N, C, OH, OW, R, S) of the padded input's sliding windows (no copy)."""
    top, left, bottom, right = pads
    oh = conv_output_size(x.shape[2], kernel[0], stride[0], top, bottom, dilation[0])
    ow = conv_output_size(x.shape[3], kernel[1], stride[1], left, right, dilation[1])
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=fill)
    span = ((kernel[0] - 1) * dilation[0] + 1, (kernel[1] - 1) * dilation[1] + 1)
    win = sliding_window_view(xp, span, axis=(2, 3))
    return win[:, :, ::stride[0], ::stride[1], ::dilation[0], ::dilation[1]][:, :, :oh, :ow]


def conv2d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None,
           stride: tuple[int, int], pads: tuple[int, int, int, int],
           dilation: tuple[int, int], groups: int) -> np.ndarray:
    """Grouped convolution as im2col + one batched matmul per group."""
    n, c = x.shape[:2]
    k, cg, r, s = weight.shape
    win = _windows(x, (r, s), stride, pads, dilation)
    oh, ow = win.shape[2:4]
    cols = (win.reshape(n, groups, cg, oh, ow, r, s).transpose(1, 0, 3, 4, 2, 5, 6)
            .reshape(groups, n * oh * ow, cg * r * s))
    kernels = weight.reshape(groups, k // groups, cg * r * s).transpose(0, 2, 1)
    y = np.matmul(cols, kernels.astype(x.dtype, copy=False))  # (groups, n*oh*ow, k/groups)
    y = y.reshape(groups, n, oh, ow, k // groups).transpose(1, 0, 4, 2, 3).reshape(n, k, oh, ow)
    if bias is not None:
        y += bias.astype(x.dtype, copy=False)[:, None, None]
    return y


def pool2d(x: np.ndarray, kind: str, kernel: tuple[int, int], stride: tuple[int, int],
           pads: tuple[int, int, int, int], count_include_pad: bool) -> np.ndarray:
    """Max (padding is -inf) or average pooling (ONNX MaxPool/AveragePool semantics)."""
    if kind == "max":
        return _windows(x, kernel, stride, pads, fill=-np.inf).max(axis=(-2, -1))
    sums = _windows(x, kernel, stride, pads).sum(axis=(-2, -1))
    if count_include_pad:
        return sums / (kernel[0] * kernel[1])
    ones = np.ones((1, 1) + x.shape[2:], x.dtype)
    return sums / _windows(ones, kernel, stride, pads).sum(axis=(-2, -1))


def lrn(x: np.ndarray, size: int, alpha: float, beta: float, bias: float) -> np.ndarray:
    """ONNX LRN: each channel divided by (bias + alpha/size * sum of squares over the
    ``size`` channels around it) ** beta, the window clipped at the edges."""
    before = (size - 1) // 2
    squares = np.pad(x * x, ((0, 0), (before, size - 1 - before), (0, 0), (0, 0)))
    sums = sliding_window_view(squares, size, axis=1).sum(axis=-1)
    return x / (bias + alpha / size * sums) ** beta
