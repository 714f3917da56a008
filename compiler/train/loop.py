"""The one training entry point: a float graph and labelled arrays in, the trained float
graph and its int8 IR out.

Training runs in two phases: float epochs (batchnorms learn their statistics; AdamW
with a one-cycle learning rate), then fake-quantized epochs (:class:`QatNet`,
batchnorms frozen and folded, a small cosine-decayed learning rate).  Before every
fake-quantized epoch the activation ranges are recalibrated by
:func:`compiler.quantize.quantize` itself on a fixed calibration subset of the
training images, and the int8 graph returned is quantized on the same subset, so
the network is evaluated on the simulator with the ranges it trained with.

Reproducible: one seed drives initial shuffling and augmentation, torch runs with
deterministic algorithms and ``threads`` threads (the same seed and thread count
give the same weights).  Two hooks serve studies built on top: ``extra_loss`` adds
a term computed from every tensor of the forward pass (e.g. an activation penalty
for sparsity), ``step`` wraps the optimizer step (e.g. sharpness-aware
minimisation, which needs to re-evaluate the loss), and ``after_step`` sees the
net after every update and once before the first batch (e.g. a projection that
keeps weights in a range, as WOT training for in-place ECC does).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from compiler import ir
from compiler.ir import CompileError
from compiler.quantize import quantize, weight_levels
from compiler.train.qat import QatNet
from compiler.zoo.graph import FloatGraph

Closure = Callable[[], torch.Tensor]
ExtraLoss = Callable[[QatNet, Mapping[str, torch.Tensor]], torch.Tensor]
"""``extra_loss(net, tensors)``: a scalar added to the cross-entropy; ``tensors`` holds
every tensor of the batch's forward pass by name (:meth:`QatNet.run`)."""
Step = Callable[[torch.optim.Optimizer, Closure], None]
"""``step(optimizer, closure)``: one update; ``closure()`` zeroes the gradients,
computes the loss on the current batch, back-propagates it and returns it."""
AfterStep = Callable[[QatNet], None]
"""``after_step(net)``: may change the net's parameters in place (under no_grad)."""


def plain_step(optimizer: torch.optim.Optimizer, closure: Closure) -> None:
    closure()
    optimizer.step()


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 20  # float epochs
    qat_epochs: int = 3  # fake-quantized epochs after them
    batch_size: int = 64
    lr: float = 2e-3  # peak of the float phase's one-cycle schedule
    qat_lr: float = 1e-4  # start of the fake-quantized phase's cosine decay
    weight_decay: float = 5e-4
    max_shift: int = 2  # augmentation: random translation by up to this many pixels
    dropout: float = 0.0  # on the inputs of fully connected layers, training only
    weight_bits: int = 8  # 2..8: weights in that many bits (activations stay int8)
    calibration_images: int = 512  # training images that set the activation ranges
    seed: int = 0
    threads: int = 1

    def __post_init__(self) -> None:
        weight_levels(self.weight_bits)
        if self.epochs < 0 or self.qat_epochs < 0 or self.epochs + self.qat_epochs == 0:
            raise CompileError(f"train: epochs ({self.epochs}) and qat_epochs "
                               f"({self.qat_epochs}) must be >= 0, not both 0")
        if min(self.batch_size, self.calibration_images, self.threads) < 1:
            raise CompileError("train: batch_size, calibration_images and threads must be >= 1")


@dataclass(frozen=True)
class Trained:
    """What :func:`train` returns; ``int8_graph`` is ``quantize(float_graph,
    calibration, weight_bits=config.weight_bits)``."""

    float_graph: FloatGraph
    int8_graph: ir.Graph
    calibration: np.ndarray
    config: TrainConfig
    seconds: float
    history: list[dict[str, Any]] = field(default_factory=list)  # one row per epoch

    def info(self) -> dict[str, Any]:
        """JSON-able provenance (stored with bundled models)."""
        return {"train_config": asdict(self.config), "train_seconds": round(self.seconds, 1),
                "torch": torch.__version__, "history": self.history}


def calibration_subset(images: np.ndarray, n: int) -> np.ndarray:
    """``n`` images spread evenly over ``images`` (all digits of a label-sorted split)."""
    return images[np.unique(np.linspace(0, len(images) - 1, min(n, len(images))).astype(int))]


def shift(images: torch.Tensor, max_shift: int, gen: torch.Generator) -> torch.Tensor:
    """Each image moved by its own random (dy, dx) in [-max_shift, max_shift], zero fill."""
    if max_shift == 0:
        return images
    n, _, h, w = images.shape
    padded = F.pad(images, (max_shift,) * 4)
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, n), generator=gen)
    rows = dy[:, None] + torch.arange(h)
    cols = dx[:, None] + torch.arange(w)
    return padded[torch.arange(n)[:, None, None], :, rows[:, :, None], cols[:, None, :]] \
        .permute(0, 3, 1, 2)


