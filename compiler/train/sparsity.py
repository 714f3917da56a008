"""Activation-sparse training: an L1 penalty on post-ReLU activations, steered to a
target share of zeros.

The penalty is ``strength * sum over ReLU/Clip outputs of mean |a|`` (the
activation L1 regulariser of Georgiadis, CVPR 2019 and Kurtz et al., ICML
2020).  Used as the ``extra_loss`` of :func:`compiler.train.train`, it adapts
``strength`` after every batch: times ``gain`` while the batch's share of
exact zeros over those tensors is under ``target``, divided by ``gain``
otherwise, so training settles near the target instead of needing a tuned
constant.  Deterministic: it depends only on the batches.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from compiler.ir import CompileError
from compiler.train.qat import QatNet
from compiler.zoo.graph import Clip


class SparsityPenalty:
    """``extra_loss`` hook; ``history`` holds (batch sparsity, strength) per call."""

    def __init__(self, target: float, strength: float = 1e-3, gain: float = 1.02,
                 max_strength: float = 1.0) -> None:
        if not 0 < target < 1 or strength <= 0 or gain < 1:
            raise CompileError(f"SparsityPenalty: target must be in (0, 1), strength > 0, "
                               f"gain >= 1; got {target}, {strength}, {gain}")
        self.target, self.strength, self.gain = target, strength, gain
        self.max_strength = max_strength
        self.history: list[tuple[float, float]] = []

    def __call__(self, net: QatNet, tensors: Mapping[str, torch.Tensor]) -> torch.Tensor:
        acts = [tensors[op.output] for op in net.graph.nodes
                if isinstance(op, Clip) and op.low == 0.0]
        if not acts:
            raise CompileError(f"SparsityPenalty: graph {net.graph.name} has no ReLU")
        penalty = sum(a.abs().mean() for a in acts)
        with torch.no_grad():
            zeros = sum(int((a == 0).sum()) for a in acts) / sum(a.numel() for a in acts)
        self.history.append((zeros, self.strength))
        loss = self.strength * penalty
        self.strength = min(self.strength * self.gain, self.max_strength) \
            if zeros < self.target else self.strength / self.gain
        return loss
