"""Handlers of the standard ONNX ops other than Conv/Gemm/MatMul/BatchNormalization.

Each handler maps a node's input values to its output value.  Float ops on dequantized
tensors become :class:`Pending` IR nodes; shape-only ops (Flatten, Reshape, Identity) just
relabel their input; Q/DQ delegate to the :class:`Importer`.
"""

from __future__ import annotations

from dataclasses import replace
from math import ceil
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from compiler import ir
from compiler.frontends.onnx_conv import add_bias
from compiler.frontends.onnx_values import (Args, Const, DequantConst, Final, FloatInput,
                                            Pending, QTensor, Real, Value, activation_quant, arg,
                                            attributes, axis_shape, fail, node_name, pair,
                                            window)

if TYPE_CHECKING:
    from compiler.frontends.onnx_context import Importer

_FLOAT32_MAX = float(np.finfo(np.float32).max)


def scale_and_zero_point(ctx: Importer, node: onnx.NodeProto, args: Args, index: int
                         ) -> tuple[np.ndarray, np.ndarray | None]:
    """The (scale, optional zero point) constants at ``index`` and ``index + 1``."""
    scale = ctx.array(node, arg(args, index), "scale")
    zp = arg(args, index + 1)
    return scale, None if zp is None else ctx.array(node, zp, "zero point")


def quantize_linear(ctx: Importer, node: onnx.NodeProto, args: Args) -> Value:
    attrs = _no_blocks(node)
    scale, zp = scale_and_zero_point(ctx, node, args, 1)
    output_dtype = attrs.get("output_dtype", 0)
    int_type = zp.dtype if zp is not None else np.dtype(
        helper.tensor_dtype_to_np_dtype(output_dtype) if output_dtype else np.uint8)
    x = args[0]
    if isinstance(x, Const):  # fake-quantized float weights
        return Const(_quantize_const(node, x.value, scale, zp, attrs.get("axis", 1), int_type))
    quant = activation_quant(node, scale, zp, int_type)
    return ctx.quantize(node, x, quant, node.output[0], int_type)


def _quantize_const(node: onnx.NodeProto, x: np.ndarray, scale: np.ndarray,
                    zp: np.ndarray | None, axis: int, int_type: np.dtype) -> np.ndarray:
    if int_type.kind not in "iu":
        raise fail(node, f"quantizing to {int_type} is not supported; supported: int8, uint8")
    if not np.all(scale > 0):
        raise fail(node, "scales must be positive")
    shape = axis_shape(node, x.shape, scale, axis)
    zero = 0 if zp is None else zp.reshape(shape)
    q = np.rint(x.astype(np.float32) / scale.astype(np.float32).reshape(shape)) + zero
    info = np.iinfo(int_type)
    return np.clip(q, info.min, info.max).astype(int_type)


def dequantize_linear(ctx: Importer, node: onnx.NodeProto, args: Args) -> Value:
    attrs = _no_blocks(node)
    scale, zp = scale_and_zero_point(ctx, node, args, 1)
    return ctx.dequantize(node, args[0], scale, zp, attrs.get("axis", 1))


def _no_blocks(node: onnx.NodeProto) -> dict[str, Any]:
    attrs = attributes(node)
    if attrs.get("block_size", 0):
        raise fail(node, "blocked quantization is not supported; supported: per-tensor and "
                         "per-axis")
    return attrs


def constant(ctx: Importer, node: onnx.NodeProto, args: Args) -> Const:
    attrs = attributes(node)
    if "value" in attrs:
        return Const(numpy_helper.to_array(attrs["value"]))
    for key, dtype in (("value_float", np.float32), ("value_floats", np.float32),
                       ("value_int", np.int64), ("value_ints", np.int64)):
        if key in attrs:
            return Const(np.asarray(attrs[key], dtype))
    raise fail(node, "supported: value, value_float(s), value_int(s)")


def identity(ctx: Importer, node: onnx.NodeProto, args: Args) -> Value:
    x = arg(args, 0)
    if x is None:
        raise fail(node, "missing input")
    return x


def softmax(ctx: Importer, node: onnx.NodeProto, args: Args) -> Final:
    """Dropped: the graph output it feeds is its input (the argmax is the same)."""
    return Final(identity(ctx, node, args))


def relu(ctx: Importer, node: onnx.NodeProto, args: Args) -> Pending:
    return _activate(ctx, node, arg(args, 0), ir.RELU)


