"""Which channels of a :class:`FloatGraph` must be pruned together.

Removing output channel ``k`` of a convolution also removes channel ``k`` of
everything that passes it on unchanged (batchnorm, ReLU, pooling), of the
other operand of a residual ``Add`` (and so of every tensor in that residual
stream), the matching input channel of a depthwise convolution and its
output, the slice of a ``Concat`` output it lands in, and the input columns
of every consumer (a convolution's input channel, the ``H*W`` features a
``Flatten`` makes of it for a ``Linear``).  Each channel of each tensor gets
a group id; channels with the same id go together.  Groups that touch the
graph input or output, an LRN (which mixes neighbouring channels) or a
grouped, non-depthwise convolution (whose groups must stay equal) are
blocked: they are never pruned.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from compiler.ir import CompileError
from compiler.zoo.graph import (Add, BatchNorm, Clip, Concat, Conv, Flatten, FloatGraph,
                                GlobalAvgPool, Linear, Lrn, Op, Pool)

PASS_THROUGH = (BatchNorm, Clip, Pool, GlobalAvgPool)


class _UnionFind:
    def __init__(self) -> None:
        self.parent: list[int] = []

    def fresh(self, n: int) -> np.ndarray:
        start = len(self.parent)
        self.parent.extend(range(start, start + n))
        return np.arange(start, start + n)

    def find(self, a: int) -> int:
        parent = self.parent
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    def union(self, a: np.ndarray, b: np.ndarray) -> None:
        for x, y in zip(a.tolist(), b.tolist()):
            rx, ry = self.find(x), self.find(y)
            if rx != ry:
                self.parent[max(rx, ry)] = min(rx, ry)

    def roots(self) -> np.ndarray:
        return np.array([self.find(a) for a in range(len(self.parent))], np.int64)


def depthwise(op: Conv) -> bool:
    """One input channel per group (MobileNet's depthwise 3x3, any channel multiplier)."""
    return op.groups > 1 and op.weight.shape[1] == 1


@dataclass(frozen=True)
class ChannelDependencies:
    """Group id of every channel of every tensor (of every feature unit of a flat tensor:
    one unit is the ``H*W`` features a Flatten made of one channel)."""

    graph: FloatGraph
    labels: Mapping[str, np.ndarray]   # tensor -> group id per channel / unit, 0..groups-1
    unit: Mapping[str, int]           # tensor -> features per unit (1 except after Flatten)
    blocked: np.ndarray               # bool per group
    reason: Mapping[int, str]         # why a group is blocked (first reason found)

    @property
    def groups(self) -> int:
        return len(self.blocked)

    def group_of(self, tensor: str, channel: int) -> int:
        return int(self.labels[tensor][channel])

    def members(self, group: int) -> list[tuple[str, int]]:
        """(tensor, channel) pairs of ``group``, in graph order."""
        return [(t, int(c)) for t, lab in self.labels.items() for c in np.flatnonzero(lab == group)]

    def prunable(self) -> np.ndarray:
        return np.flatnonzero(~self.blocked)

    def families(self) -> dict[int, tuple[str, ...]]:
        """Group -> the tensors it touches.  Groups touching the same tensors form one
        "layer" for per-layer pruning ratios (a residual stream is one layer)."""
        touched: dict[int, list[str]] = {}
        for tensor, lab in self.labels.items():
            for g in np.unique(lab).tolist():
                touched.setdefault(g, []).append(tensor)
        return {g: tuple(ts) for g, ts in touched.items()}


def channel_dependencies(graph: FloatGraph) -> ChannelDependencies:
    """Group the channels of ``graph`` that must be pruned together (see the module doc)."""
    uf = _UnionFind()
    labels: dict[str, np.ndarray] = {graph.input: uf.fresh(graph.input_shape[0])}
    unit: dict[str, int] = {graph.input: 1}
    blocked: dict[int, str] = {int(g): "graph input" for g in labels[graph.input]}

    def block(tensor: str, why: str) -> None:
        for g in labels[tensor].tolist():
            blocked.setdefault(g, why)

    for op in graph.nodes:
        first = op.inputs[0]
        unit[op.output] = 1
        if isinstance(op, PASS_THROUGH):
            labels[op.output] = labels[first]
        elif isinstance(op, Conv) and op.groups == 1:
            labels[op.output] = uf.fresh(op.weight.shape[0])
        elif isinstance(op, Conv) and depthwise(op):
            labels[op.output] = np.repeat(labels[first], op.weight.shape[0] // op.groups)
        elif isinstance(op, Conv):
            labels[op.output] = uf.fresh(op.weight.shape[0])
            block(first, f"grouped Conv {op.name}")
            block(op.output, f"grouped Conv {op.name}")
        elif isinstance(op, Linear):
            labels[op.output] = uf.fresh(op.weight.shape[0])
        elif isinstance(op, Add):
            uf.union(labels[op.inputs[0]], labels[op.inputs[1]])
            labels[op.output] = labels[first]
        elif isinstance(op, Concat):
            labels[op.output] = np.concatenate([labels[t] for t in op.inputs])
        elif isinstance(op, Flatten):
            labels[op.output] = labels[first]
            unit[op.output] = int(np.prod(graph.shapes[first][1:], dtype=np.int64))
        elif isinstance(op, Lrn):
            labels[op.output] = labels[first]
            block(first, f"Lrn {op.name}")
        else:
            raise CompileError(f"{type(op).__name__} {op.name}: channel dependencies unknown")
        _check_flat_readers(graph, op, unit)
    block(graph.output, "graph output")
    roots = uf.roots()
    # renumber the roots 0..groups-1 in order of first appearance
    order, dense = np.unique(roots, return_inverse=True)
    final = {t: dense[lab] for t, lab in labels.items()}
    is_blocked = np.zeros(len(order), bool)
    reason: dict[int, str] = {}
    for g, why in blocked.items():
        d = int(dense[g])
        is_blocked[d] = True
        reason.setdefault(d, why)
    return ChannelDependencies(graph, final, unit, is_blocked, reason)


def _check_flat_readers(graph: FloatGraph, op: Op, unit: dict[str, int]) -> None:
    """Only a Linear may read a flattened tensor (as the quantizer requires)."""
    if any(unit.get(t, 1) > 1 for t in op.inputs) and not isinstance(op, Linear):
        raise CompileError(f"{type(op).__name__} {op.name}: reads a flattened tensor; "
                           f"only a Linear may follow a Flatten")
