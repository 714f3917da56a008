"""The FP32 reference datapath (not an NVDLA precision): register programs through the executor."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from compiler import descriptors as build
from nvdla_sim.config import NV_FULL
from nvdla_sim.errors import LayerError
from nvdla_sim.executor import Executor
from nvdla_sim.floatpath.conv import pairwise_sum
from nvdla_sim.layers import POOL_AVERAGE, POOL_MAX, HardwareLayer, decode_layer, encode_layer
from nvdla_sim.memory import Memory
from nvdla_sim.precision import FP32, from_code
from nvdla_sim.registers import LutTables
from nvdla_sim.surface import FeatureSurface, pack_weights

CFG = NV_FULL.replace(precision="fp32")
F16 = np.float16


def fp16_field(x: float) -> int:
    """A 16-bit register field holding an FP16 pattern, as the signed descriptor value."""
    bits = int(np.array(x, F16).view(np.uint16))
    return bits - (1 << 16) if bits >> 15 else bits


def conv_layer(rng, c=40, h=5, w=6, k=20, pad=-0.5, bias=None, scale=None, relu=False):
    src = FeatureSurface.packed(0x1000, w, h, c, CFG, precision=FP32)
    dst = FeatureSurface.packed(0x40000, w, h, k, CFG, precision=FP32)
    conv = build.conv_core(src=src, weight_address=0x80000, kernels=k, kernel_height=3,
                           kernel_width=3, stride=(1, 1), pads=(1, 1, 1, 1), dilation=(1, 1),
                           pad_value=fp16_field(pad), out_height=h, out_width=w,
                           clip_truncate=0, data_bank=1, weight_bank=1, cfg=CFG)
    bs = None
    if bias is not None or scale is not None:
        bs = dataclasses.replace(
            build.bypass_x(), bypass=False, alu_bypass=bias is None, alu_algo=2,
            alu_operand=fp16_field(bias or 0.0), mul_bypass=scale is None,
            mul_operand=fp16_field(scale or 1.0), relu_bypass=not relu)
    sdp = build.sdp(width=w, height=h, channels=k, dst=dst, bs=bs, prec=FP32)
    x = rng.standard_normal((c, h, w)).astype(np.float32)
    wt = (rng.standard_normal((k, c, 3, 3)) / 8).astype(np.float32)
    mem = Memory()
    src.write(mem, CFG, np.concatenate([x, np.zeros((-c % 8, h, w), np.float32)]))
    mem.write(0x80000, pack_weights(wt, CFG, FP32))
    return HardwareLayer("conv32", conv=conv, sdp=sdp), mem, x, wt, dst


def reference(x, wt, pad):
    c, h, w = x.shape
    xp = np.full((c, h + 2, w + 2), pad, np.float64)
    xp[:, 1:-1, 1:-1] = x
    acc = np.zeros((wt.shape[0], h, w))
    for dy in range(3):
        for dx in range(3):
            acc += np.einsum("kc,chw->khw", wt[:, :, dy, dx].astype(np.float64),
                             xp[:, dy:dy + h, dx:dx + w])
    return acc


def test_code_three_is_the_fp32_reference():
    assert FP32.code == 3 and from_code(3, "X") is FP32 and FP32.reference_only
    assert CFG.mac_channels(FP32) == 32 and CFG.kernel_group(FP32) == 16
    assert CFG.atom_channels(FP32) == 8


def test_fp32_conv_matches_float64_within_accumulation_error():
    rng = np.random.default_rng(32)
    layer, mem, x, wt, dst = conv_layer(rng)
    Executor(CFG).run(layer, mem)
    out = dst.read(mem, CFG)[:20].astype(np.float64)
    want = reference(x, wt, -0.5)
    # 360 products per output, |terms| summed: binary32 error below n * eps * sum|terms|
    bound = 360 * 2.0 ** -24 * reference(np.abs(x), np.abs(wt), 0.5)
    assert np.all(np.abs(out - want) <= bound) and not np.array_equal(out, want)
    assert np.abs(out - want).max() < 1e-5


def test_fp32_conv_follows_the_documented_order_exactly():
    """Products rounded to binary32, 32-lane pairwise trees, CACC in CSC order."""
    rng = np.random.default_rng(33)
    layer, mem, x, wt, dst = conv_layer(rng, c=40, h=3, w=2, k=3)
    Executor(CFG).run(layer, mem)
    out = dst.read(mem, CFG)[:3]
    xp = np.full((40, 5, 4), np.float32(-0.5), np.float32)
    xp[:, 1:-1, 1:-1] = x
    acc = np.zeros((3, 6), np.float32)
    for b in (0, 32):  # channel blocks of 32, then kernel row, kernel column
        for dy in range(3):
            for dx in range(3):
                lanes = np.zeros((3, 32, 6), np.float32)
                n = min(32, 40 - b)
                d = xp[b:b + n, dy:dy + 3, dx:dx + 2].reshape(n, 6)
                lanes[:, :n] = wt[:, b:b + n, dy, dx, None] * d[None]
                acc = acc + pairwise_sum(lanes)
    assert np.array_equal(out.reshape(3, 6), acc)


def test_fp32_sdp_bias_scale_relu():
    rng = np.random.default_rng(34)
    layer, mem, x, wt, dst = conv_layer(rng, bias=0.25, scale=-1.5, relu=True)
    Executor(CFG).run(layer, mem)
    out = dst.read(mem, CFG)[:20]
    ref = Executor(CFG)
    plain, mem2, *_ = conv_layer(np.random.default_rng(34))
    ref.run(plain, mem2)
    acc = dst.read(mem2, CFG)[:20]
    want = np.maximum((acc + np.float32(0.25)) * np.float32(-1.5), np.float32(0))
    assert np.array_equal(out, want) and (out == 0).any() and (out > 0).any()


def test_fp32_layer_round_trips_registers_and_refuses_other_configs():
    rng = np.random.default_rng(35)
    layer, mem, *_ = conv_layer(rng)
    words = encode_layer(layer)
    assert words[("CSC", "D_MISC_CFG")] >> 12 & 3 == 3  # PROC_PRECISION = 3
    tables = {"SDP": LutTables(), "CDP": LutTables()}
    back = decode_layer(set(layer.units), lambda u, r: words.get((u, r), 0), tables)
    assert back.conv == layer.conv and back.sdp.proc_prec is FP32
    with pytest.raises(LayerError, match="needs a configuration whose precision is fp32"):
        Executor(NV_FULL).run(layer, mem)


@pytest.mark.parametrize("method", [POOL_MAX, POOL_AVERAGE])
def test_fp32_pdp(method):
    rng = np.random.default_rng(36)
    c, h, w = 10, 6, 7
    src = FeatureSurface.packed(0x1000, w, h, c, CFG, precision=FP32)
    dst = FeatureSurface.packed(0x20000, 3, 3, c, CFG, precision=FP32)
    pdp = build.pdp(src=src, in_height=h, in_width=w, dst=dst, method=method, kernel=(2, 3),
                    stride=(2, 2), pads=(0, 0, 0, 0), pad_value=0)
    x = rng.standard_normal((16, h, w)).astype(np.float32)
    mem = Memory()
    src.write(mem, CFG, x)
    Executor(CFG).run(HardwareLayer("pool", pdp=pdp), mem)
    out = dst.read(mem, CFG)
    win = np.stack([x[:, 2 * i:2 * i + 2, 2 * j:2 * j + 3] for i in range(3) for j in range(3)])
    if method == POOL_MAX:
        want = win.max(axis=(2, 3))
    else:
        rows = [sum_in_order(win[:, :, r, :]) for r in range(2)]
        want = ((rows[0] + rows[1]) * np.float32(1 / 3)) * np.float32(1 / 2)
    assert np.array_equal(out, want.T.reshape(16, 3, 3))


def sum_in_order(a: np.ndarray) -> np.ndarray:
    s = a[..., 0]
    for i in range(1, a.shape[-1]):
        s = s + a[..., i]
    return s


def test_fp32_sdp_from_memory_with_binary32_operand_stream():
    """Per-kernel ALU and MUL operands, 4-byte binary32 each (DATA_USE both, DATA_SIZE 1)."""
    c, h, w = 10, 2, 3
    src = FeatureSurface.packed(0x1000, w, h, c, CFG, precision=FP32)
    dst = FeatureSurface.packed(0x4000, w, h, c, CFG, precision=FP32)
    dma = build.per_kernel_dma(0x9000, data_use=2, two_bytes=True)
    bs = dataclasses.replace(build.bypass_x(), bypass=False, alu_bypass=False, alu_algo=2,
                             alu_src=1, mul_bypass=False, mul_src=1, dma=dma)
    bn = dataclasses.replace(build.bypass_x(), bypass=False, alu_bypass=False, alu_algo=0,
                             alu_operand=fp16_field(-0.125), relu_bypass=True)
    sdp = build.sdp(width=w, height=h, channels=c, dst=dst, src=src, bs=bs, bn=bn, prec=FP32)
    rng = np.random.default_rng(37)
    x = rng.standard_normal((16, h, w)).astype(np.float32)
    alu = rng.standard_normal(16).astype(np.float32)
    mul = rng.standard_normal(16).astype(np.float32)
    mem = Memory()
    src.write(mem, CFG, x)
    mem.write(0x9000, np.stack([alu, mul], axis=1).reshape(-1).view(np.uint8))
    Executor(CFG).run(HardwareLayer("sdp", sdp=sdp), mem)
    want = np.maximum((x + alu[:, None, None]) * mul[:, None, None], np.float32(-0.125))
    assert np.array_equal(dst.read(mem, CFG)[:10], want[:10])


def test_fp32_taps_see_bit_patterns():
    """A tap gets binary32 patterns; flipping the sign bit of ``in`` negates the result."""
    from nvdla_sim.floatpath import sdp as float_sdp
    from nvdla_sim.units.sdp_rdma import Operands
    rng = np.random.default_rng(38)
    layer, *_ = conv_layer(rng, bias=0.5)
    x = np.array([1.5, -2.0, 3.25], np.float32).view(np.uint32).astype(np.int64)
    seen = {}

    def tap(name, value):
        seen[name] = np.asarray(value)
        return value ^ (1 << 31) if name == "in" else value
    none = Operands(None, None)
    out = float_sdp.process(x, layer.sdp, none, none, tap)
    assert seen["in"].tolist() == x.tolist() and set(seen) == {"in", "bs_alu", "bs_out", "out"}
    assert out.tolist() == [-1.0, 2.5, -2.75]


def test_fp32_conv_on_a_batch_is_each_sample():
    from nvdla_sim.floatpath.conv import accumulate
    rng = np.random.default_rng(39)
    layer, mem, x, wt, dst = conv_layer(rng, c=12, k=5)
    batch = np.stack([x, x * np.float32(-3)])
    acc = accumulate(layer.conv, batch, wt, CFG)
    assert acc.shape == (2, 5, 5, 6)
    assert all(np.array_equal(acc[i], accumulate(layer.conv, batch[i], wt, CFG)) for i in (0, 1))
