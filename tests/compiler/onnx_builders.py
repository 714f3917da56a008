"""Small float and hand-quantized ONNX CNNs, and onnxruntime helpers, for the frontend tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                      quantize_static)

IN_SHAPE = (3, 12, 12)


class Net:
    """Accumulates nodes and initializers of a float NCHW model with one input ``x``."""

    def __init__(self, seed: int = 0, in_shape: tuple[int, ...] = IN_SHAPE) -> None:
        self.rng = np.random.default_rng(seed)
        self.in_shape = in_shape
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []

    def init(self, name: str, value: np.ndarray | float, dtype: type = np.float32) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def node(self, op: str, inputs: list[str], out: str, domain: str = "", **attrs) -> str:
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, domain=domain, **attrs))
        return out

    def conv(self, x: str, cin: int, cout: int, k: int, out: str, group: int = 1,
             **attrs) -> str:
        w = self.rng.standard_normal((cout, cin // group, k, k)) / np.sqrt(cin // group * k * k)
        b = 0.1 * self.rng.standard_normal(cout)
        return self.node("Conv", [x, self.init(f"{out}.w", w), self.init(f"{out}.b", b)], out,
                         group=group, **attrs)

    def gemm(self, x: str, fin: int, fout: int, out: str, trans_b: int = 1) -> str:
        w = self.rng.standard_normal((fout, fin)) / np.sqrt(fin)
        w = w if trans_b else w.T
        return self.node("Gemm", [x, self.init(f"{out}.w", w),
                                  self.init(f"{out}.b", 0.1 * self.rng.standard_normal(fout))],
                         out, transB=trans_b)

    def matmul(self, x: str, fin: int, fout: int, out: str) -> str:
        w = self.rng.standard_normal((fin, fout)) / np.sqrt(fin)
        return self.node("MatMul", [x, self.init(f"{out}.w", w)], out)

    def model(self, out: str, opset: int = 13) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes, "net",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *self.in_shape])],
            [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)], self.inits)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def conv_pool_gemm() -> onnx.ModelProto:
    n = Net(1)
    x = n.node("Relu", [n.conv("x", 3, 8, 3, "conv1", pads=[1, 1, 1, 1])], "relu1")
    x = n.node("MaxPool", [x], "pool1", kernel_shape=[2, 2], strides=[2, 2])
    x = n.node("Flatten", [x], "flat")
    return n.model(n.node("Softmax", [n.gemm(x, 8 * 6 * 6, 10, "fc")], "prob", axis=1))


def residual() -> onnx.ModelProto:
    n = Net(2)
    a = n.node("Relu", [n.conv("x", 3, 8, 3, "conv1", pads=[1, 1, 1, 1], strides=[2, 2])], "r1")
    b = n.conv(n.node("Relu", [n.conv(a, 8, 8, 3, "conv2", pads=[1, 1, 1, 1])], "r2"), 8, 8, 3,
               "conv3", pads=[1, 1, 1, 1])
    x = n.node("Relu", [n.node("Add", [b, a], "add")], "r3")
    x = n.node("Reshape", [n.node("GlobalAveragePool", [x], "gap"), n.init("shape", [0, -1],
                                                                            np.int64)], "flat")
    return n.model(n.gemm(x, 8, 10, "fc", trans_b=0))


def depthwise() -> onnx.ModelProto:
    n = Net(3)
    x = n.node("Relu", [n.conv("x", 3, 8, 3, "conv1", pads=[1, 1, 1, 1])], "r1")
    x = n.conv(x, 8, 8, 3, "dw", group=8, pads=[2, 2, 2, 2], strides=[2, 2], dilations=[2, 2])
    x = n.node("Clip", [x, n.init("lo", 0.0), n.init("hi", 6.0)], "relu6")
    x = n.node("Flatten", [n.conv(x, 8, 6, 1, "pw")], "flat")
    return n.model(n.gemm(x, 6 * 6 * 6, 10, "fc"))


def concat_avgpool() -> onnx.ModelProto:
    n = Net(4)
    a = n.node("Relu", [n.conv("x", 3, 4, 1, "left")], "ra")
    b = n.node("Relu", [n.conv("x", 3, 6, 3, "right", pads=[1, 1, 1, 1])], "rb")
    x = n.node("Concat", [a, b], "cat", axis=1)
    x = n.node("AveragePool", [x], "avg1", kernel_shape=[3, 3], strides=[2, 2],
               pads=[1, 1, 1, 1], count_include_pad=1)
    x = n.node("AveragePool", [x], "avg2", kernel_shape=[3, 3], strides=[3, 3])
    return n.model(n.gemm(n.node("Flatten", [x], "flat"), 10 * 2 * 2, 10, "fc"))


def average_pool_excluding_pads() -> onnx.ModelProto:
    """Edge windows average 4 or 6 values: exact ties when the output keeps the input scale."""
    n = Net(6)
    x = n.node("Relu", [n.conv("x", 3, 8, 3, "conv1")], "r1")
    x = n.node("AveragePool", [x], "avg", kernel_shape=[3, 3], strides=[2, 2],
               pads=[1, 1, 1, 1], count_include_pad=0)
    return n.model(n.gemm(n.node("Flatten", [x], "flat"), 8 * 5 * 5, 10, "fc"))


def lrn() -> onnx.ModelProto:
    n = Net(5)
    x = n.node("Relu", [n.conv("x", 3, 8, 3, "conv1", pads=[1, 1, 1, 1])], "r1")
    x = n.node("LRN", [x], "lrn", size=3, alpha=1e-2, beta=0.75, bias=1.0)
    x = n.node("MaxPool", [x], "pool", kernel_shape=[3, 3], strides=[2, 2])
    return n.model(n.matmul(n.node("Flatten", [n.conv(x, 8, 4, 1, "conv2")], "flat"),
                            4 * 5 * 5, 10, "fc"))


FLOAT_MODELS = {f.__name__: f for f in (conv_pool_gemm, residual, depthwise, concat_avgpool, lrn)}


class RandomReader(CalibrationDataReader):
    def __init__(self, shape: tuple[int, ...], count: int = 16, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.batches = iter([{"x": rng.standard_normal((1, *shape)).astype(np.float32)}
                             for _ in range(count)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.batches, None)


def quantize(model: onnx.ModelProto, folder: Path, fmt: QuantFormat, per_channel: bool,
             activation: QuantType, weight: QuantType = QuantType.QInt8) -> onnx.ModelProto:
    """``model`` quantized by onnxruntime with random calibration data.

    QOperator uint8 x int8 models get 7-bit weights: onnxruntime's u8s8 kernels saturate
    16-bit pair sums on CPUs without VNNI, so full-range weights would not be computed exactly.
    """
    src, dst = folder / "float.onnx", folder / "quant.onnx"
    onnx.save(model, src)
    reduce_range = fmt == QuantFormat.QOperator and activation == QuantType.QUInt8
    quantize_static(src, dst, RandomReader(IN_SHAPE), quant_format=fmt, per_channel=per_channel,
                    reduce_range=reduce_range, activation_type=activation, weight_type=weight)
    return onnx.load(dst)


def run_ort(model: onnx.ModelProto, x: np.ndarray, names: list[str] | None = None
            ) -> list[np.ndarray]:
    """The model's outputs without graph optimizations (fused int8 kernels are inexact)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    return session.run(names, {"x": x.astype(np.float32)})


