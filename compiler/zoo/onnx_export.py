"""Write a :class:`FloatGraph` as a float ONNX model (opset 13).

The export is how zoo models reach other tools (onnxruntime as a float
reference, external quantizers feeding :mod:`compiler.frontends`).  The graph
input is named ``input`` (N, C, H, W) and its output ``logits``; batchnorms are
kept as BatchNormalization so the file is the unfolded model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from compiler.ir import CompileError
from compiler.zoo.graph import (Add, BatchNorm, Clip, Concat, Conv, Flatten, FloatGraph,
                                GlobalAvgPool, Linear, Lrn, Op, Pool)

OPSET = 13


def to_onnx(graph: FloatGraph) -> Any:
    """The ``onnx.ModelProto`` of ``graph`` (needs the ``onnx`` extra)."""
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError as err:
        raise CompileError("ONNX export needs onnx: pip install -e '.[onnx]'") from err

    rename = {graph.input: "input", graph.output: "logits"}
    initializers: list[Any] = []

    def tensor(name: str) -> str:
        return rename.get(name, name)

    def constant(name: str, value: np.ndarray | float) -> str:
        initializers.append(numpy_helper.from_array(np.asarray(value, np.float32), name))
        return name

    def node(op: Op, op_type: str, extra: tuple[str, ...] = (), **attrs: Any) -> Any:
        return helper.make_node(op_type, [tensor(i) for i in op.inputs] + list(extra),
                                [tensor(op.output)], name=op.name, **attrs)

    def convert(op: Op) -> Any:
        if isinstance(op, Conv):
            return node(op, "Conv", (constant(f"{op.name}.weight", op.weight),
                                     constant(f"{op.name}.bias", op.bias)),
                        kernel_shape=list(op.weight.shape[2:]), strides=list(op.stride),
                        pads=list(op.pads), dilations=list(op.dilation), group=op.groups)
        if isinstance(op, BatchNorm):
            return node(op, "BatchNormalization",
                        tuple(constant(f"{op.name}.{f}", getattr(op, f))
                              for f in ("gamma", "beta", "mean", "var")), epsilon=op.eps)
        if isinstance(op, Clip):
            if op.low == 0.0 and op.high is None:
                return node(op, "Relu")
            return node(op, "Clip", tuple(
                "" if v is None else constant(f"{op.name}.{side}", v)
                for side, v in (("min", op.low), ("max", op.high))))
        if isinstance(op, Pool):
            attrs: dict[str, Any] = dict(kernel_shape=list(op.kernel), strides=list(op.stride),
                                         pads=list(op.pads))  # ONNX order is t, l, b, r too
            if op.kind == "max":
                return node(op, "MaxPool", **attrs)
            return node(op, "AveragePool", count_include_pad=int(op.count_include_pad),
                        **attrs)
        if isinstance(op, Linear):
            return node(op, "Gemm", (constant(f"{op.name}.weight", op.weight),
                                     constant(f"{op.name}.bias", op.bias)), transB=1)
        if isinstance(op, Lrn):
            return node(op, "LRN", size=op.size, alpha=op.alpha, beta=op.beta, bias=op.bias)
        simple: dict[type[Op], tuple[str, dict[str, Any]]] = {
            GlobalAvgPool: ("GlobalAveragePool", {}), Add: ("Add", {}),
            Concat: ("Concat", {"axis": 1}), Flatten: ("Flatten", {"axis": 1})}
        op_type, extra_attrs = simple[type(op)]
        return node(op, op_type, **extra_attrs)

    nodes = [convert(op) for op in graph.nodes]
    out_shape: list[str | int] = ["N", *graph.shapes[graph.output]]
    onnx_graph = helper.make_graph(
        nodes, graph.name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                       ["N", *graph.input_shape])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, out_shape)],
        initializers)
    model = helper.make_model(onnx_graph, producer_name="nvdla-fi compiler.zoo",
                              opset_imports=[helper.make_opsetid("", OPSET)], ir_version=8)
    onnx.checker.check_model(model)
    return model
