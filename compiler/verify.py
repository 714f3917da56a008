"""Layer-by-layer comparison of a compiled program with the reference evaluation.

Each IR node's hardware layers run on the reference's values of the node's
inputs, so a difference cannot come from upstream layers: it must stay
within the error bound the compiler recorded for that layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compiler.ir import Graph
from compiler.reference import evaluate
from nvdla_sim.program import Program
from nvdla_sim.runner import ProgramRunner


@dataclass(frozen=True)
class LayerCheck:
    node: str
    output: str
    max_deviation: int  # LSB, over the batch
    bound: int
    mismatched: int  # elements that differ at all

    @property
    def ok(self) -> bool:
        return self.max_deviation <= self.bound


def check_layers(graph: Graph, program: Program, x_q: np.ndarray) -> list[LayerCheck]:
    """Run every node in isolation on reference inputs; compare with the reference."""
    ref = evaluate(graph, x_q)
    runner = ProgramRunner(program)
    nodes = {n.name: n for n in graph.nodes}
    groups: dict[str, list[int]] = {}
    for i, info in enumerate(program.info):
        groups.setdefault(info.node, []).append(i)
    checks = []
    for name, indices in groups.items():
        inputs = sorted(set(nodes[name].inputs))
        output = program.info[indices[-1]].output
        binding = program.tensors[output]
        worst = mismatched = 0
        for n in range(x_q.shape[0]):
            for tensor in inputs:
                runner.write_tensor(program.tensors[tensor], ref[tensor][n])
            for i in indices:
                runner.executor.run(program.layers[i], runner.memory)
            diff = np.abs(runner.read_tensor(binding).astype(np.int64) - ref[output][n])
            worst = max(worst, int(diff.max()))
            mismatched += int(np.count_nonzero(diff))
        bound = max(program.info[i].error_bound for i in indices)
        checks.append(LayerCheck(name, output, worst, bound, mismatched))
    return checks
