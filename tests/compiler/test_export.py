"""A compiled program exported as an NVDLA trace replays to the identical output."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from compiler.export import export_trace
from compiler.lower import lower
from nvdla_sim.runner import ProgramRunner
from nvdla_sim.trace import run_trace
from compiler.examples import lrn_net, toy_net, wide_net


def test_exported_trace_replays_bit_identical(tmp_path):
    for graph in (toy_net(), wide_net(), lrn_net()):
        program = lower(graph)
        x = np.random.default_rng(5).integers(-128, 128, program.inputs[0].shape, dtype=np.int8)
        folder = tmp_path / graph.name
        crc = export_trace(program, x, folder)
        result = run_trace(folder, keep=True)
        assert result.passed, result.error
        assert result.checks[-1].actual == crc
        runner = ProgramRunner(program)
        (expected,), _ = runner.run(x)
        out = program.outputs[0]
        replayed = out.surface.read(result.nvdla.memory, program.config)[: out.surface.channels]
        assert np.array_equal(replayed, expected)
        # the same descriptors come back through the register file (names aside)
        replayed_layers = [replace(a, name=b.name)
                           for a, b in zip(result.nvdla.layers, program.layers, strict=True)]
        assert replayed_layers == program.layers