def check_data(graph: FloatGraph, images: np.ndarray, labels: np.ndarray) -> tuple[
        np.ndarray, np.ndarray]:
    images, labels = np.asarray(images), np.asarray(labels)
    classes = graph.shapes[graph.output][0]
    if images.ndim != 4 or images.shape[1:] != graph.input_shape or len(images) == 0:
        raise CompileError(f"train {graph.name}: images must have shape (N, "
                           f"{', '.join(map(str, graph.input_shape))}), got {images.shape}")
    if labels.shape != (len(images),) or labels.dtype.kind not in "iu" \
            or labels.min() < 0 or labels.max() >= classes:
        raise CompileError(f"train {graph.name}: labels must be {len(images)} integers in "
                           f"0..{classes - 1}, got shape {labels.shape} dtype {labels.dtype}")
    return images.astype(np.float32), labels.astype(np.int64)


@contextmanager
def torch_settings(threads: int) -> Iterator[None]:
    """Deterministic algorithms and ``threads`` intra-op threads, restored afterwards."""
    old_threads, old_det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_det)


def train(graph: FloatGraph, images: np.ndarray, labels: np.ndarray,
          config: TrainConfig = TrainConfig(), *, extra_loss: ExtraLoss | None = None,
          step: Step = plain_step, after_step: AfterStep | None = None,
          progress: bool = True) -> Trained:
    """Train ``graph`` (from its current weights) on ``images`` (N, C, H, W) float and
    ``labels`` (N,) int; see the module docstring for the phases."""
    images, labels = check_data(graph, images, labels)
    calibration = calibration_subset(images, config.calibration_images)
    start = time.perf_counter()
    with torch_settings(config.threads):
        torch.manual_seed(config.seed)
        gen = torch.Generator().manual_seed(config.seed)
        net = QatNet(graph, config.weight_bits, config.dropout)
        if after_step is not None:
            after_step(net)
        x, y = torch.from_numpy(images), torch.from_numpy(labels)
        per_epoch = -(-len(x) // config.batch_size)
        history: list[dict[str, Any]] = []
        bar = tqdm(total=per_epoch * (config.epochs + config.qat_epochs), unit="batch",
                   desc=f"train {graph.name}", disable=not progress)

        def epoch(phase: str, optimizer: torch.optim.Optimizer,
                  schedule: torch.optim.lr_scheduler.LRScheduler) -> None:
            net.train()
            order = torch.randperm(len(x), generator=gen)
            total = 0.0
            for first in range(0, len(x), config.batch_size):
                batch = order[first:first + config.batch_size]
                xb, yb = shift(x[batch], config.max_shift, gen), y[batch]

                losses: list[float] = []  # the first evaluation is the batch's loss

                def closure() -> torch.Tensor:
                    optimizer.zero_grad()
                    tensors = net.run(xb)
                    loss = F.cross_entropy(tensors[graph.output].flatten(1), yb)
                    if extra_loss is not None:
                        loss = loss + extra_loss(net, tensors)
                    loss.backward()
                    losses.append(float(loss.detach()))
                    return loss.detach()

                step(optimizer, closure)
                if after_step is not None:
                    after_step(net)
                schedule.step()
                total += losses[0] * len(batch)
                bar.update()
                bar.set_postfix(phase=phase, loss=f"{losses[0]:.3f}")
            history.append({"phase": phase, "loss": round(total / len(x), 5)})

        if config.epochs:
            optimizer = torch.optim.AdamW(net.parameters(), lr=config.lr,
                                          weight_decay=config.weight_decay)
            schedule = torch.optim.lr_scheduler.OneCycleLR(
                optimizer, max_lr=config.lr, total_steps=config.epochs * per_epoch)
            for _ in range(config.epochs):
                epoch("float", optimizer, schedule)
        if config.qat_epochs:
            optimizer = torch.optim.AdamW(net.parameters(), lr=config.qat_lr,
                                          weight_decay=config.weight_decay)
            schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
                optimizer, T_max=config.qat_epochs * per_epoch)
            for _ in range(config.qat_epochs):
                net.set_quantization(quantize(net.to_float_graph(), calibration,
                                              weight_bits=config.weight_bits))
                epoch("qat", optimizer, schedule)
        bar.close()
        float_graph = net.to_float_graph()
    int8_graph = quantize(float_graph, calibration, weight_bits=config.weight_bits)
    return Trained(float_graph, int8_graph, calibration, config,
                   time.perf_counter() - start, history)
