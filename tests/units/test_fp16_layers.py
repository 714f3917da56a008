"""FP16 register programs through the executor: conv -> SDP -> PDP, SDP and PDP from memory."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from compiler import descriptors as build
from nvdla_sim.config import NV_FULL
from nvdla_sim.errors import LayerError
from nvdla_sim.executor import Executor, MemoryInputs
from nvdla_sim.floatpath import cmac16, to_bits
from nvdla_sim.floatpath.nvfloat import fp16_to_fp17, fp_add, fp_mul, fp_relu
from nvdla_sim.fp16 import cacc_fp48_add, cacc_fp48_to_fp32, fp16_to_fp32, fp32_to_fp16
from nvdla_sim.layers import POOL_AVERAGE, POOL_MAX, POOL_MIN, HardwareLayer
from nvdla_sim.memory import Memory
from nvdla_sim.precision import FP16, INT16
from nvdla_sim.surface import FeatureSurface, pack_weights

CFG = NV_FULL.replace(precision="fp16")
F16 = np.float16


def h(x) -> np.ndarray:
    """FP16 patterns (int64) of values."""
    return np.asarray(x, F16).view(np.uint16).astype(np.int64)


def field(x: float) -> int:
    bits = int(h(x))
    return bits - (1 << 16) if bits >> 15 else bits


def conv_program(rng, c=70, hw=(4, 5), k=3, sdp_kwargs=None, pool=False):
    hh, ww = hw
    src = FeatureSurface.packed(0x1000, ww, hh, c, CFG, precision=FP16)
    dst = FeatureSurface.packed(0x40000, ww // 2 if pool else ww, hh // 2 if pool else hh, k,
                                CFG, precision=FP16)
    conv = build.conv_core(src=src, weight_address=0x80000, kernels=k, kernel_height=3,
                           kernel_width=3, stride=(1, 1), pads=(1, 1, 1, 1), dilation=(1, 1),
                           pad_value=field(0.5), out_height=hh, out_width=ww,
                           clip_truncate=0, data_bank=1, weight_bank=1, cfg=CFG)
    sdp = build.sdp(width=ww, height=hh, channels=k, dst=None if pool else dst, prec=FP16,
                    **(sdp_kwargs or {}))
    pdp = None
    if pool:
        pdp = build.pdp(src=None, in_height=hh, in_width=ww, dst=dst, method=POOL_MAX,
                        kernel=(2, 2), stride=(2, 2), pads=(0, 0, 0, 0), pad_value=0)
    x = rng.standard_normal((c, hh, ww)).astype(F16)
    x[3, 1, 2] = F16(6e-6)  # a denormal datum
    wt = (rng.standard_normal((k, c, 3, 3)) / 4).astype(F16)
    wt[0, 5] = 0  # zero weights (masked lanes)
    mem = Memory()
    src.write(mem, CFG, np.concatenate([x, np.zeros((-c % 16, hh, ww), F16)]))
    mem.write(0x80000, pack_weights(wt, CFG, FP16))
    return HardwareLayer("conv16", conv=conv, sdp=sdp, pdp=pdp), mem, x, wt, dst


def expected_sdp_input(x, wt):
    """CACC's FP32 deliveries, atomic operation by atomic operation in CSC order."""
    c, hh, ww = x.shape
    xp = np.full((c, hh + 2, ww + 2), F16(0.5), F16)
    xp[:, 1:-1, 1:-1] = x
    acc = np.zeros((wt.shape[0], hh * ww), np.int64)
    for blk in range(0, c, 64):
        n = min(64, c - blk)
        for dy in range(3):
            for dx in range(3):
                w = np.zeros((wt.shape[0], 64), np.int64)
                d = np.zeros((64, hh * ww), np.int64)
                w[:, :n] = h(wt[:, blk:blk + n, dy, dx])
                d[:n] = h(xp[blk:blk + n, dy:dy + hh, dx:dx + ww]).reshape(n, -1)
                acc = cacc_fp48_add(acc, cmac16.atomic(w, d))
    return cacc_fp48_to_fp32(acc).reshape(-1, hh, ww)


