"""The quantized graph IR every frontend produces and the lowering consumes.

Activations are int8 tensors with one (scale, zero point) each: ``real =
scale * (q - zero_point)``, ``q`` in [-128, 127] (uint8 models are moved to
int8 by subtracting 128 from values and zero points).  Weights are int8 and
symmetric (zero point 0) with a scale per output channel; biases are int32
in units of ``input_scale * weight_scale[k]``.  An INT16 graph (NVDLA's
other integer datapath) is the same with 16-bit values: every tensor's
``QuantParams.bits`` is 16, weights are int16 and biases int64 within CACC's
48-bit assembly buffer (:attr:`Graph.bits`).  Shapes are per sample,
``(C, H, W)``.  Names come from the source model so errors can point at it.

A float graph (FP16 on NVDLA's FP16 datapath, FP32 on the reference datapath) is
the same IR with IEEE values: every tensor's ``QuantParams`` is :func:`float_params`
(``is_float``, scale 1, zero point 0, so ``real = value``), weights and biases are
binary16 / binary32 arrays and weight scales are 1 (:attr:`Graph.precision`).

Nodes are frozen dataclasses kept in topological order in :class:`Graph`.
Fully-connected layers are :class:`Conv` nodes whose kernel covers the whole
input plane (a flattened C x H x W vector times a weight matrix is exactly
that), so the IR has no Flatten/Reshape.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nvdla_sim.errors import NvdlaError


class CompileError(NvdlaError):
    """The model cannot be compiled; the message names the node and what is supported."""


INTEGER_BITS = (8, 16)  # the integer datapaths: INT8 (every NVDLA) and INT16 (nv_full)
FLOAT_BITS = (16, 32)  # IEEE binary16 (NVDLA's FP16) and binary32 (the FP32 reference)


def value_range(bits: int) -> tuple[int, int]:
    """Two's-complement range of a ``bits``-bit value."""
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def value_dtype(bits: int, is_float: bool = False) -> np.dtype:
    if is_float:
        return np.dtype(np.float16 if bits == 16 else np.float32)
    return np.dtype(np.int8 if bits <= 8 else np.int16)


@dataclass(frozen=True)
class QuantParams:
    scale: float
    zero_point: int = 0
    bits: int = 8  # 8 (int8 tensors) or 16 (int16); 16 or 32 for IEEE floats
    is_float: bool = False  # IEEE values stored as they are (see float_params)

    def __post_init__(self) -> None:
        if not self.scale > 0:
            raise CompileError(f"quantization scale must be positive, got {self.scale}")
        if self.is_float:
            if self.bits not in FLOAT_BITS or self.scale != 1.0 or self.zero_point != 0:
                raise CompileError(f"float tensors are binary16 or binary32 with scale 1 and "
                                   f"zero point 0, got {self}")
            return
        if self.bits not in INTEGER_BITS:
            raise CompileError(f"tensors are {' or '.join(map(str, INTEGER_BITS))}-bit, "
                               f"got {self.bits}")
        low, high = value_range(self.bits)
        if not low <= self.zero_point <= high:
            raise CompileError(f"int{self.bits} zero point must be in [{low}, {high}], got "
                               f"{self.zero_point}")

    @property
    def precision(self) -> str:
        """The values' format: int8, int16, fp16 or fp32 (a ``nvdla_sim.precision`` name)."""
        return f"{'fp' if self.is_float else 'int'}{self.bits}"

    @property
    def dtype(self) -> np.dtype:
        return value_dtype(self.bits, self.is_float)

    @property
    def range(self) -> tuple[int, int] | tuple[float, float]:
        if self.is_float:
            info = np.finfo(self.dtype)
            return float(info.min), float(info.max)
        return value_range(self.bits)

    def quantize(self, x: np.ndarray) -> np.ndarray:
        """Round half to even (ONNX QuantizeLinear) and saturate to int8 (int16); a float
        tensor rounds to the nearest binary16 / binary32 (IEEE, ties to even) and
        saturates to the largest finite value, as SDP's FP16 output converter does
        (cmod ``sdp_c.cpp`` ``Fp32ToFp16``); NaN stays NaN."""
        if self.is_float:
            return np.clip(np.asarray(x, np.float64), *self.range).astype(self.dtype)
        q = np.rint(np.asarray(x, np.float64) / self.scale) + self.zero_point
        return np.clip(q, *self.range).astype(value_dtype(self.bits))

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        return (np.asarray(q, np.float64) - self.zero_point) * self.scale


