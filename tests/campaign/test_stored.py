"""Stored-value flips (one per inference in a weight or an activation) against a plain
re-run of the whole network with the value flipped in memory."""

from __future__ import annotations

import numpy as np
import pytest

from nvdla_sim.campaign.config import CampaignConfig
from nvdla_sim.campaign.runner import StoredCampaign, make_campaign
from nvdla_sim.campaign.stored import StoredFaults, flip_value
from nvdla_sim.faults.injector import FaultInjector
from nvdla_sim.runner import ProgramRunner
from nvdla_sim.surface import pack_weights
from nvdla_sim.timing.registers import STORED_ACTIVATION, STORED_WEIGHT
from nvdla_sim.units import convcore
from tests.campaign.workloads import toy_workload


@pytest.fixture(scope="module")
def workload():
    return toy_workload(3, seed=4)


def _lenet(precision: str):
    """LeNet-5 (random weights) on nv_full's ``precision`` datapath."""
    from nvdla_sim.campaign.setup import build_workload
    return build_workload(CampaignConfig(model="zoo:lenet5:random", precision=precision,
                                         hardware="nv_full", dataset="random", images=3))


@pytest.fixture(scope="module")
def int16_workload():
    return _lenet("int16")


@pytest.fixture(scope="module")
def fp32_workload():
    return _lenet("fp32")


@pytest.fixture(scope="module")
def fp16_workload():
    return _lenet("fp16")


def _flip(surface, mem, cfg, instance: int, site) -> None:
    cube = surface.read(mem, cfg)
    index = np.unravel_index(instance, (surface.channels, surface.height, surface.width))
    cube[index] = flip_value(site, cube[index], cfg.prec, cfg.bpe)
    surface.write(mem, cfg, cube)


def naive(program, stored: StoredFaults, x: np.ndarray, site) -> list[np.ndarray]:
    """The whole network re-run from memory with the stored value flipped."""
    cfg = program.config
    runner = ProgramRunner(program)
    mem = runner.memory
    if site.register == STORED_WEIGHT:
        conv = program.layers[site.layer].conv
        w = convcore.weights(conv, mem, cfg)[0].copy()
        index = np.unravel_index(site.instance, w.shape)
        w[index] = flip_value(site, w[index], cfg.prec, cfg.bpe)
        mem.write(conv.weight_address, pack_weights(w, cfg, cfg.prec))
    runner.write_tensor(program.inputs[0], x)
    if site.register == STORED_ACTIVATION and site.layer < 0:
        _flip(program.inputs[0].surface, mem, cfg, site.instance, site)
    for i, layer in enumerate(program.layers):
        runner.executor.run(layer, mem)
        if site.register == STORED_ACTIVATION and i == site.layer:
            _flip(stored.flow.writes[i][0], mem, cfg, site.instance, site)
    return [b.surface.read(mem, cfg)[:b.surface.channels] for b in program.outputs]


def test_space_covers_every_stored_value_once(workload):
    program = workload.program
    stored = StoredFaults(FaultInjector(program))
    space = stored.space()
    weights = sum(l.conv.kernels * l.conv.kernel_channels * l.conv.kernel_height
                  * l.conv.kernel_width for l in program.layers if l.conv is not None)
    acts = sum(s.channels * s.height * s.width
               for s in [program.inputs[0].surface] + [w for w, _ in stored.flow.writes])
    assert space.size == (weights + acts) * program.config.bpe
    assert {b.layer for b in space.blocks if b.register.name == STORED_ACTIVATION} == \
        set(range(-1, len(program.layers)))


@pytest.mark.parametrize("name, count", [("workload", 60), ("int16_workload", 60),
                                         ("fp32_workload", 60), ("fp16_workload", 24)])
def test_stored_flips_match_a_full_rerun(name, count, request):
    workload = request.getfixturevalue(name)
    program = workload.program
    stored = StoredFaults(FaultInjector(program))
    space = stored.space()
    rng = np.random.default_rng(1)
    # a spread of sites, both kinds, several inputs (FP16 re-runs are slower: fewer)
    ids = rng.integers(0, space.size, count)
    sites = space.sites(ids)
    assert {s.register for s in sites} == {STORED_WEIGHT, STORED_ACTIVATION}
    goldens = [stored.injector.golden(x) for x in workload.inputs]
    items = [(site, goldens[n % len(goldens)]) for n, site in enumerate(sites)]
    results = stored.run_many(items)
    differ = 0
    for (site, golden), result in zip(items, results):
        expect = naive(program, stored, golden.x_q, site)
        for a, b in zip(result.outputs, expect):  # bit for bit (float NaNs included)
            assert a.tobytes() == b.tobytes(), site.describe()
        differ += any(a.tobytes() != b.tobytes() for a, b in zip(expect, golden.outputs))
    assert differ > count // 12  # the check saw faults that reach the output


def test_weights_shared_by_row_tiles_flip_in_every_tile():
    from compiler.examples import wide_net
    from compiler.lower import lower
    program = lower(wide_net())
    stored = StoredFaults(FaultInjector(program))
    first, readers = next((k, v) for k, v in stored.users.items() if len(v) > 1)
    space = stored.space()
    block = next(i for i, b in enumerate(space.blocks)
                 if b.layer == first and b.register.name == STORED_WEIGHT)
    x = np.random.default_rng(2).integers(-128, 128, program.inputs[0].shape, dtype=np.int8)
    golden = stored.injector.golden(x)
    rng = np.random.default_rng(3)
    ids = int(space.offsets[block]) + rng.integers(0, space.blocks[block].size, 12)
    sites = space.sites(ids)
    results = stored.run_many([(site, golden) for site in sites])
    for site, result in zip(sites, results):
        assert site.layer == first
        for a, b in zip(result.outputs, naive(program, stored, x, site)):
            assert np.array_equal(a, b), site.describe()
    assert all(len(r.effect.writes) == len(readers) for r in results)
    assert any(not np.array_equal(a, b)  # some flips reach the output
               for r in results for a, b in zip(r.outputs, golden.outputs))


def test_stored_campaign_rows(workload):
    config = CampaignConfig(injections=40, fault_model="stored-flip", sampling="stratified",
                            stratify_by="register", chunk=16)
    campaign = make_campaign(config, workload)
    assert isinstance(campaign, StoredCampaign)
    rows = campaign.rows(0, 40)
    assert set(campaign.register_index) == {STORED_WEIGHT, STORED_ACTIVATION}
    assert np.bincount(rows["register"]).tolist() == [20, 20]  # stratified by register
    assert (rows["bit"] < 8).all() and (rows["cycle"] == 0).all()
    assert np.array_equal(rows, make_campaign(config, workload).rows(0, 40))
    assert campaign.attrs()["kind"] == "stored"
    assert campaign.physical_bits == campaign.space.size