class QdqNet(Net):
    """Hand-written QDQ models in the style of PyTorch exports (int8 activations, zp 0)."""

    def qdq(self, x: str, scale: float, zp: int = 0, dtype: type = np.int8,
            constants: bool = False) -> str:
        """x -> QuantizeLinear -> DequantizeLinear, parameters in initializers or in Constant
        nodes (as PyTorch exports them)."""
        values = {f"{x}.s": np.asarray(scale, np.float32), f"{x}.zp": np.asarray(zp, dtype)}
        params = [self.node("Constant", [], name, value=numpy_helper.from_array(value))
                  if constants else self.init(name, value, value.dtype)
                  for name, value in values.items()]
        q = self.node("QuantizeLinear", [x, *params], f"{x}.q")
        return self.node("DequantizeLinear", [q, *params], f"{x}.dq")

    def weight(self, name: str, w: np.ndarray, axis: int = 0, zp: int = 0,
               fake: bool = False) -> tuple[str, np.ndarray]:
        """Symmetric int8 weights with one scale per index of ``axis`` behind a
        DequantizeLinear (``fake``: float weights through QuantizeLinear first), and scales."""
        others = tuple(i for i in range(w.ndim) if i != axis)
        scale = (np.abs(w).max(axis=others) / 127).astype(np.float32)
        shape = [len(scale) if i == axis else 1 for i in range(w.ndim)]
        params = [self.init(f"{name}.s", scale),
                  self.init(f"{name}.zp", np.full(len(scale), zp), np.int8)]
        if fake:
            q = self.node("QuantizeLinear", [self.init(name, w), *params], f"{name}.q", axis=axis)
        else:
            q = self.init(f"{name}.q", np.rint(w / scale.reshape(shape)), np.int8)
        return self.node("DequantizeLinear", [q, *params], f"{name}.dq", axis=axis), scale

    def bias(self, name: str, b: np.ndarray, scale: np.ndarray) -> str:
        """An int32 bias behind a DequantizeLinear with the given (per-channel) scale."""
        scale = scale.astype(np.float32)
        params = [self.init(f"{name}.s", scale), self.init(f"{name}.zp", np.zeros(len(b)),
                                                            np.int32)]
        return self.node("DequantizeLinear", [self.init(f"{name}.q", np.rint(b / scale),
                                                        np.int32), *params], f"{name}.dq",
                         axis=0)
