"""Fold inference batchnorms into the convolutions before them.

NVDLA (and the quantized IR) has no batchnorm: per-channel scale and shift
become part of the convolution's weights and bias.  The folded weights stay in
float64 so quantization sees them without a second rounding.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from compiler.ir import CompileError
from compiler.zoo.graph import BatchNorm, Conv, FloatGraph, Op


def fold_batchnorm(graph: FloatGraph) -> FloatGraph:
    """``graph`` with every BatchNorm merged into the Conv feeding it.

    The merged conv keeps its name and takes the batchnorm's output tensor, so
    the rest of the graph is unchanged.
    """
    folded: dict[str, Conv] = {}  # conv name -> conv with the batchnorm merged in
    merged: set[str] = set()  # batchnorm names
    for bn in (op for op in graph.nodes if isinstance(op, BatchNorm)):
        conv = graph.producer(bn.inputs[0])
        if not isinstance(conv, Conv) or len(graph.consumers(conv.output)) != 1 \
                or conv.output == graph.output:
            raise CompileError(f"BatchNorm {bn.name}: can only be folded into a Conv whose "
                               f"output feeds nothing else; its input {bn.inputs[0]!r} "
                               f"comes from {type(conv).__name__ if conv else 'the graph input'}"
                               f"{'' if conv is None else ' ' + conv.name}")
        scale = bn.gamma.astype(np.float64) / np.sqrt(bn.var.astype(np.float64) + bn.eps)
        folded[conv.name] = dataclasses.replace(
            conv, output=bn.output,
            weight=conv.weight.astype(np.float64) * scale[:, None, None, None],
            bias=(conv.bias.astype(np.float64) - bn.mean) * scale + bn.beta)
        merged.add(bn.name)
    nodes: list[Op] = [folded.get(op.name, op) for op in graph.nodes if op.name not in merged]
    return dataclasses.replace(graph, nodes=tuple(nodes))
