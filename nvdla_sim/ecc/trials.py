"""Whole-inference trials of a network whose weight memory is faulty and protected.

A trial is one fault draw on the whole encoded weight memory, decoded as
hardware would, then the whole test set runs on the weights the datapath
gets (batched, :mod:`nvdla_sim.batched`).  When decoding leaves no weight bit
wrong the datapath reads exactly the fault-free weights, so the trial's
outputs are the fault-free ones and its drop is exactly zero; such trials
take the fault-free predictions without running (the equality itself is
tested by running them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compiler import ir
from compiler.lower import lower
from nvdla_sim.batched import BatchRunner
from nvdla_sim.config import DEFAULT_CONFIG, HardwareConfig
from nvdla_sim.ecc.faults import Outcome, decode_errors, draw_errors, patch
from nvdla_sim.ecc.layout import Protection, WeightMemory, restrict_graph


@dataclass(frozen=True)
class Trial:
    outcome: Outcome
    top1: np.ndarray
    accuracy: float
    agreement: float  # share of images whose top-1 is the fault-free one
    inferred: bool  # False: no weight bit wrong, the fault-free run stands


class ProtectedNetwork:
    """A quantized network compiled with its weights restricted for ``prot`` (in-place
    codes) and its encoded weight memory, with its fault-free predictions."""

    def __init__(self, graph: ir.Graph, prot: Protection, images: np.ndarray,
                 labels: np.ndarray, config: HardwareConfig = DEFAULT_CONFIG) -> None:
        self.prot = prot
        self.program = lower(restrict_graph(graph, prot, config), config)
        self.weights = WeightMemory(self.program, prot)
        self.runner = BatchRunner(self.program)
        self.memory = self.program.memory()
        self.x_q = self.program.inputs[0].quantize(images)
        self.labels = np.asarray(labels)
        self.golden = self.top1(self.memory)
        self.accuracy = float((self.golden == self.labels).mean())

    def top1(self, memory) -> np.ndarray:
        out = self.runner.run(self.x_q, memory)
        return out.reshape(len(out), -1).argmax(axis=1)

    def evaluate(self, outcome: Outcome) -> Trial:
        """Run the test set on the weights ``outcome`` leaves."""
        inferred = outcome.wrong_bits > 0
        if inferred:
            memory = self.memory.copy()
            patch(memory, outcome)
            top1 = self.top1(memory)
        else:
            top1 = self.golden
        return Trial(outcome, top1, float((top1 == self.labels).mean()),
                     float((top1 == self.golden).mean()), inferred)

    def trial(self, kind: str, rate: float, rng: np.random.Generator) -> Trial:
        return self.evaluate(decode_errors(self.weights, draw_errors(self.weights, kind,
                                                                     rate, rng)))
