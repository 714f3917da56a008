"""Tiny programs to inject faults into (compiled with the toy-graph builder).

``small_net``: layer 0 conv 3x3 pad 1 on 12x5x7 (2 channel blocks, the last
partial; 11 kernels: 2 kernel groups, the last short; 35 pixels: stripes
16, 8, 11), layer 1 conv 3x3 stride 2, pads top/left only, CLIP_TRUNCATE 3
(6 pixels: one stripe shorter than atom_k), layer 2 max pool 3x3 s1 p1 and
layer 3 average pool 3x3 s2 p1 (PDP from memory, non-zero pad value),
layer 4 an Add (SDP from memory, BS with a register operand, BN with a
per-element operand from memory and ReLU).  Input zero point 7: the
convolution pad value is non-zero.  Weights and inputs contain zeros.

``flying_net``: layer 1's convolution with SDP streaming to an average pool on
the fly (PDP behind SDP), its BN stage bypassed.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from compiler import descriptors
from compiler.ir import RELU, Add, Conv, Pool
from compiler.lower import lower
from nvdla_sim.layers import POOL_AVERAGE, HardwareLayer
from nvdla_sim.program import LayerInfo, Program, TensorBinding
from nvdla_sim.surface import FeatureSurface
from compiler.examples import Builder

IN_SHAPE = (12, 5, 7)
CONV2_CLIP = 3


def _sparse_weights(rng, shape, zero_fraction=0.25):
    w = rng.integers(-127, 128, shape, dtype=np.int8)
    w[rng.random(shape) < zero_fraction] = 0
    return w


def small_net(seed: int = 5) -> Program:
    b = Builder(seed)
    rng = np.random.default_rng(seed + 100)
    b.tensor("x", IN_SHAPE, 0.02, 7)
    b.tensor("c1", (11, 5, 7), 0.05, -3)
    b.tensor("c2", (11, 2, 3), 0.05, 4)
    b.tensor("mp", (11, 5, 7), 0.05, -3)
    b.tensor("av", (11, 3, 4), 0.05, -3)
    b.tensor("a", (11, 5, 7), 0.07, -5)
    b.add(Conv("conv1", ("x",), "c1", weight=_sparse_weights(rng, (11, 12, 3, 3)),
               weight_scale=0.002 * rng.uniform(0.5, 1.5, 11),
               bias=rng.integers(-2000, 2000, 11), pads=(1, 1, 1, 1), activation=RELU))
    b.add(Conv("conv2", ("c1",), "c2", weight=_sparse_weights(rng, (11, 11, 3, 3)),
               weight_scale=0.002 * rng.uniform(0.5, 1.5, 11),
               bias=rng.integers(-2000, 2000, 11), stride=(2, 2), pads=(1, 1, 0, 0)))
    b.add(Pool("maxpool", ("c1",), "mp", kind="max", kernel=(3, 3), stride=(1, 1),
               pads=(1, 1, 1, 1)))
    b.add(Pool("avgpool", ("c1",), "av", kind="avg", kernel=(3, 3), stride=(2, 2),
               pads=(1, 1, 1, 1), count_include_pad=True))
    b.add(Add("add", ("c1", "mp"), "a", activation=RELU))
    prog = lower(b.graph("faults_small", ["x"], ["c2", "av", "a"]))
    layers = list(prog.layers)
    conv2 = layers[1]
    layers[1] = dataclasses.replace(conv2, conv=dataclasses.replace(conv2.conv,
                                                                    clip_truncate=CONV2_CLIP))
    # what the tests rely on (the compiler's choices could change)
    assert [layer.kind for layer in layers] == ["conv", "conv", "pdp", "pdp", "sdp"]
    assert layers[0].conv.pad_value != 0 and layers[1].conv.pad_value != 0
    add = layers[4].sdp
    assert not add.flying and not add.bs.bypass and not add.bn.bypass and add.bn.alu_src == 1
    return dataclasses.replace(prog, layers=layers)


def sample_input(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, IN_SHAPE).astype(np.int8)
    x[rng.random(IN_SHAPE) < 0.2] = 0
    return x


def flying_net(small: Program) -> Program:
    """Layer 1 of ``small`` (conv2) with its SDP output pooled on the fly (avg 3x3 s1 p1)."""
    cfg = small.config
    conv_layer = small.layers[1]
    c2 = small.tensors["c2"]
    end = max(t.surface.address + t.surface.span(cfg) for t in small.tensors.values())
    end = max([end] + [a + d.size for a, d in small.image])
    dst = FeatureSurface.packed(-(-end // 4096) * 4096 + 4096, c2.surface.width,
                                c2.surface.height, c2.surface.channels, cfg)
    pdp = descriptors.pdp(src=None, in_height=c2.surface.height, in_width=c2.surface.width,
                          dst=dst, method=POOL_AVERAGE, kernel=(3, 3), stride=(1, 1),
                          pads=(1, 1, 1, 1), pad_value=c2.zero_point)
    # BN bypassed here whatever the compiler does: "a bypassed stage has no live registers"
    sdp = dataclasses.replace(conv_layer.sdp, output_to_pdp=True, dst_address=0,
                              dst_line_stride=0, dst_surface_stride=0,
                              bn=dataclasses.replace(conv_layer.sdp.bn, bypass=True))
    layer = HardwareLayer("conv2+avgpool", conv=conv_layer.conv, sdp=sdp, pdp=pdp)
    out = TensorBinding("pooled", dst, c2.scale, c2.zero_point)
    return Program(config=cfg, layers=[layer],
                   info=[LayerInfo("conv2+avgpool", "conv2", "conv", "pooled")],
                   image=list(small.image), inputs=[small.tensors["c1"]], outputs=[out],
                   tensors={"c1": small.tensors["c1"], "pooled": out}, name="faults_flying")
