"""Statistics for fault-injection campaigns.

* :func:`sample_size`: injections needed for a margin of error at a
  confidence level over a population of N fault sites (Leveugle, Calvez,
  Maistri, Vanhauwaert, "Statistical fault injection: quantified error and
  confidence", DATE 2009, eq. 2), with the worst-case p = 0.5 by default.
* :func:`wilson`: the Wilson score interval for a rate k/n (well behaved for
  rates near 0 or 1, unlike the normal approximation).
"""

from __future__ import annotations

import math
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
