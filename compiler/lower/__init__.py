"""Lowering: IR graph (quantized, or FP16 / FP32) -> NVDLA hardware layers + memory image
(a Program).

Nodes are lowered in graph order, each by the lowering of its type.
"""

from __future__ import annotations

from compiler.ir import Add, CompileError, Concat, Conv, GlobalAvgPool, Graph, Lrn, Pool, Requant
from compiler.lower.context import LowerContext
from compiler.lower.conv import lower_conv
from compiler.lower.eltwise import lower_add, lower_requant
from compiler.lower.lrn import lower_lrn
from compiler.lower.planner import MemoryPlan
from compiler.lower.pool import lower_global_avg_pool, lower_pool
from nvdla_sim.config import DEFAULT_CONFIG, HardwareConfig
from nvdla_sim.program import Program

__all__ = ["lower"]

LOWERINGS = {Conv: lower_conv, Add: lower_add, Requant: lower_requant, Pool: lower_pool,
             GlobalAvgPool: lower_global_avg_pool, Lrn: lower_lrn}


def lower(graph: Graph, config: HardwareConfig = DEFAULT_CONFIG) -> Program:
    graph.validate()
    if config.precision != graph.precision:
        raise CompileError(f"graph {graph.name} is {graph.precision}, but config {config.name} "
                           f"computes {config.precision} (it implements "
                           f"{', '.join(config.precisions)}); compile with a matching "
                           f"--precision")
    ctx = LowerContext(graph, config, MemoryPlan(graph, config))
    for node in graph.nodes:
        if isinstance(node, Concat):
            continue  # its inputs were written in place (see planner)
        lowering = LOWERINGS.get(type(node))
        if lowering is None:
            raise CompileError(f"node {node.name}: {type(node).__name__} has no NVDLA "
                               f"lowering")
        lowering(ctx, node)
    plan = ctx.plan
    return Program(config=config, layers=ctx.layers, info=ctx.info, image=plan.image,
                   inputs=[plan.tensors[n] for n in graph.inputs],
                   outputs=[plan.tensors[n] for n in graph.outputs],
                   tensors=dict(plan.tensors), name=graph.name)
