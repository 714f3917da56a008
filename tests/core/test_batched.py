"""Batched whole-network runs equal the image-by-image runner, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.lower import lower
from compiler.workloads import load_model
from nvdla_sim.batched import BatchRunner
from nvdla_sim.runner import ProgramRunner


@pytest.mark.parametrize("model,shape", [("zoo:lenet5", (1, 28, 28)),
                                         ("zoo:squeezenet1_1", (3, 32, 32)),
                                         ("zoo:resnet18", (3, 8, 8))])
def test_batched_equals_image_by_image(model, shape):
    graph = load_model(model, input_shape=None if model == "zoo:lenet5" else shape)
    program = lower(graph)
    x = np.random.default_rng(2).integers(-128, 128, (5, *shape)).astype(np.int8)
    expected = ProgramRunner(program).run_batch(x)
    out = BatchRunner(program).run(x, program.memory(), batch=2)  # batches of 2, 2 and 1
    assert out.dtype == np.int8 and np.array_equal(out, expected)
