"""Weight-distribution oriented training (WOT) for in-place SEC-DED (study S3).

In-place codes take the top bits of the restricted weights of every memory
block (:func:`nvdla_sim.ecc.layout.restricted_masks` says which), so those
weights must fit ``bits - free`` bits.  A plain clamp costs accuracy (8-bit
(32,26): six-bit weights in three of every four slots); WOT fine-tunes the
fake-quantized network (:func:`compiler.train.train`) with a projection after
every optimizer step that keeps each restricted weight inside the restricted
range of its output channel's quantization grid, so the network learns around
the restriction; the final hard clamp (:func:`restrict_graph`) then changes
nothing or little.

The projection works on the unfolded float weights: a folded batchnorm scales a
whole output channel by one factor, which scales its weights and its
quantization step alike, so the code a weight gets is unchanged by it.  The
channel's step is set by its largest *unrestricted* weight (max / levels); the
restricted ones are clamped to +-``high`` steps of it (symmetric, since a
negative batchnorm factor flips signs), so the channel's maximum stays where
it is and every restricted code lands in range.  A channel whose weights are all
restricted (a kernel shorter than a block's restricted run) has no such anchor:
re-quantizing would always put its largest weight at the top code, so it is
left to the hard clamp, which keeps its scale.
"""

from __future__ import annotations

import numpy as np
import torch

from compiler.quantize import quantize, weight_levels
from compiler.train.loop import TrainConfig, Trained, train
from compiler.train.qat import QatNet
from compiler.zoo.graph import FloatGraph
from nvdla_sim.config import DEFAULT_CONFIG, HardwareConfig
from nvdla_sim.ecc.layout import Protection, restricted_masks


class RestrictedProjection:
    """``after_step`` hook of :func:`compiler.train.train`: every restricted weight
    projected into its channel's restricted range."""

    def __init__(self, graph: FloatGraph, masks: dict[str, np.ndarray],
                 prot: Protection) -> None:
        self.ops = [op for op in graph.nodes if op.name in masks]
        self.masks = {name: torch.from_numpy(m.reshape(len(m), -1)) for name, m in masks.items()}
        low, high = prot.restricted_range
        self.limit = min(-low, high) / weight_levels(prot.bits)

    def __call__(self, net: QatNet) -> None:
        with torch.no_grad():
            for op in self.ops:
                weight = net.array(op, "weight")
                flat = weight.view(len(weight), -1)
                mask = self.masks[op.name]
                free = torch.where(mask, torch.zeros_like(flat), flat.abs()).amax(1)
                bound = (free * self.limit).unsqueeze(1)
                anchored = mask & (free > 0).unsqueeze(1)  # else only the hard clamp helps
                flat.copy_(torch.where(anchored, torch.maximum(torch.minimum(flat, bound),
                                                               -bound), flat))


def wot(graph: FloatGraph, images: np.ndarray, labels: np.ndarray, prot: Protection,
        config: TrainConfig, hw: HardwareConfig = DEFAULT_CONFIG,
        progress: bool = False) -> Trained:
    """Fine-tune ``graph`` fake-quantized to ``prot.bits``-bit weights with the restricted
    weights of ``prot`` projected after every step (no float epochs: WOT starts from
    trained weights); ``Trained.int8_graph`` is the WOT network before the hard clamp."""
    shapes = quantize(graph, images[:8], weight_bits=prot.bits)  # weight shapes only
    hook = RestrictedProjection(graph, restricted_masks(shapes, prot, hw), prot)
    config = TrainConfig(**{**config.__dict__, "epochs": 0, "weight_bits": prot.bits})
    return train(graph, images, labels, config, after_step=hook, progress=progress)