def clip(ctx: Importer, node: onnx.NodeProto, args: Args) -> Pending:
    """Clip bounds come from inputs (opset 11+) or from min/max attributes (older)."""
    attrs = attributes(node)
    if len(args) > 1:
        bounds = [None if v is None else ctx.array(node, v, "bound") for v in args[1:3]]
    else:
        bounds = [np.asarray(attrs[k]) if k in attrs else None for k in ("min", "max")]
    if any(b is not None and b.size != 1 for b in bounds):
        raise fail(node, "bounds must be scalars")
    low, high = (None if b is None or not abs(float(b.reshape(()))) < _FLOAT32_MAX
                 else float(b.reshape(())) for b in bounds + [None] * (2 - len(bounds)))
    return _activate(ctx, node, arg(args, 0), ir.Activation(low, high))


def _activate(ctx: Importer, node: onnx.NodeProto, x: Value | None,
              act: ir.Activation) -> Pending:
    """Fuse into a pending Conv/Add/Requant, or re-quantize a tensor with a clamp."""
    if isinstance(x, Real):
        requant = ir.Requant(node_name(node), (x.name,), "", activation=act)
        return Pending(requant, ctx.shape(x), x.flat)
    if isinstance(x, Pending) and isinstance(x.node, (ir.Conv, ir.Add, ir.Requant)):
        old = x.node.activation or ir.Activation()
        lows = [v for v in (old.low, act.low) if v is not None]
        highs = [v for v in (old.high, act.high) if v is not None]
        both = ir.Activation(max(lows) if lows else None, min(highs) if highs else None)
        if both.low is not None and both.high is not None and both.low > both.high:
            raise fail(node, f"empty clamp range [{both.low}, {both.high}]")
        return replace(x, node=replace(x.node, activation=both))
    got = x.kind if x is not None else "missing"
    raise fail(node, f"input is {got}; supported: a dequantized tensor or the float output "
                     f"of Conv, Gemm, MatMul or Add")


def max_pool(ctx: Importer, node: onnx.NodeProto, args: Args) -> Value:
    """Max pooling commutes with quantization, so it also runs on int8 and pending inputs."""
    if any(node.output[1:]):
        raise fail(node, "the Indices output is not supported")
    x = arg(args, 0)
    if isinstance(x, QTensor) and not x.flat:
        quant = ctx.tensors[x.name].quant
        pool, shape = _pool(ctx, node, x, "max", attributes(node))
        ctx.emit(node, replace(pool, output=node.output[0]), shape, quant, ctx.int_type(x))
        return QTensor(node.output[0])
    if isinstance(x, Pending) and not x.flat and x.source is None:
        pool, shape = _pool(ctx, node, x, "max", attributes(node))
        return Pending(replace(pool, inputs=(node.input[0],)), shape, source=x)
    return _pending_pool(ctx, node, args, "max")


def average_pool(ctx: Importer, node: onnx.NodeProto, args: Args) -> Pending:
    return _pending_pool(ctx, node, args, "avg")


def _pending_pool(ctx: Importer, node: onnx.NodeProto, args: Args, kind: str) -> Pending:
    x = ctx.real(node, arg(args, 0), "data input")
    pool, shape = _pool(ctx, node, x, kind, attributes(node))
    return Pending(pool, shape)


def _pool(ctx: Importer, node: onnx.NodeProto, x: Real | QTensor | Pending, kind: str,
          attrs: dict[str, Any]) -> tuple[ir.Pool, tuple[int, int, int]]:
    if "kernel_shape" not in attrs:
        raise fail(node, "kernel_shape is required")
    if pair(node, attrs, "dilations", 1) != (1, 1):
        raise fail(node, "supported: dilations=1")
    if attrs.get("channels_last", 0):
        raise fail(node, "supported: channels_last=0 (NCHW)")
    kernel = pair(node, attrs, "kernel_shape", 1)
    c, h, w = ctx.shape(x)
    stride, pads, (oh, ow) = window(node, attrs, kernel, (h, w), (1, 1))
    if attrs.get("ceil_mode", 0) and (oh, ow) != tuple(
            ceil((n + pads[i] + pads[i + 2] - kernel[i]) / stride[i]) + 1
            for i, n in enumerate((h, w))):
        raise fail(node, "ceil_mode=1 is supported only where it gives the same output size "
                         "as ceil_mode=0")
    name = x.name if isinstance(x, (Real, QTensor)) else ""
    pool = ir.Pool(node_name(node), (name,), "", kind=kind, kernel=kernel, stride=stride,
                   pads=pads, count_include_pad=bool(attrs.get("count_include_pad", 0)))
    return pool, (c, oh, ow)


def global_average_pool(ctx: Importer, node: onnx.NodeProto, args: Args) -> Pending:
    if attributes(node).get("channels_last", 0):
        raise fail(node, "supported: channels_last=0 (NCHW)")
    x = ctx.real(node, arg(args, 0), "data input")
    return Pending(ir.GlobalAvgPool(node_name(node), (x.name,), ""), (ctx.shape(x)[0], 1, 1))


