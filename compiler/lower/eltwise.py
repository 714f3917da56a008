"""Lowering of Add (both operands from memory) and Requant nodes to SDP layers.

At FP16 / FP32 values need no rescaling: an Add is BS's ALU summing the second
operand read per element, a Requant is only its activation (ReLU, a clamp).

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
    activation_bounds, activation_stages, affine_stage, bound_lsb, float_activation,
    float_sum_stage, out_range, relu_stage, rescale_error, residual_stage, residual_unit)
from compiler.requant import fit_affine, fit_scale
from nvdla_sim.layers import HardwareLayer
from nvdla_sim.program import LayerInfo


FRACTION_BITS = 12  # fraction of an output LSB BN keeps for the output converter


def lower_add(ctx: LowerContext, node: Add) -> None:
    """``y = s_a (a - z_a) + s_b (b - z_b)``: BS maps ``a - z_a`` to units u, BN adds ``b << p``
    (also units u) and rescales to output units with FRACTION_BITS of fraction, the output
    converter subtracts the constant ``z_b s_b`` (exactly, in those fine units), adds the
    output zero point and rounds.  With a ReLU that int8 saturation does not already give
    (output zero point > -128), the constant must be in before BN's ReLU, so it joins BS's
    bias in units of a, rounded (the error bound accounts for it)."""
    g = ctx.graph
    a, b, y = g.tensor(node.inputs[0]), g.tensor(node.inputs[1]), g.tensor(node.output)
    if ctx.config.prec.is_float:  # values are real: BS adds b read per element
        relu, clamp = float_activation(node.activation, node.name)
        _emit(ctx, node, float_sum_stage(ctx.plan.surface(b.name), relu), clamp, "add", 0.0)
        return
    if ctx.config.prec.element_bytes != 1:
        raise CompileError(f"node {node.name} (Add): the second operand is a per-element "
                           f"SDP_RDMA stream, which is modelled at int8 only (its "
                           f"{ctx.config.precision} surface layout is unverified)")
    limit = out_range(ctx.config.prec)
    if a.shape != b.shape or a.shape != y.shape:
        raise CompileError(f"node {node.name} (Add): operand shapes {a.shape} and {b.shape} "
                           f"differ; broadcasting is not supported")
    relu, clamp_algo, _ = activation_bounds(node.activation, y, node.name)
    if clamp_algo is not None:
        raise CompileError(f"node {node.name} (Add): a clamp other than ReLU after an add is "
                           f"not supported")
    p, unit = residual_unit(b, y)
    mult = np.array([a.quant.scale / unit])
    constant = b.quant.zero_point * 2.0 ** p  # z_b s_b in units u
    bias = np.array([-a.quant.zero_point - (constant / mult[0] if relu else 0.0)])
    affine = fit_affine(bias, mult, f"node {node.name}")
    fraction = 0 if relu else FRACTION_BITS
    ideal = unit * 2.0 ** fraction / y.quant.scale
    r_mult, r_shift = fit_scale(ideal, f"node {node.name}")
    span = (limit + 1.0) * 2.0 ** fraction / ideal  # |y1 + b << p| that matters, in u
    error = rescale_error(affine.error(bias, mult, limit * y.quant.scale / unit), ideal,
                          r_mult, r_shift, span) / 2.0 ** fraction
    cvt_offset = -y.quant.zero_point
    if not relu:
        offset = (constant * unit / y.quant.scale - y.quant.zero_point) * 2.0 ** fraction
        cvt_offset = int(np.rint(offset))
        error += 0.5 / 2.0 ** fraction + abs(cvt_offset - offset) / 2.0 ** fraction
    bn = residual_stage(ctx.plan.surface(b.name), p, r_mult, r_shift, relu)
    _emit(ctx, node, affine_stage(affine, False, None), bn, "add", error,
          cvt_offset=cvt_offset, cvt_shift=fraction)


def lower_requant(ctx: LowerContext, node: Requant, owner: str | None = None) -> None:
    """``owner``: the IR node this layer belongs to when it is part of another node's lowering."""
    g = ctx.graph
    x, y = g.tensor(node.inputs[0]), g.tensor(node.output)
    if ctx.config.prec.is_float:  # values stay real: only the activation is left to do
        relu, clamp = float_activation(node.activation, node.name)
        _emit(ctx, node, relu_stage() if relu else None, clamp, "requant", 0.0, owner)
        return
    mult = np.array([x.quant.scale / y.quant.scale])
    bias = np.array([-float(x.quant.zero_point)])
    affine = fit_affine(bias, mult, f"node {node.name}")
    relu, clamp = activation_stages(node.activation, y, node.name)
    error = affine.error(bias, mult, out_range(ctx.config.prec))
    _emit(ctx, node, affine_stage(affine, relu, None), clamp, "requant", error, owner)


def _emit(ctx: LowerContext, node, bs, bn, op: str, error: float, owner: str | None = None,
          cvt_offset: int | None = None, cvt_shift: int = 0) -> None:
    y = ctx.graph.tensor(node.output)
    src = ctx.plan.surface(node.inputs[0])
    sdp = descriptors.sdp(width=y.shape[2], height=y.shape[1], channels=y.channels,
                          src=src, dst=ctx.plan.surface(node.output), bs=bs, bn=bn,
                          cvt_offset=-y.quant.zero_point if cvt_offset is None else cvt_offset,
                          cvt_shift=cvt_shift, prec=ctx.config.prec)
    ctx.emit(HardwareLayer(node.name, sdp=sdp),
             LayerInfo(node.name, owner or node.name, op, node.output,
                       error_bound=0 if ctx.config.prec.is_float else bound_lsb(error),
                       error=error))