def float_params(precision: str) -> QuantParams:
    """The params of every tensor of an ``fp16`` / ``fp32`` graph: values are real."""
    bits = {f"fp{b}": b for b in FLOAT_BITS}.get(precision)
    if bits is None:
        raise CompileError(f"float precisions are {', '.join(f'fp{b}' for b in FLOAT_BITS)}, "
                           f"got {precision!r}")
    return QuantParams(1.0, 0, bits, is_float=True)


@dataclass(frozen=True)
class Tensor:
    name: str
    shape: tuple[int, int, int]  # (C, H, W)
    quant: QuantParams

    @property
    def channels(self) -> int:
        return self.shape[0]


@dataclass(frozen=True)
class Activation:
    """Clamp applied in real units after a node: ReLU is ``Activation(0.0, None)``."""

    low: float | None = None
    high: float | None = None


RELU = Activation(0.0, None)


@dataclass(frozen=True)
class Node:
    name: str
    inputs: tuple[str, ...]
    output: str


@dataclass(frozen=True)
class Conv(Node):
    """Convolution (also fully connected and depthwise).

    ``weight`` int8 [K, C // groups, R, S]; ``weight_scale`` float [K];
    ``bias`` int32 [K] in units of ``in_scale * weight_scale``.
    """

    weight: np.ndarray = field(compare=False)
    weight_scale: np.ndarray = field(compare=False)
    bias: np.ndarray = field(compare=False)
    stride: tuple[int, int] = (1, 1)  # (y, x)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)  # (top, left, bottom, right)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    activation: Activation | None = None


@dataclass(frozen=True)
class Add(Node):
    """Element-wise sum of two tensors of equal shape, requantized to the output."""

    activation: Activation | None = None


@dataclass(frozen=True)
class Pool(Node):
    """Max or average pooling; ``kernel`` (y, x); average counts padding iff
    ``count_include_pad``.  Input and output may be quantized differently."""

    kind: str = "max"  # "max" | "avg"
    kernel: tuple[int, int] = (2, 2)
    stride: tuple[int, int] = (2, 2)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    count_include_pad: bool = False


@dataclass(frozen=True)
class GlobalAvgPool(Node):
    pass


@dataclass(frozen=True)
class Concat(Node):
    """Channel concatenation; every input shares the output's quantization (frontends
    insert a :class:`Requant` where a model does not), so it is a pure layout move."""


@dataclass(frozen=True)
class Lrn(Node):
    """Local response normalization across channels (ONNX LRN semantics)."""

    size: int = 5
    alpha: float = 1e-4
    beta: float = 0.75
    bias: float = 1.0


@dataclass(frozen=True)
class Requant(Node):
    """Re-scale a tensor (and optionally clamp it), e.g. a standalone ReLU or Clip."""

    activation: Activation | None = None


