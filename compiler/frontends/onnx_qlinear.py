"""QOperator ops, read as DequantizeLinear of their inputs, the float op, QuantizeLinear.

Rewriting them that way reuses the QDQ handlers, so both formats give the same IR.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import onnx

from compiler.frontends import onnx_conv, onnx_ops
from compiler.frontends.onnx_ops import scale_and_zero_point
from compiler.frontends.onnx_values import (Args, Const, DequantConst, Real, Value,
                                            activation_quant, arg, attributes, fail)

if TYPE_CHECKING:
    from compiler.frontends.onnx_context import Importer


def _dequantized(ctx: Importer, node: onnx.NodeProto, args: Args, index: int,
                 axis: int = 1) -> Value:
    """Input ``index`` dequantized with the scale and zero point that follow it."""
    scale, zp = scale_and_zero_point(ctx, node, args, index + 1)
    return ctx.dequantize(node, arg(args, index), scale, zp, axis)


def _quantized(ctx: Importer, node: onnx.NodeProto, value: Value, args: Args,
               index: int) -> Value:
    """``value`` quantized with the output scale and zero point at ``index``."""
    scale, zp = scale_and_zero_point(ctx, node, args, index)
    int_type = zp.dtype if zp is not None else np.dtype(np.uint8)
    quant = activation_quant(node, scale, zp, int_type)
    return ctx.quantize(node, value, quant, node.output[0], int_type)


def _bias(ctx: Importer, node: onnx.NodeProto, value: Value | None, x: Value,
          w: Value) -> DequantConst | None:
    """The int32 bias of QLinearConv/QGemm, whose scale is input scale x weight scale."""
    if value is None:
        return None
    if not (isinstance(value, Const) and value.value.dtype == np.int32 and isinstance(x, Real)
            and isinstance(w, DequantConst)):
        raise fail(node, "supported: an int32 constant bias on a quantized input and weights")
    scale = ctx.tensors[x.name].quant.scale * w.scale.reshape(-1)
    if scale.size not in (1, value.value.size):
        raise fail(node, f"bias of shape {value.value.shape} does not match {scale.size} "
                         f"weight scales")
    return DequantConst(value.value, scale, np.zeros(scale.shape, np.int32))


def qlinear_conv(ctx: Importer, node: onnx.NodeProto, args: Args) -> Value:
    x = _dequantized(ctx, node, args, 0)
    w = _dequantized(ctx, node, args, 3, axis=0)
    pending = onnx_conv.conv(ctx, node, [x, w, _bias(ctx, node, arg(args, 8), x, w)])
    return _quantized(ctx, node, pending, args, 6)


def qlinear_matmul(ctx: Importer, node: onnx.NodeProto, args: Args) -> Value:
    x = _dequantized(ctx, node, args, 0)
    w = _dequantized(ctx, node, args, 3, axis=1)
    return _quantized(ctx, node, onnx_conv.matmul(ctx, node, [x, w]), args, 6)


def qgemm(ctx: Importer, node: onnx.NodeProto, args: Args) -> Value:
    """com.microsoft QGemm; without an output scale its output stays float."""
    x = _dequantized(ctx, node, args, 0)
    w = _dequantized(ctx, node, args, 3, axis=0 if attributes(node).get("transB", 0) else 1)
    pending = onnx_conv.gemm(ctx, node, [x, w, _bias(ctx, node, arg(args, 6), x, w)])
    return pending if arg(args, 7) is None else _quantized(ctx, node, pending, args, 7)


def qlinear_add(ctx: Importer, node: onnx.NodeProto, args: Args) -> Value:
    a, b = _dequantized(ctx, node, args, 0), _dequantized(ctx, node, args, 3)
    return _quantized(ctx, node, onnx_ops.add(ctx, node, [a, b]), args, 6)


def qlinear_average_pool(ctx: Importer, node: onnx.NodeProto, args: Args) -> Value:
    pending = onnx_ops.average_pool(ctx, node, [_dequantized(ctx, node, args, 0)])
    return _quantized(ctx, node, pending, args, 3)


def qlinear_global_average_pool(ctx: Importer, node: onnx.NodeProto, args: Args) -> Value:
    pending = onnx_ops.global_average_pool(ctx, node, [_dequantized(ctx, node, args, 0)])
    return _quantized(ctx, node, pending, args, 3)


def qlinear_concat(ctx: Importer, node: onnx.NodeProto, args: Args) -> Value:
    """Inputs: output scale and zero point, then (tensor, scale, zero point) per input."""
    xs: Args = [_dequantized(ctx, node, args, i) for i in range(2, len(args), 3)]
    return _quantized(ctx, node, onnx_ops.concat(ctx, node, xs), args, 0)


def qlinear_softmax(ctx: Importer, node: onnx.NodeProto, args: Args) -> Value:
    return onnx_ops.softmax(ctx, node, args[:1])
