"""Post-training static quantization of a float zoo graph to the int8 IR.

The scheme is the one NVDLA runs natively and ONNX QDQ models use:

* batchnorms are folded into the convolutions before them;
* weights are int8, symmetric, one scale per output channel (max|w| / 127; with
  ``weight_bits=b`` < 8, max|w| / (2^(b-1) - 1), the values then fit b bits:
  INT4 is ``weight_bits=4`` on the INT8 datapath);
  biases are int32 in units of ``input_scale * weight_scale``;
* with ``bits=16`` (NVDLA's INT16 datapath) weights, activations and zero
  points are int16 the same way (max|w| / 32767, 65535 activation levels) and
  biases int64 within CACC's 48 bits (:func:`compiler.ir.bias_bits_of`);
* activations are int8, asymmetric, one (scale, zero point) per tensor from
  the min/max seen on calibration inputs, the range always holding 0 (so a
  ReLU output gets zero point -128);
* a ReLU/Clip right after a Conv, Linear or Add becomes that node's
  ``Activation``; elsewhere it is a ``Requant``;
* a Linear after a Flatten is a Conv whose kernel covers the input plane;
* tensors that hardware passes through without rescaling share one set of
  params: pool outputs with their inputs, concat inputs with the concat
  output (each such group is calibrated to the union of its ranges).

:func:`int8_forward` runs the result with ``compiler.reference`` (ONNX
semantics) to compare the int8 model with the float one.
"""

from __future__ import annotations

import numpy as np

from compiler import ir
from compiler.ir import CompileError
from compiler.reference import evaluate
from compiler.zoo.fold import fold_batchnorm
from compiler.zoo.forward import check_batch, forward
from compiler.zoo.graph import (Add, Clip, Concat, Conv, Flatten, FloatGraph, GlobalAvgPool,
                                Linear, Lrn, Op, Pool, Shape)

Range = tuple[float, float]


def calibrate(graph: FloatGraph, images: np.ndarray, batch_size: int = 64) -> dict[str, Range]:
    """(min, max) of every tensor over ``images`` (N, C, H, W), widened to hold 0."""
    images = check_batch(graph, images)
    low: dict[str, float] = {}
    high: dict[str, float] = {}

    def observe(name: str, value: np.ndarray) -> None:
        low[name] = min(low.get(name, 0.0), float(value.min()))
        high[name] = max(high.get(name, 0.0), float(value.max()))

    for start in range(0, len(images), batch_size):
        forward(graph, images[start:start + batch_size].astype(np.float32), observe)
    return {name: (low[name], high[name]) for name in low}


def activation_params(low: float, high: float, bits: int = 8) -> ir.QuantParams:
    """Asymmetric ``bits``-bit params for [low, high] widened to hold 0 (then 0 is exact)."""
    low, high = min(low, 0.0), max(high, 0.0)
    qmin, qmax = ir.value_range(bits)
    scale = (high - low) / (qmax - qmin) if high > low else 1.0
    return ir.QuantParams(scale, int(np.clip(np.rint(qmin - low / scale), qmin, qmax)), bits)


def weight_levels(bits: int, datapath_bits: int = 8) -> int:
    """Largest weight magnitude of a symmetric ``bits``-bit code: 2^(bits-1) - 1."""
    if not 2 <= bits <= datapath_bits:
        raise CompileError(f"weight bits must be in 2..{datapath_bits} (int{datapath_bits} "
                           f"hardware), got {bits}")
    return (1 << (bits - 1)) - 1


