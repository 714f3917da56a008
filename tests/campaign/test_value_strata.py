"""Stratified sampling by the kind of value a register holds."""

from __future__ import annotations

import numpy as np

from nvdla_sim.campaign.config import CampaignConfig
from nvdla_sim.campaign.runner import TransientCampaign
from nvdla_sim.timing.registers import catalogue
from tests.campaign.workloads import toy_workload


def test_each_value_kind_gets_an_equal_share_and_its_bits_evenly():
    workload = toy_workload(2, seed=1)
    config = CampaignConfig(injections=1, sampling="stratified", stratify_by="value")
    campaign = TransientCampaign(config, workload)
    kinds = list(campaign.space.strata("value"))
    names = {v: {campaign.space.blocks[b].register.value for b in blocks}
             for v, (_, blocks) in zip(kinds, campaign.strata)}
    assert all(names[v] == {v} for v in kinds)  # one kind of value per stratum
    ids = np.arange(len(kinds) * 400)
    sites = campaign.space.sites(campaign.plan_many(ids)[0])
    cat = catalogue(workload.program.config)
    held = np.array([cat[s.register].value for s in sites])
    counts = {k: int(np.count_nonzero(held == k)) for k in kinds}
    assert set(counts.values()) == {400}
    # within the int8 lanes every bit of the value is equally exposed
    lanes = [s for s in sites if cat[s.register].value == "weight"]
    bits = np.bincount([cat[s.register].value_bit(s.bit)[1] for s in lanes], minlength=8)
    assert bits.min() > 0.5 * bits.mean()
