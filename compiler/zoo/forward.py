"""Float forward pass of a :class:`FloatGraph` in numpy: the float reference of every
zoo model and the source of calibration statistics."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from compiler.ir import CompileError
from compiler.zoo import kernels
from compiler.zoo.graph import (Add, BatchNorm, Clip, Concat, Conv, Flatten, FloatGraph,
                                GlobalAvgPool, Linear, Lrn, Op, Pool)

Observer = Callable[[str, np.ndarray], None]


def _batchnorm(op: BatchNorm, x: np.ndarray) -> np.ndarray:
    scale = op.gamma / np.sqrt(op.var.astype(np.float64) + op.eps)
    shift = op.beta - op.mean * scale
    return x * scale.astype(x.dtype)[:, None, None] + shift.astype(x.dtype)[:, None, None]


def _clip(op: Clip, x: np.ndarray) -> np.ndarray:
    return np.clip(x, -np.inf if op.low is None else op.low,
                   np.inf if op.high is None else op.high)


def _linear(op: Linear, x: np.ndarray) -> np.ndarray:
    return x @ op.weight.T.astype(x.dtype) + op.bias.astype(x.dtype)


_APPLY: dict[type[Op], Callable[..., np.ndarray]] = {
    Conv: lambda op, x: kernels.conv2d(x, op.weight, op.bias, op.stride, op.pads,
                                       op.dilation, op.groups),
    BatchNorm: _batchnorm,
    Clip: _clip,
    Pool: lambda op, x: kernels.pool2d(x, op.kind, op.kernel, op.stride, op.pads,
                                       op.count_include_pad),
    GlobalAvgPool: lambda op, x: x.mean(axis=(2, 3), keepdims=True),
    Add: lambda op, a, b: a + b,
    Concat: lambda op, *xs: np.concatenate(xs, axis=1),
    Lrn: lambda op, x: kernels.lrn(x, op.size, op.alpha, op.beta, op.bias),
    Flatten: lambda op, x: x.reshape(len(x), -1),
    Linear: _linear,
}


def apply(op: Op, *inputs: np.ndarray) -> np.ndarray:
    """One op on batched inputs."""
    return _APPLY[type(op)](op, *inputs)


def check_batch(graph: FloatGraph, x: np.ndarray) -> np.ndarray:
    """``x`` as a float array of shape (N, C, H, W) matching the graph's input."""
    x = np.asarray(x)
    if x.ndim != 4 or x.shape[1:] != tuple(graph.input_shape) or len(x) == 0:
        raise CompileError(f"model {graph.name}: input batch must have shape (N, "
                           f"{', '.join(map(str, graph.input_shape))}) with N >= 1, "
                           f"got {x.shape}")
    return x if x.dtype in (np.float32, np.float64) else x.astype(np.float32)


def forward(graph: FloatGraph, x: np.ndarray, observe: Observer | None = None) -> np.ndarray:
    """Run ``graph`` on a batch in the batch's float dtype (float32 or float64).

    ``observe(tensor_name, value)`` is called for the input and every op output,
    which is how calibration sees all activations without storing them.
    """
    values = {graph.input: check_batch(graph, x)}
    if observe:
        observe(graph.input, values[graph.input])
    for op in graph.nodes:
        out = apply(op, *(values[name] for name in op.inputs))
        values[op.output] = out
        if observe:
            observe(op.output, out)
    return values[graph.output]
