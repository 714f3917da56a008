"""The zero-drop invariant: when decoding leaves no weight bit wrong, the network's
outputs are bit-identical to the fault-free run (so the accuracy drop is exactly 0);
tested by running such memories, not by assuming it."""

from __future__ import annotations

import numpy as np
import pytest

from nvdla_sim.batched import BatchRunner
from nvdla_sim.ecc.codes import CORRECTED
from nvdla_sim.ecc.faults import Outcome, decode_errors, patch
from nvdla_sim.ecc.layout import protection
from nvdla_sim.ecc.trials import ProtectedNetwork
from tests.ecc.networks import IMAGES, lenet, memory

PROTECTED = [("secded64_57", 8), ("secded64_57", 4), ("secded32_26", 4), ("secded32_26", 8),
             ("secded72_64", 8), ("secded72_64", 4)]


def one_flip_per_block(mem, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = mem.prot.block_bits
    return np.arange(mem.blocks) * n + rng.integers(0, n, mem.blocks)


def read_back(mem, errors: np.ndarray):
    """The whole memory with ``errors`` inverted, decoded block by block (hardware)."""
    received = mem.stored.copy()
    block, j = np.divmod(errors, mem.prot.block_bits)
    np.bitwise_xor.at(received, (block, j // 8), (1 << (j % 8)).astype(np.uint8))
    return mem.decode(received)


def program_memory(mem, weights: np.ndarray):
    """The program's memory with every weight lane set from ``weights`` [blocks, w]."""
    real = mem.lanes >= 0
    memory = mem.program.memory()
    patch(memory, Outcome(0, 0, 0, 0, 0, mem.lanes[real], weights[real].astype(np.int8)))
    return memory


def outputs(mem, memory) -> np.ndarray:
    return BatchRunner(mem.program).run(mem.program.inputs[0].quantize(IMAGES), memory)


@pytest.mark.parametrize("strategy,bits", PROTECTED)
def test_corrected_memory_gives_bit_identical_outputs(strategy, bits):
    mem = memory(strategy, bits)
    errors = one_flip_per_block(mem)
    decoded, verdict = read_back(mem, errors)
    assert (verdict == CORRECTED).all()
    golden = outputs(mem, mem.program.memory())
    assert np.array_equal(outputs(mem, program_memory(mem, decoded)), golden)
    outcome = decode_errors(mem, errors)  # the trials' path agrees
    assert outcome.wrong_bits == 0 and outcome.corrected == mem.blocks
    assert outcome.lanes.size == 0


@pytest.mark.parametrize("bits", [8, 4])
def test_same_flips_unprotected_change_the_outputs(bits):
    """The control: without a code, one flip per block does change the network."""
    mem = memory("none", bits)
    errors = one_flip_per_block(mem)
    decoded, _ = read_back(mem, errors)
    outcome = decode_errors(mem, errors)
    real = mem.lanes >= 0
    assert outcome.wrong_bits == int((decoded != mem.values)[real].sum()) > 0
    assert not np.array_equal(outputs(mem, program_memory(mem, decoded)),
                              outputs(mem, mem.program.memory()))


def test_trial_with_wrong_bits_runs_the_patched_weights():
    """A trial whose decoding leaves wrong bits runs the test set on exactly the
    decoded weights (compared with a whole-memory read-back)."""
    labels = np.arange(len(IMAGES)) % 10
    net = ProtectedNetwork(lenet(8), protection("secded64_57", 8), IMAGES, labels)
    mem = net.weights
    n = mem.prot.block_bits
    errors = np.sort(np.r_[one_flip_per_block(mem, 2), 5 * n + 1, 9 * n + 2])
    errors = np.unique(errors)
    trial = net.evaluate(decode_errors(mem, errors))
    decoded, _ = read_back(mem, errors)
    expected = outputs(mem, program_memory(mem, decoded))
    assert trial.inferred and trial.outcome.wrong_bits > 0
    assert trial.outcome.detected >= 1
    assert np.array_equal(trial.top1, expected.reshape(len(IMAGES), -1).argmax(axis=1))
