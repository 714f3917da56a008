"""Fault models on weight memory (flips, stuck-at cells, targeted bits mapped through
the CDMA weight layout) and on stored activations."""

from __future__ import annotations

import numpy as np
import pytest

from nvdla_sim.batched import BatchRunner
from nvdla_sim.ecc.faults import (ActivationFaults, decode_errors, draw_errors, patch,
                                  stored_bits)
from nvdla_sim.errors import ConfigError
from nvdla_sim.runner import ProgramRunner
from nvdla_sim.units.cdma import fetch_weights
from tests.ecc.networks import IMAGES, memory


@pytest.mark.parametrize("bits", [8, 4])
@pytest.mark.parametrize("layer,index", [("conv1", (5, 0, 4, 3)), ("conv2", (15, 5, 2, 1)),
                                         ("fc1", (119, 15, 4, 4)), ("fc3", (9, 83, 0, 0))])
def test_targeted_bit_reaches_that_weight(bits, layer, index):
    mem = memory("none", bits)
    program = mem.program
    conv = next(l.conv for l in program.layers if l.name == layer)
    before = fetch_weights(conv, program.memory(), program.config).astype(np.int64)
    for bit in range(bits):
        outcome = decode_errors(mem, np.array([mem.position(layer, index, bit)]))
        memory_ = program.memory()
        patch(memory_, outcome)
        after = fetch_weights(conv, memory_, program.config).astype(np.int64)
        changed = np.argwhere(after != before)
        assert [tuple(c) for c in changed] == [index]
        flipped = (before[index] ^ (1 << bit)) & ((1 << bits) - 1)
        assert after[index] == flipped - (1 << bits) * (flipped >> (bits - 1))
        assert outcome.wrong_bits == 1


def test_targeted_checks_its_arguments():
    mem = memory("none", 8)
    with pytest.raises(ConfigError, match="no convolution"):
        mem.position("pool1", (0, 0, 0, 0), 0)
    with pytest.raises(ConfigError, match="outside its shape"):
        mem.position("conv1", (6, 0, 0, 0), 0)
    with pytest.raises(ConfigError, match="bit 8"):
        mem.position("conv1", (0, 0, 0, 0), 8)


@pytest.mark.parametrize("kind", ["stuck0", "stuck1"])
def test_stuck_cells_err_only_where_the_stored_bit_differs(kind):
    mem = memory("secded64_57", 8)
    rate = 0.02
    errors = draw_errors(mem, kind, rate, np.random.default_rng(3))
    cells = draw_errors(mem, "flip", rate, np.random.default_rng(3))  # the same cells
    stuck = int(kind == "stuck1")
    assert set(errors) <= set(cells)
    assert (stored_bits(mem, errors) != stuck).all()
    rest = np.setdiff1d(cells, errors)
    assert (stored_bits(mem, rest) == stuck).all()


def test_flip_count_follows_the_rate():
    mem = memory("none", 8)
    total = mem.blocks * mem.prot.block_bits
    counts = [draw_errors(mem, "flip", 1e-3, np.random.default_rng(s)).size for s in range(20)]
    assert abs(np.mean(counts) - total * 1e-3) < 4 * np.sqrt(total * 1e-3 / 20)


def test_bad_fault_model():
    mem = memory("none", 8)
    with pytest.raises(ConfigError, match="fault model"):
        draw_errors(mem, "burst", 1e-3, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="rate"):
        draw_errors(mem, "flip", 2.0, np.random.default_rng(0))


def test_three_flips_can_be_miscorrected_and_are_silent():
    """Beyond the code's reach: a syndrome that looks like one flip miscorrects."""
    mem = memory("secded64_57", 8)
    n = mem.prot.block_bits
    code = mem.prot.code
    # three data positions whose columns XOR to a fourth data position's column
    data = code.data_positions
    a, b = data[0], data[1]
    target = code.columns[a] ^ code.columns[b]
    c = next(p for p in data if p not in (a, b)
             and code.locate[target ^ code.columns[p]] in data
             and code.locate[target ^ code.columns[p]] not in (a, b, p))
    outcome = decode_errors(mem, np.array([a, b, c]) + 3 * n)
    assert outcome.silent == 1 and outcome.detected == 0 and outcome.corrected == 0
    assert outcome.wrong_bits == 4 or outcome.wrong_bits >= 3


def test_activation_flip_in_a_stored_tensor_matches_memory_run():
    """A targeted flip of a stored activation equals flipping that byte in memory
    between the layers of the image-by-image runner."""
    mem = memory("none", 8)
    program = mem.program
    x = program.inputs[0].quantize(IMAGES[:4])
    layer, c, y, xx, bit = 0, 3, 10, 7, 6  # conv1 output (6 x 28 x 28)
    hook = ActivationFaults("flip", 0.0, np.random.default_rng(0),
                            targets=((layer, c, y, xx, bit),))
    out = BatchRunner(program).run(x, program.memory(), hook)
    runner = ProgramRunner(program)
    surface = next(b.surface for b in program.tensors.values()
                   if b.surface.address == program.layers[layer].sdp.dst_address)
    expected = []
    for image in x:
        runner.write_tensor(program.inputs[0], image)
        for i, hw in enumerate(program.layers):
            runner.executor.run(hw, runner.memory)
            if i == layer:
                atom = program.config.mem_atom
                addr = (surface.address + c // atom * surface.surface_stride
                        + y * surface.line_stride + xx * atom + c % atom)
                runner.memory.write(addr, runner.memory.read(addr, 1) ^ np.uint8(1 << bit))
        expected.append(runner.read_tensor(program.outputs[0]))
    assert np.array_equal(out, np.stack(expected))
    assert hook.flipped == len(x)
    assert not np.array_equal(out, BatchRunner(program).run(x, program.memory()))


@pytest.mark.parametrize("kind,value", [("stuck0", 0), ("stuck1", -1)])
def test_activation_stuck_cells_hold_their_value(kind, value):
    mem = memory("none", 8)
    program = mem.program
    seen = []

    def record(layer, region):
        hook(layer, region)
        seen.append(region.copy())

    hook = ActivationFaults(kind, 1.0, np.random.default_rng(0), layers=frozenset({0}))
    BatchRunner(program).run(program.inputs[0].quantize(IMAGES[:3]), program.memory(), record)
    assert (seen[0] == value).all()
    assert any((s != value).any() for s in seen[2:])  # later layers compute as usual
