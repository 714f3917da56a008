"""Running a program with the weights and SDP operands kept unpacked across images."""

import numpy as np

from compiler.examples import toy_net, wide_net
from compiler.lower import lower
from nvdla_sim.runner import ProgramRunner


def test_cached_weights_and_operands_give_the_same_outputs():
    for make in (toy_net, wide_net):
        program = lower(make())
        plain, cached = ProgramRunner(program), ProgramRunner(program, constant_weights=True)
        rng = np.random.default_rng(4)
        for _ in range(3):  # later images run from the caches the first one filled
            x = rng.integers(-128, 128, program.inputs[0].shape, dtype=np.int8)
            want, got = plain.run(x)[0], cached.run(x)[0]
            assert all(np.array_equal(a, b) for a, b in zip(want, got))
        assert cached.executor.weight_cache and cached.executor.operand_cache
