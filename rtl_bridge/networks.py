"""Compiled networks the RTL cross-check runs on, with a seeded input.

* ``toy``: ``compiler.examples.toy_net()`` (conv+ReLU,
  depthwise, residual Add, global average pool, FC);
* ``shapes``: small graph built here to cover more layer shapes: 3 channel
  blocks (one partial), 2 kernel groups (one partial), stride 2 with
  asymmetric padding, dilation 2, 1x1, FC (1-pixel stripes), Clip and
  negative-clamp activations (SDP BN as MIN / MAX), residual Add;
* ``rounding``: ``toy`` with CACC CLIP_TRUNCATE and the SDP output
  converter's scale/shift changed per layer (BS rescaled to match), so
  CACC's and the converter's rounding paths run (the compiler leaves them
  trivial on small nets);
* ``prelu``: ``toy`` with PReLU on every active BN multiplier (positive
  values pass the multiplier and the truncation untouched), which the
  compiler never emits;
* ``bypass``: ``toy`` with the ALU of BS bypassed in every other SDP and the
  multiplier of BN bypassed in the others (NVDLA then has no such register),
  which the compiler never emits;
* ``lenet5``: the bundled trained LeNet-5 (``compiler.zoo``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from compiler.examples import Builder, toy_net
from compiler.zoo import lenet5_mnist_int8
from compiler.ir import RELU, Activation, Add, Graph
from compiler.lower import lower
from nvdla_sim.config import DEFAULT_CONFIG, HardwareConfig
from nvdla_sim.program import Program

NETWORKS = ("toy", "shapes", "rounding", "prelu", "bypass", "lenet5")


def shapes_net(seed: int = 7) -> Graph:
    b = Builder(seed)
    b.tensor("x", (20, 9, 9), 0.02, 5)
    b.tensor("c1", (12, 9, 9), 0.05, -128)
    b.tensor("c2", (8, 5, 5), 0.04, -100)
    b.tensor("c3", (16, 5, 5), 0.05, 10)
    b.tensor("c4", (8, 5, 5), 0.05, 3)
    b.tensor("c5", (8, 5, 5), 0.06, -7)
    b.tensor("a", (8, 5, 5), 0.07, -20)
    b.tensor("fc", (10, 1, 1), 0.1, 2)
    b.conv("c1", "x", "c1", 12, 3, pad=1, wscale=0.0004, activation=RELU, bias=3000)
    b.conv("c2", "c1", "c2", 8, 3, stride=2, pad=(1, 0, 1, 2), wscale=0.0048,
           activation=Activation(0.0, 3.0), bias=3000)
    b.conv("c3", "c2", "c3", 16, 3, pad=2, dilation=2, wscale=0.004,
           activation=Activation(-2.0, None), bias=3000)
    b.conv("c4", "c3", "c4", 8, 1, pad=0, wscale=0.016, bias=3000)
    b.conv("c5", "c3", "c5", 8, (1, 3), pad=(0, 1, 0, 1), wscale=0.008, bias=3000)
    b.add(Add("add", ("c4", "c5"), "a", activation=RELU))
    b.conv("fc", "a", "fc", 10, 5, pad=0, wscale=0.008, bias=3000)
    return b.graph("shapes", ["x"], ["fc"])


def _rounding_variant(program: Program, seed: int) -> Program:
    """Per conv layer a CLIP_TRUNCATE of 1..6 (SDP's shifts reduced to keep the scale);
    per SDP an output converter with scale ~ +-2**shift (shift 0..8) instead of 1 >> 0."""
    rng = np.random.default_rng(seed)
    layers = []
    for layer in program.layers:
        conv, sdp = layer.conv, layer.sdp
        if sdp is not None:
            bs, bn = sdp.bs, sdp.bn
            clip = int(rng.integers(1, 7))
            if conv is not None:
                # the accumulator shrinks by 2**clip: a multiplier stage shifts less to match
                if not bn.bypass and not bn.mul_bypass and bn.mul_shift >= clip:
                    bn = dataclasses.replace(bn, mul_shift=bn.mul_shift - clip)
                elif not bs.bypass and not bs.mul_bypass and bs.mul_shift >= clip:
                    bs = dataclasses.replace(bs, mul_shift=bs.mul_shift - clip)
                else:
                    clip = 0
                if not bs.bypass and not bs.alu_bypass:  # the bias is added before it
                    bs = dataclasses.replace(bs, alu_shift=max(0, bs.alu_shift - clip))
                conv = dataclasses.replace(conv, clip_truncate=clip)
            shift = int(rng.integers(0, 9))
            scale = int(round(2 ** shift * rng.uniform(0.7, 1.3))) * (-1 if rng.random() < 0.2
                                                                      else 1)
            sdp = dataclasses.replace(sdp, bs=bs, bn=bn, cvt_scale=scale, cvt_shift=shift)
        layers.append(dataclasses.replace(layer, conv=conv, sdp=sdp))
    return dataclasses.replace(program, layers=layers, name=f"{program.name}-rounding")


def _prelu_variant(program: Program) -> Program:
    layers = []
    for layer in program.layers:
        sdp = layer.sdp
        if sdp is not None and not sdp.bn.bypass and not sdp.bn.mul_bypass:
            sdp = dataclasses.replace(sdp, bn=dataclasses.replace(sdp.bn, mul_prelu=True))
        layers.append(dataclasses.replace(layer, sdp=sdp))
    return dataclasses.replace(program, layers=layers, name=f"{program.name}-prelu")


def _bypass_variant(program: Program) -> Program:
    layers, k = [], 0
    for layer in program.layers:
        sdp = layer.sdp
        if sdp is not None:
            bs, bn = sdp.bs, sdp.bn
            if k % 2 == 0 and not bs.bypass:
                bs = dataclasses.replace(bs, alu_bypass=True)
            elif k % 2 == 1 and not bn.bypass:
                bn = dataclasses.replace(bn, mul_bypass=True, mul_shift=0)
            sdp = dataclasses.replace(sdp, bs=bs, bn=bn)
            k += 1
        layers.append(dataclasses.replace(layer, sdp=sdp))
    return dataclasses.replace(program, layers=layers, name=f"{program.name}-bypass")


def load_network(name: str, config: HardwareConfig | None = None, seed: int = 0
                 ) -> tuple[Program, np.ndarray]:
    """(compiled program, int8 input) for one of :data:`NETWORKS`."""
    cfg = config or DEFAULT_CONFIG
    if name == "toy":
        program = lower(toy_net(), cfg)
    elif name == "shapes":
        program = lower(shapes_net(), cfg)
    elif name == "rounding":
        program = _rounding_variant(lower(toy_net(), cfg), seed + 1)
    elif name == "prelu":
        program = _prelu_variant(lower(toy_net(), cfg))
    elif name == "bypass":
        program = _bypass_variant(lower(toy_net(), cfg))
    elif name == "lenet5":
        program = lower(lenet5_mnist_int8(), cfg)
    else:
        raise ValueError(f"unknown network {name!r}; expected one of {', '.join(NETWORKS)}")
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, program.inputs[0].shape).astype(np.int8)
    return program, x

