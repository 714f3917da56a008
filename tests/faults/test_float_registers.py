"""Datapath-register faults on the float datapaths (nv_full's FP16, the FP32 reference),
LeNet-5 with random weights.

* An all-zero fault mask gives every register's layer output back unchanged, recomputed
  through the float fault model (CMAC atomic sums and CACC adds of
  :mod:`nvdla_sim.floatpath` in CSC's order) for stuck-at and live upsets.
* On a 1x1 layer every data lane is used once per kernel, so a data-register flip equals
  the convolution unit run on the input with that element's bit flipped, for that kernel.
* Injections (batched) give exactly the outputs of a naive re-inference.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from nvdla_sim.campaign.config import CampaignConfig
from nvdla_sim.campaign.space import SiteSpace
from nvdla_sim.faults.injector import FaultInjector, _differs, _gather
from nvdla_sim.faults.naive import NaiveInjector
from nvdla_sim.faults.site import FaultSite
from nvdla_sim.floatpath import conv as float_conv
from nvdla_sim.floatpath import from_bits, to_bits
from nvdla_sim.precision import FP32, get_precision
from nvdla_sim.timing.conv import DAT_ACTV
from nvdla_sim.units import sdp as sdp_unit

MODEL = "zoo:lenet5:random"
LAYERS = (1, 5)  # pool1 (PDP from memory) and fc2 (1x1 convolution + SDP)


@pytest.fixture(scope="module", params=["fp32", "fp16"])
def net(request):
    from nvdla_sim.campaign.setup import build_workload
    workload = build_workload(CampaignConfig(model=MODEL, precision=request.param,
                                             hardware="nv_full", dataset="random", images=1))
    inj = FaultInjector(workload.program)
    return get_precision(request.param), workload, inj, inj.golden(workload.inputs[0])


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and not _differs(a, b).any()


def _golden_out(layer, trace) -> np.ndarray:
    return trace.pdp_out if layer.pdp is not None else trace.sdp_out


def test_zero_mask_gives_the_golden_layer(net):
    prec, workload, inj, golden = net
    rng = np.random.default_rng(1)
    space = SiteSpace(inj.schedules)
    checked, live = set(), set()
    for index in LAYERS:
        layer, trace = workload.program.layers[index], golden.traces[index]
        want = _golden_out(layer, trace)
        for reg in inj.schedules[index].registers:
            effect = inj.layer_effect(FaultSite(index, reg.name, reg.instances - 1, 0,
                                                model="stuck1", bits=0), index, trace)
            if effect is not None:
                assert effect.changed == 0 and _same(effect.writes[0][1], want), reg.name
                checked.add(reg.name)
        blocks = [b for b, block in enumerate(space.blocks) if block.layer == index]
        ids = np.concatenate([space.sample(rng.random(80), rng.integers(
            0, 2**63, 80).astype(np.uint64), [b]) for b in blocks])  # 80 per register
        for site in space.sites(ids):
            site = FaultSite(index, site.register, site.instance, site.bit, site.cycle, bits=0)
            effect = inj.layer_effect(site, index, trace)
            if effect is not None:
                assert effect.changed == 0 and _same(effect.writes[0][1], want), \
                    site.describe()
                live.add(site.register)
    conv = {"cmac.dat_in", "cmac.dat_actv", "cmac.wt_sd", "cmac.wt_actv", "cmac.sum_out",
            "cmac.mac_out", "cacc.sum", "cacc.out"}
    assert conv | {"cacc.abuf", "sdp.in", "sdp.out", "pdp.in", "pdp.acc", "pdp.out"} <= checked
    assert conv - {"cacc.out"} | {"sdp.in", "sdp.out", "pdp.in"} <= live


def test_data_flip_on_a_1x1_layer_is_the_input_element_flipped(net):
    """fc2: one pixel, one tap; lane l of the data atom is input channel block*lanes + l."""
    prec, workload, inj, golden = net
    index = 5
    layer, sched, trace = (workload.program.layers[index], inj.schedules[index],
                           golden.traces[index])
    conv, ops, cfg = layer.conv, sched.conv.ops, workload.program.config
    lanes, cells = sched.conv.lanes, sched.conv.cells
    assert conv.kernel_height * conv.kernel_width * conv.out_height * conv.out_width == 1
    data, weights = trace.conv_operands.data, trace.conv_operands.weights
    rng = np.random.default_rng(4)
    changed = 0
    for _ in range(12):
        s = int(rng.integers(ops["start"].size))
        cell = int(rng.integers(cells))
        lane = int(rng.integers(min(lanes, conv.in_channels - int(ops["block"][s]) * lanes)))
        bit = int(rng.integers(prec.bits))
        site = FaultSite(index, "cmac.dat_actv", cell, lane * prec.bits + bit,
                         int(ops["start"][s]) + DAT_ACTV)
        effect = inj.layer_effect(site, index, trace)
        kernel = int(ops["group"][s]) * cells + cell
        channel = int(ops["block"][s]) * lanes + lane
        want = trace.sdp_out.copy()
        value = to_bits(data[channel], prec)
        if kernel < conv.kernels and (value & ((1 << (prec.bits - 1)) - 1)).any():
            flipped = data.copy()
            flipped[channel] = from_bits(value ^ (1 << bit), prec)
            one = dataclasses.replace(conv, kernels=1)  # kernel ``kernel`` alone
            acc = float_conv.accumulate(one, flipped, weights[kernel:kernel + 1], cfg)
            x = float_conv.to_sdp(one, acc, cfg)[:1]
            flat = np.array([kernel])
            ops_at = [_gather(o, flat, trace.sdp_in.shape) for o in trace.sdp_operands]
            want.reshape(-1)[kernel] = sdp_unit.process(x.reshape(-1), layer.sdp, *ops_at)[0]
        got = trace.sdp_out if effect is None else effect.writes[0][1]
        assert _same(got, want), site.describe()
        changed += not _same(want, trace.sdp_out)
    assert changed > 0


def test_injections_equal_naive_reinference(net):
    """Sites of every register kind, all layers, flips and stuck-ats, batched as campaigns
    run them; at FP16 (a re-inference takes seconds) flips, and per unit only the first
    site that changed its layer's output is re-inferred."""
    prec, workload, inj, golden = net
    naive = NaiveInjector(workload.program)
    rng = np.random.default_rng(9)
    items = []
    for model in ("flip", "stuck1") if prec is FP32 else ("flip",):
        space = SiteSpace(inj.schedules, model)
        for blocks in space.strata("register").values():
            ids = space.sample(rng.random(4), rng.integers(0, 2**63, 4).astype(np.uint64),
                               blocks)
            items += space.sites(ids)
    results = inj.run_many([(site, golden) for site in items])
    chosen, seen = [], set()
    for site, result in zip(items, results):
        changed = bool(result.effect and result.effect.changed)
        if prec is FP32 or (changed and site.unit not in seen):
            chosen.append((site, result))
            seen.add(site.unit)
    corrupted = 0
    for site, result in chosen:
        want = naive.run(site, workload.inputs[0])
        assert all(_same(a, b) for a, b in zip(result.outputs, want)), site.describe()
        corrupted += not all(_same(a, b) for a, b in zip(want, golden.outputs))
    assert corrupted > 0 and {site.unit for site, _ in chosen} == {"cmac", "cacc", "sdp",
                                                                     "pdp"}


def test_fp32_register_campaign_from_the_command_line(tmp_path, monkeypatch, capsys):
    import h5py

    from nvdla_sim.cli import main
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "c32.h5"
    assert main(["campaign", "--precision", "fp32", "--fault-model", "flip", "--images", "1",
                 "--dataset", "random", "--model", MODEL, "--injections", "200", "--quiet",
                 "--no-report", "--out", str(out)]) == 0
    assert "per bit of the FP32 activations and weights held" in capsys.readouterr().out
    with h5py.File(out) as f:
        rows = f["injections"][...]
    assert rows.size == 200 and rows["live"].any() and rows["bit"].max() >= 24
