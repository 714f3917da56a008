"""What each ONNX tensor stands for while a model is imported, and small shared readers.

The importer interprets the ONNX graph symbolically: every ONNX tensor name maps to one of
the values below.  QDQ models compute in float between DequantizeLinear and QuantizeLinear,
so a float op on dequantized tensors becomes a :class:`Pending` IR node whose output
quantization is only known once the QuantizeLinear after it is reached.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

import numpy as np
import onnx
from onnx import helper

from compiler import ir
from compiler.ir import CompileError

_INT8_SHIFT = {np.dtype(np.int8): 0, np.dtype(np.uint8): 128}  # ONNX int type -> IR zp offset


@dataclass(frozen=True)
class Const:
    """An initializer or Constant output (float or integer)."""

    value: np.ndarray
    kind = "a constant"


@dataclass(frozen=True)
class DequantConst:
    """DequantizeLinear of a constant: weights or a bias whose integer form is known."""

    data: np.ndarray  # integer values
    scale: np.ndarray  # float64, shaped to broadcast against ``data`` (per tensor or one axis)
    zero_point: np.ndarray  # shaped like ``scale``
    kind = "a dequantized constant"

    @property
    def value(self) -> np.ndarray:
        return (self.data.astype(np.float64) - self.zero_point) * self.scale


@dataclass(frozen=True)
class FloatInput:
    """A float graph input, waiting for the QuantizeLinear that fixes its quantization."""

    name: str
    shape: tuple[int, int, int]
    flat: bool = False  # the ONNX tensor is [N, C*H*W] rather than [N, C, H, W]
    kind = "a float graph input"


@dataclass(frozen=True)
class QTensor:
    """An int8 IR tensor (ONNX int8 or uint8 activation)."""

    name: str
    flat: bool = False
    kind = "a quantized tensor"


@dataclass(frozen=True)
class Real:
    """The dequantized (real-valued) view of an IR tensor."""

    name: str
    flat: bool = False
    kind = "a dequantized tensor"


@dataclass(frozen=True)
class Pending:
    """A float op whose output is not quantized yet; ``node.output`` is filled in later.

    ``source`` is an unquantized producer of ``node.inputs[0]`` (only for max pooling, which
    commutes with quantization, so the source takes the pool's output quantization).  A Conv
    may still hold float weights and a real bias, quantized when its output is.
    """

    node: ir.Node
    shape: tuple[int, int, int]
    flat: bool = False
    source: Pending | None = None
    kind = "an unquantized float result"


@dataclass(frozen=True)
class Final:
    """The result of the final Softmax, dropped from the IR (it keeps the argmax)."""

    inner: Value
    kind = "a Softmax output"


Value = Union[Const, DequantConst, FloatInput, QTensor, Real, Pending, Final]
Args = list[Union[Value, None]]  # a node's input values, None for omitted optional inputs


def arg(args: Args, index: int) -> Value | None:
    """Input ``index``, or None when the node has fewer inputs."""
    return args[index] if index < len(args) else None


def node_name(node: onnx.NodeProto) -> str:
    """The ONNX node name, or its first output when unnamed (IR node names come from here)."""
    return node.name or (node.output[0] if node.output else "<unnamed>")


def fail(node: onnx.NodeProto, message: str) -> CompileError:
    return CompileError(f"node {node_name(node)} ({node.op_type}): {message}")


def attributes(node: onnx.NodeProto) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attr in node.attribute:
        value = helper.get_attribute_value(attr)
        out[attr.name] = value.decode() if isinstance(value, bytes) else value
    return out


def activation_quant(node: onnx.NodeProto, scale: np.ndarray, zero_point: np.ndarray | None,
                     default_type: np.dtype) -> ir.QuantParams:
    """IR quantization of an int8/uint8 activation (uint8 zero points move down by 128)."""
    zp = np.zeros((), default_type) if zero_point is None else zero_point
    if scale.size != 1 or zp.size != 1:
        raise fail(node, "activations need one scale and zero point (per-tensor); "
                         "per-channel quantization is supported for weights only")
    if zp.dtype not in _INT8_SHIFT:
        raise fail(node, f"activation type {zp.dtype} is not supported; supported: uint8, int8")
    try:
        return ir.QuantParams(float(scale.reshape(())), int(zp.reshape(())) - _INT8_SHIFT[zp.dtype])
    except CompileError as exc:
        raise fail(node, str(exc)) from None


def channel_values(node: onnx.NodeProto, array: np.ndarray, channels: int, rank: int,
                   what: str) -> np.ndarray:
    """The per-channel values of a constant that broadcasts against an [N, K, ...] tensor."""
    if array.ndim > rank:
        raise fail(node, f"{what} of shape {array.shape} has more dimensions than the "
                         f"tensor it is added to")
    full = array.reshape((1,) * (rank - array.ndim) + array.shape)
    if any(d != 1 for i, d in enumerate(full.shape) if i != 1) or full.shape[1] not in (1,
                                                                                      channels):
        raise fail(node, f"{what} of shape {array.shape} is not a per-channel vector of "
                         f"{channels} values")
    return np.broadcast_to(full.reshape(-1), (channels,))


def to_int32(node: onnx.NodeProto, values: np.ndarray, what: str) -> np.ndarray:
    if np.abs(values).max(initial=0) > np.iinfo(np.int32).max:
        raise fail(node, f"{what} does not fit in int32")
    return values.astype(np.int32)


def pair(node: onnx.NodeProto, attrs: dict[str, Any], name: str, default: int) -> tuple[int, int]:
    """A 2-D (y, x) attribute such as strides or kernel_shape."""
    values = attrs.get(name, [default, default])
    if len(values) != 2:
        raise fail(node, f"{name}={values}: only 2-D (NCHW) operators are supported")
    return int(values[0]), int(values[1])


def window(node: onnx.NodeProto, attrs: dict[str, Any], kernel: tuple[int, int],
           size: tuple[int, int], dilation: tuple[int, int]
           ) -> tuple[tuple[int, int], tuple[int, int, int, int], tuple[int, int]]:
    """Strides, pads (top, left, bottom, right) and output (H, W) of a conv or pool window."""
    auto_pad = attrs.get("auto_pad", "NOTSET")
    if auto_pad not in ("NOTSET", "VALID"):
        raise fail(node, f"auto_pad={auto_pad} is not supported; supported: NOTSET with "
                         f"explicit pads, VALID")
    stride = pair(node, attrs, "strides", 1)
    pads = tuple(int(p) for p in attrs.get("pads", [0] * 4)) if auto_pad == "NOTSET" else (0,) * 4
    if len(pads) != 4:
        raise fail(node, f"pads={list(pads)}: only 2-D (NCHW) operators are supported")
    if min(stride + kernel + dilation) < 1 or min(pads) < 0:
        raise fail(node, "kernel, strides and dilations must be positive and pads non-negative")
    out = tuple(ir.conv_output_size(size[i], kernel[i], stride[i], pads[i], pads[i + 2],
                                    dilation[i]) for i in (0, 1))
    if min(out) < 1:
        raise fail(node, f"the {kernel[0]}x{kernel[1]} window does not fit the "
                         f"{size[0]}x{size[1]} input")
    return stride, pads, out  # type: ignore[return-value]


def axis_shape(node: onnx.NodeProto, data_shape: tuple[int, ...], params: np.ndarray,
               axis: int) -> tuple[int, ...]:
    """The shape that broadcasts per-axis ``params`` (scale, zero point) against the data."""
    if params.size == 1:
        return (1,) * len(data_shape)
    if not -len(data_shape) <= axis < len(data_shape):
        raise fail(node, f"axis {axis} is out of range for a {len(data_shape)}-D tensor")
    axis %= len(data_shape)
    if params.ndim != 1 or params.size != data_shape[axis]:
        raise fail(node, f"scale or zero point of shape {params.shape} does not match axis "
                         f"{axis} of shape {tuple(data_shape)}")
    return tuple(params.size if i == axis else 1 for i in range(len(data_shape)))
