"""Plain numpy evaluation of a quantized IR graph, with ONNX semantics.

Every node computes its exact real-valued result from dequantized inputs
(integer accumulation is exact in int64 / float64; :func:`exact_node`) and
quantizes it the way ONNX QuantizeLinear does (round half to even, saturate).
This is the yardstick the NVDLA simulation is compared with: they may differ
only by the requantization approximation the compiler documents per layer, and
only where the exact value lies within that approximation of a rounding
boundary (:mod:`compiler.verify`).

A float graph (:func:`compiler.ir.float_params`, FP16 / FP32) is evaluated the same
way: each node's exact value from its binary16 / binary32 inputs, weights and
biases (products and sums in float64), rounded once to the tensor's format (IEEE,
ties to even).  The hardware rounds more often (accumulation order and width,
see :mod:`compiler.verify` for the tolerance that follows).
Arrays carry a leading batch axis: (N, C, H, W).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from compiler.ir import (
    Activation, Add, CompileError, Concat, Conv, GlobalAvgPool, Graph, Lrn, Pool, QuantParams,
    Requant, value_dtype)


def quantize_exact(real_over_scale: np.ndarray, q: QuantParams) -> np.ndarray:
    """:func:`exact_node` values -> stored integers (round half to even, add the zero point,
    saturate to the tensor's width); float tensors round to their IEEE format."""
    if q.is_float:
        return q.quantize(real_over_scale)
    return np.clip(np.rint(real_over_scale) + q.zero_point, *q.range).astype(
        value_dtype(q.bits))


def _activate(r: np.ndarray, activation: Activation | None, scale: float) -> np.ndarray:
    """Clamp ``r`` (in output units) to the activation's real bounds."""
    if activation is None:
        return r
    if activation.low is not None:
        r = np.maximum(r, activation.low / scale)
    if activation.high is not None:
        r = np.minimum(r, activation.high / scale)
    return r


def _pad(x: np.ndarray, pads: tuple[int, int, int, int], value: float) -> np.ndarray:
    t, l, b, r = pads
    return np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)), constant_values=value)


def conv_accumulate(node: Conv, x: np.ndarray, x_zero_point: int) -> np.ndarray:
    """Exact ``sum (x - zx) * w`` as int64 (N, K, Ho, Wo); padding is real zero."""
    return np.rint(conv_sum(node, x.astype(np.float64) - x_zero_point)).astype(np.int64)


def conv_sum(node: Conv, x: np.ndarray) -> np.ndarray:
    """``sum x * w`` in float64 (N, K, Ho, Wo) for real inputs ``x``; padding is zero."""
    xc = _pad(np.asarray(x, np.float64), node.pads, 0.0)
    k, cg, r, s = node.weight.shape
    dy, dx = node.dilation
    win = sliding_window_view(xc, ((r - 1) * dy + 1, (s - 1) * dx + 1), axis=(2, 3))
    win = win[:, :, ::node.stride[0], ::node.stride[1], ::dy, ::dx]  # N C Ho Wo R S
    n, c, ho, wo = win.shape[:4]
    g = node.groups
    win = win.reshape(n, g, cg, ho, wo, r, s)
    w = node.weight.astype(np.float64).reshape(g, k // g, cg, r, s)
    acc = np.einsum("ngcyxrs,gkcrs->ngkyx", win, w, optimize=True)
    return acc.reshape(n, k, ho, wo)


def evaluate(graph: Graph, x_q: np.ndarray) -> dict[str, np.ndarray]:
    """All tensors of the graph for an int8 (int16, fp16, fp32) input batch (N, C, H, W)."""
    values = {graph.inputs[0]: np.asarray(x_q, graph.tensor(graph.inputs[0]).quant.dtype)}
    for node in graph.nodes:
        out = graph.tensor(node.output)
        ins = [values[name] for name in node.inputs]
        qin = [graph.tensor(name).quant for name in node.inputs]
        values[node.output] = quantize_exact(exact_node(node, ins, qin, out.quant), out.quant)
    return values


def exact_node(node, ins, qin, qout: QuantParams) -> np.ndarray:
    """The node's exact output for int8 inputs ``ins`` (quantized with ``qin``) in units of
    the output scale, before rounding, zero point and saturation (float64): rounding
    boundaries lie at half-integers."""
    x, qx = ins[0], qin[0]
    if isinstance(node, Conv) and qx.is_float:
        acc = conv_sum(node, x) + node.bias.astype(np.float64)[:, None, None]
        return _activate(acc, node.activation, qout.scale)
    if isinstance(node, Conv):
        acc = conv_accumulate(node, x, qx.zero_point) + node.bias.astype(np.int64)[:, None, None]
        mult = qx.scale * node.weight_scale.astype(np.float64) / qout.scale
        r = acc * mult[:, None, None]
        return _activate(r, node.activation, qout.scale)
    if isinstance(node, (Add, Requant)):
        r = qin[0].scale * (x.astype(np.float64) - qin[0].zero_point)
        if isinstance(node, Add):
            r = r + qin[1].scale * (ins[1].astype(np.float64) - qin[1].zero_point)
        return _activate(r / qout.scale, node.activation, qout.scale)
    if isinstance(node, Pool):
        real = qx.scale * (x.astype(np.float64) - qx.zero_point)
        fill = -np.inf if node.kind == "max" else 0.0
        padded = _pad(real, node.pads, fill)
        win = sliding_window_view(padded, node.kernel, axis=(2, 3))
        win = win[:, :, ::node.stride[0], ::node.stride[1]]
        if node.kind == "max":
            r = win.max(axis=(-2, -1))
        elif node.count_include_pad or not any(node.pads):
            r = win.mean(axis=(-2, -1))
        else:
            ones = sliding_window_view(_pad(np.ones_like(real), node.pads, 0.0), node.kernel,
                                       axis=(2, 3))[:, :, ::node.stride[0], ::node.stride[1]]
            r = win.sum(axis=(-2, -1)) / ones.sum(axis=(-2, -1))
        return r / qout.scale
    if isinstance(node, GlobalAvgPool):
        real = qx.scale * (x.astype(np.float64) - qx.zero_point)
        return real.mean(axis=(2, 3), keepdims=True) / qout.scale
    if isinstance(node, Concat):
        # the inputs share the output's quantization (compiler.quantize)
        return np.concatenate(ins, axis=1).astype(np.float64) - qout.zero_point
    if isinstance(node, Lrn):
        real = qx.scale * (x.astype(np.float64) - qx.zero_point)
        sq = np.pad(real ** 2, ((0, 0), ((node.size - 1) // 2, node.size // 2), (0, 0), (0, 0)))
        window = sliding_window_view(sq, node.size, axis=1).sum(axis=-1)
        r = real / (node.bias + node.alpha / node.size * window) ** node.beta
        return r / qout.scale
    raise CompileError(f"node {node.name}: the reference has no rule for {type(node).__name__}")
