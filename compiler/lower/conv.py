"""Lowering of Conv nodes (also fully connected and depthwise).

One IR convolution becomes one or more CONV hardware layers (convolution core
feeding SDP on the fly):

* grouped convolutions run one hardware layer per group, and depthwise ones
  one per memory atom of channels with block-diagonal weights, because a
  channel slice of an NVDLA surface is a whole number of atoms;
* a layer whose data and weights do not fit the CBUF is split into row tiles;
* the input zero point is the pad value, so padding stands for real zero, and
  its contribution ``-zx * sum(w)`` is folded into the bias;
* SDP's BS and BN stages requantize per channel (``channel_requant``), BN also
  clamps (ReLU, Clip / ReLU6), and the output converter adds the output zero
  point;
* at FP16 / FP32 there is nothing to requantize: BS adds the float bias and
  applies the ReLU, SDP converts the float sum to the output format.

A residual Add is not fused into the convolution: the quantized graph rounds
and saturates the convolution's output to int8 before the Add, which SDP's
one ALU + multiplier per stage cannot reproduce in the same pass, so the Add
runs as its own SDP layer on the int8 tensors (see ``eltwise``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from compiler import descriptors
from compiler.ir import CompileError, Conv
from compiler.lower.cbuf import plan_cbuf, row_tiles
from compiler.lower.context import LowerContext
from compiler.lower.channel_requant import fit_channel_requant
from compiler.lower.sdp_stages import (
    activation_bounds, bias_stage, bound_lsb, channel_stages, float_activation,
    float_operand_vector, operand_vector, out_range)
from nvdla_sim.layers import HardwareLayer, SdpX
from nvdla_sim.program import LayerInfo
from nvdla_sim.surface import FeatureSurface, pack_weights


@dataclass(frozen=True)
class Slice:
    """Channels [c0, c0 + weight.shape[1]) in, kernels [k0, k0 + weight.shape[0]) out."""

    c0: int
    k0: int
    weight: np.ndarray  # int8 (int16) [K', C', R, S] as the hardware sees it


def slices(node: Conv, channels: int, atom: int) -> list[Slice]:
    k, cg = node.weight.shape[:2]
    if node.groups == 1:
        return [Slice(0, 0, node.weight)]
    kg = k // node.groups
    if cg == 1 and kg == 1:  # depthwise: block-diagonal weights over one atom of channels
        out = []
        for c0 in range(0, channels, atom):
            n = min(atom, channels - c0)
            w = np.zeros((n, n, *node.weight.shape[2:]), node.weight.dtype)
            w[np.arange(n), np.arange(n)] = node.weight[c0:c0 + n, 0]
            out.append(Slice(c0, c0, w))
        return out
    if cg % atom == 0 and kg % atom == 0:
        return [Slice(g * cg, g * kg, node.weight[g * kg:(g + 1) * kg]) for g in range(node.groups)]
    raise CompileError(f"node {node.name} (Conv): groups={node.groups} with {cg} input and {kg} "
                       f"output channels per group is not supported; NVDLA needs depthwise "
                       f"(1 and 1) or multiples of the {atom}-channel atom")


def channel_view(surface: FeatureSurface, c0: int, channels: int, atom: int) -> FeatureSurface:
    return FeatureSurface(surface.address + c0 // atom * surface.surface_stride, surface.width,
                          surface.height, channels, surface.line_stride, surface.surface_stride)


def row_view(surface: FeatureSurface, y0: int, rows: int) -> FeatureSurface:
    return FeatureSurface(surface.address + y0 * surface.line_stride, surface.width, rows,
                          surface.channels, surface.line_stride, surface.surface_stride)


@dataclass(frozen=True)
class ConvStages:
    """What the output side of a convolution is programmed with, per precision: the pad
    value (CSC), CACC's truncation, SDP's BS and BN stages for kernels from ``k0``, the
    output converter's offset and the pre-rounding error (output LSB; 0 for floats,
    whose tolerance :mod:`compiler.verify` derives)."""

    pad_value: int
    truncate: int
    stages: Callable[[int], tuple[SdpX, SdpX | None]]
    cvt_offset: int
    error: float


def integer_stages(ctx: LowerContext, node: Conv) -> ConvStages:
    """Real requantization per output channel: y = (acc_hw + bias_eff) * mult."""
    g, prec = ctx.graph, ctx.config.prec
    x, y = g.tensor(node.inputs[0]), g.tensor(node.output)
    w64 = node.weight.astype(np.int64).reshape(node.weight.shape[0], -1)
    bias_eff = node.bias.astype(np.float64) - x.quant.zero_point * w64.sum(axis=1)
    reach = -prec.min * int(np.abs(w64).sum(axis=1).max())  # bound of |acc_hw|
    truncate = max(0, reach.bit_length() - 31)
    mult = x.quant.scale * node.weight_scale.astype(np.float64) * 2.0 ** truncate / y.quant.scale
    relu, clamp_algo, clamp_bound = activation_bounds(node.activation, y, node.name)
    req = fit_channel_requant(bias_eff / 2.0 ** truncate, mult, out_range(prec), clamp_bound,
                              f"node {node.name}")
    # CACC's rounding to 2**truncate adds up to half an accumulator unit
    error = req.error + 0.5 * float(mult.max()) * (truncate > 0)
    cpad = ctx.config.channels_padded(y.channels, prec)
    bs_vector = operand_vector([req.bias, req.pow2], cpad, ctx.plan)
    bn_vector = operand_vector([req.bn_alu, req.mu], cpad, ctx.plan)
    return ConvStages(x.quant.zero_point, truncate,
                      lambda k0: channel_stages(req, relu, clamp_algo, bs_vector + k0 * 4,
                                                bn_vector + k0 * 4),
                      -y.quant.zero_point, error)


def float_stages(ctx: LowerContext, node: Conv) -> ConvStages:
    """FP16 / FP32: CACC hands SDP the float sum; BS adds the bias (a per-kernel operand
    vector in the precision's format) and applies the ReLU, BN any other clamp (ReLU6);
    padding is +0."""
    prec, y = ctx.config.prec, ctx.graph.tensor(node.output)
    vector = float_operand_vector(node.bias, ctx.config.channels_padded(y.channels, prec),
                                  ctx.plan, prec)
    relu, clamp = float_activation(node.activation, node.name)
    return ConvStages(0, 0, lambda k0: (bias_stage(vector + k0 * prec.element_bytes, relu,
                                                   prec), clamp), 0, 0.0)


def lower_conv(ctx: LowerContext, node: Conv) -> None:
    """Emit the hardware layers of ``node``."""
    g, cfg = ctx.graph, ctx.config
    prec = cfg.prec
    atom = cfg.atom_channels(prec)
    x, y = g.tensor(node.inputs[0]), g.tensor(node.output)
    out = float_stages(ctx, node) if prec.is_float else integer_stages(ctx, node)

    src, dst = ctx.plan.surface(node.inputs[0]), ctx.plan.surface(node.output)
    r, s = node.weight.shape[2:]
    span_y = (r - 1) * node.dilation[0] + 1
    pt, pl, pb, pr = node.pads
    out_h, out_w = y.shape[1], y.shape[2]
    parts = []
    for sl in slices(node, x.channels, atom):
        kc, cc = sl.weight.shape[:2]
        cb = plan_cbuf(x.shape[2], x.shape[1], cc, kc, r * s, cfg, node.name)
        tiles = row_tiles(out_h, x.shape[1], node.stride[0], span_y, cb.max_input_rows, node.name)
        w_addr = ctx.plan.place(pack_weights(sl.weight, cfg, prec))
        for o0, o1 in tiles:
            iy0 = o0 * node.stride[0] - pt
            iy1 = (o1 - 1) * node.stride[0] - pt + span_y
            y0, y1 = max(iy0, 0), min(iy1, x.shape[1])
            if y1 <= y0:
                raise CompileError(f"node {node.name}: output rows {o0}..{o1} see only padding")
            conv = descriptors.conv_core(
                src=row_view(channel_view(src, sl.c0, cc, atom), y0, y1 - y0),
                weight_address=w_addr, kernels=kc, kernel_height=r, kernel_width=s,
                stride=node.stride, pads=(max(0, -iy0), pl, max(0, iy1 - x.shape[1]), pr),
                dilation=node.dilation, pad_value=out.pad_value, out_height=o1 - o0,
                out_width=out_w, clip_truncate=out.truncate, data_bank=cb.data_banks,
                weight_bank=cb.weight_banks, cfg=cfg)
            bs, bn = out.stages(sl.k0)
            sdp = descriptors.sdp(
                width=out_w, height=o1 - o0, channels=kc,
                dst=row_view(channel_view(dst, sl.k0, kc, atom), o0, o1 - o0),
                bs=bs, bn=bn, cvt_offset=out.cvt_offset, prec=prec)
            parts.append((conv, sdp, dict(macs=kc * cc * r * s * out_w * (o1 - o0),
                                          weight_bytes=sl.weight.nbytes,
                                          data_banks=cb.data_banks,
                                          weight_banks=cb.weight_banks)))
    op = "fc" if (r, s) == x.shape[1:] and out_h == out_w == 1 else (
        "dwconv" if node.groups > 1 and node.weight.shape[1] == 1 else "conv")
    for i, (conv, sdp, figures) in enumerate(parts):
        name = ctx.layer_name(node.name, i, len(parts))
        ctx.emit(HardwareLayer(name, conv=conv, sdp=sdp),
                 LayerInfo(name, node.name, op, node.output,
                           error_bound=bound_lsb(out.error) if not prec.is_float else 0,
                           error=out.error, **figures))
