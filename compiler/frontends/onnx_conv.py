"""Conv, Gemm, MatMul, their biases and BatchNormalization folding.

Everything here builds a :class:`Pending` IR Conv: fully-connected layers are convolutions
whose kernel covers the whole (C, H, W) input, the ONNX [N, C*H*W] flatten order being
exactly a C-order reshape of the weights to [K, C, H, W].  Float weights (not quantized in
the model) stay float until the output is quantized so a following BatchNormalization folds
in float first; quantized weights fold BatchNormalization into the requantization only where
that is exact.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import onnx

from compiler import ir
from compiler.frontends.onnx_values import (Args, Const, DequantConst, Pending, Real, Value,
                                            arg, attributes, channel_values, fail, node_name,
                                            pair, to_int32, window)

if TYPE_CHECKING:
    from compiler.frontends.onnx_context import Importer

_BIAS_RTOL = 1e-5  # bias scale vs input scale x weight scale: float32 rounding only
_SHIFT_ATOL = 1e-3  # a folded bias shift counts as an integer this close to one


def conv(ctx: Importer, node: onnx.NodeProto, args: Args) -> Pending:
    x = ctx.real(node, arg(args, 0), "data input")
    weight, scale = _weights(node, arg(args, 1), ndim=4, out_axis=0)
    attrs = attributes(node)
    k, cg, r, s = weight.shape
    if tuple(attrs.get("kernel_shape", (r, s))) != (r, s):
        raise fail(node, f"kernel_shape={attrs['kernel_shape']} disagrees with the weights")
    c, h, w = ctx.shape(x)
    groups = int(attrs.get("group", 1))
    if groups < 1 or cg * groups != c or k % groups:
        raise fail(node, f"weights of shape {weight.shape} with group={groups} do not fit "
                         f"{c} input channels")
    dilation = pair(node, attrs, "dilations", 1)
    stride, pads, (oh, ow) = window(node, attrs, (r, s), (h, w), dilation)
    pending = Pending(_conv_node(node, x, weight, scale, stride=stride, pads=pads,
                                 dilation=dilation, groups=groups), (k, oh, ow))
    return _with_bias(ctx, node, pending, arg(args, 2))


def gemm(ctx: Importer, node: onnx.NodeProto, args: Args) -> Pending:
    attrs = attributes(node)
    if attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0:
        raise fail(node, "supported: transA=0, alpha=1, beta=1")
    x = ctx.real(node, arg(args, 0), "input A", flat=True)
    trans_b = bool(attrs.get("transB", 0))
    weight, scale = _weights(node, arg(args, 1), ndim=2, out_axis=0 if trans_b else 1)
    pending = _fully_connected(ctx, node, x, weight if trans_b else weight.T, scale)
    return _with_bias(ctx, node, pending, arg(args, 2))


def matmul(ctx: Importer, node: onnx.NodeProto, args: Args) -> Pending:
    x = ctx.real(node, arg(args, 0), "input A", flat=True)
    weight, scale = _weights(node, arg(args, 1), ndim=2, out_axis=1)
    return _fully_connected(ctx, node, x, weight.T, scale)


def _fully_connected(ctx: Importer, node: onnx.NodeProto, x: Real, weight: np.ndarray,
                     scale: np.ndarray | None) -> Pending:
    """A [K, C*H*W] weight matrix as a convolution over the whole (C, H, W) input."""
    c, h, w = ctx.shape(x)
    k = weight.shape[0]
    if weight.shape[1] != c * h * w:
        raise fail(node, f"weights take {weight.shape[1]} inputs, but the input has "
                         f"{c}x{h}x{w} = {c * h * w} values")
    weight = np.ascontiguousarray(weight.reshape(k, c, h, w))
    return Pending(_conv_node(node, x, weight, scale), (k, 1, 1), flat=True)


def _conv_node(node: onnx.NodeProto, x: Real, weight: np.ndarray, scale: np.ndarray | None,
               **geometry: object) -> ir.Conv:
    """An IR Conv with a zero bias; float weights get a float bias and a unit scale."""
    k = weight.shape[0]
    is_float = scale is None
    return ir.Conv(node_name(node), (x.name,), "", weight=weight,
                   weight_scale=np.ones(k) if is_float else scale,
                   bias=np.zeros(k, np.float64 if is_float else np.int32), **geometry)


def _weights(node: onnx.NodeProto, value: Value | None, ndim: int, out_axis: int
             ) -> tuple[np.ndarray, np.ndarray | None]:
    """int8 weights with one scale per output channel, or float weights and None."""
    if isinstance(value, Const) and value.value.dtype.kind == "f" and value.value.ndim == ndim:
        return value.value.astype(np.float64), None
    if not isinstance(value, DequantConst) or value.data.ndim != ndim:
        got = value.kind if value is not None else "missing"
        raise fail(node, f"weights are {got}; expected {ndim}-D int8 weights through "
                         f"DequantizeLinear (or float weights)")
    if value.data.dtype != np.int8:
        raise fail(node, f"weights are {value.data.dtype}; supported: int8 (QInt8) weights")
    if np.any(value.zero_point != 0):
        raise fail(node, "weights have a non-zero zero point; NVDLA needs symmetric int8 "
                         "weights (all zero points 0)")
    k = value.data.shape[out_axis]
    if value.scale.size != 1 and value.scale.shape[out_axis] != value.scale.size:
        raise fail(node, f"per-channel weight scales must run along the output-channel axis "
                         f"{out_axis}")
    scale = np.broadcast_to(value.scale.reshape(-1), (k,)).astype(np.float64)
    if not np.all(scale > 0):
        raise fail(node, "weight scales must be positive")
    return value.data, scale


def _with_bias(ctx: Importer, node: onnx.NodeProto, pending: Pending,
               value: Value | None) -> Pending:
    """Conv's B and Gemm's C are [K] vectors, i.e. broadcast like against [N, K]."""
    return pending if value is None else add_bias(ctx, node, pending, value, rank=2)


def add_bias(ctx: Importer, node: onnx.NodeProto, pending: Pending, value: Value,
             rank: int) -> Pending:
    """Add a constant per-channel bias, broadcast against a ``rank``-D output, to a pending
    Conv (an int32 bias must be exact)."""
    conv = _plain_conv(node, pending)
    k = conv.weight.shape[0]
    if conv.weight.dtype.kind == "f":
        real = channel_values(node, ctx.array(node, value, "bias"), k, rank, "bias")
        return replace(pending, node=replace(conv, bias=conv.bias + real))
    units = ctx.tensors[conv.inputs[0]].quant.scale * conv.weight_scale
    if isinstance(value, DequantConst) and value.data.dtype == np.int32:
        scale = channel_values(node, np.broadcast_to(value.scale, value.data.shape), k, rank,
                               "bias scale")
        if not np.allclose(scale, units, rtol=_BIAS_RTOL, atol=0):
            raise fail(node, f"int32 bias scale {scale.tolist()} differs from input scale x "
                             f"weight scale {units.tolist()}")
        ints = channel_values(node, value.data - value.zero_point.astype(np.int64), k, rank,
                              "bias")
    else:
        ints = np.rint(channel_values(node, ctx.array(node, value, "bias"), k, rank, "bias")
                       / units)
    bias = to_int32(node, conv.bias.astype(np.int64) + ints, "bias")
    return replace(pending, node=replace(conv, bias=bias))


def batch_norm(ctx: Importer, node: onnx.NodeProto, args: Args) -> Pending:
    """Fold y = a * x + b (per channel) into the Conv/Gemm that produced x."""
    attrs = attributes(node)
    if attrs.get("training_mode", 0) or any(node.output[1:]):
        raise fail(node, "supported: inference mode with one output")
    x = arg(args, 0)
    if isinstance(x, Real):
        raise fail(node, "BatchNormalization on an already quantized tensor cannot be folded "
                         "exactly; supported: right after Conv/Gemm before its QuantizeLinear "
                         "(fold it before quantizing, e.g. onnxruntime.quantization."
                         "quant_pre_process)")
    if not isinstance(x, Pending):
        raise fail(node, f"input is {x.kind if x is not None else 'missing'}; supported: the "
                         f"float output of Conv/Gemm")
    k = _plain_conv(node, x).weight.shape[0]
    scale, bias, mean, var = (channel_values(node, ctx.array(node, arg(args, i), role), k, 2,
                                             role)
                              for i, role in enumerate(("scale", "B", "mean", "var"), 1))
    a = scale / np.sqrt(var + float(attrs.get("epsilon", 1e-5)))
    return _affine(ctx, node, x, a, bias - mean * a)


def _affine(ctx: Importer, node: onnx.NodeProto, pending: Pending, a: np.ndarray,
            b: np.ndarray) -> Pending:
    conv = _plain_conv(node, pending)
    if conv.weight.dtype.kind == "f":
        return replace(pending, node=replace(conv, weight=conv.weight * a[:, None, None, None],
                                             bias=conv.bias * a + b))
    negative = a < 0
    if np.any(a == 0) or np.any(conv.weight[negative] == -128):
        raise fail(node, "a zero scale, or a negative one on a weight of -128, cannot be "
                         "folded into int8 weights")
    weight_scale = conv.weight_scale * np.abs(a)
    shift = b / (ctx.tensors[conv.inputs[0]].quant.scale * weight_scale)
    if not np.allclose(shift, np.rint(shift), rtol=0, atol=_SHIFT_ATOL):
        raise fail(node, "the folded shift is not a whole number of int32 bias units, so it "
                         "cannot be folded exactly into the quantized Conv; fold "
                         "BatchNormalization before quantizing the weights")
    sign = np.where(negative, -1, 1)
    weight = (conv.weight * sign[:, None, None, None].astype(np.int8)).astype(np.int8)
    bias = to_int32(node, sign * conv.bias.astype(np.int64) + np.rint(shift).astype(np.int64),
                    "bias")
    return replace(pending, node=replace(conv, weight=weight, weight_scale=weight_scale,
                                         bias=bias))


def _plain_conv(node: onnx.NodeProto, pending: Pending) -> ir.Conv:
    """The Conv of ``pending``, which must not have an activation yet."""
    if not isinstance(pending.node, ir.Conv) or pending.node.activation is not None:
        raise fail(node, "supported only right after Conv, Gemm or MatMul (before any "
                         "activation and QuantizeLinear)")
    return pending.node


def quantize_float_weights(node: onnx.NodeProto, conv: ir.Conv, in_scale: float) -> ir.Conv:
    """Symmetric per-output-channel int8 weights (max |w| -> 127) and the matching bias."""
    max_abs = np.abs(conv.weight).reshape(len(conv.weight), -1).max(axis=1)
    scale = np.where(max_abs > 0, max_abs / 127, 1.0)
    weight = np.rint(conv.weight / scale[:, None, None, None]).astype(np.int8)
    bias = to_int32(node, np.rint(conv.bias / (in_scale * scale)), f"bias of {conv.name}")
    return replace(conv, weight=weight, weight_scale=scale, bias=bias)
