"""WOT training: restricted weights end in range, the memory round-trips, reproducibly."""

from __future__ import annotations

import numpy as np
import pytest

from compiler import ir
from compiler.lower import lower
from compiler.quantize import quantize
from compiler.train.loop import TrainConfig
from compiler.zoo import lenet5_mnist_float
from nvdla_sim.config import DEFAULT_CONFIG
from nvdla_sim.ecc.layout import WeightMemory, protection, restrict_graph, restricted_masks
from nvdla_sim.ecc.wot import wot

RNG = np.random.default_rng(3)
IMAGES = RNG.random((64, 1, 28, 28), dtype=np.float32)
LABELS = RNG.integers(0, 10, 64)


def moved(graph: ir.Graph, prot) -> int:
    """Weights the hard clamp moves."""
    final = restrict_graph(graph, prot, DEFAULT_CONFIG)
    return sum(int((a.weight != b.weight).sum()) for a, b in zip(graph.nodes, final.nodes)
               if isinstance(a, ir.Conv))


@pytest.mark.parametrize("strategy,bits", [("secded32_26", 8), ("secded64_57", 4)])
def test_wot_then_clamp_fits_the_code_and_round_trips(strategy, bits):
    prot = protection(strategy, bits)
    config = TrainConfig(qat_epochs=1, batch_size=32, calibration_images=8, seed=1)
    tuned = wot(lenet5_mnist_float(), IMAGES, LABELS, prot, config)
    graph = tuned.int8_graph
    low, high = prot.restricted_range
    masks = restricted_masks(graph, prot, DEFAULT_CONFIG)
    for node in graph.nodes:
        if isinstance(node, ir.Conv):
            w = node.weight.reshape(len(node.weight), -1)
            m = masks[node.name].reshape(len(w), -1)
            anchored = (m & (~m).any(axis=1, keepdims=True))  # a channel with a free slot
            assert w[anchored].min() >= low and w[anchored].max() <= high, node.name
    plain = quantize(lenet5_mnist_float(), IMAGES[:8], weight_bits=bits)
    assert moved(graph, prot) < moved(plain, prot) / 4  # WOT did the clamp's work
    mem = WeightMemory(lower(restrict_graph(graph, prot, DEFAULT_CONFIG)), prot)
    values, verdict = mem.decode(mem.stored)
    assert np.array_equal(values, mem.values) and not verdict.any()
    again = wot(lenet5_mnist_float(), IMAGES, LABELS, prot, config).int8_graph
    assert all(np.array_equal(a.weight, b.weight) for a, b in zip(graph.nodes, again.nodes)
               if isinstance(a, ir.Conv))
