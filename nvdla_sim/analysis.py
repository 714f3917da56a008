"""Rates of a campaign's outcomes by any grouping of its tidy columns, and FIT estimates.

Every rate is a count over injections with its Wilson interval
(:func:`nvdla_sim.campaign.stats.wilson`): SDC (top-1 changed; SDC-1),
corrupted output (any output bit differs), SDC-5, SDC-10% and SDC-20% (see
:mod:`nvdla_sim.campaign.outcomes`), and the accuracy under the fault (the
faulty top-1 equals the label) beside the fault-free accuracy of the same
draws.

FIT (failures in 10^9 device-hours) of silent data corruption:
``FIT_SDC = raw FIT per bit x exposed bits x SDC rate``.  ``raw FIT per bit``
is an input (the technology's upset rate of one flip-flop or memory bit;
:data:`RAW_FIT_PER_BIT` is an assumed order of magnitude, not a measurement);
``exposed bits`` are the distinct physical bits the campaign draws from (a
register counts once whatever the layers using it; for stored values, every
stored bit); the SDC rate is the probability that an upset of a uniformly
drawn bit at a uniformly drawn time of the inference changes the top-1, which
only a uniformly sampled campaign estimates.  The interval is the Wilson
interval scaled the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nvdla_sim.campaign.stats import wilson

RAW_FIT_PER_BIT = 1e-4  # assumed; pass the technology's figure (--raw-fit)
MEASURES = ("sdc", "corrupted", "sdc5", "sdc10", "sdc20", "correct")


@dataclass(frozen=True)
class Rate:
    k: int
    n: int
    low: float
    high: float

    @property
    def rate(self) -> float:
        return self.k / self.n if self.n else 0.0

    def pct(self, digits: int = 2) -> str:
        return (f"{self.rate * 100:.{digits}f}% [{self.low * 100:.{digits}f}, "
                f"{self.high * 100:.{digits}f}]")


def rate(hits: np.ndarray, confidence: float = 0.95) -> Rate:
    k, n = int(np.count_nonzero(hits)), int(hits.size)
    return Rate(k, n, *wilson(k, n, confidence))


def measures(columns: dict[str, np.ndarray], select: np.ndarray | None = None,
             confidence: float = 0.95) -> dict[str, Rate]:
    """Each of :data:`MEASURES` (and ``golden_correct``) over the selected rows."""
    sel = slice(None) if select is None else select
    hits = {"sdc": columns["outcome"][sel] == "sdc", "corrupted": columns["corrupted"][sel],
            "sdc5": columns["sdc5"][sel], "sdc10": columns["sdc10"][sel],
            "sdc20": columns["sdc20"][sel], "correct": columns["correct"][sel],
            "golden_correct": columns["golden_correct"][sel]}
    return {name: rate(h, confidence) for name, h in hits.items()}


def grouped(columns: dict[str, np.ndarray], by: str | tuple[str, ...],
            order: list | None = None, select: np.ndarray | None = None,
            confidence: float = 0.95) -> list[tuple[tuple, dict[str, Rate]]]:
    """(key, measures) per distinct value of the ``by`` column(s), in ``order`` (keys
    absent from the rows are left out) or sorted."""
    by = (by,) if isinstance(by, str) else tuple(by)
    base = np.ones(columns["id"].size, bool) if select is None else select
    keys = list(zip(*(columns[b][base].tolist() for b in by)))
    distinct = set(keys)
    if order is not None:
        wanted = [k if isinstance(k, tuple) else (k,) for k in order]
        ordered = [k for k in wanted if k in distinct]
    else:
        ordered = sorted(distinct)
    index = {}
    for i, key in zip(np.flatnonzero(base).tolist(), keys):
        index.setdefault(key, []).append(i)
    out = []
    for key in ordered:
        sel = np.zeros(base.size, bool)
        sel[index[key]] = True
        out.append((key, measures(columns, sel, confidence)))
    return out


@dataclass(frozen=True)
class Fit:
    fit: float
    low: float
    high: float
    raw_per_bit: float
    bits: int


def fit_estimate(sdc: Rate, exposed_bits: int, raw_per_bit: float = RAW_FIT_PER_BIT) -> Fit:
    """FIT of silent data corruption: raw FIT per bit x exposed bits x SDC rate."""
    if raw_per_bit < 0 or exposed_bits < 0:
        raise ValueError("raw FIT per bit and exposed bits must be non-negative")
    scale = raw_per_bit * exposed_bits
    return Fit(scale * sdc.rate, scale * sdc.low, scale * sdc.high, raw_per_bit,
               exposed_bits)
