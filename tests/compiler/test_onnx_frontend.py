"""ONNX frontend: quantized models import into an IR that computes onnxruntime's outputs.

The IR is evaluated here with exact int64 accumulation and float requantization (round half
to even, saturate) and compared with onnxruntime running the same quantized model without
graph optimizations: at most one output LSB apart, same argmax.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

import onnx  # noqa: E402
from numpy.lib.stride_tricks import sliding_window_view  # noqa: E402
from onnx import helper, numpy_helper  # noqa: E402
from onnxruntime.quantization import QuantFormat, QuantType  # noqa: E402

from compiler import ir  # noqa: E402
from compiler.frontends import load_onnx  # noqa: E402
from tests.compiler.onnx_builders import (FLOAT_MODELS, IN_SHAPE, Net, QdqNet,  # noqa: E402
                                          average_pool_excluding_pads, quantize, run_ort)

CONFIGS = [(fmt, per_channel, act) for fmt in (QuantFormat.QDQ, QuantFormat.QOperator)
           for per_channel in (False, True) for act in (QuantType.QUInt8, QuantType.QInt8)]
CONFIG_IDS = [f"{f.name}-{'channel' if c else 'tensor'}-{a.name}" for f, c, a in CONFIGS]

# -- a tiny evaluation of the IR (one sample, (C, H, W)) ----------------------------------


def evaluate(graph: ir.Graph, x: np.ndarray) -> np.ndarray:
    """The dequantized graph output for a float input sample."""
    values = {graph.inputs[0]: graph.tensor(graph.inputs[0]).quant.quantize(x)}
    for node in graph.nodes:
        values[node.output] = run_node(graph, node, values)
    out = graph.tensor(graph.outputs[0])
    return out.quant.dequantize(values[out.name])


def run_node(graph: ir.Graph, node: ir.Node, values: dict[str, np.ndarray]) -> np.ndarray:
    """One node's int8 output: real result, activation clamp, round half to even, saturate."""
    real = _real_output(node, [values[name] for name in node.inputs],
                        [graph.tensor(name).quant for name in node.inputs])
    act = getattr(node, "activation", None) or ir.Activation()
    real = np.clip(real, -np.inf if act.low is None else act.low,
                   np.inf if act.high is None else act.high)
    return graph.tensor(node.output).quant.quantize(real)


def _real_output(node: ir.Node, ints: list[np.ndarray], quants: list[ir.QuantParams]
                 ) -> np.ndarray:
    real = [q.dequantize(v) for q, v in zip(quants, ints)]
    if isinstance(node, ir.Conv):
        x = ints[0].astype(np.int64) - quants[0].zero_point
        acc = _conv_accumulate(node, x) + node.bias.astype(np.int64)[:, None, None]
        return acc * (quants[0].scale * node.weight_scale)[:, None, None]
    if isinstance(node, ir.Add):
        return real[0] + real[1]
    if isinstance(node, ir.Requant):
        return real[0]
    if isinstance(node, ir.Concat):
        return np.concatenate(real)
    if isinstance(node, ir.GlobalAvgPool):
        return real[0].mean(axis=(1, 2), keepdims=True)
    if isinstance(node, ir.Pool):
        return _pool(node, real[0])
    assert isinstance(node, ir.Lrn)
    half = (node.size - 1) // 2
    sq = np.pad(real[0] ** 2, ((half, node.size - 1 - half), (0, 0), (0, 0)))
    window = sliding_window_view(sq, node.size, axis=0).sum(axis=-1)
    return real[0] / (node.bias + node.alpha / node.size * window) ** node.beta


def _windows(x: np.ndarray, pads: tuple[int, ...], fill: float, kernel: tuple[int, int],
             stride: tuple[int, int], dilation: tuple[int, int] = (1, 1)) -> np.ndarray:
    """(C, Ho, Wo, R, S) windows of a zero-centred (C, H, W) input."""
    t, l, b, r = pads
    xp = np.pad(x, ((0, 0), (t, b), (l, r)), constant_values=fill)
    span = ((kernel[0] - 1) * dilation[0] + 1, (kernel[1] - 1) * dilation[1] + 1)
    win = sliding_window_view(xp, span, axis=(1, 2))
    return win[:, ::stride[0], ::stride[1], ::dilation[0], ::dilation[1]]


