"""A zoo float graph as a PyTorch module, optionally fake-quantized as the compiler
quantizes it (quantization-aware training).

:class:`QatNet` is built from any :class:`~compiler.zoo.graph.FloatGraph` (every zoo
architecture, or a graph derived from one, e.g. channel-pruned): one trainable
parameter per weight array, ops run in the graph's topological order, so no second
PyTorch definition of a network exists.  :meth:`QatNet.to_float_graph` writes the
trained arrays back.

Fake quantization copies :mod:`compiler.quantize` and :mod:`compiler.reference`
exactly, so a trained net compiles to the accuracy it trained to:

* which tensors are int8, and their (scale, zero point), come from an int8 IR graph
  made by :func:`compiler.quantize.quantize` (:meth:`QatNet.set_quantization`): the
  graph input and every node output; a Conv/Linear/Add output read only by a Clip is
  not (the Clip is the node's activation), a Flatten output is its input, pools and
  concats share params -- all decided there, once;
* a batchnorm is folded into its conv with its running statistics (frozen while
  fake-quantized), weights are symmetric per output channel, max|w| / (2^(b-1) - 1)
  with ``weight_bits`` b, biases int32 in units of input scale x weight scale;
* rounding is half to even (``torch.round`` = ``np.rint``), then saturation.

Gradients pass rounding unchanged (straight-through estimator) and stop where a
value saturates.  With float64 parameters the int8 codes equal the reference's
except where the exact value lies within float64 error (~1e-12 LSB) of a rounding
boundary; in float32, within ~1e-6 LSB (then they differ by 1 LSB).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from compiler import ir
from compiler.ir import CompileError
from compiler.quantize import weight_levels
from compiler.zoo.graph import (Add, BatchNorm, Clip, Concat, Conv, Flatten, FloatGraph,
                                GlobalAvgPool, Linear, Lrn, Op, Pool, array_fields)

TRAINABLE = {"weight", "bias", "gamma", "beta"}  # BatchNorm mean/var are buffers


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """Round half to even forward, identity backward."""
    return x + (torch.round(x) - x).detach()


def fake_quant_weight(weight: torch.Tensor, bits: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-output-channel symmetric quantization as :func:`compiler.quantize.quantize_weights`
    (dequantized weights, scales); the scales are constants to the gradient."""
    levels = weight_levels(bits)
    scale = weight.detach().abs().flatten(1).amax(1) / levels
    scale = torch.where(scale == 0, torch.ones_like(scale), scale)
    shape = (-1,) + (1,) * (weight.dim() - 1)
    q = torch.clamp(round_ste(weight / scale.view(shape)), -levels, levels)
    return q * scale.view(shape), scale


def fake_quant_activation(x: torch.Tensor, scale: float, zero_point: int) -> torch.Tensor:
    """``scale * (q - zero_point)``, ``q = clip(round(x / scale) + zero_point, -128, 127)``
    as :meth:`compiler.ir.QuantParams.quantize`; no gradient where q saturates."""
    q = torch.clamp(round_ste(x / scale) + zero_point, -128, 127)
    return (q - zero_point) * scale


def codes(x: torch.Tensor, scale: float, zero_point: int) -> torch.Tensor:
    """The int8 codes of a fake-quantized tensor (exact: it is on the grid)."""
    return torch.clamp(torch.round(x / scale) + zero_point, -128, 127).to(torch.int8)


def _key(index: int, name: str) -> str:
    return f"op{index}_{name}"  # module attribute names may not hold the ops' dots


