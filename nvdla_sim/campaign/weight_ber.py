"""Weight-memory bit-error-rate campaigns: accuracy under random weight corruption.

Every bit of every convolution's weights in memory flips independently with
probability ``ber`` (drawn per trial from the trial's own seed), then the
whole input set runs; the row records the accuracy and the agreement with the
fault-free top-1.  Trials are the statistical unit: images of one trial share
one fault draw, so they are not independent samples of the rate's effect.
"""

from __future__ import annotations

import numpy as np

from nvdla_sim.campaign.config import CampaignConfig
from nvdla_sim.campaign.stats import mean_interval
from nvdla_sim.campaign.store import TRIAL_DTYPE, ResultStore
from nvdla_sim.memory import Memory
from nvdla_sim.runner import ProgramRunner


def weight_regions(program) -> list[tuple[int, int]]:
    """(address, bytes) of every distinct convolution weight blob."""
    regions = {(l.conv.weight_address, l.conv.weight_bytes) for l in program.layers if l.conv}
    return sorted(regions)


def flip_random_bits(mem: Memory, regions: list[tuple[int, int]], ber: float,
                     rng: np.random.Generator) -> int:
    """Flip each bit of the regions with probability ``ber``; returns how many flipped."""
    flipped = 0
    for address, size in regions:
        bits = size * 8
        count = int(rng.binomial(bits, ber))
        if count == 0:
            continue
        positions = np.unique(rng.integers(0, bits, count))
        data = mem.read(address, size)
        np.bitwise_xor.at(data, positions // 8, (1 << (positions % 8)).astype(np.uint8))
        mem.write(address, data)
        flipped += positions.size
    return flipped


class WeightBerCampaign:
    def __init__(self, config: CampaignConfig, workload) -> None:
        self.config = config
        self.workload = workload
        self.regions = weight_regions(workload.program)
        self.runner = ProgramRunner(workload.program)
        self.golden_top1 = self._top1()
        labels = workload.labels
        self.golden_accuracy = float((self.golden_top1 == labels).mean())

    def _top1(self) -> np.ndarray:
        out = self.runner.run_batch(self.workload.inputs)
        return out.reshape(out.shape[0], -1).argmax(axis=1)

    @property
    def total(self) -> int:
        return len(self.config.ber) * self.config.trials

    def row(self, i: int) -> np.ndarray:
        ber = self.config.ber[i // self.config.trials]
        rng = np.random.default_rng([self.config.seed, i])
        pristine = self.runner.memory
        self.runner.memory = pristine.copy()
        try:
            flipped = flip_random_bits(self.runner.memory, self.regions, ber, rng)
            top1 = self._top1()
        finally:
            self.runner.memory = pristine
        row = np.zeros((), TRIAL_DTYPE)
        row[()] = (i, ber, i % self.config.trials, flipped,
                   float((top1 == self.workload.labels).mean()), self.golden_accuracy,
                   float((top1 == self.golden_top1).mean()))
        return row

    def run(self, out, attrs: dict, resume: bool, bar) -> None:
        store = ResultStore(out, "trials", TRIAL_DTYPE, attrs,
                            {"golden/labels": self.workload.labels.astype(np.int16),
                             "golden/top1": self.golden_top1.astype(np.int16)}, 1, resume)
        try:
            bar.update(store.done)
            for i in range(store.done, self.total):
                store.append(np.array([self.row(i)]))
                bar.update(1)
            store.complete()
        finally:
            store.close()


BER_DTYPE = np.dtype([("ber", "<f8"), ("trials", "<i8"), ("accuracy", "<f8"),
                      ("accuracy_low", "<f8"), ("accuracy_high", "<f8"), ("drop", "<f8")])


def summarize_ber(rows: np.ndarray, confidence: float) -> np.ndarray:
    """Accuracy per rate: mean over trials with a Student-t interval over the trials'
    accuracies (clipped to [0, 1]; one trial gives no width, so [0, 1])."""
    out = []
    for ber in np.unique(rows["ber"]):
        sel = rows[rows["ber"] == ber]
        acc, low, high = mean_interval(sel["accuracy"], confidence)
        out.append((ber, sel.size, acc, max(0.0, low), min(1.0, high),
                    float(sel["golden_accuracy"][0]) - acc))
    return np.array(out, BER_DTYPE)
