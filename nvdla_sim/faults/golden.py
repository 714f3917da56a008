"""The fault-free run of one input, kept for injection.

Every hardware layer's intermediate values (convolution operands, CACC
accumulators, SDP/PDP/CDP inputs and outputs) and the final memory are kept,
so a fault only recomputes what it changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nvdla_sim.executor import LayerTrace
from nvdla_sim.memory import Memory
from nvdla_sim.runner import ProgramRunner


@dataclass
class GoldenRun:
    x_q: np.ndarray
    traces: list[LayerTrace]
    memory: Memory  # after the last layer: every tensor's golden value
    outputs: list[np.ndarray]
    cache: dict = field(default_factory=dict)  # per-layer fault-model state, built on demand

    @classmethod
    def capture(cls, runner: ProgramRunner, x_q: np.ndarray) -> "GoldenRun":
        outputs, traces = runner.run(x_q, keep=True)
        return cls(x_q, traces, runner.memory.copy(), outputs)

