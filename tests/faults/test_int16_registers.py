"""Datapath-register faults on nv_full's INT16 datapath (LeNet-5 with random weights).

* The fault model's registers hold the golden executor's values: with an all-zero
  fault mask (``bits = 0``) every register kind's layer output, recomputed through the
  fault model (the whole layer for stuck-at, element or accumulator for upsets,
  re-accumulated in hardware order), is the golden one, unchanged.
* A CMAC data-register flip changes exactly the partial sum computed by hand from the
  layer's operands: 16-bit lanes, 16 MAC cells (one kernel each), 48-bit accumulation.
* Campaign injections (batched, as campaigns run them) give exactly the outputs of a
  naive re-inference, for every register kind and fault model.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from nvdla_sim.arith import sx
from nvdla_sim.campaign.config import CampaignConfig
from nvdla_sim.campaign.space import SiteSpace
from nvdla_sim.faults.conv import ConvFaults
from nvdla_sim.faults.injector import FaultInjector, _gather
from nvdla_sim.faults.naive import NaiveInjector
from nvdla_sim.faults.site import FaultSite
from nvdla_sim.precision import INT16
from nvdla_sim.timing.conv import DAT_ACTV
from nvdla_sim.units import cacc, csc
from nvdla_sim.units import sdp as sdp_unit

MODEL = "zoo:lenet5:random"


@pytest.fixture(scope="module")
def net():
    from nvdla_sim.campaign.setup import build_workload
    workload = build_workload(CampaignConfig(model=MODEL, precision="int16",
                                             hardware="nv_full", dataset="random", images=2))
    assert workload.program.config.prec is INT16
    inj = FaultInjector(workload.program)
    return workload, inj, [inj.golden(x) for x in workload.inputs]


def _golden_out(layer, trace) -> np.ndarray:
    return trace.pdp_out if layer.pdp is not None else trace.sdp_out


def test_catalogue_widths_reach_the_fault_model(net):
    """ConvFaults reads INT16's widths and cells from the register catalogue."""
    workload, inj, goldens = net
    faults = inj._conv_faults(0, goldens[0].traces[0], None)
    regs = {r.name: r for r in inj.schedules[0].registers}
    assert (faults.lane_bits, faults.acc_bits, faults.cells) == (
        INT16.bits, INT16.acc_bits, regs["cmac.dat_actv"].instances)
    assert regs["cmac.dat_actv"].lanes == workload.program.config.atom_c
    assert faults.data.dtype == faults.weights.dtype == INT16.dtype


@pytest.mark.parametrize("model", ["stuck0", "stuck1"])
def test_zero_mask_stuck_at_gives_the_golden_layer(net, model):
    """Every register of every layer, the whole layer recomputed with nothing forced."""
    workload, inj, goldens = net
    golden = goldens[0]
    checked = set()
    for i, (layer, sched) in enumerate(zip(workload.program.layers, inj.schedules)):
        trace = golden.traces[i]
        for reg in sched.registers:
            for instance in sorted({0, reg.instances - 1}):
                site = FaultSite(i, reg.name, instance, 0, model=model, bits=0)
                effect = inj.layer_effect(site, i, trace)
                if effect is None:  # a bypassed SDP stage: its registers hold nothing
                    continue
                assert effect.changed == 0, site.describe()
                assert np.array_equal(effect.writes[0][1], _golden_out(layer, trace)), \
                    site.describe()
                checked.add(reg.name)
    assert {"cmac.dat_actv", "cmac.wt_actv", "cmac.sum_out", "cacc.sum", "cacc.abuf",
            "cacc.out", "sdp.in", "sdp.out", "pdp.in", "pdp.acc", "pdp.out"} <= checked


def test_zero_mask_upsets_give_the_golden_layer(net, monkeypatch):
    """Upsets at live cycles, every register kind, re-accumulated in hardware order from
    the fault model's own operands (not golden + change)."""
    monkeypatch.setattr(ConvFaults, "_linear", lambda self, excess: False)
    workload, inj, goldens = net
    golden = goldens[1]
    space = SiteSpace(inj.schedules)
    rng = np.random.default_rng(5)
    live: dict[str, int] = {}
    for name, blocks in space.strata("register").items():
        ids = space.sample(rng.random(300), rng.integers(0, 2**63, 300).astype(np.uint64),
                           blocks)
        for site in space.sites(ids):
            site = FaultSite(site.layer, site.register, site.instance, site.bit, site.cycle,
                             bits=0)
            trace = golden.traces[site.layer]
            effect = inj.layer_effect(site, site.layer, trace)
            if effect is None:
                continue
            layer = workload.program.layers[site.layer]
            assert effect.changed == 0, site.describe()
            assert np.array_equal(effect.writes[0][1], _golden_out(layer, trace)), \
                site.describe()
            live[name] = live.get(name, 0) + 1
    assert set(live) >= {"cmac.dat_in", "cmac.dat_actv", "cmac.wt_actv", "cmac.wt_sd",
                         "cmac.sum_out", "cmac.mac_out", "cacc.sum", "cacc.abuf",
                         "sdp.in", "sdp.out", "pdp.in", "pdp.out"}, live