def test_fp16_conv_is_cmac_then_cacc_in_csc_order():
    rng = np.random.default_rng(16)
    layer, mem, x, wt, dst = conv_program(rng)
    Executor(CFG).run(layer, mem)
    out = dst.read(mem, CFG)[:3]
    want32 = expected_sdp_input(x, wt)
    assert np.array_equal(to_bits(out, FP16), fp32_to_fp16(want32))
    # and it is the convolution: within FP16 rounding of a float64 evaluation
    xp = np.full((70, 6, 7), 0.5)
    xp[:, 1:-1, 1:-1] = x
    ref = sum(np.einsum("kc,chw->khw", wt[:, :, dy, dx].astype(np.float64),
                        xp[:, dy:dy + 4, dx:dx + 5]) for dy in range(3) for dx in range(3))
    assert np.all(np.abs(out - ref) <= 2.0 ** -10 * np.abs(ref) + 2.0 ** -20)


def test_fp16_sdp_bias_per_kernel_scale_relu_then_max_pool():
    rng = np.random.default_rng(17)
    scales = np.array([1.5, -0.75, 2.0], F16)
    bs = dataclasses.replace(build.bypass_x(), bypass=False, alu_bypass=False, alu_algo=2,
                             alu_operand=field(0.25), mul_bypass=False, mul_src=1,
                             relu_bypass=False,
                             dma=build.per_kernel_dma(0x90000, data_use=0, two_bytes=True))
    layer, mem, x, wt, dst = conv_program(rng, sdp_kwargs={"bs": bs}, pool=True)
    mem.write(0x90000, np.concatenate([scales, np.zeros(13, F16)]).view(np.uint8))
    ex = Executor(CFG)
    writes, trace = ex.compute(layer, MemoryInputs(mem, CFG), keep=True)
    y = fp_add(trace.sdp_in[:3], fp16_to_fp32(h(0.25)), 8, 23)
    y = fp_relu(fp_mul(y, fp16_to_fp32(h(scales))[:, None, None], 8, 23), 8, 23)
    pre = fp32_to_fp16(y).astype(np.uint16).view(F16)
    want = pre[:, :4, :4].reshape(3, 2, 2, 2, 2).max(axis=(2, 4))
    ex.run(layer, mem)
    got = dst.read(mem, CFG)[:3]
    assert np.array_equal(got, want) and (pre == 0).any() and (pre > 0).any()  # ReLU acted


def test_fp16_sdp_from_memory_nan_to_zero_and_int16_output():
    c, hh, ww = 4, 1, 3
    src = FeatureSurface.packed(0x1000, ww, hh, c, CFG, precision=FP16)
    dst = FeatureSurface.packed(0x2000, ww, hh, c, CFG, precision=INT16)
    bs = dataclasses.replace(build.bypass_x(), bypass=False, mul_bypass=False,
                             mul_operand=field(-2.0))
    sdp = dataclasses.replace(build.sdp(width=ww, height=hh, channels=c, dst=dst, src=src,
                                        bs=bs, prec=FP16), out_precision=INT16.code,
                              nan_to_zero=True)
    x = np.zeros((16, hh, ww), F16)
    x[:4, 0] = [[1.25, -3.5, 2.5], [np.nan, 40000.0, 0.5], [1e-7, -1.75, 7.0], [0, 0, 0]]
    mem = Memory()
    src.write(mem, CFG, x)
    Executor(CFG).run(HardwareLayer("sdp", sdp=sdp), mem)
    out = dst.read(mem, CFG)[:4, 0]
    # x * -2 in FP32, to FP16 (RNE, saturating), to INT16 (half away from zero, saturating)
    assert out.tolist() == [[-3, 7, -5], [0, -32768, -1], [0, 4, -14], [0, 0, 0]]
    assert out.dtype == np.int16


