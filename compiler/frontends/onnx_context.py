"""Import state: the value of every ONNX tensor so far and the IR graph being built.

Quantization and dequantization live here because both formats need them: QDQ models spell
them as QuantizeLinear/DequantizeLinear nodes, QOperator ops as scale/zero-point inputs.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import onnx

from compiler import ir
from compiler.frontends.onnx_conv import quantize_float_weights
from compiler.frontends.onnx_values import (Args, Const, DequantConst, Final, FloatInput,
                                            Pending, QTensor, Real, Value, activation_quant,
                                            axis_shape, fail, node_name)


class Importer:
    """Maps ONNX tensor names to values and collects IR tensors and nodes in order."""

    def __init__(self) -> None:
        self.values: dict[str, Value] = {}
        self.tensors: dict[str, ir.Tensor] = {}
        self.nodes: list[ir.Node] = []
        self.inputs: list[str] = []
        self._int_types: dict[str, np.dtype] = {}  # IR tensor -> ONNX int8/uint8 type
        self._quantized_inputs: dict[str, str] = {}  # float graph input -> IR tensor

    # -- reading values -------------------------------------------------------------------

    def args(self, node: onnx.NodeProto) -> Args:
        """The values of a node's inputs; None for omitted optional inputs."""
        out: Args = []
        for name in node.input:
            if name and name not in self.values:
                raise fail(node, f"input {name!r} is not an initializer, a graph input or "
                                 f"the output of an earlier node")
            out.append(self.values[name] if name else None)
        return out

    def shape(self, value: Value) -> tuple[int, int, int]:
        if isinstance(value, (Real, QTensor)):
            return self.tensors[value.name].shape
        assert isinstance(value, (Pending, FloatInput))
        return value.shape

    def int_type(self, value: QTensor) -> np.dtype:
        return self._int_types[value.name]

    @staticmethod
    def real(node: onnx.NodeProto, value: Value | None, role: str, flat: bool = False) -> Real:
        """``value`` as a dequantized tensor, flattened to [N, C*H*W] iff ``flat``."""
        if not isinstance(value, Real):
            got = value.kind if value is not None else "missing"
            raise fail(node, f"{role} is {got}; expected a dequantized int8 tensor "
                             f"(the output of DequantizeLinear)")
        if value.flat != flat:
            raise fail(node, f"{role} must be {'2-D [N, C*H*W]' if flat else '4-D [N, C, H, W]'}")
        return value

    @staticmethod
    def array(node: onnx.NodeProto, value: Value | None, role: str) -> np.ndarray:
        """A constant input's values (dequantized if it is a dequantized constant)."""
        if isinstance(value, (Const, DequantConst)):
            return value.value
        got = value.kind if value is not None else "missing"
        raise fail(node, f"{role} must be a constant, got {got}")

    # -- building the IR ------------------------------------------------------------------

    def emit(self, node: onnx.NodeProto, ir_node: ir.Node, shape: tuple[int, int, int],
             quant: ir.QuantParams, int_type: np.dtype) -> None:
        """Append ``ir_node`` and create its output tensor."""
        self._add_tensor(node, ir_node.output, shape, quant, int_type)
        self.nodes.append(ir_node)

    def _add_tensor(self, node: onnx.NodeProto, name: str, shape: tuple[int, int, int],
                    quant: ir.QuantParams, int_type: np.dtype) -> None:
        if name in self.tensors:
            raise fail(node, f"tensor {name!r} is produced twice")
        self.tensors[name] = ir.Tensor(name, shape, quant)
        self._int_types[name] = int_type

    def quantize(self, node: onnx.NodeProto, value: Value | None, quant: ir.QuantParams,
                 out: str, int_type: np.dtype) -> Value:
        """The value of ``out = QuantizeLinear(value)``: materializes pending float ops."""
        if isinstance(value, Final):
            return value
        if isinstance(value, FloatInput):
            return self._quantize_input(node, value, quant, out, int_type)
        if isinstance(value, Real):
            tensor = self.tensors[value.name]
            if tensor.quant == quant:  # a DequantizeLinear/QuantizeLinear pair
                return QTensor(value.name, value.flat)
            value = Pending(ir.Requant(node_name(node), (value.name,), ""), tensor.shape,
                            value.flat)
        if isinstance(value, Pending):
            self._materialize(node, value, quant, out, int_type)
            return QTensor(out, value.flat)
        got = value.kind if value is not None else "missing"
        raise fail(node, f"cannot quantize {got}; expected the float result of a "
                         f"supported op or a graph input")

    def _quantize_input(self, node: onnx.NodeProto, value: FloatInput, quant: ir.QuantParams,
                        out: str, int_type: np.dtype) -> QTensor:
        prior = self._quantized_inputs.get(value.name)
        if prior is None:
            self._add_tensor(node, out, value.shape, quant, int_type)
            self.inputs.append(out)
            self._quantized_inputs[value.name] = prior = out
        elif self.tensors[prior].quant != quant:
            raise fail(node, f"graph input {value.name!r} is quantized twice with different "
                             f"scales or zero points")
        return QTensor(prior, value.flat)

    def _materialize(self, node: onnx.NodeProto, pending: Pending, quant: ir.QuantParams,
                     out: str, int_type: np.dtype) -> None:
        if pending.source is not None:
            source_out = pending.node.inputs[0]
            if source_out not in self.tensors:
                self._materialize(node, pending.source, quant, source_out, int_type)
            elif self.tensors[source_out].quant != quant:
                raise fail(node, f"{source_out!r} would need two quantizations")
        ir_node = pending.node
        if isinstance(ir_node, ir.Conv) and ir_node.weight.dtype.kind == "f":
            ir_node = quantize_float_weights(node, ir_node,
                                             self.tensors[ir_node.inputs[0]].quant.scale)
        if isinstance(ir_node, ir.Concat):
            ir_node = replace(ir_node, inputs=tuple(
                self._requantized(node, name, quant, int_type, f"{ir_node.name}/in{i}",
                                  f"{out}/in{i}") for i, name in enumerate(ir_node.inputs)))
        self.emit(node, replace(ir_node, output=out), pending.shape, quant, int_type)

    def _requantized(self, node: onnx.NodeProto, name: str, quant: ir.QuantParams,
                     int_type: np.dtype, requant_name: str, out: str) -> str:
        """``name``, or a Requant of it to ``quant``: IR Concat inputs share its quantization."""
        tensor = self.tensors[name]
        if tensor.quant == quant:
            return name
        self.emit(node, ir.Requant(requant_name, (name,), out), tensor.shape, quant, int_type)
        return out

    def dequantize(self, node: onnx.NodeProto, value: Value | None, scale: np.ndarray,
                   zero_point: np.ndarray | None, axis: int) -> Value:
        """The value of ``DequantizeLinear(value, scale, zero_point, axis)``."""
        if isinstance(value, Final):
            return value
        if isinstance(value, QTensor):
            quant = activation_quant(node, scale, zero_point, self.int_type(value))
            if quant != self.tensors[value.name].quant:
                raise fail(node, f"dequantizes {value.name!r} with {quant}, but it was "
                                 f"quantized with {self.tensors[value.name].quant}")
            return Real(value.name, value.flat)
        if isinstance(value, Const) and value.value.dtype.kind in "iu":
            return _dequantized_const(node, value.value, scale, zero_point, axis)
        got = value.kind if value is not None else "missing"
        raise fail(node, f"input is {got}; expected a quantized tensor or an integer constant")


def _dequantized_const(node: onnx.NodeProto, data: np.ndarray, scale: np.ndarray,
                       zero_point: np.ndarray | None, axis: int) -> DequantConst:
    zp = np.zeros(scale.shape, data.dtype) if zero_point is None else zero_point
    if zp.size != scale.size:
        raise fail(node, "scale and zero point differ in size")
    shape = axis_shape(node, data.shape, scale, axis)
    return DequantConst(data, scale.astype(np.float64).reshape(shape), zp.reshape(shape))
