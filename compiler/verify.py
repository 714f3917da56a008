"""Node-by-node comparison of a compiled program with the reference evaluation.

Each IR node's hardware layers run on given values of the node's inputs, and
the output is compared with the reference node (:func:`compiler.reference.exact_node`)
on the same inputs.  The compiler records per layer ``d``, the largest difference
between the value NVDLA rounds and the exact value (``LayerInfo.error``), so the
comparison is exact: an element may differ only where its exact value lies within
``d`` of a rounding boundary (or on one: ONNX rounds ties to even, NVDLA away from
zero), and then by at most ``floor(d) + 1`` LSB (``LayerInfo.error_bound``).

Inputs come from the reference (each node in isolation: a difference cannot come
from upstream) or, ``chained``, from the simulator's own outputs of the nodes
before: that is the end-to-end run, checked at every node.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compiler.ir import Graph
from compiler.reference import exact_node, quantize_exact
from nvdla_sim.program import Program
from nvdla_sim.runner import ProgramRunner

TIE_TOLERANCE = 1e-9  # float64 error of the exact values, in output LSB


@dataclass(frozen=True)
class LayerCheck:
    node: str
    output: str
    max_deviation: int  # LSB, over the batch
    bound: int
    mismatched: int  # elements that differ at all
    near_boundary: int  # elements whose exact value is within d of a rounding boundary
    unexplained: int  # elements that differ although their exact value is not

    @property
    def ok(self) -> bool:
        return self.max_deviation <= self.bound and self.unexplained == 0


def check_layers(graph: Graph, program: Program, x_q: np.ndarray, chained: bool = False,
                 outputs: dict[str, np.ndarray] | None = None) -> list[LayerCheck]:
    """Run every node's hardware layers on its inputs (the reference's, or ``chained`` the
    simulator's own) and compare with the reference node on the same inputs; ``outputs``,
    when given, receives each node's simulated output (the batch)."""
    runner = ProgramRunner(program)
    groups: dict[str, list[int]] = {}
    for i, info in enumerate(program.info):
        groups.setdefault(info.node, []).append(i)
    values = {graph.inputs[0]: np.asarray(x_q, np.int8)}
    checks = []
    for node in graph.nodes:
        ins = [values[name] for name in node.inputs]
        quant = graph.tensor(node.output).quant
        exact = exact_node(node, ins, [graph.tensor(name).quant for name in node.inputs], quant)
        ref = quantize_exact(exact, quant)
        values[node.output] = ref
        if node.name not in groups:  # no layer of its own (a Concat written in place)
            continue
        indices = groups[node.name]
        binding = program.tensors[program.info[indices[-1]].output]
        sim = np.empty_like(ref)
        for n in range(len(ref)):
            for name in sorted(set(node.inputs)):
                runner.write_tensor(program.tensors[name], values[name][n])
            for i in indices:
                runner.executor.run(program.layers[i], runner.memory)
            sim[n] = runner.read_tensor(binding)
        d = max(program.info[i].error for i in indices)
        near = np.abs(np.abs(exact - np.floor(exact)) - 0.5) <= d + TIE_TOLERANCE
        differ = sim != ref
        checks.append(LayerCheck(
            node.name, node.output,
            int(np.abs(sim.astype(np.int64) - ref).max()),
            max(program.info[i].error_bound for i in indices),
            int(np.count_nonzero(differ)), int(np.count_nonzero(near)),
            int(np.count_nonzero(differ & ~near))))
        if chained:
            values[node.output] = sim
        if outputs is not None:
            outputs[node.output] = sim
    return checks