def test_fp16_pdp_max_min_nan_order_and_signed_zeros():
    c, hh, ww = 1, 2, 2
    src = FeatureSurface.packed(0x1000, ww, hh, c, CFG, precision=FP16)
    dst = FeatureSurface.packed(0x2000, 1, 1, c, CFG, precision=FP16)
    x = np.zeros((16, hh, ww), np.uint16)
    x[0] = [[0x3C00, 0x7E01], [0x7E02, 0x7E03]]  # row 0: NaN at x=1; row 1: NaNs at x=0, 1
    x[1] = [[0x8000, 0x0000], [0x8000, 0x8000]]  # -0 and +0
    x[2] = [[0x4000, 0xC000], [0x3800, 0xC200]]
    mem = Memory()
    src.write(mem, CFG, x.view(F16))
    out = {}
    for method in (POOL_MAX, POOL_MIN):
        pdp = build.pdp(src=src, in_height=hh, in_width=ww, dst=dst, method=method,
                        kernel=(2, 2), stride=(1, 1), pads=(0, 0, 0, 0), pad_value=0)
        Executor(CFG).run(HardwareLayer("pool", pdp=pdp), mem)
        out[method] = to_bits(dst.read(mem, CFG)[:3, 0, 0], FP16).tolist()
    # a row keeps its leftmost NaN; across rows the new (lower) row's NaN comes first
    assert out[POOL_MAX] == [0x7E02, 0x0000, 0x4000]
    assert out[POOL_MIN] == [0x7E02, 0x8000, 0xC200]
    pdp = dataclasses.replace(build.pdp(src=src, in_height=hh, in_width=ww, dst=dst,
                                        method=POOL_MAX, kernel=(2, 2), stride=(1, 1),
                                        pads=(0, 0, 0, 0), pad_value=0), nan_to_zero=True)
    Executor(CFG).run(HardwareLayer("pool", pdp=pdp), mem)
    assert to_bits(dst.read(mem, CFG)[:1, 0, 0], FP16).tolist() == [0x3C00]  # NaNs -> +0


def fp17(x: float) -> int:
    return int(fp16_to_fp17(h(x)))


def test_fp16_average_pool_in_fp17_with_padding_terms():
    c, hh, ww = 1, 2, 2
    src = FeatureSurface.packed(0x1000, ww, hh, c, CFG, precision=FP16)
    dst = FeatureSurface.packed(0x2000, 2, 2, c, CFG, precision=FP16)
    third = fp17(1 / 3)  # 0.333251953125 in FP17
    pdp = dataclasses.replace(
        build.pdp(src=src, in_height=hh, in_width=ww, dst=dst, method=POOL_AVERAGE,
                  kernel=(3, 3), stride=(1, 1), pads=(1, 1, 1, 1), pad_value=0),
        pad_values=tuple(fp17(0.5 * n) for n in range(1, 8)),
        recip_kernel_width=third, recip_kernel_height=third)
    x = np.zeros((16, hh, ww), F16)
    x[0] = [[1, 2], [3, 4]]
    mem = Memory()
    src.write(mem, CFG, x)
    Executor(CFG).run(HardwareLayer("pool", pdp=pdp), mem)
    # every window holds all four elements and five padded ones: rows (1 + 2) + P[1] and
    # (3 + 4) + P[1]; rows added new first, + 3 * P[1] for the padded row: 12.5; then
    # 12.5 * 0.33325 -> 4.1640625 and * 0.33325 -> 1.3876953125 (FP17 rounds like FP16 here)
    r = F16(1 / 3)
    assert np.all(dst.read(mem, CFG)[0] == F16(F16(F16(12.5) * r) * r))
    assert to_bits(dst.read(mem, CFG)[:1, 0, 0], FP16).tolist() == [0x3D8D]


def test_fp16_average_pool_without_padding():
    c, hh, ww = 1, 2, 2
    src = FeatureSurface.packed(0x1000, ww, hh, c, CFG, precision=FP16)
    dst = FeatureSurface.packed(0x2000, 1, 1, c, CFG, precision=FP16)
    pdp = dataclasses.replace(
        build.pdp(src=src, in_height=hh, in_width=ww, dst=dst, method=POOL_AVERAGE,
                  kernel=(2, 2), stride=(1, 1), pads=(0, 0, 0, 0), pad_value=0),
        recip_kernel_width=fp17(0.5), recip_kernel_height=fp17(0.5))
    x = np.zeros((16, hh, ww), F16)
    x[0], x[1] = [[1, 2], [3, 4]], [[65504, 65504], [65504, 65504]]
    mem = Memory()
    src.write(mem, CFG, x)
    Executor(CFG).run(HardwareLayer("pool", pdp=pdp), mem)
    # (1 + 2) + (3 + 4) = 10, * 0.5 * 0.5 = 2.5; FP17's range holds 4 * 65504 exactly
    assert dst.read(mem, CFG)[:2, 0, 0].tolist() == [2.5, 65504.0]


