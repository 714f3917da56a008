"""QatNet: the fake-quantized torch forward is the compiler's int8 model, code for code."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from compiler.ir import CompileError  # noqa: E402
from compiler.quantize import quantize, quantize_weights  # noqa: E402
from compiler.reference import evaluate  # noqa: E402
from compiler.train.qat import QatNet, fake_quant_weight, tensor_codes  # noqa: E402
from compiler.zoo import GraphBuilder, forward, lenet5, resnet18  # noqa: E402
from compiler.zoo.builder import INPUT  # noqa: E402


def every_op_graph():
    """Every op kind QatNet runs: conv+bn+ReLU, ceil-mode max pool, ReLU6, depthwise,
    residual Add+ReLU, a standalone Clip (Requant), concat, average pool, LRN, global
    average pool, Linear+ReLU, Linear.  Averages are over odd counts (9, 7x7): their
    exact value is never a tie (see test_even_count_averages_differ_only_at_ties)."""
    b = GraphBuilder("every_op", (3, 15, 15), rng=5)
    x = b.conv_bn_act("stem", INPUT, 8, 3, 1, 1)
    x = b.max_pool("pool", x, 3, 2, ceil_mode=True)
    a = b.conv_bn_act("a", x, 8, 3, 1, 1, high=6.0)
    d = b.conv_bn_act("dw", x, 8, 3, 1, 1, groups=8, act=False)
    x = b.relu("add.relu", b.add("add", a, d))
    c = b.clip("clip", b.avg_pool("avg", x, 3, 1, 1, count_include_pad=True), -0.5, 0.8)
    x = b.concat("cat", [x, b.relu("e.relu", b.conv("e", x, 4, 1))])
    x = b.lrn("lrn", b.concat("cat2", [x, c]), size=4, alpha=0.1, beta=0.75, bias=1.5)
    x = b.flatten("flat", b.global_avg_pool("gap", x))
    x = b.relu("fc1.relu", b.linear("fc1", x, 16))
    return b.build(b.linear("fc2", x, 10))


def images(n, shape, seed=0):
    return np.random.default_rng(seed).standard_normal((n, *shape))


@pytest.mark.parametrize("bits", [8, 4])
def test_fake_quantized_forward_equals_the_int8_reference(bits):
    graph = every_op_graph()
    x = images(64, graph.input_shape)
    int8 = quantize(graph, x[:32], weight_bits=bits)
    net = QatNet(graph, weight_bits=bits).double().eval()
    net.set_quantization(int8)
    with torch.no_grad():
        got = tensor_codes(net, net.run(torch.from_numpy(x)))
    want = evaluate(int8, int8.tensor(int8.inputs[0]).quant.quantize(x))
    assert set(got) == set(want) == set(int8.tensors)
    for name in want:  # float64: identical codes (no value lies within 1e-12 of a tie)
        np.testing.assert_array_equal(got[name].reshape(want[name].shape), want[name],
                                      err_msg=name)


def test_even_count_averages_differ_only_at_ties():
    """An average of an even count can be exactly k + 1/2 LSB; the reference and torch
    then round float sums taken in different orders, so either neighbour may win."""
    b = GraphBuilder("avg", (2, 8, 8), rng=3)
    x = b.conv("conv", INPUT, 4, 3, pad=1)
    graph = b.build(b.avg_pool("avg", x, 3, 2, 1))  # counts 4, 6, 9
    x = images(32, graph.input_shape)
    int8 = quantize(graph, x)
    net = QatNet(graph).double().eval()
    net.set_quantization(int8)
    with torch.no_grad():
        got = tensor_codes(net, net.run(torch.from_numpy(x)))["avg"].astype(int)
    values = evaluate(int8, int8.tensor("input").quant.quantize(x))
    want = values["avg"].astype(int)
    zp = int8.tensor("conv").quant.zero_point
    ones = np.pad(np.ones((8, 8)), 1)
    count = np.lib.stride_tricks.sliding_window_view(ones, (3, 3))[::2, ::2].sum((-2, -1))
    padded = np.pad(values["conv"].astype(int) - zp, ((0, 0), (0, 0), (1, 1), (1, 1)))
    sums = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(2, 3))[
        :, :, ::2, ::2].sum((-2, -1))
    tie = (2 * sums % count == 0) & (2 * sums // count % 2 == 1)  # sums / count = k + 1/2
    assert np.abs(got - want).max() <= 1
    assert tie[got != want].all()
    np.testing.assert_array_equal(got[~tie], want[~tie])


def test_float_mode_is_the_float_graph():
    graph = every_op_graph()
    x = images(8, graph.input_shape)
    net = QatNet(graph).double().eval()
    with torch.no_grad():
        got = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, forward(graph, x), rtol=1e-9, atol=1e-9)


def test_weights_round_and_scale_as_the_compiler():
    w = np.random.default_rng(1).standard_normal((6, 3, 3, 3))
    w[2] = 0
    for bits in (8, 4, 2):
        q, scale = quantize_weights(w, bits)
        fq, tscale = fake_quant_weight(torch.from_numpy(w), bits)
        np.testing.assert_array_equal(tscale.numpy(), scale)
        np.testing.assert_array_equal(fq.numpy(), q * scale[:, None, None, None])
        assert np.abs(q).max() == 2 ** (bits - 1) - 1


def test_gradients_pass_rounding_and_stop_at_saturation():
    x = torch.tensor([0.26, 1.0, 5.0], requires_grad=True)
    net = QatNet(lenet5())
    net.quant = {"input": (0.01, -128)}  # real range [0, 2.55]
    net._quantize_output("input", x).sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 0.0]


def test_trained_arrays_go_back_into_the_graph():
    graph = resnet18((1, 16, 16), 10)
    net = QatNet(graph)
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(2)
    back = net.to_float_graph()
    for old, new in zip(graph.nodes, back.nodes):
        for name in ("weight", "gamma"):
            if hasattr(old, name):
                np.testing.assert_array_equal(getattr(new, name), 2 * getattr(old, name))


def test_int8_graph_of_another_graph_is_refused():
    net = QatNet(lenet5())
    other = quantize(every_op_graph(), images(4, (3, 15, 15)))
    with pytest.raises(CompileError, match="no tensors"):
        net.set_quantization(other)


def test_dropout_acts_on_fully_connected_inputs_in_training_only():
    graph = lenet5()
    x = torch.from_numpy(images(4, graph.input_shape, seed=2).astype(np.float32))
    plain, dropping = QatNet(graph).eval(), QatNet(graph, dropout=0.5).eval()
    with torch.no_grad():
        torch.testing.assert_close(plain(x), dropping(x), rtol=0, atol=0)
        dropping.train()
        assert not torch.equal(plain(x), dropping(x))
