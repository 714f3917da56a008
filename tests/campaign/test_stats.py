import math

import pytest

from nvdla_sim.campaign.stats import sample_size, wilson, z_value


def test_z_value():
    assert z_value(0.95) == pytest.approx(1.959964, abs=1e-6)
    assert z_value(0.99) == pytest.approx(2.575829, abs=1e-6)


def test_leveugle_sample_size_matches_formula():
    # N = 10**6 sites, e = 1%, 95%: n = N / (1 + e^2 (N-1) / (t^2 p (1-p)))
    t = 1.959964
    n = 1e6 / (1 + 0.01 ** 2 * (1e6 - 1) / (t * t * 0.25))
    assert sample_size(10 ** 6, 0.01) == math.ceil(n) == 9513
    # a 0.1% margin over a huge space needs about a million injections (the figure)
    assert 950_000 < sample_size(10 ** 12, 0.001) < 970_000
    assert sample_size(100, 0.01) <= 100


def test_wilson_known_values():
    # 0 of 100 at 95%: upper bound z^2 / (n + z^2) = 3.8415 / 103.8415
    low, high = wilson(0, 100)
    assert low == 0.0 and high == pytest.approx(3.8415 / 103.8415, rel=1e-4)
    # 50 of 100: the textbook interval (0.4038, 0.5962)
    low, high = wilson(50, 100)
    assert (low, high) == (pytest.approx(0.40383, abs=1e-5), pytest.approx(0.59617, abs=1e-5))
    # 1 of 10: (0.0179, 0.4042)
    assert wilson(1, 10) == (pytest.approx(0.01788, abs=1e-4), pytest.approx(0.40415, abs=1e-4))
    assert wilson(0, 0) == (0.0, 1.0)


def test_leveugle_reproduces_the_published_960000_for_a_01_percent_margin():
    """Leveugle et al. (DATE 2009): e = 0.1%, 95% (t = 1.96), p = 0.5, large N: about
    960,000 injections (t^2 p (1 - p) / e^2 = 960,364 with t = 1.95996)."""
    n = sample_size(10 ** 12, 0.001)
    t = z_value(0.95)
    assert n == math.ceil(10 ** 12 / (1 + 1e-6 * (10 ** 12 - 1) / (t * t * 0.25)))
    assert abs(n - 960_000) < 1_000
    assert sample_size(10 ** 6, 0.001) < n  # a finite population needs fewer
