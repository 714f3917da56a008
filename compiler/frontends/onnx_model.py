"""Import a quantized ONNX CNN (QDQ or QOperator format) into the IR: :func:`load_onnx`.

The graph is interpreted symbolically in node order (ONNX requires topological order):
initializers are constants, float graph inputs wait for their QuantizeLinear, and every node
maps its input values to an output value (see :mod:`compiler.frontends.onnx_values`).
IR tensors are named after the ONNX int8/uint8 tensors they stand for: an input is the
output of the graph input's QuantizeLinear, an output is the input of the final
DequantizeLinear.  Shapes are inferred here, per sample, without ONNX shape inference.

Patterns beyond one op per IR node: Relu/Clip right after Conv/Gemm/MatMul/Add fuse into
its activation; an Add of a constant right after Conv/Gemm/MatMul is its bias;
BatchNormalization right after Conv/Gemm folds into it (float weights: in float, then the
weights are quantized per channel; int8 weights: only where exact); a float op feeding a
MaxPool takes the pool's output quantization (max commutes with rounding); Flatten/Reshape
to [N, C*H*W] before Gemm/MatMul makes a Conv over the whole input plane; the final Softmax
is dropped; Concat inputs quantized differently from its output get a Requant first.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
from onnx import numpy_helper

from compiler import ir
from compiler.frontends import onnx_conv, onnx_ops, onnx_qlinear
from compiler.frontends.onnx_context import Importer
from compiler.frontends.onnx_values import (Args, Const, Final, FloatInput, QTensor, Real,
                                            Value, fail)

Handler = Callable[[Importer, onnx.NodeProto, Args], Value]

_HANDLERS: dict[tuple[str, str], Handler] = {
    ("", "QuantizeLinear"): onnx_ops.quantize_linear,
    ("", "DequantizeLinear"): onnx_ops.dequantize_linear,
    ("", "Constant"): onnx_ops.constant,
    ("", "Identity"): onnx_ops.identity,
    ("", "Conv"): onnx_conv.conv,
    ("", "Gemm"): onnx_conv.gemm,
    ("", "MatMul"): onnx_conv.matmul,
    ("", "BatchNormalization"): onnx_conv.batch_norm,
    ("", "Add"): onnx_ops.add,
    ("", "Relu"): onnx_ops.relu,
    ("", "Clip"): onnx_ops.clip,
    ("", "MaxPool"): onnx_ops.max_pool,
    ("", "AveragePool"): onnx_ops.average_pool,
    ("", "GlobalAveragePool"): onnx_ops.global_average_pool,
    ("", "LRN"): onnx_ops.lrn,
    ("", "Concat"): onnx_ops.concat,
    ("", "Flatten"): onnx_ops.flatten,
    ("", "Reshape"): onnx_ops.reshape,
    ("", "Softmax"): onnx_ops.softmax,
    ("", "QLinearConv"): onnx_qlinear.qlinear_conv,
    ("", "QLinearMatMul"): onnx_qlinear.qlinear_matmul,
    ("com.microsoft", "QGemm"): onnx_qlinear.qgemm,
    ("com.microsoft", "QLinearAdd"): onnx_qlinear.qlinear_add,
    ("com.microsoft", "QLinearAveragePool"): onnx_qlinear.qlinear_average_pool,
    ("com.microsoft", "QLinearGlobalAveragePool"): onnx_qlinear.qlinear_global_average_pool,
    ("com.microsoft", "QLinearConcat"): onnx_qlinear.qlinear_concat,
    ("com.microsoft", "QLinearSoftmax"): onnx_qlinear.qlinear_softmax,
}
SUPPORTED_OPS = sorted(f"{domain}.{op}" if domain else op for domain, op in _HANDLERS)
_SEES_SOFTMAX = {"QuantizeLinear", "DequantizeLinear", "Identity"}  # may follow the Softmax


def load_onnx(path_or_model: str | os.PathLike[str] | onnx.ModelProto) -> ir.Graph:
    """Import a quantized ONNX model; raise CompileError naming the node if unsupported."""
    model = _load(path_or_model)
    ctx = Importer()
    for init in model.graph.initializer:
        ctx.values[init.name] = Const(_initializer(init))
    for info in model.graph.input:
        if info.name not in ctx.values:  # old models list initializers as inputs too
            ctx.values[info.name] = _float_input(info)
    for node in model.graph.node:
        ctx.values[_output(node)] = _run(ctx, node)
    graph = ir.Graph(model.graph.name or "onnx", ctx.tensors, ctx.nodes, ctx.inputs,
                     [_graph_output(ctx, info.name) for info in model.graph.output])
    graph.validate()
    return graph


def _load(path_or_model: str | os.PathLike[str] | onnx.ModelProto) -> onnx.ModelProto:
    if isinstance(path_or_model, onnx.ModelProto):
        return path_or_model
    if not isinstance(path_or_model, (str, os.PathLike)):
        raise ir.CompileError(f"expected a path or an onnx.ModelProto, got "
                              f"{type(path_or_model).__name__}")
    path = Path(path_or_model)
    if not path.is_file():
        raise ir.CompileError(f"{path}: no such ONNX model file")
    try:
        return onnx.load(path)
    except Exception as exc:  # protobuf and external-data errors have no common base
        raise ir.CompileError(f"{path}: not a readable ONNX model ({exc})") from exc


def _initializer(tensor: onnx.TensorProto) -> np.ndarray:
    try:
        return numpy_helper.to_array(tensor)
    except Exception as exc:  # unsupported types, missing external data
        raise ir.CompileError(f"initializer {tensor.name!r} cannot be read ({exc})") from exc


def _float_input(info: onnx.ValueInfoProto) -> FloatInput:
    """A float [N, C, H, W] (or [N, F]) input with a batch of 1 or symbolic."""
    tensor = info.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
    if tensor.elem_type != onnx.TensorProto.FLOAT or len(dims) not in (2, 4) or dims[0] not in (
            None, 1) or any(d is None or d < 1 for d in dims[1:]):
        raise ir.CompileError(f"graph input {info.name!r}: float32 of shape {dims} is not "
                              f"supported; supported: float32 [1 or N, C, H, W] or [1 or N, F] "
                              f"with fixed C, H, W, F")
    if len(dims) == 2:
        return FloatInput(info.name, (dims[1], 1, 1), flat=True)
    return FloatInput(info.name, (dims[1], dims[2], dims[3]))


def _output(node: onnx.NodeProto) -> str:
    if not node.output or not node.output[0]:
        raise fail(node, "has no output")
    return node.output[0]


def _run(ctx: Importer, node: onnx.NodeProto) -> Value:
    domain = "" if node.domain in ("", "ai.onnx") else node.domain
    handler = _HANDLERS.get((domain, node.op_type))
    if handler is None:
        where = f" in domain {domain}" if domain else ""
        raise fail(node, f"unsupported op type{where}; supported: {', '.join(SUPPORTED_OPS)}")
    args = ctx.args(node)
    if node.op_type not in _SEES_SOFTMAX and any(isinstance(a, Final) for a in args):
        raise fail(node, "Softmax is supported only as the final op")
    try:
        return handler(ctx, node, args)
    except (ValueError, TypeError, IndexError, KeyError, ArithmeticError) as exc:
        raise fail(node, f"malformed node ({type(exc).__name__}: {exc})") from exc


def _graph_output(ctx: Importer, name: str) -> str:
    value = ctx.values.get(name)
    if isinstance(value, Final):
        value = value.inner
    if isinstance(value, (Real, QTensor)):
        return value.name
    got = value.kind if value is not None else "never produced"
    raise ir.CompileError(f"graph output {name!r} is {got}; supported: a quantized tensor, "
                          f"or its DequantizeLinear")