def test_fp16_residual_add_from_a_per_element_stream():
    """BN ALU SUM with a per-element FP16 operand (a second feature surface): residual Add."""
    c, hh, ww = 20, 2, 3
    src = FeatureSurface.packed(0x1000, ww, hh, c, CFG, precision=FP16)
    res = FeatureSurface.packed(0x3000, ww, hh, c, CFG, precision=FP16)
    dst = FeatureSurface.packed(0x5000, ww, hh, c, CFG, precision=FP16)
    dma = dataclasses.replace(build.per_element_dma(res, data_use=1), data_size=1)
    bn = dataclasses.replace(build.bypass_x(), bypass=False, alu_bypass=False, alu_algo=2,
                             alu_src=1, relu_bypass=False, dma=dma)
    sdp = build.sdp(width=ww, height=hh, channels=c, dst=dst, src=src, bn=bn, prec=FP16)
    rng = np.random.default_rng(18)
    x, r = (rng.standard_normal((32, hh, ww)).astype(F16) for _ in range(2))
    mem = Memory()
    src.write(mem, CFG, x)
    res.write(mem, CFG, r)
    Executor(CFG).run(HardwareLayer("add", sdp=sdp), mem)
    # FP16 + FP16 is exact in FP32, so one rounding: IEEE's, then ReLU
    want = np.maximum((x.astype(np.float32) + r.astype(np.float32)).astype(F16), F16(0))
    assert np.array_equal(dst.read(mem, CFG)[:c], want[:c])


def test_fp16_conv_on_a_batch_is_each_sample():
    from nvdla_sim.floatpath.conv import accumulate
    rng = np.random.default_rng(19)
    layer, mem, x, wt, dst = conv_program(rng, c=20)
    batch = np.stack([x, -x, x * F16(0.5)])
    acc = accumulate(layer.conv, batch, wt, CFG)
    assert acc.shape == (3, 3, 4, 5)
    for i in range(3):
        assert np.array_equal(acc[i], accumulate(layer.conv, batch[i], wt, CFG))


def test_integer_sdp_with_a_float_output_is_refused():
    src = FeatureSurface.packed(0x1000, 2, 1, 4, CFG)
    dst = FeatureSurface.packed(0x2000, 2, 1, 4, CFG, precision=FP16)
    sdp = dataclasses.replace(build.sdp(width=2, height=1, channels=4, dst=dst, src=src),
                              out_precision=FP16.code)
    mem = Memory()
    src.write(mem, CFG, np.zeros((32, 1, 2), np.int8))
    with pytest.raises(LayerError, match="int8 processing with int8 input and fp16 output"):
        Executor(CFG).run(HardwareLayer("sdp", sdp=sdp), mem)


def test_fp16_sdp_prelu_max_and_operand_nan_flush():
    """PReLU passes a clear sign bit; an FP16 infinity input widens to FLT_MAX and narrows
    back to 65504; a NaN register operand is +0 under NAN_TO_ZERO (then MAX(x, 0))."""
    c, hh, ww = 1, 1, 4
    src = FeatureSurface.packed(0x1000, ww, hh, c, CFG, precision=FP16)
    dst = FeatureSurface.packed(0x2000, ww, hh, c, CFG, precision=FP16)
    bs = dataclasses.replace(build.bypass_x(), bypass=False, mul_bypass=False, mul_prelu=True,
                             mul_operand=field(0.25))
    bn = dataclasses.replace(build.bypass_x(), bypass=False, alu_bypass=False, alu_algo=0,
                             alu_operand=0x7E00 - (1 << 16))  # a NaN pattern
    sdp = dataclasses.replace(build.sdp(width=ww, height=hh, channels=c, dst=dst, src=src,
                                        bs=bs, bn=bn, prec=FP16), nan_to_zero=True)
    x = np.zeros((16, hh, ww), np.uint16)
    x[0, 0] = [h(3.0), h(-8.0), 0x7C00, h(-0.0)]
    mem = Memory()
    src.write(mem, CFG, x.view(F16))
    Executor(CFG).run(HardwareLayer("prelu", sdp=sdp), mem)
    # 3 passes; -8 * 0.25 = -2, MAX(-2, +0) = +0; inf -> FLT_MAX -> 65504; -0: sign set,
    # so multiplied: -0 * 0.25 = -0, and MAX(-0, +0) = +0
    assert to_bits(dst.read(mem, CFG)[:1, 0], FP16).tolist() == [[int(h(3.0)), 0, 0x7BFF, 0]]