@pytest.mark.parametrize("index", [2, 5], ids=["conv2_taps", "fc2_groups_blocks"])
def test_data_flip_matches_the_partial_sum_by_hand(net, index):
    """A flip of one 16-bit lane of a cell's data register changes that kernel's output
    element by (flipped - data) * weight, accumulated at 48 bits, rounded, through SDP
    (conv2: 25 taps; fc2: 84 kernels in 6 groups of 16 cells, 120 channels in 2 blocks)."""
    workload, inj, goldens = net
    golden = goldens[0]
    layer, sched = workload.program.layers[index], inj.schedules[index]
    trace, conv = golden.traces[index], layer.conv
    cfg = workload.program.config
    cells = sched.register("cmac.dat_actv").instances
    win = csc.windows(conv, trace.conv_operands.data).astype(np.int64)  # [C, R, S, Ho, Wo]
    weights = trace.conv_operands.weights.astype(np.int64)  # [K, C, R, S]
    ops = sched.conv.ops
    taps = conv.in_channels * conv.kernel_height * conv.kernel_width
    assert cacc.accumulation_is_safe(taps + 1, INT16)  # no step saturates: golden + change
    rng = np.random.default_rng(2)
    changed = hit = 0
    for _ in range(60):
        s = int(rng.integers(ops["start"].size))
        j = int(rng.integers(ops["length"][s]))
        cell, bit = int(rng.integers(cells)), int(rng.integers(INT16.bits))
        lane = int(rng.integers(min(cfg.atom_c, conv.in_channels)))  # real channels
        site = FaultSite(index, "cmac.dat_actv", cell, lane * INT16.bits + bit,
                         int(ops["start"][s]) + j + DAT_ACTV)
        effect = inj.layer_effect(site, index, trace)
        kernel = int(ops["group"][s]) * cells + cell
        pixel = int(ops["first"][s]) + j
        channel = int(ops["block"][s]) * cfg.atom_c + lane
        y, x = divmod(int(ops["tap"][s]), conv.kernel_width)
        oy, ox = divmod(pixel, conv.out_width)
        want = trace.sdp_out.copy()
        if kernel < conv.kernels and channel < conv.in_channels:
            d, w = int(win[channel, y, x, oy, ox]), int(weights[kernel, channel, y, x])
            hit += bool(d and w)
            if d and w:  # zero lanes are gated off
                flipped = int(sx(d & 0xFFFF ^ (1 << bit), INT16.bits))
                acc = trace.accumulator[kernel, oy, ox] + (flipped - d) * w
                x_in = cacc.truncate(np.array([acc]), conv.clip_truncate)
                flat = np.array([np.ravel_multi_index((kernel, oy, ox), want.shape)])
                ops_at = [_gather(o, flat, trace.sdp_in.shape) for o in trace.sdp_operands]
                want.reshape(-1)[flat] = sdp_unit.process(x_in, layer.sdp, *ops_at)
        got = trace.sdp_out if effect is None else effect.writes[0][1]
        assert np.array_equal(got, want), site.describe()
        changed += not np.array_equal(want, trace.sdp_out)
    assert hit > 20 and changed > 5


@pytest.mark.parametrize("model, bits", [("flip", 1), ("flip", 3), ("stuck0", 1),
                                         ("stuck1", 2)])
def test_injections_equal_naive_reinference(net, model, bits):
    """Every register kind, drawn as a register-stratified campaign draws, batched."""
    workload, inj, goldens = net
    naive = NaiveInjector(workload.program)
    space = SiteSpace(inj.schedules, model, bits)
    rng = np.random.default_rng(17)
    items = []
    for blocks in space.strata("register").values():
        ids = space.sample(rng.random(6), rng.integers(0, 2**63, 6).astype(np.uint64), blocks)
        items += [(site, int(rng.integers(len(goldens)))) for site in space.sites(ids)]
    results = inj.run_many([(site, goldens[i]) for site, i in items])
    corrupted = 0
    for (site, i), result in zip(items, results):
        want = naive.run(site, workload.inputs[i])
        assert all(np.array_equal(a, b) for a, b in zip(result.outputs, want)), \
            site.describe()
        corrupted += not all(np.array_equal(a, b) for a, b in zip(want, goldens[i].outputs))
    assert len({site.register for site, _ in items}) == len(space.strata("register"))
    assert corrupted > 0


def test_int16_register_campaign_from_the_command_line(tmp_path, monkeypatch, capsys):
    from nvdla_sim.cli import main
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "c16.h5"
    assert main(["campaign", "--precision", "int16", "--fault-model", "flip", "--images", "2",
                 "--dataset", "random", "--model", MODEL, "--injections", "300", "--quiet",
                 "--no-report", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "per bit of the INT16 activations and weights held" in text and "15 (sign)" in text
    with h5py.File(out) as f:
        rows = f["injections"][...]
        registers = [r.decode() for r in f["registers"][...]]
    assert rows.size == 300 and rows["live"].any() and (rows["changed"] > 0).any()
    assert "cacc.abuf" in registers and rows["bit"].max() >= INT16.acc_bits - 8


def test_int16_run_level_stuck_at(net):
    """A stuck-at over the whole run (every layer using the register) at INT16."""
    workload, inj, goldens = net
    space = SiteSpace(inj.schedules, "stuck1", 1, run_level=True)
    sites = [FaultSite(-1, "sdp.out", 0, INT16.bits - 2, model="stuck1"),
             FaultSite(-1, "cacc.abuf", 3, INT16.acc_bits - 3, model="stuck1")]
    assert all(space.site_id(s) >= 0 for s in sites)
    for site in sites:
        result = inj.run(site, goldens[0])
        assert result.effect is not None
        assert not all(np.array_equal(a, b) for a, b in zip(result.outputs,
                                                             goldens[0].outputs))
