"""An INT16 convolution layer through the executor against a plain numpy evaluation."""

from __future__ import annotations

import dataclasses

import numpy as np

from compiler import descriptors as build
from nvdla_sim.config import NV_FULL
from nvdla_sim.executor import Executor, MemoryInputs
from nvdla_sim.layers import HardwareLayer
from nvdla_sim.memory import Memory
from nvdla_sim.precision import INT16
from nvdla_sim.surface import FeatureSurface, pack_weights
from nvdla_sim.units import convcore

CFG = NV_FULL


def rnd_away(x: np.ndarray, shift: int) -> np.ndarray:
    return np.sign(x) * ((np.abs(x) + (1 << shift >> 1)) >> shift)


def make_layer(rng, pad_value: int):
    c, h, w, k = 20, 5, 6, 18  # channels not a multiple of 16, kernels over one group
    src = FeatureSurface.packed(0x1000, w, h, c, CFG, precision=INT16)
    dst = FeatureSurface.packed(0x8000, w, h, k, CFG, precision=INT16)
    conv = build.conv_core(src=src, weight_address=0x20000, kernels=k, kernel_height=3,
                           kernel_width=3, stride=(1, 1), pads=(1, 1, 1, 1), dilation=(1, 1),
                           pad_value=pad_value, out_height=h, out_width=w, clip_truncate=16,
                           data_bank=1, weight_bank=1, cfg=CFG)
    conv = dataclasses.replace(conv, in_precision=1, proc_precision=1,
                               weight_bytes=2 * conv.weight_bytes,
                               byte_per_kernel=2 * conv.byte_per_kernel)
    sdp = dataclasses.replace(
        build.sdp(width=w, height=h, channels=k, dst=dst, cvt_offset=-300, cvt_scale=3,
                  cvt_shift=2), proc_precision=1, out_precision=1)
    x = rng.integers(-32768, 32768, (c, h, w), dtype=np.int16)
    wt = rng.integers(-32768, 32768, (k, c, 3, 3), dtype=np.int16)
    mem = Memory()
    src.write(mem, CFG, np.concatenate([x, np.zeros((32 - c, h, w), np.int16)]))
    mem.write(0x20000, pack_weights(wt, CFG, INT16))
    return HardwareLayer("conv16", conv=conv, sdp=sdp), mem, x, wt, dst


def reference(x, wt, pad_value, clip, offset, scale, shift):
    c, h, w = x.shape
    xp = np.full((c, h + 2, w + 2), pad_value, np.int64)
    xp[:, 1:-1, 1:-1] = x
    acc = np.zeros((wt.shape[0], h, w), np.int64)
    for dy in range(3):
        for dx in range(3):
            acc += np.einsum("kc,chw->khw", wt[:, :, dy, dx].astype(np.int64),
                             xp[:, dy:dy + h, dx:dx + w])
    y = np.clip(rnd_away(acc, clip), -(1 << 31), (1 << 31) - 1)
    t = np.clip(rnd_away((y - offset) * scale, shift), -(1 << 16), (1 << 16) - 1)
    return np.clip(t, -32768, 32767)


def test_int16_conv_layer_matches_numpy():
    rng = np.random.default_rng(16)
    layer, mem, x, wt, dst = make_layer(rng, pad_value=-1234 & 0xFFFF)
    Executor(CFG).run(layer, mem)
    out = dst.read(mem, CFG)[:18]
    expected = reference(x, wt, -1234, 16, -300, 3, 2)
    assert out.dtype == np.int16
    assert np.array_equal(out, expected)
    saturated = (expected == 32767) | (expected == -32768)
    assert saturated.any() and not saturated.all()


def test_int16_accumulation_in_hardware_order_agrees():
    """The saturating path (taken when 48 bits could overflow) adds in float64 too."""
    rng = np.random.default_rng(17)
    layer, mem, *_ = make_layer(rng, pad_value=0)
    ex = Executor(CFG)
    _, trace = ex.compute(layer, MemoryInputs(mem, CFG), keep=True)
    ops = trace.conv_operands
    assert np.array_equal(convcore._accumulate_in_order(layer.conv, ops, CFG),
                          convcore.accumulate(layer.conv, ops, CFG))