class QatNet(nn.Module):
    """``graph`` as a torch module; float until :meth:`set_quantization` is called.

    In float mode batchnorms use batch statistics in training (updating the running
    ones) and running statistics in evaluation, as ``nn.BatchNorm2d``.  Fake-quantized,
    every batchnorm is folded with its running statistics, which stay frozen.
    """

    def __init__(self, graph: FloatGraph, weight_bits: int = 8, dropout: float = 0.0) -> None:
        super().__init__()
        weight_levels(weight_bits)
        self.graph = graph
        self.weight_bits = weight_bits
        self.dropout = dropout  # on Linear inputs in training; the graph has no dropout op
        self.quant: dict[str, tuple[float, int]] | None = None
        self.params = nn.ParameterDict()
        for i, op in enumerate(graph.nodes):
            for field, array in array_fields(op).items():
                value = torch.from_numpy(np.array(array, np.float32))
                if field in TRAINABLE:
                    self.params[_key(i, field)] = nn.Parameter(value)
                else:
                    self.register_buffer(_key(i, field), value)
        self._index = {op.name: i for i, op in enumerate(graph.nodes)}
        self._alias = {op.output: op.inputs[0] for op in graph.nodes if isinstance(op, Flatten)}
        self._folded: dict[str, BatchNorm] = {}  # conv name -> batchnorm folded into it
        for op in graph.nodes:
            conv = graph.producer(op.inputs[0])
            if isinstance(op, BatchNorm) and isinstance(conv, Conv) \
                    and len(graph.consumers(conv.output)) == 1:
                self._folded[conv.name] = op

    # --- parameters -------------------------------------------------------------------
    def array(self, op: Op, field: str) -> torch.Tensor:
        """The live tensor behind ``op.field`` (a parameter or a buffer)."""
        key = _key(self._index[op.name], field)
        return self.params[key] if key in self.params else getattr(self, key)

    def to_float_graph(self) -> FloatGraph:
        """The graph with this module's current arrays (float32, as the zoo stores them)."""
        params = {op.name: {field: self.array(op, field).detach().cpu().numpy()
                            for field in array_fields(op)}
                  for op in self.graph.nodes if array_fields(op)}
        return self.graph.with_params(params)

    # --- quantization -----------------------------------------------------------------
    def set_quantization(self, int8_graph: ir.Graph | None) -> None:
        """Fake-quantize as ``int8_graph`` (made by :func:`compiler.quantize.quantize`
        from this net's graph) does; ``None`` returns to float."""
        if int8_graph is None:
            self.quant = None
            return
        missing = {self.graph.input, self._source(self.graph.output)} - set(int8_graph.tensors)
        if missing:
            raise CompileError(f"graph {self.graph.name}: the int8 graph {int8_graph.name} has "
                               f"no tensors {sorted(missing)}; quantize this net's graph")
        self.quant = {name: (t.quant.scale, t.quant.zero_point)
                      for name, t in int8_graph.tensors.items()}

    def _source(self, tensor: str) -> str:
        while tensor in self._alias:
            tensor = self._alias[tensor]
        return tensor

    def _params(self, tensor: str) -> tuple[float, int]:
        assert self.quant is not None
        try:
            return self.quant[self._source(tensor)]
        except KeyError:
            raise CompileError(f"graph {self.graph.name}: tensor {tensor!r} feeds a Conv or "
                               f"Linear but is not an int8 tensor of the quantized graph") from None

    def _quantize_output(self, tensor: str, value: torch.Tensor) -> torch.Tensor:
        if self.quant is not None and tensor in self.quant:
            return fake_quant_activation(value, *self.quant[tensor])
        return value

    # --- forward ----------------------------------------------------------------------
    def run(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every tensor of the graph for a batch ``x`` (N, C, H, W); fake-quantized
        tensors hold dequantized int8 values.  A folded batchnorm's conv has no output of
        its own (its result is the batchnorm's output)."""
        values = {self.graph.input: self._quantize_output(self.graph.input, x)}
        skip: set[str] = set()
        for op in self.graph.nodes:
            if op.name in skip:
                continue
            inputs = [values[name] for name in op.inputs]
            output = op.output
            if isinstance(op, (Conv, Linear)):
                bn = self._folded.get(op.name) if self.quant is not None else None
                if bn is not None:
                    skip.add(bn.name)
                    output = bn.output
                y = self._affine(op, bn, inputs[0])
            elif isinstance(op, BatchNorm):
                y = F.batch_norm(inputs[0], self.array(op, "mean"), self.array(op, "var"),
                                 self.array(op, "gamma"), self.array(op, "beta"),
                                 training=self.training and self.quant is None, eps=op.eps)
            else:
                y = _apply(op, inputs)
            values[output] = self._quantize_output(output, y)
        return values

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, classes): the graph output flattened."""
        return self.run(x)[self.graph.output].flatten(1)

    def _affine(self, op: Conv | Linear, bn: BatchNorm | None, x: torch.Tensor) -> torch.Tensor:
        weight, bias = self.array(op, "weight"), self.array(op, "bias")
        if bn is not None:  # compiler.zoo.fold.fold_batchnorm
            scale = self.array(bn, "gamma") / torch.sqrt(self.array(bn, "var") + bn.eps)
            weight = weight * scale.view(-1, 1, 1, 1)
            bias = (bias - self.array(bn, "mean")) * scale + self.array(bn, "beta")
        if self.quant is not None:
            weight, w_scale = fake_quant_weight(weight, self.weight_bits)
            unit = self._params(op.inputs[0])[0] * w_scale  # int32 bias units
            bias = round_ste(bias / unit) * unit
        if isinstance(op, Linear):
            if self.dropout and self.training:
                x = F.dropout(x, self.dropout)
            return F.linear(x, weight, bias)
        top, left, bottom, right = op.pads
        return F.conv2d(F.pad(x, (left, right, top, bottom)), weight, bias, op.stride, 0,
                        op.dilation, op.groups)


def pad(x: torch.Tensor, pads: tuple[int, int, int, int], value: float = 0.0) -> torch.Tensor:
    """``x`` padded by an op's (top, left, bottom, right); no copy when there is none."""
    if not any(pads):
        return x
    top, left, bottom, right = pads
    return F.pad(x, (left, right, top, bottom), value=value)


def _pool(op: Pool, x: torch.Tensor) -> torch.Tensor:
    if op.kind == "max":  # padding never wins a max
        return F.max_pool2d(pad(x, op.pads, -float("inf")), op.kernel, op.stride)
    sums = F.avg_pool2d(pad(x, op.pads), op.kernel, op.stride)
    if op.count_include_pad or not any(op.pads):
        return sums
    ones = torch.ones((1, 1, *x.shape[2:]), dtype=x.dtype, device=x.device)
    return sums / F.avg_pool2d(pad(ones, op.pads), op.kernel, op.stride)


def _lrn(op: Lrn, x: torch.Tensor) -> torch.Tensor:
    """ONNX LRN (as compiler.zoo.kernels.lrn): the window holds (size-1)//2 channels
    before, size//2 after."""
    squares = F.pad(x * x, (0, 0, 0, 0, (op.size - 1) // 2, op.size // 2))
    sums = squares.unfold(1, op.size, 1).sum(-1)
    return x / (op.bias + op.alpha / op.size * sums) ** op.beta


def _apply(op: Op, inputs: list[torch.Tensor]) -> torch.Tensor:
    if isinstance(op, Clip):
        return torch.clamp(inputs[0], op.low, op.high)
    if isinstance(op, Pool):
        return _pool(op, inputs[0])
    if isinstance(op, GlobalAvgPool):
        return inputs[0].mean(dim=(2, 3), keepdim=True)
    if isinstance(op, Add):
        return inputs[0] + inputs[1]
    if isinstance(op, Concat):
        return torch.cat(inputs, dim=1)
    if isinstance(op, Flatten):
        return inputs[0].flatten(1)
    if isinstance(op, Lrn):
        return _lrn(op, inputs[0])
    raise CompileError(f"{type(op).__name__} {op.name}: QatNet has no rule for it")


def tensor_codes(net: QatNet, values: Mapping[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """The int8 codes (N, C, H, W) of every fake-quantized tensor in ``values``
    (from :meth:`QatNet.run`), named as in the int8 graph."""
    if net.quant is None:
        raise CompileError("tensor_codes: the net is not fake-quantized")
    return {name: codes(value, *net.quant[name]).numpy()
            for name, value in values.items() if name in net.quant}
