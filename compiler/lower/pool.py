"""Lowering of pooling to PDP, or to a depthwise all-ones convolution.

PDP pools within one quantization: max is exact, an average is rounded once.
An average that also changes the quantization, or whose window exceeds PDP's
kernel limit, becomes a depthwise convolution with all-ones weights: the sum
is exact and one requantization divides by the window area, so the result is
rounded once (pooling and then rescaling would round twice).  A max pool that
changes the quantization pools exactly on PDP, then an SDP layer rescales.
"""

from __future__ import annotations

import numpy as np

from compiler import descriptors
from compiler.ir import CompileError, Conv, GlobalAvgPool, Pool, Requant, Tensor, value_dtype
from compiler.lower.context import LowerContext
from compiler.lower.conv import lower_conv
from compiler.lower.eltwise import lower_requant
from compiler.lower.sdp_stages import bound_lsb
from nvdla_sim.errors import LayerError
from nvdla_sim.floatpath import pdp as float_pdp
from nvdla_sim.layers import POOL_AVERAGE, POOL_MAX, HardwareLayer
from nvdla_sim.program import LayerInfo, TensorBinding

PDP_MAX_KERNEL = 8  # cmod PDP line buffers hold kernels of 1..8 per axis
PDP_MAX_PAD = 7  # 3-bit padding fields


def lower_pool(ctx: LowerContext, node: Pool) -> None:
    x = ctx.graph.tensor(node.inputs[0])
    kh, kw = node.kernel
    if max(kh, kw) > PDP_MAX_KERNEL or max(node.pads) > PDP_MAX_PAD:
        raise CompileError(f"node {node.name} (Pool): kernel {node.kernel} / pads {node.pads} "
                           f"exceed PDP's limits ({PDP_MAX_KERNEL} per axis, pads up to "
                           f"{PDP_MAX_PAD})")
    if node.kind == "avg" and any(node.pads) and not node.count_include_pad:
        raise CompileError(f"node {node.name} (AveragePool): padding with count_include_pad=0 "
                           f"divides border windows by fewer elements; PDP divides every window "
                           f"by the kernel area. Use count_include_pad=1 or no padding")
    if node.kind not in ("max", "avg"):
        raise CompileError(f"node {node.name} (Pool): unknown pooling kind {node.kind!r}")
    y = ctx.graph.tensor(node.output)
    if node.kind == "avg" and x.quant != y.quant:
        _ones_conv(ctx, node, x, node.kernel, node.stride, node.pads)
        return
    _pdp(ctx, node, x, POOL_MAX if node.kind == "max" else POOL_AVERAGE, node.kernel,
         node.stride, node.pads)


def lower_global_avg_pool(ctx: LowerContext, node: GlobalAvgPool) -> None:
    x = ctx.graph.tensor(node.inputs[0])
    _, h, w = x.shape
    if max(h, w) <= PDP_MAX_KERNEL and x.quant == ctx.graph.tensor(node.output).quant:
        _pdp(ctx, node, x, POOL_AVERAGE, (h, w), (1, 1), (0, 0, 0, 0))
    else:
        _ones_conv(ctx, node, x, (h, w), (1, 1), (0, 0, 0, 0))


def _ones_conv(ctx: LowerContext, node, x: Tensor, kernel, stride, pads) -> None:
    """Average as a depthwise convolution with all-ones weights and scale 1 / area."""
    if ctx.graph.is_float:
        raise CompileError(f"node {node.name}: an average over a {kernel[0]}x{kernel[1]} "
                           f"window exceeds PDP's {PDP_MAX_KERNEL}x{PDP_MAX_KERNEL}; at "
                           f"float precisions it is not lowered (integer precisions run it "
                           f"as a convolution)")
    c, area = x.channels, kernel[0] * kernel[1]
    conv = Conv(node.name, node.inputs, node.output,
                weight=np.ones((c, 1, *kernel), value_dtype(ctx.graph.bits)),
                weight_scale=np.full(c, 1.0 / area), bias=np.zeros(c, np.int64),
                stride=stride, pads=pads, groups=c)
    lower_conv(ctx, conv)


def _pdp_error(layer, graph) -> dict[str, float]:
    """Max pooling is exact (at every precision); a float average's rounding is within
    :mod:`compiler.verify`'s float tolerance.  An integer PDP averages as
    round(sum * RECIP_W / 2**16) (the height reciprocal is programmed to exactly 1): |sum| <= 2**(bits-1) * area and RECIP_W off by
    at most half a unit from 2**16 / area keep the pre-rounding error below
    2**-17 * 128 * 64 < 0.07 at int8, so results are within 1 LSB of round(mean) (they
    differ at ties, which ONNX rounds to even and PDP away from zero); up to 17 LSB at
    int16, whose sums are 256 times larger."""
    if layer.method == POOL_MAX or graph.is_float:
        return {"error_bound": 0, "error": 0.0}
    bits = graph.bits
    area = layer.kernel_width * layer.kernel_height
    error = (1 << (bits - 1)) * area * abs(layer.recip_kernel_width / 65536 - 1 / area)
    return {"error_bound": bound_lsb(error), "error": error}


def _pdp(ctx: LowerContext, node, x: Tensor, method: int, kernel, stride, pads) -> None:
    y = ctx.graph.tensor(node.output)
    requant = x.quant != y.quant  # only for max pooling, which is exact
    dst = ctx.plan.surface(node.output)
    if requant:  # pool into a scratch tensor with the input's quantization
        scratch = ctx.plan.scratch(dst.width, dst.height, dst.channels)
        ctx.plan.tensors[f"{node.output}:pooled"] = TensorBinding(
            f"{node.output}:pooled", scratch, x.quant.scale, x.quant.zero_point)
        dst = scratch
    layer = descriptors.pdp(src=ctx.plan.surface(node.inputs[0]), in_height=x.shape[1],
                            in_width=x.shape[2], dst=dst, method=method, kernel=kernel,
                            stride=stride, pads=pads, pad_value=x.quant.zero_point)
    if ctx.graph.is_float:  # what the float PDP model computes (FP16 averages it does not)
        try:
            float_pdp.check(layer)
        except LayerError as exc:
            raise CompileError(f"node {node.name}: {exc}") from None
    name = f"{node.name}/pool" if requant else node.name
    ctx.emit(HardwareLayer(name, pdp=layer), LayerInfo(name, node.name, "pool", node.output,
                                                       **_pdp_error(layer, ctx.graph)))
    if requant:
        pooled = Tensor(f"{node.output}:pooled", y.shape, x.quant)
        ctx.graph.tensors[pooled.name] = pooled
        lower_requant(ctx, Requant(f"{node.name}/requant", (pooled.name,), node.output),
                      owner=node.name)
