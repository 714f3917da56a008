"""The float graph the zoo builds: what calibration, quantization and ONNX export read.

Ops are frozen dataclasses in topological order, each naming its input and
output tensors, like the quantized IR (:mod:`compiler.ir`), so that a float op
maps onto IR nodes by name.  Shapes are per sample: ``(C, H, W)`` for feature
maps and ``(F,)`` after :class:`Flatten`.  Every op checks its input shapes
in :meth:`Op.output_shape`, so a bad architecture fails where it is built,
with the op's name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from compiler.ir import CompileError, conv_output_size

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Op:
    name: str
    inputs: tuple[str, ...]
    output: str

    def output_shape(self, shapes: list[Shape]) -> Shape:
        """Shape of the output given the input shapes; CompileError if they do not fit."""
        raise NotImplementedError

    def _feature_map(self, shape: Shape) -> tuple[int, int, int]:
        if len(shape) != 3:
            raise CompileError(f"{type(self).__name__} {self.name}: needs a (C, H, W) "
                               f"feature map, got shape {shape}")
        return shape  # type: ignore[return-value]

    def _same_shapes(self, shapes: list[Shape]) -> Shape:
        if len(set(shapes)) != 1:
            raise CompileError(f"{type(self).__name__} {self.name}: input shapes differ: "
                               f"{shapes}")
        return shapes[0]


def _window_output(op: Op, size: tuple[int, int], kernel: tuple[int, int],
                   stride: tuple[int, int], pads: tuple[int, int, int, int],
                   dilation: tuple[int, int] = (1, 1)) -> tuple[int, int]:
    oh = conv_output_size(size[0], kernel[0], stride[0], pads[0], pads[2], dilation[0])
    ow = conv_output_size(size[1], kernel[1], stride[1], pads[1], pads[3], dilation[1])
    if oh < 1 or ow < 1:
        raise CompileError(f"{type(op).__name__} {op.name}: a {kernel} window with stride "
                           f"{stride} and pads {pads} does not fit a {size} input")
    return oh, ow


@dataclass(frozen=True)
class Conv(Op):
    """2-D convolution; ``weight`` [K, C // groups, R, S], ``bias`` [K] (zeros when the
    source layer has none, so every consumer sees one form)."""

    weight: np.ndarray = field(compare=False, repr=False)
    bias: np.ndarray = field(compare=False, repr=False)
    stride: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)  # (top, left, bottom, right)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1

    def output_shape(self, shapes: list[Shape]) -> Shape:
        c, h, w = self._feature_map(shapes[0])
        k, cg, r, s = self.weight.shape
        if cg * self.groups != c or k % self.groups:
            raise CompileError(f"Conv {self.name}: weight {self.weight.shape} with groups="
                               f"{self.groups} does not fit {c} input channels")
        return (k, *_window_output(self, (h, w), (r, s), self.stride, self.pads,
                                   self.dilation))


@dataclass(frozen=True)
class BatchNorm(Op):
    """Inference batch normalization with running statistics (folded before quantizing)."""

    gamma: np.ndarray = field(compare=False, repr=False)
    beta: np.ndarray = field(compare=False, repr=False)
    mean: np.ndarray = field(compare=False, repr=False)
    var: np.ndarray = field(compare=False, repr=False)
    eps: float = 1e-5

    def output_shape(self, shapes: list[Shape]) -> Shape:
        c = self._feature_map(shapes[0])[0]
        if self.gamma.shape != (c,):
            raise CompileError(f"BatchNorm {self.name}: {self.gamma.shape[0]} channels, "
                               f"input has {c}")
        return shapes[0]


@dataclass(frozen=True)
class Clip(Op):
    """Clamp in real units: ReLU is ``Clip(low=0, high=None)``, ReLU6 ``Clip(0, 6)``."""

    low: float | None = 0.0
    high: float | None = None

    def output_shape(self, shapes: list[Shape]) -> Shape:
        if self.low is None and self.high is None:
            raise CompileError(f"Clip {self.name}: needs a low or a high bound")
        return shapes[0]


@dataclass(frozen=True)
class Pool(Op):
    """Max or average pooling; padding never wins a max, and counts in an average iff
    ``count_include_pad``.  Ceil-mode pooling is expressed as extra bottom/right pads."""

    kind: str = "max"  # "max" | "avg"
    kernel: tuple[int, int] = (2, 2)
    stride: tuple[int, int] = (2, 2)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    count_include_pad: bool = False

    def output_shape(self, shapes: list[Shape]) -> Shape:
        if self.kind not in ("max", "avg"):
            raise CompileError(f"Pool {self.name}: kind {self.kind!r} is not 'max' or 'avg'")
        c, h, w = self._feature_map(shapes[0])
        return (c, *_window_output(self, (h, w), self.kernel, self.stride, self.pads))


@dataclass(frozen=True)
class GlobalAvgPool(Op):
    def output_shape(self, shapes: list[Shape]) -> Shape:
        return (self._feature_map(shapes[0])[0], 1, 1)


@dataclass(frozen=True)
class Add(Op):
    """Element-wise sum of two tensors of equal shape (residual connections)."""

    def output_shape(self, shapes: list[Shape]) -> Shape:
        if len(shapes) != 2:
            raise CompileError(f"Add {self.name}: needs 2 inputs, got {len(shapes)}")
        return self._same_shapes(shapes)


@dataclass(frozen=True)
class Concat(Op):
    """Channel concatenation of feature maps of equal height and width."""

    def output_shape(self, shapes: list[Shape]) -> Shape:
        maps = [self._feature_map(s) for s in shapes]
        h, w = self._same_shapes([m[1:] for m in maps])
        return (sum(m[0] for m in maps), h, w)


@dataclass(frozen=True)
class Lrn(Op):
    """Local response normalization across channels (ONNX LRN semantics)."""

    size: int = 5
    alpha: float = 1e-4
    beta: float = 0.75
    bias: float = 1.0

    def output_shape(self, shapes: list[Shape]) -> Shape:
        return self._feature_map(shapes[0])


@dataclass(frozen=True)
class Flatten(Op):
    """(C, H, W) to (C*H*W,) in C, H, W order; only a :class:`Linear` may follow it."""

    def output_shape(self, shapes: list[Shape]) -> Shape:
        return (int(np.prod(shapes[0])),)


@dataclass(frozen=True)
class Linear(Op):
    """Fully connected: ``y = x @ weight.T + bias``, ``weight`` [N, F] (PyTorch layout)."""

    weight: np.ndarray = field(compare=False, repr=False)
    bias: np.ndarray = field(compare=False, repr=False)

    def output_shape(self, shapes: list[Shape]) -> Shape:
        if len(shapes[0]) != 1 or shapes[0][0] != self.weight.shape[1]:
            raise CompileError(f"Linear {self.name}: needs a flat input of "
                               f"{self.weight.shape[1]} features, got shape {shapes[0]} "
                               f"(put a Flatten before it)")
        return (self.weight.shape[0],)


OP_TYPES: dict[str, type[Op]] = {cls.__name__: cls for cls in (
    Conv, BatchNorm, Clip, Pool, GlobalAvgPool, Add, Concat, Lrn, Flatten, Linear)}


@dataclass(frozen=True)
class FloatGraph:
    """A float network with one input and one output; ``shapes`` is derived and checked."""

    name: str
    input: str
    input_shape: tuple[int, int, int]
    nodes: tuple[Op, ...]
    output: str
    shapes: Mapping[str, Shape] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "shapes", self._infer_shapes())

    def _infer_shapes(self) -> dict[str, Shape]:
        shapes: dict[str, Shape] = {self.input: tuple(self.input_shape)}
        names = [op.name for op in self.nodes]
        if len(set(names)) != len(names):
            raise CompileError(f"graph {self.name}: op names repeat: "
                               f"{sorted({n for n in names if names.count(n) > 1})}")
        for op in self.nodes:
            missing = [name for name in op.inputs if name not in shapes]
            if missing or not op.inputs:
                raise CompileError(f"graph {self.name}: {type(op).__name__} {op.name} reads "
                                   f"{missing or 'nothing'}, not produced before it")
            if op.output in shapes:
                raise CompileError(f"graph {self.name}: {type(op).__name__} {op.name} "
                                   f"writes {op.output!r}, which is produced twice")
            shapes[op.output] = op.output_shape([shapes[name] for name in op.inputs])
        if self.output not in shapes:
            raise CompileError(f"graph {self.name}: output {self.output!r} is never produced")
        return shapes

    def op(self, name: str) -> Op:
        for op in self.nodes:
            if op.name == name:
                return op
        raise CompileError(f"graph {self.name}: no op named {name!r}")

    def producer(self, tensor: str) -> Op | None:
        return next((op for op in self.nodes if op.output == tensor), None)

    def consumers(self, tensor: str) -> list[Op]:
        return [op for op in self.nodes if tensor in op.inputs]

    def with_params(self, params: Mapping[str, Mapping[str, np.ndarray]]) -> FloatGraph:
        """A copy with some ops' arrays replaced (e.g. trained weights), shapes checked.

        ``params`` maps op name to ``{field: array}``, e.g. ``{"conv1": {"weight": w}}``.
        """
        unknown = set(params) - {op.name for op in self.nodes}
        if unknown:
            raise CompileError(f"graph {self.name}: no ops named {sorted(unknown)}")
        nodes = []
        for op in self.nodes:
            new = params.get(op.name, {})
            for key, value in new.items():
                old = getattr(op, key, None)
                if not isinstance(old, np.ndarray) or np.shape(value) != old.shape:
                    raise CompileError(
                        f"{type(op).__name__} {op.name}: cannot set {key!r} to shape "
                        f"{np.shape(value)}; its arrays are "
                        f"{ {f: a.shape for f, a in array_fields(op).items()} }")
            arrays: dict[str, Any] = {k: np.asarray(v, getattr(op, k).dtype)
                                      for k, v in new.items()}
            nodes.append(dataclasses.replace(op, **arrays))
        return dataclasses.replace(self, nodes=tuple(nodes))


def array_fields(node: object) -> dict[str, np.ndarray]:
    """The numpy-array fields of an op or IR node (weights and friends), by name."""
    return {f.name: getattr(node, f.name) for f in dataclasses.fields(node)  # type: ignore
            if isinstance(getattr(node, f.name), np.ndarray)}
