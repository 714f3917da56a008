"""Study S3: in-place zero-space SEC-DED for 8-bit and 4-bit weights (``nvdla-fi study ecc``).

For each model, weight width (8, and 4 packed in memory), protection
(unprotected, (64,57) and (32,26) in place, (72,64) with extra check bits)
and fault rate, independent trials each draw faults over the whole encoded
weight memory, decode it as hardware would, and run the whole test set on
the weights the datapath gets.  Trials are the statistical unit: the
accuracy drop per rate is the mean over trials with a Student-t interval.

Results: ``ecc.h5`` (one row per trial, docs/hdf5-schema.md), ``summary.md``
(the S3 tables) and ``ecc_drop.png``, all regenerated from the HDF5 file.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from experiments.ecc_report import write_report
from experiments.registry import StudyOptions
from nvdla_sim.campaign.store import ResultStore
from nvdla_sim.ecc.faults import KINDS
from nvdla_sim.ecc.layout import STRATEGIES, protection
from nvdla_sim.ecc.trials import ProtectedNetwork
from nvdla_sim.errors import ConfigError

TRIAL_DTYPE = np.dtype([
    ("id", "<i8"), ("bits", "<i1"), ("strategy", "<i1"), ("kind", "<i1"), ("rate", "<f8"),
    ("trial", "<i4"), ("errors", "<i8"), ("corrected", "<i8"), ("detected", "<i8"),
    ("silent", "<i8"), ("wrong_bits", "<i8"), ("weight_bits", "<i8"), ("accuracy", "<f8"),
    ("golden_accuracy", "<f8"), ("agreement", "<f8"), ("inferred", "?"), ("seconds", "<f4"),
])
VARIANT_DTYPE = np.dtype([
    ("bits", "<i1"), ("strategy", "<i1"), ("accuracy", "<f8"), ("weight_bits", "<i8"),
    ("memory_bits", "<i8"), ("blocks", "<i8"), ("clamped", "<i8"),
    ("clamp_accuracy", "<f8"),  # hard clamp alone, without WOT (= accuracy if not in place)
])
MODELS = ("zoo:lenet5", "zoo:vgg16_bn", "zoo:squeezenet1_1", "zoo:resnet18")  # trained, ungrouped
FLUSH = 10  # trials per HDF5 append
CALIBRATION_STRIDE = 8  # every 8th training image (500, all digits) sets activation ranges


@dataclass(frozen=True)
class Scale:
    bits: tuple[int, ...] = (8, 4)
    strategies: tuple[str, ...] = STRATEGIES
    kinds: tuple[str, ...] = ("flip",)
    rates: tuple[float, ...] = (1e-6, 1e-5, 1e-4, 1e-3)
    trials: int = 30
    images: int = 1000
    wot_epochs: int = 2  # fake-quantized WOT fine-tuning epochs per in-place variant
    wot_lr: float = 1e-4  # their starting learning rate (cosine decay)


QUICK = Scale()
# larger nets: a few minutes on 1 core; their WOT needs a higher rate (ResNet-18 8-bit (64,57):
# 23% after 1 epoch at 1e-4, 93.5% after 2 at 1e-3, on 200 test images)
QUICK_ZOO = Scale(trials=10, images=200, wot_epochs=2, wot_lr=1e-3)
FULL = Scale(kinds=KINDS, rates=(1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2), trials=300)


@dataclass(frozen=True)
class Data:
    name: str
    float_graph: object
    calibration: np.ndarray
    train_images: np.ndarray  # WOT fine-tunes on these
    train_labels: np.ndarray
    images: np.ndarray
    labels: np.ndarray
    note: str


def load(model: str, images: int) -> Data:
    """A trained zoo model with its calibration images (every 8th training image: all
    digits), its training split (for WOT) and ``images`` test images spread over it."""
    from experiments.qdnn import trained_network
    if model not in MODELS:
        raise ConfigError(f"study ecc: --model {model!r} has no trained weights here; "
                          f"trained models: {', '.join(MODELS)}")
    name, graph, split = trained_network(model)
    pick = np.unique(np.linspace(0, len(split.test_labels) - 1, images).astype(int))
    x, y = split.test_images[pick], split.test_labels[pick]  # spread: the split is by label
    return Data(name, graph, split.train_images[::CALIBRATION_STRIDE], split.train_images,
                split.train_labels, x, y,
                f"{name} trained on the {split.note} (activations calibrated on every "
                f"{CALIBRATION_STRIDE}th training image), evaluated on {len(x)} held-out "
                f"test images; weights quantized per output channel, symmetric, to 8 and "
                f"to 4 bits")


def configs(scale: Scale) -> list[tuple[int, str, str, float]]:
    """(bits, strategy, kind, rate) in row order; trials of one config are consecutive."""
    return [(b, s, k, r) for b in scale.bits for s in scale.strategies for k in scale.kinds
            for r in scale.rates]


Nets = dict[tuple[int, str], tuple[ProtectedNetwork, float, int]]
"""(bits, strategy) -> (network, accuracy of the hard clamp alone, weights the clamp moved)."""


def build(data: Data, scale: Scale, seed: int, progress: bool) -> Nets:
    """Every variant; in-place ones are WOT fine-tuned (seeded) and then hard-clamped."""
    from compiler.quantize import quantize
    from compiler.train.loop import TrainConfig
    from nvdla_sim.config import DEFAULT_CONFIG
    from nvdla_sim.ecc.layout import restrict_graph
    from nvdla_sim.ecc.wot import wot
    nets: Nets = {}
    for bits in scale.bits:
        graph = quantize(data.float_graph, data.calibration, weight_bits=bits)
        for strategy in tqdm(scale.strategies, desc=f"compile/WOT {data.name} {bits}-bit",
                             disable=not progress):
            prot = protection(strategy, bits)
            net = clamp = ProtectedNetwork(graph, prot, data.images, data.labels)
            if prot.in_place:
                tuned = wot(data.float_graph, data.train_images, data.train_labels, prot,
                            TrainConfig(qat_epochs=scale.wot_epochs, qat_lr=scale.wot_lr,
                                        seed=seed))
                wot_graph = quantize(tuned.float_graph, data.calibration, weight_bits=bits)
                net = ProtectedNetwork(wot_graph, prot, data.images, data.labels)
                final = restrict_graph(wot_graph, prot, DEFAULT_CONFIG)
                moved = sum(int((a.weight != b.weight).sum()) for a, b in
                            zip(wot_graph.nodes, final.nodes) if hasattr(a, "weight"))
            else:
                moved = 0
            nets[bits, strategy] = (net, clamp.accuracy, moved)
    return nets


def variants(nets: Nets, scale: Scale) -> np.ndarray:
    rows = []
    for (bits, strategy), (net, clamp_accuracy, moved) in nets.items():
        mem = net.weights
        rows.append((bits, scale.strategies.index(strategy), net.accuracy, mem.weight_bits,
                     mem.blocks * mem.prot.block_bits, mem.blocks, moved, clamp_accuracy))
    return np.array(rows, VARIANT_DTYPE)


def run(options: StudyOptions) -> Path:
    model = options.model or MODELS[0]
    scale = FULL if options.full else QUICK if model == MODELS[0] else QUICK_ZOO
    data = load(model, scale.images)
    nets = build(data, scale, options.seed, options.progress)
    table = configs(scale)
    attrs = {"kind": "ecc", "model": model, "seed": options.seed, "note": data.note,
             "strategies": json.dumps(list(scale.strategies)),
             "kinds": json.dumps(list(scale.kinds)),
             "config": json.dumps({"study": "ecc", "model": model, "seed": options.seed,
                                   **asdict(scale)})}
    store = ResultStore(options.out / "ecc.h5", "trials", TRIAL_DTYPE, attrs,
                        {"variants": variants(nets, scale),
                         "golden/labels": data.labels.astype(np.int16)}, FLUSH, options.resume)
    total = len(table) * scale.trials
    bar = tqdm(total=total, initial=store.done, desc="ecc trials", unit="trial",
               disable=not options.progress)
    pending = []
    for i in range(store.done, total):
        bits, strategy, kind, rate = table[i // scale.trials]
        net = nets[bits, strategy][0]
        rng = np.random.default_rng([options.seed, i])
        start = time.perf_counter()
        trial = net.trial(kind, rate, rng)
        o = trial.outcome
        pending.append((i, bits, scale.strategies.index(strategy), KINDS.index(kind), rate,
                        i % scale.trials, o.errors, o.corrected, o.detected, o.silent,
                        o.wrong_bits, net.weights.weight_bits, trial.accuracy, net.accuracy,
                        trial.agreement, trial.inferred, time.perf_counter() - start))
        if len(pending) == FLUSH or i == total - 1:
            store.append(np.array(pending, TRIAL_DTYPE))
            pending.clear()
        bar.update(1)
    bar.close()
    store.complete()
    return write_report(options.out / "ecc.h5", options.out)
