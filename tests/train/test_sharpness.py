"""SAM / SAQ step, the sharpness measure and the activation-sparsity penalty."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402

from compiler.ir import CompileError  # noqa: E402
from compiler.quantize import quantize  # noqa: E402
from compiler.train import QatNet, TrainConfig, train  # noqa: E402
from compiler.train.sharpness import sam_step, sharpness  # noqa: E402
from compiler.train.sparsity import SparsityPenalty  # noqa: E402
from compiler.zoo import lenet5  # noqa: E402

TINY = TrainConfig(epochs=1, qat_epochs=1, batch_size=32, calibration_images=16)


def data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, n)


def _loss(net, x, y):
    return F.cross_entropy(net(torch.from_numpy(x)), torch.from_numpy(y))


def test_sam_step_updates_with_the_gradient_at_the_ascent_point():
    x, y = data(16)
    torch.manual_seed(0)
    net, ref = QatNet(lenet5()), QatNet(lenet5())
    rho, lr = 0.1, 0.01
    # by hand: g at w, e = rho g/|g|, gradient at w + e, SGD update from w
    grads = torch.autograd.grad(_loss(ref, x, y), list(ref.parameters()))
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    with torch.no_grad():
        for p, g in zip(ref.parameters(), grads):
            p.add_(rho * g / norm)
    ascent = torch.autograd.grad(_loss(ref, x, y), list(ref.parameters()))
    expected = [w.detach() - lr * g for w, g in zip(net.parameters(), ascent)]

    optimizer = torch.optim.SGD(net.parameters(), lr=lr)

    def closure():
        optimizer.zero_grad()
        loss = _loss(net, x, y)
        loss.backward()
        return loss.detach()

    sam_step(rho)(optimizer, closure)
    for p, want in zip(net.parameters(), expected):
        torch.testing.assert_close(p.detach(), want, rtol=1e-5, atol=1e-6)


def test_saq_training_runs_through_the_train_hooks():
    x, y = data()
    out = train(lenet5(), x, y, TINY, step=sam_step(0.05), progress=False)
    plain = train(lenet5(), x, y, TINY, progress=False)
    assert [h["phase"] for h in out.history] == ["float", "qat"]
    w = [op.weight for op in out.float_graph.nodes if hasattr(op, "weight")]
    v = [op.weight for op in plain.float_graph.nodes if hasattr(op, "weight")]
    assert not all(np.array_equal(a, b) for a, b in zip(w, v))


def test_one_step_sharpness_is_the_loss_at_the_sam_point():
    x, y = data(32, seed=3)
    graph = lenet5(rng=2)
    rho = 0.2
    s = sharpness(graph, x, y, rho, steps=1, batch_size=10)
    net = QatNet(graph).eval()
    loss = _loss(net, x, y)
    grads = torch.autograd.grad(loss, list(net.parameters()))
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    with torch.no_grad():
        for p, g in zip(net.parameters(), grads):
            p.add_(rho * g / norm)
        perturbed = float(_loss(net, x, y))
    assert s.loss == pytest.approx(float(loss.detach()), rel=1e-5)
    assert s.perturbed_loss == pytest.approx(perturbed, rel=1e-5)
    assert s.increase > 0
    # more ascent steps find a worse point within the same ball; a larger ball, worse still
    assert sharpness(graph, x, y, rho, steps=4).increase >= s.increase * 0.99
    assert sharpness(graph, x, y, 4 * rho).increase > s.increase


def test_sharpness_of_the_fake_quantized_network():
    x, y = data(32, seed=4)
    graph = lenet5(rng=2)
    int8 = quantize(graph, x)
    s = sharpness(graph, x, y, 0.2, int8_graph=int8)
    net = QatNet(graph)
    net.set_quantization(int8)
    assert s.loss == pytest.approx(float(_loss(net.eval(), x, y).detach()), rel=1e-5)
    assert s.increase > 0
    with pytest.raises(CompileError, match="rho must be positive and steps >= 1"):
        sharpness(graph, x, y, 0.0)


def test_sparsity_penalty_raises_its_strength_until_the_target_is_met():
    x, y = data()
    penalty = SparsityPenalty(target=0.95, strength=0.1, gain=2.0)
    sparse = train(lenet5(), x, y, TINY, extra_loss=penalty, progress=False)
    plain = train(lenet5(), x, y, TINY, progress=False)
    strengths = [s for _, s in penalty.history]
    assert len(strengths) == 4 and strengths[-1] > strengths[0]

    def zeros(graph):
        net = QatNet(graph).eval()
        with torch.no_grad():
            t = net.run(torch.from_numpy(x))
        acts = [t[n] for n in ("relu1", "relu2", "relu3", "relu4")]
        return sum(int((a == 0).sum()) for a in acts) / sum(a.numel() for a in acts)

    assert zeros(sparse.float_graph) > zeros(plain.float_graph)
    with pytest.raises(CompileError, match="target must be in"):
        SparsityPenalty(target=1.5)