def lrn(ctx: Importer, node: onnx.NodeProto, args: Args) -> Pending:
    attrs = attributes(node)
    if "size" not in attrs:
        raise fail(node, "the size attribute is required")
    x = ctx.real(node, arg(args, 0), "data input")
    op = ir.Lrn(node_name(node), (x.name,), "", size=int(attrs["size"]),
                alpha=float(attrs.get("alpha", 1e-4)), beta=float(attrs.get("beta", 0.75)),
                bias=float(attrs.get("bias", 1.0)))
    return Pending(op, ctx.shape(x))


def add(ctx: Importer, node: onnx.NodeProto, args: Args) -> Pending:
    """A residual sum of two tensors, or a bias right after Conv/Gemm/MatMul."""
    a, b = arg(args, 0), arg(args, 1)
    if isinstance(a, (Const, DequantConst)):
        a, b = b, a
    if isinstance(b, (Const, DequantConst)):
        if isinstance(a, Pending):
            return add_bias(ctx, node, a, b, rank=2 if a.flat else 4)
        raise fail(node, "adding a constant is supported only as the bias right after Conv, "
                         "Gemm or MatMul, before any QuantizeLinear (to fuse MatMul+Add into "
                         "Gemm, run onnxruntime.quantization.quant_pre_process before "
                         "quantizing)")
    ra = ctx.real(node, a, "first input", flat=a.flat if isinstance(a, Real) else False)
    rb = ctx.real(node, b, "second input", flat=ra.flat)
    if ctx.shape(ra) != ctx.shape(rb):
        raise fail(node, f"shapes {ctx.shape(ra)} and {ctx.shape(rb)} differ; broadcasting "
                         f"is not supported")
    return Pending(ir.Add(node_name(node), (ra.name, rb.name), ""), ctx.shape(ra), ra.flat)


def concat(ctx: Importer, node: onnx.NodeProto, args: Args) -> Pending:
    if not args:
        raise fail(node, "no inputs")
    first = args[0]
    flat = isinstance(first, Real) and first.flat
    xs = [ctx.real(node, v, f"input {i}", flat=flat) for i, v in enumerate(args)]
    shapes = [ctx.shape(x) for x in xs]
    _check_axis_1(node, int(attributes(node).get("axis", 1)), 2 if flat else 4)
    if len({s[1:] for s in shapes}) != 1 or (flat and shapes[0][1:] != (1, 1)):
        raise fail(node, f"inputs of shapes {shapes} do not concatenate along channels")
    shape = (sum(s[0] for s in shapes), *shapes[0][1:])
    return Pending(ir.Concat(node_name(node), tuple(x.name for x in xs), ""), shape, flat)


def flatten(ctx: Importer, node: onnx.NodeProto, args: Args) -> Value:
    x = _shaped(node, arg(args, 0))
    _check_axis_1(node, int(attributes(node).get("axis", 1)), 2 if x.flat else 4)
    return replace(x, flat=True)


def _check_axis_1(node: onnx.NodeProto, axis: int, rank: int) -> None:
    """Concat and Flatten map to the IR only along the channel axis."""
    if not -rank <= axis < rank or axis % rank != 1:
        raise fail(node, f"axis={axis} is not supported; supported: axis 1 (channels)")


def reshape(ctx: Importer, node: onnx.NodeProto, args: Args) -> Value:
    """Only flattening [N, C, H, W] to [N, C*H*W] (or back) maps to the IR."""
    x = _shaped(node, arg(args, 0))
    target = [int(v) for v in ctx.array(node, arg(args, 1), "shape").reshape(-1)]
    c, h, w = ctx.shape(x)
    dims_in = [1, c * h * w] if x.flat else [1, c, h, w]
    keep_zero = attributes(node).get("allowzero", 0)
    dims = [dims_in[i] if v == 0 and not keep_zero and i < len(dims_in) else v
            for i, v in enumerate(target)]
    if dims.count(-1) == 1:
        known = -int(np.prod(dims))
        dims[dims.index(-1)] = c * h * w // known if known > 0 and c * h * w % known == 0 else 0
    if dims not in ([1, c * h * w], [1, c, h, w]):
        raise fail(node, f"reshape of {dims_in} to {target} is not supported; supported: "
                         f"[N, C*H*W] (flatten before Gemm/MatMul) or [N, C, H, W]")
    return replace(x, flat=len(dims) == 2)


def _shaped(node: onnx.NodeProto, x: Value | None) -> Real | QTensor | Pending | FloatInput:
    if isinstance(x, (Real, QTensor, Pending, FloatInput)):
        return x
    raise fail(node, f"input is {x.kind if x is not None else 'missing'}; expected a tensor")
