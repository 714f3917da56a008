"""Rates by group with Wilson intervals, and the FIT arithmetic."""

from __future__ import annotations

import numpy as np
import pytest

from nvdla_sim.analysis import Rate, fit_estimate, grouped, measures, rate
from nvdla_sim.campaign.stats import wilson


def _columns(outcomes, groups):
    outcomes = np.array(outcomes, object)
    n = outcomes.size
    return {"id": np.arange(n), "outcome": outcomes, "corrupted": outcomes != "masked",
            "sdc5": np.zeros(n, bool), "sdc10": outcomes == "sdc", "sdc20": np.zeros(n, bool),
            "correct": outcomes != "sdc", "golden_correct": np.ones(n, bool),
            "g": np.array(groups, object)}


def test_rates_and_intervals_per_group():
    col = _columns(["sdc", "masked", "tolerable", "masked", "sdc", "sdc"],
                   ["a", "a", "a", "b", "b", "c"])
    m = measures(col)
    assert (m["sdc"].k, m["sdc"].n) == (3, 6)
    assert (m["sdc"].low, m["sdc"].high) == wilson(3, 6)
    assert m["corrupted"].k == 4 and m["correct"].k == 3 and m["golden_correct"].k == 6
    groups = dict(grouped(col, "g", order=["c", "b", "a", "zzz"]))
    assert list(groups) == [("c",), ("b",), ("a",)]  # order kept, absent keys left out
    assert (groups[("a",)]["sdc"].k, groups[("a",)]["sdc"].n) == (1, 3)
    assert groups[("c",)]["sdc"].rate == 1.0
    sel = col["g"] != "c"
    assert [k for k, _ in grouped(col, "g", select=sel)] == [("a",), ("b",)]


def test_fit_is_raw_rate_times_bits_times_sdc_rate():
    sdc = rate(np.array([True] * 5 + [False] * 995))
    f = fit_estimate(sdc, 7156, 1e-4)
    assert f.fit == pytest.approx(1e-4 * 7156 * 0.005)
    assert f.low == pytest.approx(1e-4 * 7156 * sdc.low)
    assert f.high == pytest.approx(1e-4 * 7156 * sdc.high)
    assert f.low < f.fit < f.high
    assert fit_estimate(Rate(0, 100, 0.0, 0.037), 1000, 1e-3).fit == 0.0
    with pytest.raises(ValueError):
        fit_estimate(sdc, 10, -1.0)
