"""Lowering of Add (both operands from memory) and Requant nodes to SDP layers.

SDP reads the first operand from memory (MRDMA); BS maps it to a common unit
``u`` with one register multiplier, BN adds the second operand shifted into
the same unit and rescales to the output, the output converter adds the
zero point.  Requant is the same without the second operand.
"""

from __future__ import annotations

import numpy as np

from compiler import descriptors
from compiler.ir import Add, CompileError, Requant
from compiler.lower.context import LowerContext
from compiler.lower.sdp_stages import (
    OUT_RANGE, activation_stages, affine_stage, bound_lsb, residual_error, residual_plan,
    residual_stage)
from compiler.requant import fit_affine
from nvdla_sim.layers import HardwareLayer
from nvdla_sim.program import LayerInfo


def lower_add(ctx: LowerContext, node: Add) -> None:
    g = ctx.graph
    a, b, y = g.tensor(node.inputs[0]), g.tensor(node.inputs[1]), g.tensor(node.output)
    if a.shape != b.shape or a.shape != y.shape:
        raise CompileError(f"node {node.name} (Add): operand shapes {a.shape} and {b.shape} "
                           f"differ; broadcasting is not supported")
    p, r_mult, r_shift, unit = residual_plan(b, y, node.name)
    mult = np.array([a.quant.scale / unit])
    bias = np.array([-a.quant.zero_point - b.quant.zero_point * 2.0 ** p / mult[0]])
    affine = fit_affine(bias, mult, f"node {node.name}")
    relu, clamp = activation_stages(node.activation, y, node.name)
    if clamp is not None:
        raise CompileError(f"node {node.name} (Add): a clamp other than ReLU after an add is "
                           f"not supported")
    error = residual_error(affine.error(bias, mult, OUT_RANGE * y.quant.scale / unit),
                           unit / y.quant.scale, r_mult, r_shift)
    bn = residual_stage(ctx.plan.surface(b.name), p, r_mult, r_shift, relu)
    _emit(ctx, node, affine_stage(affine, False, None), bn, "add", bound_lsb(error))


def lower_requant(ctx: LowerContext, node: Requant, owner: str | None = None) -> None:
    """``owner``: the IR node this layer belongs to when it is part of another node's lowering."""
    g = ctx.graph
    x, y = g.tensor(node.inputs[0]), g.tensor(node.output)
    mult = np.array([x.quant.scale / y.quant.scale])
    bias = np.array([-float(x.quant.zero_point)])
    affine = fit_affine(bias, mult, f"node {node.name}")
    relu, clamp = activation_stages(node.activation, y, node.name)
    error = affine.error(bias, mult, OUT_RANGE)
    _emit(ctx, node, affine_stage(affine, relu, None), clamp, "requant", bound_lsb(error), owner)


def _emit(ctx: LowerContext, node, bs, bn, op: str, bound: int, owner: str | None = None
          ) -> None:
    y = ctx.graph.tensor(node.output)
    src = ctx.plan.surface(node.inputs[0])
    sdp = descriptors.sdp(width=y.shape[2], height=y.shape[1], channels=y.channels,
                          src=src, dst=ctx.plan.surface(node.output), bs=bs, bn=bn,
                          cvt_offset=-y.quant.zero_point)
    ctx.emit(HardwareLayer(node.name, sdp=sdp),
             LayerInfo(node.name, owner or node.name, op, node.output, error_bound=bound))
