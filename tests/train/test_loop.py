"""The training entry point: reproducible, hooks called, int8 graph from the result."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from compiler.ir import CompileError  # noqa: E402
from compiler.quantize import quantize  # noqa: E402
from compiler.train import TrainConfig, train  # noqa: E402
from compiler.zoo import lenet5  # noqa: E402

TINY = TrainConfig(epochs=1, qat_epochs=1, batch_size=32, calibration_images=16)


def data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, n)


def weights(graph):
    return np.concatenate([op.weight.ravel() for op in graph.nodes if hasattr(op, "weight")])


def test_training_is_reproducible_and_seeded():
    x, y = data()
    a = train(lenet5(), x, y, TINY, progress=False)
    b = train(lenet5(), x, y, TINY, progress=False)
    c = train(lenet5(), x, y, TrainConfig(**{**TINY.__dict__, "seed": 1}), progress=False)
    np.testing.assert_array_equal(weights(a.float_graph), weights(b.float_graph))
    assert not np.array_equal(weights(a.float_graph), weights(c.float_graph))
    assert not np.array_equal(weights(a.float_graph), weights(lenet5()))
    assert [h["phase"] for h in a.history] == ["float", "qat"]
    assert torch.get_num_threads() > 0 and not torch.are_deterministic_algorithms_enabled()


def test_int8_graph_is_the_compilers_quantization_of_the_result():
    x, y = data()
    out = train(lenet5(), x, y, TINY, progress=False)
    again = quantize(out.float_graph, out.calibration)
    for got, want in zip(out.int8_graph.nodes, again.nodes):
        assert got == want
        if hasattr(got, "weight"):
            np.testing.assert_array_equal(got.weight, want.weight)
    assert out.int8_graph.tensors == again.tensors


def test_extra_loss_and_step_hooks_are_called_every_batch():
    x, y = data()
    seen, steps = [], []

    def penalty(net, tensors):
        seen.append(sorted(tensors))
        return 1e-3 * sum(t.abs().mean() for name, t in tensors.items() if "relu" in name)

    def step(optimizer, closure):  # evaluates twice, as sharpness-aware minimisation does
        closure()
        steps.append(float(closure()))
        optimizer.step()

    train(lenet5(), x, y, TINY, extra_loss=penalty, step=step, progress=False)
    assert len(steps) == 4 and len(seen) == 8
    assert "relu1" in seen[0] and "fc3" in seen[0]


def test_four_bit_weights_use_seven_levels():
    x, y = data()
    out = train(lenet5(), x, y, TrainConfig(**{**TINY.__dict__, "weight_bits": 4}),
                progress=False)
    for node in out.int8_graph.nodes:
        if hasattr(node, "weight"):
            assert np.abs(node.weight).max() == 7


@pytest.mark.parametrize("images, labels, match", [
    (np.zeros((4, 1, 32, 32)), np.zeros(4, int), "images must have shape"),
    (np.zeros((4, 1, 28, 28)), np.zeros(3, int), "labels must be 4 integers"),
    (np.zeros((4, 1, 28, 28)), np.full(4, 10), "labels must be 4 integers in 0..9"),
    (np.zeros((4, 1, 28, 28)), np.zeros(4), "dtype float64"),
])
def test_bad_training_data_is_named(images, labels, match):
    with pytest.raises(CompileError, match=match):
        train(lenet5(), images, labels, TINY, progress=False)
