"""Build a :class:`FloatGraph` one layer at a time with deterministic random weights.

Weights are He-normal (std sqrt(2 / fan_in)) so activations keep their scale
through ReLU stacks; biases are uniform in +-1/sqrt(fan_in) (PyTorch's
default); batchnorms get random gamma and beta and running statistics fitted
to random inputs (see :func:`_fit_batchnorm_stats`).  Each op's output
tensor is named after the op.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

from compiler.ir import CompileError
from compiler.zoo.forward import apply
from compiler.zoo.graph import (Add, BatchNorm, Clip, Concat, Conv, Flatten, FloatGraph,
                                GlobalAvgPool, Linear, Lrn, Op, Pool, Shape)

INPUT = "input"


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)  # type: ignore[return-value]


def _ceil_extra(size: int, kernel: int, stride: int, pad: int) -> int:
    """Extra bottom/right padding that turns floor into PyTorch ceil-mode pooling
    (the last window must start inside the input or its leading padding)."""
    out = -(-(size + 2 * pad - kernel) // stride) + 1
    if (out - 1) * stride >= size + pad:
        out -= 1
    return max(0, (out - 1) * stride + kernel - size - 2 * pad)


class GraphBuilder:
    """Appends ops, tracking shapes; weights are drawn from ``rng`` in call order."""

    def __init__(self, name: str, input_shape: Sequence[int],
                 rng: int | np.random.Generator = 0) -> None:
        if len(input_shape) != 3 or min(input_shape) < 1:
            raise CompileError(f"model {name}: input shape must be (C, H, W) with positive "
                               f"sizes, got {tuple(input_shape)}")
        self.name = name
        c, h, w = (int(v) for v in input_shape)
        self.input_shape = (c, h, w)
        self._rng = np.random.default_rng(rng)
        self._nodes: list[Op] = []
        self._shapes: dict[str, Shape] = {INPUT: self.input_shape}

    def shape(self, tensor: str) -> Shape:
        return self._shapes[tensor]

    def add_op(self, op: Op) -> str:
        """Append any op (shapes checked now); return its output tensor."""
        unknown = [name for name in op.inputs if name not in self._shapes]
        if unknown:
            raise CompileError(f"{type(op).__name__} {op.name}: unknown input tensors {unknown}")
        self._shapes[op.output] = op.output_shape([self._shapes[i] for i in op.inputs])
        self._nodes.append(op)
        return op.output

    def build(self, output: str) -> FloatGraph:
        """The graph, with batchnorm running statistics fitted to random inputs."""
        graph = FloatGraph(self.name, INPUT, self.input_shape, tuple(self._nodes), output)
        if not any(isinstance(op, BatchNorm) for op in graph.nodes):
            return graph
        return _fit_batchnorm_stats(graph, self._rng)

    def _he_normal(self, shape: tuple[int, ...], fan_in: int) -> np.ndarray:
        return (self._rng.standard_normal(shape) * math.sqrt(2.0 / fan_in)).astype(np.float32)

    def _bias(self, n: int, fan_in: int, bias: bool) -> np.ndarray:
        if not bias:
            return np.zeros(n, np.float32)
        bound = 1.0 / math.sqrt(fan_in)
        return self._rng.uniform(-bound, bound, n).astype(np.float32)

    def conv(self, name: str, x: str, channels: int, kernel: int | tuple[int, int],
             stride: int | tuple[int, int] = 1, pad: int | tuple[int, int, int, int] = 0,
             groups: int = 1, dilation: int | tuple[int, int] = 1,
             bias: bool = True, init: tuple[float, float] | None = None) -> str:
        """``pad`` is one value for all sides or (top, left, bottom, right); ``init`` =
        (std, bias) draws N(0, std) weights and sets a constant bias instead of He init."""
        r, s = _pair(kernel)
        cin = self._shapes[x][0]
        if groups < 1 or cin % groups or channels % groups:
            raise CompileError(f"Conv {name}: groups={groups} must divide the {cin} input "
                               f"and {channels} output channels")
        fan_in = cin // groups * r * s
        pads = (pad,) * 4 if isinstance(pad, int) else tuple(pad)
        shape = (channels, cin // groups, r, s)
        if init is None:
            weight, b = self._he_normal(shape, fan_in), self._bias(channels, fan_in, bias)
        else:
            weight = (self._rng.standard_normal(shape) * init[0]).astype(np.float32)
            b = np.full(channels, init[1], np.float32)
        return self.add_op(Conv(name, (x,), name, weight=weight, bias=b,
                                stride=_pair(stride), pads=pads,  # type: ignore[arg-type]
                                dilation=_pair(dilation), groups=groups))

    def batchnorm(self, name: str, x: str, eps: float = 1e-5, gain: float = 1.0) -> str:
        """Random gamma in gain * [0.5, 1.5] and beta in gain * [-0.2, 0.2]; running
        statistics are fitted in :meth:`build`."""
        c = self._shapes[x][0]
        u = self._rng.uniform
        return self.add_op(BatchNorm(name, (x,), name,
                                     gamma=(gain * u(0.5, 1.5, c)).astype(np.float32),
                                     beta=(gain * u(-0.2, 0.2, c)).astype(np.float32),
                                     mean=np.zeros(c, np.float32), var=np.ones(c, np.float32),
                                     eps=eps))

    def clip(self, name: str, x: str, low: float | None = 0.0,
             high: float | None = None) -> str:
        return self.add_op(Clip(name, (x,), name, low=low, high=high))

    def relu(self, name: str, x: str) -> str:
        return self.clip(name, x, 0.0, None)

    def conv_bn_act(self, name: str, x: str, channels: int, kernel: int, stride: int = 1,
                    pad: int = 0, groups: int = 1, high: float | None = None,
                    act: bool = True, gain: float = 1.0) -> str:
        """Conv (no bias) + BatchNorm (``gain`` as there) + ReLU (ReLU6 with ``high=6``),
        named ``name.conv``, ``name.bn``, ``name.relu``; ``act=False`` leaves out the clamp."""
        y = self.conv(f"{name}.conv", x, channels, kernel, stride, pad, groups, bias=False)
        y = self.batchnorm(f"{name}.bn", y, gain=gain)
        return self.clip(f"{name}.relu", y, 0.0, high) if act else y

    def max_pool(self, name: str, x: str, kernel: int, stride: int, pad: int = 0,
                 ceil_mode: bool = False) -> str:
        _, h, w = self._shapes[x]
        extra_h, extra_w = ((_ceil_extra(h, kernel, stride, pad),
                             _ceil_extra(w, kernel, stride, pad)) if ceil_mode else (0, 0))
        return self.add_op(Pool(name, (x,), name, kind="max", kernel=(kernel, kernel),
                                stride=(stride, stride),
                                pads=(pad, pad, pad + extra_h, pad + extra_w)))

    def avg_pool(self, name: str, x: str, kernel: int, stride: int, pad: int = 0,
                 count_include_pad: bool = False) -> str:
        return self.add_op(Pool(name, (x,), name, kind="avg", kernel=(kernel, kernel),
                                stride=(stride, stride), pads=(pad,) * 4,
                                count_include_pad=count_include_pad))

    def global_avg_pool(self, name: str, x: str) -> str:
        return self.add_op(GlobalAvgPool(name, (x,), name))

    def add(self, name: str, a: str, b: str) -> str:
        return self.add_op(Add(name, (a, b), name))

    def concat(self, name: str, xs: Sequence[str]) -> str:
        return self.add_op(Concat(name, tuple(xs), name))

    def lrn(self, name: str, x: str, size: int = 5, alpha: float = 1e-4, beta: float = 0.75,
            bias: float = 1.0) -> str:
        return self.add_op(Lrn(name, (x,), name, size=size, alpha=alpha, beta=beta, bias=bias))

    def flatten(self, name: str, x: str) -> str:
        return self.add_op(Flatten(name, (x,), name))

    def linear(self, name: str, x: str, features: int) -> str:
        fan_in = int(np.prod(self._shapes[x]))
        return self.add_op(Linear(name, (x,), name,
                                  weight=self._he_normal((features, fan_in), fan_in),
                                  bias=self._bias(features, fan_in, True)))


def _fit_batchnorm_stats(graph: FloatGraph, rng: np.random.Generator,
                         batch: int = 4) -> FloatGraph:
    """Each batchnorm's running mean and variance set to those of its input when the
    network runs on random normal images, layer after layer, as training would leave
    them.  Without it deep random networks blow up through residual sums or map every
    input to the same answer; with it every batchnorm output is centred and scaled, and
    the statistics are far from (0, 1), so folding is really exercised."""
    values = {graph.input: rng.standard_normal((batch, *graph.input_shape)).astype(np.float32)}
    pending = Counter(name for op in graph.nodes for name in op.inputs)
    nodes = []
    for op in graph.nodes:
        inputs = [values[name] for name in op.inputs]
        if isinstance(op, BatchNorm):
            op = dataclasses.replace(op, mean=inputs[0].mean(axis=(0, 2, 3)),
                                     var=inputs[0].var(axis=(0, 2, 3)))
        values[op.output] = apply(op, *inputs)
        nodes.append(op)
        for name in op.inputs:  # free what no later op reads
            pending[name] -= 1
            if not pending[name]:
                del values[name]
    return dataclasses.replace(graph, nodes=tuple(nodes))

