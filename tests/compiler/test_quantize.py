"""Post-training quantization of zoo graphs to the int8 IR: the scheme, the IR it
produces, and that the int8 models track the float ones."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from compiler import ir
from compiler.ir import CompileError
from compiler.quantize import (activation_params, calibrate, int8_forward, quantize,
                               quantize_weights)
from compiler.reference import evaluate
from compiler.zoo import MODELS, GraphBuilder, fold_batchnorm, forward, lenet5
from tests.compiler.zoo_inputs import images, small


@functools.cache
def small_int8(name: str) -> ir.Graph:
    return quantize(small(name), images(8))


@pytest.mark.parametrize("low, high, scale, zero_point", [
    (0.0, 2.55, 0.01, -128),  # a ReLU output
    (0.5, 2.55, 0.01, -128),  # widened to hold 0
    (-1.0, 1.0, 2 / 255, 0),
    (-2.55, 0.0, 0.01, 127),
    (0.0, 0.0, 1.0, -128),  # never seen anything but 0: any scale is exact
])
def test_activation_params_hold_zero_exactly(low, high, scale, zero_point):
    params = activation_params(low, high)
    assert params.scale == pytest.approx(scale, rel=1e-12)
    assert params.zero_point == zero_point
    assert params.dequantize(params.quantize(0.0)) == 0.0


def test_weights_are_symmetric_per_output_channel():
    w = np.array([[[[0.5, -1.27]]], [[[0.0, 0.0]]], [[[2.54, 1.0]]]])
    q, scale = quantize_weights(w)
    assert q.dtype == np.int8
    np.testing.assert_allclose(scale, [0.01, 1.0, 0.02])
    assert q[:, 0, 0].tolist() == [[50, -127], [0, 0], [127, 50]]


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_quantizes_to_a_valid_ir(name):
    graph = small_int8(name)
    graph.validate()
    assert graph.tensor(graph.outputs[0]).shape == (10, 1, 1)
    convs = [n for n in graph.nodes if isinstance(n, ir.Conv)]
    assert convs and all(n.bias.dtype == np.int32 and n.weight.dtype == np.int8
                         and np.abs(n.weight).max() == 127 for n in convs)
    for node in graph.nodes:  # clamps at 0 give zero point -128
        if getattr(node, "activation", None) and node.activation.low == 0.0:
            assert graph.tensor(node.output).quant.zero_point == -128, node.name


def test_conv_weights_biases_and_scales_follow_the_folded_model():
    graph, folded = small_int8("resnet18"), fold_batchnorm(small("resnet18"))
    node = next(n for n in graph.nodes if n.name == "layer2.0.1.conv")
    float_conv = folded.op("layer2.0.1.conv")
    scale = np.abs(float_conv.weight).max(axis=(1, 2, 3)) / 127
    np.testing.assert_allclose(node.weight_scale, scale, rtol=1e-12)
    assert np.array_equal(node.weight, np.rint(float_conv.weight / scale[:, None, None, None]))
    in_scale = graph.tensor(node.inputs[0]).quant.scale
    assert np.array_equal(node.bias, np.rint(float_conv.bias / (in_scale * scale)))
    assert node.activation == ir.RELU and node.output == "layer2.0.1.relu"
    assert node.stride == (2, 2) and node.pads == (1, 1, 1, 1)


def test_residual_add_has_its_own_params_and_fused_relu():
    graph = small_int8("resnet18")
    adds = [n for n in graph.nodes if isinstance(n, ir.Add)]
    assert len(adds) == 8 and all(n.activation == ir.RELU for n in adds)
    add = adds[0]
    assert graph.tensor(add.output).quant not in [graph.tensor(i).quant for i in add.inputs]


def test_fully_connected_is_a_conv_over_the_whole_plane():
    graph = quantize(lenet5(), images(4, (1, 28, 28)))
    fc1, fc2 = (next(n for n in graph.nodes if n.name == name) for name in ("fc1", "fc2"))
    assert fc1.inputs == ("pool2",) and fc1.weight.shape == (120, 16, 5, 5)
    assert graph.tensor("relu3").shape == (120, 1, 1) and fc1.activation == ir.RELU
    assert fc2.weight.shape == (84, 120, 1, 1)
    assert graph.outputs == ["fc3"]


def test_mobilenet_has_depthwise_convs_with_relu6():
    graph = small_int8("mobilenet_v1")
    dw = next(n for n in graph.nodes if n.name == "block2.dw.conv")
    assert dw.groups == 64 and dw.weight.shape == (64, 1, 3, 3)
    assert dw.activation == ir.Activation(0.0, 6.0)


def test_concat_and_pool_share_their_inputs_params():
    graph = small_int8("squeezenet1_1")
    shared = [n for n in graph.nodes if isinstance(n, (ir.Concat, ir.Pool, ir.GlobalAvgPool))]
    assert len(shared) == 8 + 3 + 1
    for node in shared:
        assert {graph.tensor(i).quant for i in node.inputs} == {graph.tensor(node.output).quant}


def test_clip_without_a_conv_before_it_is_a_requant():
    b = GraphBuilder("requant", (2, 6, 6))
    x = b.max_pool("pool", b.conv("conv", "input", 4, 3, pad=1), 2, 2)
    x = b.lrn("lrn", b.clip("clip", x, -1.0, 1.0), size=3)
    x = b.avg_pool("avg", x, 3, 1, pad=1)
    graph = quantize(b.build(x), images(4, (2, 6, 6)))
    assert [type(n).__name__ for n in graph.nodes] == ["Conv", "Pool", "Requant", "Lrn", "Pool"]
    assert graph.nodes[0].activation is None
    assert graph.nodes[2].activation == ir.Activation(-1.0, 1.0)


def test_only_a_linear_may_read_a_flattened_tensor():
    b = GraphBuilder("flat", (2, 3, 3))
    x = b.relu("relu", b.flatten("flat", "input"))
    with pytest.raises(CompileError, match="Clip relu: reads the flattened 'flat'; the int8 "
                                           "IR has no flat tensors"):
        quantize(b.build(b.linear("fc", x, 4)), images(2, (2, 3, 3)))


def test_calibration_ranges_hold_zero_and_check_the_input():
    ranges = calibrate(lenet5(), np.ones((2, 1, 28, 28), np.float32))
    assert ranges["input"] == (0.0, 1.0) and ranges["relu1"][0] == 0.0
    with pytest.raises(CompileError, match="model lenet5: input batch must have shape"):
        quantize(lenet5(), images(2))


@pytest.mark.parametrize("name", list(MODELS))
def test_every_int8_layer_tracks_its_float_op(name):
    """Each single-input node (every conv, pool, clamp), run alone by the reference on its
    quantized float inputs, is within a few percent (rms) of the float op: the per-layer
    error, free of the random nets' chaos.  The inputs are the calibration images, so
    nothing saturates."""
    graph = small_int8(name)
    values = {}
    forward(fold_batchnorm(small(name)), images(8).astype(np.float64),
            lambda n, v: values.__setitem__(n, v.reshape(len(v), *graph.tensors[n].shape))
            if n in graph.tensors else None)
    for node in (n for n in graph.nodes if len(n.inputs) == 1):
        (source,) = node.inputs
        alone = ir.Graph(node.name, graph.tensors, [node], [source], [node.output])
        got = evaluate(alone, graph.tensor(source).quant.quantize(values[source]))
        got = graph.tensor(node.output).quant.dequantize(got[node.output])
        expected = values[node.output]
        assert np.sqrt(np.mean((got - expected) ** 2) / np.mean(expected ** 2)) < 0.06, node.name


@pytest.mark.parametrize("name", ["lenet5", "resnet18", "vgg16_bn", "squeezenet1_1"])
def test_int8_logits_track_the_float_model(name):
    """End to end on inputs outside the calibration set.  (Random-weight MobileNet and
    ResNet-50 are chaotic: 1% input noise reshuffles their logits, so only the per-layer
    test above holds for them.)"""
    x = images(16, seed=3)
    expected = forward(small(name), x)
    got = int8_forward(small_int8(name), x)
    centred = (got - got.mean(0)).ravel(), (expected - expected.mean(0)).ravel()
    assert np.corrcoef(*centred)[0, 1] > 0.9
    assert np.corrcoef(got.ravel(), expected.ravel())[0, 1] > 0.98
    assert (got.argmax(1) == expected.argmax(1)).mean() >= 0.75


def test_int8_forward_checks_the_batch_shape():
    with pytest.raises(CompileError, match=r"graph lenet5: input batch must have shape "
                                           r"\(N, 3, 32, 32\)"):
        int8_forward(small_int8("lenet5"), images(1, (1, 28, 28)))
