"""Node-by-node comparison of a compiled program with the reference evaluation.

Each IR node's hardware layers run on given values of the node's inputs, and
the output is compared with the reference node (:func:`compiler.reference.exact_node`)
on the same inputs.  The compiler records per layer ``d``, the largest difference
between the value NVDLA rounds and the exact value (``LayerInfo.error``), so the
comparison is exact: an element may differ only where its exact value lies within
``d`` of a rounding boundary (or on one: ONNX rounds ties to even, NVDLA away from
zero), and then by at most ``floor(d) + 1`` LSB (``LayerInfo.error_bound``).

A float graph (FP16 / FP32) is checked against a tolerance instead
(:func:`check_float_layers`, :func:`float_tolerance`): NVDLA's FP16 convolution is not
IEEE arithmetic (CMAC sums products in wide floats, CACC accumulates in FP48 and
hands SDP binary32, SDP adds the bias in binary32, then converts to binary16), and
the FP32 reference datapath sums in binary32 in its own order, so the value a layer
rounds last differs from the exact sum by rounding in binary32 or wider.

Inputs come from the reference (each node in isolation: a difference cannot come
from upstream) or, ``chained``, from the simulator's own outputs of the nodes
before: that is the end-to-end run, checked at every node.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from compiler.ir import Add, Conv, GlobalAvgPool, Graph, Pool
from compiler.reference import exact_node, quantize_exact
from nvdla_sim.program import Program
from nvdla_sim.runner import ProgramRunner

TIE_TOLERANCE = 1e-9  # float64 error of the exact values, in output LSB
WORKING_UNIT = 2.0 ** -24  # unit roundoff of binary32, the narrowest sum a float layer keeps
EXTRA_ROUNDINGS = 2  # beyond one per product: the hand-over to SDP and SDP's bias add


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
    groups = _layers_of_nodes(program)
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
        sim = _simulate(runner, node, indices, values, ref)
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


def _layers_of_nodes(program: Program) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for i, info in enumerate(program.info):
        groups.setdefault(info.node, []).append(i)
    return groups


def _simulate(runner: ProgramRunner, node, indices: list[int],
              values: dict[str, np.ndarray], like: np.ndarray) -> np.ndarray:
    """The node's output from its hardware layers, image by image, for inputs ``values``."""
    program = runner.program
    binding = program.tensors[program.info[indices[-1]].output]
    sim = np.empty_like(like)
    for n in range(len(like)):
        for name in sorted(set(node.inputs)):
            runner.write_tensor(program.tensors[name], values[name][n])
        for i in indices:
            runner.executor.run(program.layers[i], runner.memory)
        sim[n] = runner.read_tensor(binding)
    return sim


# -- float graphs -------------------------------------------------------------------------
@dataclass(frozen=True)
class FloatLayerCheck:
    node: str
    output: str
    identical: int  # elements equal to the reference (bit for bit, as values)
    elements: int
    max_error: float  # max |simulated - reference|
    max_ratio: float  # max |simulated - reference| / tolerance (0 where both are 0)
    outside: int  # elements beyond the tolerance

    @property
    def ok(self) -> bool:
        return self.outside == 0


def float_tolerance(node, ins: list[np.ndarray], graph: Graph, ref: np.ndarray
                    ) -> np.ndarray:
    """Per element, how far NVDLA's (or the FP32 datapath's) result may be from the
    reference ``ref`` (the exact value rounded once to the output format).

    A sum of ``n`` products (or pooled values) and a bias, with ``S`` the sum of their
    magnitudes, reaches the final rounding off by at most ``d = (n + 2) u S``: ``u =
    2**-24`` (binary32, the narrowest format on the way: CACC's FP48 and CMAC's wide
    partial sums are finer), one rounding per addition in the worst order plus the
    hand-over to SDP and the bias add.  Rounding both values to the output format then
    differs by at most ``d`` plus one unit in the last place there.  An average on PDP
    also rounds its sum and its multiplication by the reciprocal kernel size in the
    output format: ``d`` uses that format's unit for those (FP16's PDP averages in FP17,
    whose 10-bit mantissa has binary16's unit).  An Add sums two values in binary32
    (``n = 2``).  Max pooling and ReLU / clamps are exact (0 tolerance)."""
    dtype = ref.dtype
    if isinstance(node, Conv):
        absolute = dataclasses.replace(node, weight=np.abs(node.weight.astype(np.float64)))
        mags = exact_node(dataclasses.replace(absolute, bias=np.abs(node.bias),
                                              activation=None),
                          [np.abs(ins[0].astype(np.float64))],
                          [graph.tensor(node.inputs[0]).quant], graph.tensor(node.output).quant)
        n = int(np.prod(node.weight.shape[1:]))
        d = (n + EXTRA_ROUNDINGS) * WORKING_UNIT * mags
    elif isinstance(node, (Pool, GlobalAvgPool)) and getattr(node, "kind", "avg") == "avg":
        q = graph.tensor(node.output).quant
        mags = exact_node(node, [np.abs(ins[0].astype(np.float64))],
                          [graph.tensor(node.inputs[0]).quant], q)
        area = (int(np.prod(node.kernel)) if isinstance(node, Pool)
                else int(np.prod(graph.tensor(node.inputs[0]).shape[1:])))
        unit = float(np.finfo(dtype).eps) / 2
        d = (area + EXTRA_ROUNDINGS) * unit * mags * area
    elif isinstance(node, Add):
        d = (2 + EXTRA_ROUNDINGS) * WORKING_UNIT * (np.abs(ins[0].astype(np.float64))
                                                     + np.abs(ins[1].astype(np.float64)))
    else:
        return np.zeros(ref.shape)
    ulp = np.spacing((np.abs(ref.astype(np.float64)) + d).astype(dtype))
    return d + ulp.astype(np.float64)


def check_float_layers(graph: Graph, program: Program, x: np.ndarray,
                       chained: bool = False) -> list[FloatLayerCheck]:
    """:func:`check_layers` for an FP16 / FP32 graph: every node's hardware layers on the
    reference's inputs (or, ``chained``, the simulator's own) against the reference
    node, element by element within :func:`float_tolerance`."""
    runner = ProgramRunner(program)
    groups = _layers_of_nodes(program)
    values = {graph.inputs[0]: np.asarray(x, graph.tensor(graph.inputs[0]).quant.dtype)}
    checks = []
    for node in graph.nodes:
        ins = [values[name] for name in node.inputs]
        quant = graph.tensor(node.output).quant
        ref = quantize_exact(exact_node(node, ins, [graph.tensor(n).quant for n in node.inputs],
                                        quant), quant)
        values[node.output] = ref
        if node.name not in groups:
            continue
        sim = _simulate(runner, node, groups[node.name], values, ref)
        tol = float_tolerance(node, ins, graph, ref)
        err = np.abs(sim.astype(np.float64) - ref.astype(np.float64))
        err[sim == ref] = 0.0  # equal infinities
        ratio = np.divide(err, tol, out=np.where(err > 0, np.inf, 0.0), where=tol > 0)
        checks.append(FloatLayerCheck(node.name, node.output, int(np.count_nonzero(sim == ref)),
                                      int(ref.size), float(err.max()), float(ratio.max()),
                                      int(np.count_nonzero(err > tol))))
        if chained:
            values[node.output] = sim
    return checks