def quantize_weights(weight: np.ndarray, bits: int = 8, datapath_bits: int = 8
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-output-channel weights in ``bits`` bits, stored as int8 (int16 on the
    16-bit datapath), and their scales (max|w| / (2^(bits-1) - 1); 1 for an all-zero
    channel, where any scale is exact).  Rounding half to even, as everywhere in the
    compiler."""
    levels = weight_levels(bits, datapath_bits)
    w = np.asarray(weight, np.float64)
    scale = np.abs(w.reshape(len(w), -1)).max(axis=1) / levels
    scale[scale == 0] = 1.0
    q = np.rint(w / scale.reshape(-1, *[1] * (w.ndim - 1)))
    return np.clip(q, -levels, levels).astype(ir.value_dtype(datapath_bits)), scale


def _quantize_bias(name: str, bias: np.ndarray, scale: np.ndarray, bits: int) -> np.ndarray:
    q = np.rint(np.asarray(bias, np.float64) / scale)
    width = ir.bias_bits_of(bits)
    if np.abs(q).max(initial=0) >= 2.0 ** (width - 1):
        raise CompileError(f"node {name}: bias does not fit {width} bits at scale "
                           f"input_scale * weight_scale (largest {np.abs(q).max():.3g})")
    return q.astype(np.int32 if width == 32 else np.int64)


def _ir_shape(shape: Shape) -> tuple[int, int, int]:
    return shape if len(shape) == 3 else (shape[0], 1, 1)  # type: ignore[return-value]


class _IrBuilder:
    """Which float tensors become IR tensors and which ops IR nodes (Clips fused into the
    op before them, Flatten dropped); subclasses give the tensors' params and the values
    of convolutions (quantized, or IEEE floats)."""

    def __init__(self, graph: FloatGraph) -> None:
        self.graph = graph
        # Conv/Linear/Add name -> the Clip that becomes its activation
        self.fused: dict[str, Clip] = {}
        for op in graph.nodes:
            producer = graph.producer(op.inputs[0])
            if isinstance(op, Clip) and isinstance(producer, (Conv, Linear, Add)) \
                    and len(graph.consumers(producer.output)) == 1 \
                    and producer.output != graph.output:
                self.fused[producer.name] = op
        fused_clips = {clip.name for clip in self.fused.values()}
        self.lowered = [op for op in graph.nodes
                        if not isinstance(op, Flatten) and op.name not in fused_clips]
        self.alias = {op.output: op.inputs[0] for op in graph.nodes if isinstance(op, Flatten)}
        for flat in self.alias:
            readers = [op for op in graph.consumers(flat) if not isinstance(op, (Linear, Flatten))]
            if readers:
                raise CompileError(f"{type(readers[0]).__name__} {readers[0].name}: reads the "
                                   f"flattened {flat!r}; the int8 IR has no flat tensors, only "
                                   f"a Linear may follow a Flatten")
        names = [graph.input] + [self.output_of(op) for op in self.lowered]
        params = self._params(names)
        self.tensors = {name: ir.Tensor(name, _ir_shape(graph.shapes[name]), params[name])
                        for name in names}

    def source(self, tensor: str) -> str:
        """The IR tensor holding float tensor ``tensor`` (Flatten is a no-op in the IR)."""
        while tensor in self.alias:
            tensor = self.alias[tensor]
        return tensor

    def output_of(self, op: Op) -> str:
        return self.fused[op.name].output if op.name in self.fused else op.output

    def activation(self, op: Op) -> ir.Activation | None:
        clip = self.fused.get(op.name)
        return None if clip is None else ir.Activation(clip.low, clip.high)

    def _params(self, names: list[str]) -> dict[str, ir.QuantParams]:
        raise NotImplementedError

    def _conv(self, op: Conv | Linear, weight: np.ndarray, **geometry: object) -> ir.Conv:
        raise NotImplementedError

    def lower(self, op: Op) -> ir.Node:
        inputs = tuple(self.source(name) for name in op.inputs)
        if isinstance(op, Conv):
            return self._conv(op, op.weight, stride=op.stride, pads=op.pads,
                              dilation=op.dilation, groups=op.groups)
        if isinstance(op, Linear):  # a conv whose kernel is the whole (C, H, W) input
            plane = self.tensors[inputs[0]].shape
            return self._conv(op, op.weight.reshape(len(op.weight), *plane))
        if isinstance(op, Add):
            return ir.Add(op.name, inputs, self.output_of(op), activation=self.activation(op))
        if isinstance(op, Clip):
            return ir.Requant(op.name, inputs, op.output,
                              activation=ir.Activation(op.low, op.high))
        if isinstance(op, Pool):
            return ir.Pool(op.name, inputs, op.output, kind=op.kind, kernel=op.kernel,
                           stride=op.stride, pads=op.pads,
                           count_include_pad=op.count_include_pad)
        if isinstance(op, Lrn):
            return ir.Lrn(op.name, inputs, op.output, size=op.size, alpha=op.alpha,
                          beta=op.beta, bias=op.bias)
        if isinstance(op, GlobalAvgPool):
            return ir.GlobalAvgPool(op.name, inputs, op.output)
        if isinstance(op, Concat):
            return ir.Concat(op.name, inputs, op.output)
        raise CompileError(f"{type(op).__name__} {op.name}: cannot be quantized; supported: "
                           f"Conv, Linear, Add, Clip, Pool, GlobalAvgPool, Concat, Lrn, "
                           f"Flatten (BatchNorm only after a Conv)")

    def build(self) -> ir.Graph:
        graph = ir.Graph(self.graph.name, self.tensors, [self.lower(op) for op in self.lowered],
                         [self.graph.input], [self.source(self.graph.output)])
        graph.validate()
        return graph


class _Quantizer(_IrBuilder):
    """One quantization run: activation params from calibration ranges, int weights."""

    def __init__(self, graph: FloatGraph, ranges: dict[str, Range], weight_bits: int,
                 bits: int) -> None:
        self.ranges = ranges
        self.weight_bits = weight_bits
        self.bits = bits
        super().__init__(graph)

    def _params(self, names: list[str]) -> dict[str, ir.QuantParams]:
        """Params per IR tensor; pool in/out and concat in/out are merged (union-find)."""
        ranges = self.ranges
        parent = {name: name for name in names}

        def root(name: str) -> str:
            while parent[name] != name:
                parent[name] = parent[parent[name]]
                name = parent[name]
            return name

        for op in self.lowered:
            if isinstance(op, (Pool, GlobalAvgPool, Concat)):
                for name in op.inputs:
                    parent[root(self.source(name))] = root(op.output)
        merged: dict[str, Range] = {}
        for name in names:
            lo, hi = merged.get(root(name), (0.0, 0.0))
            merged[root(name)] = (min(lo, ranges[name][0]), max(hi, ranges[name][1]))
        group = {r: activation_params(*span, self.bits) for r, span in merged.items()}
        return {name: group[root(name)] for name in names}

    def _conv(self, op: Conv | Linear, weight: np.ndarray, **geometry: object) -> ir.Conv:
        x = self.tensors[self.source(op.inputs[0])]
        q, scale = quantize_weights(weight, self.weight_bits, self.bits)
        return ir.Conv(op.name, (x.name,), self.output_of(op), weight=q, weight_scale=scale,
                       bias=_quantize_bias(op.name, op.bias, x.quant.scale * scale, self.bits),
                       activation=self.activation(op), **geometry)  # type: ignore[arg-type]


class _FloatIr(_IrBuilder):
    """The float graph as an IR of IEEE values: weights and biases rounded once to the
    precision's format (round to nearest even), every tensor :func:`ir.float_params`."""

    def __init__(self, graph: FloatGraph, precision: str) -> None:
        self.params = ir.float_params(precision)
        super().__init__(graph)

    def _params(self, names: list[str]) -> dict[str, ir.QuantParams]:
        return {name: self.params for name in names}

    def _conv(self, op: Conv | Linear, weight: np.ndarray, **geometry: object) -> ir.Conv:
        x = self.tensors[self.source(op.inputs[0])]
        dtype = self.params.dtype
        return ir.Conv(op.name, (x.name,), self.output_of(op),
                       weight=np.asarray(weight, np.float64).astype(dtype),
                       weight_scale=np.ones(len(weight)),
                       bias=np.asarray(op.bias, np.float64).astype(dtype),
                       activation=self.activation(op), **geometry)  # type: ignore[arg-type]


def quantize(graph: FloatGraph, calibration: np.ndarray, batch_size: int = 64,
             weight_bits: int | None = None, bits: int = 8) -> ir.Graph:
    """The int8 (``bits=16``: int16) IR of ``graph``, activations calibrated on
    ``calibration`` (N, C, H, W); ``weight_bits`` (default ``bits``) below ``bits``
    restricts the weights to that many bits (see quantize_weights)."""
    if bits not in ir.INTEGER_BITS:
        raise CompileError(f"the integer datapaths are {' and '.join(map(str, ir.INTEGER_BITS))}"
                           f"-bit, got {bits}")
    weight_bits = bits if weight_bits is None else weight_bits
    weight_levels(weight_bits, bits)
    folded = fold_batchnorm(graph)
    return _Quantizer(folded, calibrate(folded, calibration, batch_size), weight_bits,
                      bits).build()


def float_ir(graph: FloatGraph, precision: str) -> ir.Graph:
    """The IR of float ``graph`` at ``fp16`` / ``fp32``: batchnorms folded (in float64, as
    for quantization), then weights, biases and every tensor in that IEEE format."""
    return _FloatIr(fold_batchnorm(graph), precision).build()


def int8_forward(graph: ir.Graph, images: np.ndarray) -> np.ndarray:
    """Dequantized output of the int8 ``graph`` for float ``images`` (N, C, H, W), as
    (N, C*H*W): the input quantized to its params, then ``compiler.reference.evaluate``."""
    (name,), (out,) = graph.inputs, graph.outputs
    x = np.asarray(images)
    if x.ndim != 4 or x.shape[1:] != graph.tensor(name).shape:
        raise CompileError(f"graph {graph.name}: input batch must have shape (N, "
                           f"{', '.join(map(str, graph.tensor(name).shape))}), got {x.shape}")
    q = evaluate(graph, graph.tensor(name).quant.quantize(x))[out]
    return graph.tensor(out).quant.dequantize(q).reshape(len(x), -1)

