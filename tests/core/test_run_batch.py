"""ProgramRunner.run_batch (layer by layer for a batch) equals run_each (image by image
through memory) bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.lower import lower
from compiler.workloads import load_model
from nvdla_sim.runner import ProgramRunner


@pytest.mark.parametrize("model,shape", [("zoo:lenet5", None),  # trained, bundled
                                         ("zoo:squeezenet1_1", (3, 32, 32)),  # concat
                                         ("zoo:resnet18", (3, 8, 8))])  # residual adds
@pytest.mark.parametrize("constant_weights", [False, True])
def test_run_batch_equals_run_each(model, shape, constant_weights):
    program = lower(load_model(model, input_shape=shape))
    x = np.random.default_rng(2).integers(-128, 128, (5, *program.inputs[0].shape),
                                          dtype=np.int8)
    expected = ProgramRunner(program).run_each(x)
    runner = ProgramRunner(program, constant_weights)
    first = runner.run_batch(x)
    assert first.dtype == np.int8 and np.array_equal(first, expected)
    assert np.array_equal(runner.run_batch(x[::-1]), expected[::-1])  # caches reused
