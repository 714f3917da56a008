"""The speed benchmark compares the two ways on the same injections."""

from __future__ import annotations

import pytest

from nvdla_sim import bench


def test_campaign_speed_checks_outcomes_of_both_ways():
    result = bench.campaign_speed("lenet5", images=2, injections=1200, naive_count=30)
    assert result.identical
    assert result.injections == 1200 and result.naive_injections == 30
    assert result.optimized_per_s > 0 and result.naive_per_s > 0
    assert result.ratio == pytest.approx(result.optimized_per_s / result.naive_per_s)
    assert 0.0 <= result.sdc_rate < 0.05


def test_naive_share_must_come_from_the_campaign():
    with pytest.raises(ValueError, match="0 < 50 <= 40"):
        bench.campaign_speed("lenet5", images=1, injections=40, naive_count=50)


def test_a_naive_way_that_disagrees_is_reported(monkeypatch):
    real = bench.NaiveInjector.run

    def off_by_one(self, site, x):
        outputs = [o.copy() for o in real(self, site, x)]
        outputs[0].reshape(-1)[0] ^= 1
        return outputs
    monkeypatch.setattr(bench.NaiveInjector, "run", off_by_one)
    assert not bench.campaign_speed("lenet5", images=1, injections=500, naive_count=5).identical
