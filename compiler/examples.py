"""Small quantized example graphs with seeded random weights, built directly in the IR
(no frontend): for tests, the RTL cross-check and demos."""

from __future__ import annotations

import numpy as np

from compiler.ir import (
    RELU, Activation, Add, Concat, Conv, GlobalAvgPool, Graph, Pool, QuantParams, Tensor)


class Builder:
    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.tensors: dict[str, Tensor] = {}
        self.nodes: list = []

    def tensor(self, name: str, shape, scale: float, zp: int) -> str:
        self.tensors[name] = Tensor(name, tuple(shape), QuantParams(scale, zp))
        return name

    def conv(self, name, inp, out, cout, k, *, stride=1, pad=None, groups=1, wscale=0.01,
             activation=None, dilation=1, bias=2000):
        """A convolution with random int8 weights; ``k``, ``stride``, ``dilation`` are an int
        or (y, x); ``pad`` an int or (top, left, bottom, right), default k // 2."""
        def pair(v):
            return (v, v) if isinstance(v, int) else tuple(v)
        kh, kw = pair(k)
        pads = (kh // 2, kw // 2, kh // 2, kw // 2) if pad is None else (
            (pad,) * 4 if isinstance(pad, int) else tuple(pad))
        cin = self.tensors[inp].channels
        w = self.rng.integers(-127, 128, (cout, cin // groups, kh, kw), dtype=np.int8)
        self.nodes.append(Conv(
            name, (inp,), out, weight=w,
            weight_scale=wscale * self.rng.uniform(0.5, 1.5, cout),
            bias=self.rng.integers(-bias, bias, cout), stride=pair(stride), pads=pads,
            dilation=pair(dilation), groups=groups, activation=activation))

    def add(self, node) -> None:
        self.nodes.append(node)

    def graph(self, name: str, inputs, outputs) -> Graph:
        g = Graph(name, dict(self.tensors), list(self.nodes), list(inputs), list(outputs))
        g.validate()
        return g


def toy_net(seed: int = 0) -> Graph:
    """conv+ReLU, max pool, conv / depthwise branches, residual Add+ReLU, GAP, FC."""
    b = Builder(seed)
    b.tensor("x", (3, 16, 16), 0.02, 3)
    b.tensor("c1", (16, 16, 16), 0.05, -128)
    b.tensor("p1", (16, 8, 8), 0.05, -128)
    b.tensor("c2", (16, 8, 8), 0.04, 5)
    b.tensor("dw", (16, 8, 8), 0.06, -100)
    b.tensor("a", (16, 8, 8), 0.07, -20)
    b.tensor("g", (16, 1, 1), 0.03, -50)
    b.tensor("fc", (10, 1, 1), 0.1, 2)
    b.conv("conv1", "x", "c1", 16, 3, activation=RELU, wscale=0.002)
    b.add(Pool("pool1", ("c1",), "p1", kind="max", kernel=(2, 2), stride=(2, 2)))
    b.conv("conv2", "p1", "c2", 16, 3, wscale=0.0005)
    b.conv("dw", "p1", "dw", 16, 3, groups=16, wscale=0.003)
    b.add(Add("add", ("c2", "dw"), "a", activation=RELU))
    b.add(GlobalAvgPool("gap", ("a",), "g"))
    b.conv("fc", "g", "fc", 10, 1, pad=0, wscale=0.003)
    return b.graph("toy", ["x"], ["fc"])


def wide_net(seed: int = 1) -> Graph:
    """A layer too big for the CBUF (row tiles), concat, avg pool, ReLU6 clamp."""
    b = Builder(seed)
    b.tensor("x", (16, 96, 96), 0.02, 0)
    b.tensor("l", (8, 48, 48), 0.05, -10)
    b.tensor("r", (8, 48, 48), 0.05, -10)
    b.tensor("cat", (16, 48, 48), 0.05, -10)
    b.tensor("avg", (16, 24, 24), 0.05, -10)
    b.tensor("avg2", (16, 12, 12), 0.03, 7)
    b.conv("left", "x", "l", 8, 3, stride=2, wscale=0.001)
    b.conv("right", "x", "r", 8, 5, stride=2, wscale=0.0005, activation=Activation(0.0, 2.0),
           dilation=1)
    b.add(Concat("cat", ("l", "r"), "cat"))
    b.add(Pool("avgpool", ("cat",), "avg", kind="avg", kernel=(3, 3), stride=(2, 2),
               pads=(1, 1, 0, 0), count_include_pad=True))
    b.add(Pool("avgpool2", ("avg",), "avg2", kind="avg", kernel=(2, 2), stride=(2, 2)))
    return b.graph("wide", ["x"], ["avg2"])


def lrn_net(seed: int = 3, size: int = 5) -> "Graph":
    """conv + ReLU followed by LRN (AlexNet style)."""
    from compiler.ir import Lrn
    b = Builder(seed)
    b.tensor("x", (3, 12, 12), 0.02, 0)
    b.tensor("c", (20, 12, 12), 0.05, -128)
    b.tensor("n", (20, 12, 12), 0.03, -128)
    b.conv("conv", "x", "c", 20, 3, wscale=0.002, activation=RELU)
    b.add(Lrn("lrn", ("c",), "n", size=size, alpha=1e-2, beta=0.75, bias=2.0))
    return b.graph("lrn", ["x"], ["n"])
