"""Statistics for fault-injection campaigns.

* :func:`sample_size`: injections needed for a margin of error at a
  confidence level over a population of N fault sites (Leveugle, Calvez,
  Maistri, Vanhauwaert, "Statistical fault injection: quantified error and
  confidence", DATE 2009, eq. 2), with the worst-case p = 0.5 by default.
* :func:`wilson`: the Wilson score interval for a rate k/n (well behaved for
  rates near 0 or 1, unlike the normal approximation).
* :func:`mean_interval`: a Student-t interval for a mean over trials (a
  per-trial accuracy drop: trials, not images, are the independent unit).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist


def z_value(confidence: float) -> float:
    """Two-sided standard-normal quantile, e.g. 1.96 for 0.95."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def sample_size(population: int, margin: float, confidence: float = 0.95, p: float = 0.5) -> int:
    """n = N / (1 + e^2 (N - 1) / (t^2 p (1 - p)))  (Leveugle et al. 2009)."""
    if not 0 < margin < 1:
        raise ValueError(f"margin must be in (0, 1), got {margin}")
    t = z_value(confidence)
    n = population / (1 + margin ** 2 * (population - 1) / (t ** 2 * p * (1 - p)))
    return min(population, math.ceil(n))


def wilson(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval (low, high) for successes / trials."""
    if trials == 0:
        return (0.0, 1.0)
    z = z_value(confidence)
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))



def t_value(confidence: float, df: int) -> float:
    """Two-sided Student-t quantile (Cornish-Fisher expansion in 1/df around the normal
    quantile; within 0.2% of the exact value from df = 4 on, exact as df grows)."""
    z = z_value(confidence)
    v = float(df)
    return (z + (z ** 3 + z) / (4 * v) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * v ** 2)
            + (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / (384 * v ** 3)
            + (79 * z ** 9 + 776 * z ** 7 + 1482 * z ** 5 - 1920 * z ** 3 - 945 * z)
            / (92160 * v ** 4))


def mean_interval(values: Sequence[float], confidence: float = 0.95
                  ) -> tuple[float, float, float]:
    """(mean, low, high): Student-t interval for the mean of per-trial values (trials are
    the unit: each is one independent fault draw); one trial gives no width."""
    x = [float(v) for v in values]
    if not x:
        return (math.nan, math.nan, math.nan)
    mean = math.fsum(x) / len(x)
    if len(x) == 1:
        return (mean, -math.inf, math.inf)
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in x) / (len(x) - 1))
    half = t_value(confidence, len(x) - 1) * sd / math.sqrt(len(x))
    return (mean, mean - half, mean + half)