def _conv_accumulate(node: ir.Conv, x: np.ndarray) -> np.ndarray:
    k, cg, r, s = node.weight.shape
    win = _windows(x, node.pads, 0, (r, s), node.stride, node.dilation)
    g = node.groups
    win = win.reshape(g, cg, *win.shape[1:])
    w = node.weight.astype(np.int64).reshape(g, k // g, cg, r, s)
    return np.einsum("gcyxrs,gkcrs->gkyx", win, w).reshape(k, *win.shape[2:4])


def _pool(node: ir.Pool, x: np.ndarray) -> np.ndarray:
    if node.kind == "max":
        return _windows(x, node.pads, -np.inf, node.kernel, node.stride).max(axis=(-2, -1))
    total = _windows(x, node.pads, 0, node.kernel, node.stride).sum(axis=(-2, -1))
    if node.count_include_pad:
        return total / (node.kernel[0] * node.kernel[1])
    ones = _windows(np.ones_like(x), node.pads, 0, node.kernel, node.stride)
    return total / ones.sum(axis=(-2, -1))


# -- comparisons with the ONNX model -------------------------------------------------------


def ir_ints(value: np.ndarray) -> np.ndarray:
    """onnxruntime's int8 or uint8 tensor as IR int8 values (uint8 moves down by 128)."""
    return (value.astype(np.int64) - (128 if value.dtype == np.uint8 else 0)).astype(np.int8)


def with_outputs(model: onnx.ModelProto, names: list[str]) -> onnx.ModelProto:
    model = onnx.ModelProto.FromString(model.SerializeToString())
    model.graph.output.extend(helper.make_empty_tensor_value_info(name) for name in names)
    return model


def ort_logits(model: onnx.ModelProto, graph: ir.Graph, x: np.ndarray) -> np.ndarray:
    """onnxruntime's output, or the dequantized input of its final Softmax."""
    softmax = [n.input[0] for n in model.graph.node
               if n.op_type in ("Softmax", "QLinearSoftmax")]
    if not softmax:
        return run_ort(model, x)[0]
    (logits,) = run_ort(with_outputs(model, softmax), x, softmax)
    if logits.dtype.kind == "f":
        return logits
    return graph.tensor(graph.outputs[0]).quant.dequantize(ir_ints(logits))


def assert_layers_match_ort(model: onnx.ModelProto, graph: ir.Graph) -> None:
    """Fed onnxruntime's own inputs, every IR node is within 1 LSB of its output.

    End to end, onnxruntime's float32 arithmetic breaks exact rounding ties at random, and
    a one-LSB difference can grow through later layers; layer by layer it cannot.
    """
    x = np.random.default_rng(7).standard_normal((1, *IN_SHAPE)).astype(np.float32)
    produced = {o for n in model.graph.node for o in n.output}
    names = [name for name in graph.tensors if name in produced]
    values = {}
    for name, value in zip(names, run_ort(with_outputs(model, names), x, names)):
        value = value.reshape(graph.tensor(name).shape)  # [1, K] of Gemm/MatMul: (K, 1, 1)
        values[name] = (graph.tensor(name).quant.quantize(value)  # a float LRN output
                        if value.dtype.kind == "f" else ir_ints(value))
    for node in graph.nodes:
        ours = run_node(graph, node, values).reshape(-1).astype(np.int64)
        if node.output in values:
            assert np.abs(ours - values[node.output].reshape(-1)).max() <= 1, node.name
        else:  # a Requant the frontend added
            values[node.output] = ours.reshape(graph.tensor(node.output).shape)


def assert_matches_ort(model: onnx.ModelProto, graph: ir.Graph, samples: int = 4) -> None:
    lsb = graph.tensor(graph.outputs[0]).quant.scale
    rng = np.random.default_rng(123)
    for _ in range(samples):
        x = rng.standard_normal((1, *IN_SHAPE)).astype(np.float32)
        ours = evaluate(graph, x[0]).reshape(-1)
        theirs = ort_logits(model, graph, x).reshape(-1)
        assert np.abs(ours - theirs).max() <= lsb * 1.001  # float32 dequantization in ORT
        assert theirs[np.argmax(ours)] == theirs.max()


def _inits(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    return {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}


# output (scale, zero point) inputs of the ops that produce quantized tensors
_OUT_QUANT = {"QuantizeLinear": (1, 2), "QLinearConv": (6, 7), "QLinearMatMul": (6, 7),
              "QLinearAdd": (6, 7), "QLinearAveragePool": (3, 4), "QGemm": (7, 8),
              "QLinearGlobalAveragePool": (3, 4), "QLinearConcat": (0, 1)}


def assert_quant_params_from_onnx(model: onnx.ModelProto, graph: ir.Graph) -> None:
    inits = _inits(model)
    producers = {n.output[0]: n for n in model.graph.node}
    pools = {n.inputs[0]: n.output for n in graph.nodes if isinstance(n, ir.Pool)}
    for tensor in graph.tensors.values():
        node = producers[tensor.name.split("/in")[0]]  # Concat input requants: its output
        while node.op_type in ("MaxPool", "Flatten", "Reshape"):  # int8 in, same params out
            node = producers[node.input[0]]
        if node.op_type == "LRN":  # a float LRN before a max pool takes the pool's params
            assert tensor.quant == graph.tensor(pools[tensor.name]).quant
            continue
        s, z = (inits[node.input[i]] for i in _OUT_QUANT[node.op_type])
        assert tensor.quant == ir.QuantParams(float(s), int(z) - (128 if z.dtype == np.uint8
                                                                   else 0)), tensor.name


def onnx_weights(model: onnx.ModelProto, node: onnx.NodeProto
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """int8 weights as [K, fan-in], scales and int32 bias of a (Q)Conv/Gemm/MatMul node."""
    inits = _inits(model)
    if node.op_type in ("QLinearConv", "QGemm", "QLinearMatMul"):
        bias_at = {"QLinearConv": 8, "QGemm": 6}.get(node.op_type)
        w, s = inits[node.input[3]], inits[node.input[4]]
        bias = inits[node.input[bias_at]] if bias_at else None
    else:
        dq = {n.output[0]: n for n in model.graph.node}
        w, s = (inits[dq[node.input[1]].input[i]] for i in (0, 1))
        bias = inits[dq[node.input[2]].input[0]] if len(node.input) > 2 else None
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if node.op_type in ("MatMul", "QLinearMatMul") or (node.op_type in ("Gemm", "QGemm")
                                                        and not attrs.get("transB", 0)):
        w = w.T
    k = w.shape[0]
    return w.reshape(k, -1), np.broadcast_to(s.reshape(-1), (k,)), (
        np.zeros(k, np.int32) if bias is None else bias)


def assert_weights_from_onnx(model: onnx.ModelProto, graph: ir.Graph) -> None:
    by_name = {n.name: n for n in model.graph.node}
    convs = [n for n in graph.nodes if isinstance(n, ir.Conv)]
    assert convs
    for conv in convs:
        w, s, b = onnx_weights(model, by_name[conv.name])
        k = conv.weight.shape[0]
        assert conv.weight.dtype == np.int8 and np.array_equal(conv.weight.reshape(k, -1), w)
        assert np.array_equal(conv.weight_scale, s.astype(np.float64))
        assert conv.bias.dtype == np.int32 and np.array_equal(conv.bias, b)


def assert_shapes_from_onnx(model: onnx.ModelProto, graph: ir.Graph) -> None:
    """IR shapes equal ONNX shape inference wherever it knows them."""
    inferred = onnx.shape_inference.infer_shapes(model).graph.value_info
    known = {v.name: tuple(d.dim_value for d in v.type.tensor_type.shape.dim[1:])
             for v in inferred if v.type.tensor_type.HasField("shape")}
    checked = 0
    for tensor in graph.tensors.values():
        dims = known.get(tensor.name)
        if dims and all(dims):
            checked += 1
            assert dims in (tensor.shape, (int(np.prod(tensor.shape)),)), tensor.name
    assert checked


# -- onnxruntime-quantized models --------------------------------------------------------


@pytest.mark.parametrize("name", FLOAT_MODELS)
@pytest.mark.parametrize("fmt,per_channel,act", CONFIGS, ids=CONFIG_IDS)
def test_quantized_model_matches_onnxruntime(name, fmt, per_channel, act, tmp_path):
    model = quantize(FLOAT_MODELS[name](), tmp_path, fmt, per_channel, act)
    graph = load_onnx(model)
    graph.validate()
    assert graph.tensor(graph.inputs[0]).shape == IN_SHAPE
    assert_quant_params_from_onnx(model, graph)
    assert_weights_from_onnx(model, graph)
    assert_shapes_from_onnx(model, graph)
    assert_layers_match_ort(model, graph)
    assert_matches_ort(model, graph)


@pytest.mark.parametrize("fmt", [QuantFormat.QDQ, QuantFormat.QOperator])
def test_average_pool_excluding_pads_matches_layer_by_layer(fmt, tmp_path):
    model = quantize(average_pool_excluding_pads(), tmp_path, fmt, True, QuantType.QInt8)
    graph = load_onnx(model)
    pool = next(n for n in graph.nodes if isinstance(n, ir.Pool))
    assert (pool.kind, pool.pads, pool.count_include_pad) == ("avg", (1, 1, 1, 1), False)
    assert_layers_match_ort(model, graph)


def test_layer_structure_and_names(tmp_path):
    model = quantize(FLOAT_MODELS["conv_pool_gemm"](), tmp_path, QuantFormat.QDQ, True,
                     QuantType.QUInt8)
    graph = load_onnx(model)
    assert [(type(n).__name__, n.name) for n in graph.nodes] == [
        ("Conv", "conv1"), ("Pool", "pool1"), ("Conv", "fc")]
    fc = graph.nodes[-1]
    assert fc.weight.shape == (10, 8, 6, 6) and graph.tensor(fc.output).shape == (10, 1, 1)
    assert graph.inputs == ["x_QuantizeLinear_Output"]
    assert graph.outputs == [fc.output]  # the Softmax is dropped
    x_zp = _inits(model)["x_zero_point"]
    assert x_zp.dtype == np.uint8
    assert graph.tensor(graph.inputs[0]).quant.zero_point == int(x_zp) - 128


def test_path_input_and_concat_requantizes_inputs(tmp_path):
    model = quantize(FLOAT_MODELS["concat_avgpool"](), tmp_path, QuantFormat.QDQ, False,
                     QuantType.QInt8)
    graph = load_onnx(tmp_path / "quant.onnx")
    concat = next(n for n in graph.nodes if isinstance(n, ir.Concat))
    out = graph.tensor(concat.output).quant
    assert all(graph.tensor(name).quant == out for name in concat.inputs)
    assert_matches_ort(model, graph)


# -- hand-written QDQ models (PyTorch-style patterns) ------------------------------------


def pytorch_style() -> onnx.ModelProto:
    """Relu fused into Conv and Add, a standalone Clip, fake-quantized weights, MatMul +
    float bias, Constant quantization parameters."""
    n = QdqNet(7)
    x = n.qdq("x", 0.03, constants=True)
    w, ws = n.weight("c1.w", n.rng.standard_normal((8, 3, 3, 3)) / 5)
    b = n.bias("c1.b", 0.1 * n.rng.standard_normal(8), 0.03 * ws)
    a = n.qdq(n.node("Relu", [n.node("Conv", [x, w, b], "c1", pads=[1, 1, 1, 1])], "relu1"),
              0.02)
    w2, _ = n.weight("c2.w", n.rng.standard_normal((8, 8, 3, 3)) / 8, fake=True)
    c2 = n.node("Conv", [a, w2, n.init("c2.b", 0.1 * n.rng.standard_normal(8))], "c2",
                pads=[1, 1, 1, 1])
    c = n.qdq(n.node("Clip", [n.qdq(c2, 0.03), n.init("lo", -1.0), n.init("hi", 1.5)],
                     "clip2"), 0.02)
    y = n.qdq(n.node("Relu", [n.node("Add", [c, a], "add")], "relu3"), 0.025)
    f = n.node("Flatten", [y], "flat")
    w3, _ = n.weight("fc.w", n.rng.standard_normal((8 * 12 * 12, 10)) / 30, axis=1)
    fc = n.node("Add", [n.node("MatMul", [f, w3], "fc"), n.init("fc.b", np.arange(10) / 10)],
                "fc_bias")
    return n.model(n.qdq(fc, 0.05))


def test_pytorch_style_qdq_fuses_activations_and_biases():
    model = pytorch_style()
    graph = load_onnx(model)
    c1, c2, clip, add, fc = graph.nodes
    assert (c1.activation, c2.activation, clip.activation, add.activation) == (
        ir.RELU, None, ir.Activation(-1.0, 1.5), ir.RELU)
    assert isinstance(clip, ir.Requant) and isinstance(add, ir.Add)
    inits = _inits(model)
    assert np.array_equal(c2.weight, np.rint(inits["c2.w"] / inits["c2.w.s"][:, None, None,
                                                                             None]))
    units = graph.tensor(fc.inputs[0]).quant.scale * fc.weight_scale
    assert np.array_equal(fc.bias, np.rint(inits["fc.b"] / units))
    assert fc.weight.shape == (10, 8, 12, 12) and graph.outputs == ["fc_bias.q"]
    assert_layers_match_ort(model, graph)
    assert_matches_ort(model, graph)


def conv_bn(beta: np.ndarray = np.zeros(4), float_weights: bool = False) -> onnx.ModelProto:
    """conv -> BatchNormalization -> QDQ; with mean 0 and beta 0 the BN is a pure scale."""
    n = QdqNet(8)
    x = n.qdq("x", 0.03)
    weight = n.rng.standard_normal((4, 3, 3, 3)) / 5
    w = n.init("w", weight) if float_weights else n.weight("w", weight)[0]
    conv = n.node("Conv", [x, w, n.init("b", np.zeros(4))], "conv", pads=[1, 1, 1, 1])
    params = {"gamma": [1.5, -0.5, 2.0, 0.75], "beta": beta, "mean": np.zeros(4),
              "var": [1.0, 0.5, 2.0, 1.0]}
    bn = n.node("BatchNormalization", [conv, *(n.init(k, v) for k, v in params.items())], "bn")
    return n.model(n.qdq(bn, 0.05))


def bn_scale(inits: dict[str, np.ndarray]) -> np.ndarray:
    return inits["gamma"].astype(np.float64) / np.sqrt(inits["var"] + 1e-5)


def test_batchnorm_folds_exactly_into_quantized_conv():
    model = conv_bn()
    graph = load_onnx(model)
    (conv,) = graph.nodes
    inits = _inits(model)
    a = bn_scale(inits)
    assert np.allclose(conv.weight_scale, inits["w.s"] * np.abs(a))
    assert np.array_equal(conv.weight, inits["w.q"] * np.sign(a)[:, None, None, None])
    assert not conv.bias.any()
    assert_layers_match_ort(model, graph)
    assert_matches_ort(model, graph)


def test_batchnorm_folds_into_float_weights_before_quantizing():
    model = conv_bn(beta=np.array([0.3, -0.2, 0.1, 0.0]), float_weights=True)
    graph = load_onnx(model)
    (conv,) = graph.nodes
    inits = _inits(model)
    a = bn_scale(inits)
    folded = inits["w"] * a[:, None, None, None]
    scale = np.abs(folded).reshape(4, -1).max(axis=1) / 127
    assert np.allclose(conv.weight_scale, scale)
    assert np.array_equal(conv.weight, np.rint(folded / scale[:, None, None, None]))
    units = graph.tensor(conv.inputs[0]).quant.scale * scale
    assert np.array_equal(conv.bias, np.rint(inits["beta"] / units))


# -- errors ------------------------------------------------------------------------------


def _error(model: onnx.ModelProto | str) -> str:
    with pytest.raises(ir.CompileError) as info:
        load_onnx(model)
    return str(info.value)


def test_unsupported_op_names_node_and_op_type():
    n = QdqNet()
    y = n.qdq(n.node("Tanh", [n.qdq("x", 0.03)], "act1"), 0.01)
    message = _error(n.model(y))
    assert message.startswith("node act1 (Tanh): unsupported op type; supported: ")
    assert "Conv" in message and "com.microsoft.QLinearAdd" in message


def test_asymmetric_weights_are_rejected():
    n = QdqNet()
    w, _ = n.weight("w", n.rng.standard_normal((4, 3, 3, 3)), zp=3)
    message = _error(n.model(n.qdq(n.node("Conv", [n.qdq("x", 0.03), w], "conv1"), 0.1)))
    assert message.startswith("node conv1 (Conv): weights have a non-zero zero point")


def test_inexact_batchnorm_fold_is_rejected():
    message = _error(conv_bn(beta=np.array([0.3, -0.2, 0.1, 0.0])))
    assert message.startswith("node bn (BatchNormalization): the folded shift")


def test_onnxruntime_batchnorm_after_requantization_is_rejected(tmp_path):
    n = Net()
    bn = n.node("BatchNormalization", [n.conv("x", 3, 4, 3, "conv"), *(
        n.init(name, value) for name, value in (("g", [1.0, 2, 3, 4]), ("b", np.zeros(4)),
                                                 ("m", np.zeros(4)), ("v", np.ones(4))))], "bn")
    model = quantize(n.model(bn), tmp_path, QuantFormat.QDQ, False, QuantType.QInt8)
    assert _error(model).startswith("node bn (BatchNormalization): BatchNormalization on an "
                                    "already quantized tensor")


def test_unsupported_attribute_and_weight_type(tmp_path):
    n = Net()
    same = n.model(n.conv("x", 3, 4, 3, "conv", auto_pad="SAME_UPPER"))
    model = quantize(same, tmp_path, QuantFormat.QDQ, False, QuantType.QInt8)
    assert _error(model).startswith("node conv (Conv): auto_pad=SAME_UPPER is not supported")
    model = quantize(FLOAT_MODELS["lrn"](), tmp_path, QuantFormat.QDQ, False, QuantType.QUInt8,
                     weight=QuantType.QUInt8)
    assert "node conv1 (Conv): weights" in _error(model)


def test_onnxruntime_matmul_bias_after_requantization_is_rejected(tmp_path):
    n = Net()
    fc = n.node("Add", [n.matmul(n.node("Flatten", ["x"], "flat"), 3 * 12 * 12, 10, "fc"),
                        n.init("fc.b", np.ones(10))], "fc_bias")
    model = quantize(n.model(fc), tmp_path, QuantFormat.QDQ, False, QuantType.QInt8)
    assert _error(model).startswith("node fc_bias (Add): adding a constant is supported only "
                                    "as the bias right after Conv, Gemm or MatMul")


def test_unreadable_files(tmp_path):
    missing = tmp_path / "none.onnx"
    assert _error(str(missing)) == f"{missing}: no such ONNX model file"
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x08\xff\xff not a model")
    assert _error(str(garbage)).startswith(f"{garbage}: not a readable ONNX model")


def test_softmax_must_be_last():
    n = QdqNet()
    x = n.node("Softmax", [n.qdq("x", 0.03)], "sm")
    message = _error(n.model(n.qdq(n.node("Relu", [x], "relu"), 0.01)))
    assert message == "node relu (Relu): Softmax is supported only as the final op"