@dataclass
class Graph:
    """A quantized network: tensors by name, nodes in topological order."""

    name: str
    tensors: dict[str, Tensor]
    nodes: list[Node]
    inputs: list[str]
    outputs: list[str]

    def tensor(self, name: str) -> Tensor:
        try:
            return self.tensors[name]
        except KeyError:
            raise CompileError(f"graph {self.name}: unknown tensor {name!r}") from None

    def producer(self, name: str) -> Node | None:
        for node in self.nodes:
            if node.output == name:
                return node
        return None

    def consumers(self, name: str) -> list[Node]:
        return [n for n in self.nodes if name in n.inputs]

    @property
    def bits(self) -> int:
        """Bits of every value of the graph: 8 (INT8) or 16 (INT16); 16 / 32 (floats)."""
        return self.tensor(self.inputs[0]).quant.bits

    @property
    def precision(self) -> str:
        """Format of every value of the graph: int8, int16, fp16 or fp32."""
        return self.tensor(self.inputs[0]).quant.precision

    @property
    def is_float(self) -> bool:
        return self.tensor(self.inputs[0]).quant.is_float

    def validate(self) -> None:
        """Check names, topological order and shapes; raise CompileError naming the node."""
        known = set(self.inputs)
        for name in self.inputs:
            self.tensor(name)
        mixed = sorted(t.name for t in self.tensors.values()
                       if t.quant.precision != self.precision)
        if mixed:
            raise CompileError(f"graph {self.name}: every tensor must be {self.precision} like "
                               f"the input; {', '.join(mixed[:3])} is not")
        names = [n.name for n in self.nodes]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise CompileError(f"graph {self.name}: node names must be unique; repeated: "
                               f"{', '.join(duplicates)}")
        for node in self.nodes:
            for name in node.inputs:
                if name not in known:
                    raise CompileError(f"node {node.name}: input {name!r} is not produced "
                                       f"before it")
            if node.output in known:
                raise CompileError(f"node {node.name}: output {node.output!r} is produced twice")
            self.tensor(node.output)
            known.add(node.output)
            if isinstance(node, Conv):
                _check_conv(self, node)
        for name in self.outputs:
            if name not in known:
                raise CompileError(f"graph {self.name}: output {name!r} is never produced")


def bias_bits_of(bits: int) -> int:
    """Bias width of a ``bits``-bit graph: int32 at INT8 (ONNX), CACC's 48-bit assembly
    buffer at INT16 (cmod cacc ``ACCU_ASSEMBLY_BIT_WIDTH_INT16``)."""
    return 32 if bits <= 8 else 48


def conv_output_size(size: int, kernel: int, stride: int, pad_lo: int, pad_hi: int,
                     dilation: int) -> int:
    span = (kernel - 1) * dilation + 1
    return (size + pad_lo + pad_hi - span) // stride + 1


def _check_conv(graph: Graph, node: Conv) -> None:
    x = graph.tensor(node.inputs[0])
    y = graph.tensor(node.output)
    k, cg, r, s = node.weight.shape
    dtype = x.quant.dtype
    if node.weight.dtype != dtype:
        raise CompileError(f"node {node.name}: weights of an {graph.precision} graph must be "
                           f"{dtype}, got {node.weight.dtype}")
    if cg * node.groups != x.channels:
        raise CompileError(f"node {node.name}: weights expect {cg * node.groups} input "
                           f"channels, input {x.name} has {x.channels}")
    oh = conv_output_size(x.shape[1], r, node.stride[0], node.pads[0], node.pads[2],
                          node.dilation[0])
    ow = conv_output_size(x.shape[2], s, node.stride[1], node.pads[1], node.pads[3],
                          node.dilation[1])
    if y.shape != (k, oh, ow):
        raise CompileError(f"node {node.name}: output {y.name} has shape {y.shape}, "
                           f"expected {(k, oh, ow)}")
    if node.bias.shape != (k,) or node.weight_scale.shape != (k,):
        raise CompileError(f"node {node.name}: bias and weight scale need one value per "
                           f"output channel ({k})")
    if graph.is_float:
        if node.bias.dtype != dtype or not np.all(node.weight_scale == 1):
            raise CompileError(f"node {node.name}: a float graph's biases are {dtype} and "
                               f"its weight scales 1")
        return
    bias_bits = bias_bits_of(graph.bits)
    if np.any(np.abs(node.bias.astype(np.int64)) >= 1 << (bias_bits - 1)):
        raise CompileError(f"node {node.name}: bias values must fit {bias_bits} bits")
    if not np.all(node.weight_scale > 0):
        raise CompileError(f"node {node.name}: weight scales must be positive")
