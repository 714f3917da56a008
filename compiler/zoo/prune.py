"""Structural (channel) pruning of a :class:`FloatGraph`: real, smaller shapes.

A pruned graph is an ordinary zoo graph with fewer channels, so it quantizes
(:func:`compiler.quantize.quantize`), compiles to fewer NVDLA channels (and
fewer cycles) and exports to ONNX like any other.  Channels that must go
together (:mod:`compiler.zoo.channels`) are scored and removed as one group.

Criteria (each normalised per layer, so that a global ranking compares
layers of different scales):

* ``l1`` / ``l2``: the norm of each output channel's filter after batchnorm
  folding (Li et al., "Pruning filters for efficient ConvNets", ICLR 2017),
  divided by the mean norm of that layer's filters; a group averages the
  filters that produce it.
* ``activation``: the mean of the channel's post-activation value (|value|
  where no ReLU follows) on calibration images, divided by that tensor's mean
  over channels (Hu et al.'s activation statistics, mean instead of APoZ).

Scope ``global`` removes ``ratio`` of all prunable groups, lowest score
first; ``layer`` removes ``ratio`` of the groups of each layer (a layer is
the set of tensors a group touches: a residual stream counts as one).
Either way every layer keeps at least one channel.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from compiler.ir import CompileError
from compiler.zoo.channels import ChannelDependencies, channel_dependencies, depthwise
from compiler.zoo.fold import fold_batchnorm
from compiler.zoo.forward import forward
from compiler.zoo.graph import BatchNorm, Clip, Conv, FloatGraph, Linear, Op

CRITERIA = ("l1", "l2", "activation")
SCOPES = ("global", "layer")
MAX_RATIO = 0.95


@dataclass(frozen=True)
class PruneResult:
    graph: FloatGraph              # the pruned graph
    ratio: float
    criterion: str
    scope: str
    removed: np.ndarray            # group ids removed
    prunable: int                  # groups that could be removed
    channels: dict[str, tuple[int, int]]  # Conv/Linear name -> (output channels before, after)

    @property
    def removed_share(self) -> float:
        return len(self.removed) / max(self.prunable, 1)


def _mean_normalised(values: np.ndarray) -> np.ndarray:
    mean = float(np.mean(values)) if values.size else 0.0
    return values / mean if mean > 0 else np.zeros_like(values)


def _scatter_mean(deps: ChannelDependencies, per_tensor: dict[str, np.ndarray]) -> np.ndarray:
    """Average per-channel scores of the given tensors into their groups (NaN: none)."""
    total = np.zeros(deps.groups)
    count = np.zeros(deps.groups)
    for tensor, score in per_tensor.items():
        np.add.at(total, deps.labels[tensor], score)
        np.add.at(count, deps.labels[tensor], 1)
    with np.errstate(invalid="ignore"):
        return total / count


def weight_scores(deps: ChannelDependencies, norm: str = "l1") -> np.ndarray:
    """Per group: the mean, over the filters producing it, of filter norm / layer mean."""
    order = 1 if norm == "l1" else 2
    per_tensor = {}
    for op in fold_batchnorm(deps.graph).nodes:  # folded convs write their batchnorm's tensor
        if isinstance(op, (Conv, Linear)):
            w = np.asarray(op.weight, np.float64).reshape(len(op.weight), -1)
            per_tensor[op.output] = _mean_normalised(np.linalg.norm(w, order, axis=1))
    return _scatter_mean(deps, per_tensor)


def activation_scores(deps: ChannelDependencies, images: np.ndarray,
                      batch_size: int = 32) -> np.ndarray:
    """Per group: mean post-ReLU activation of its channels on ``images`` / tensor mean."""
    graph = deps.graph
    clipped = {op.output for op in graph.nodes if isinstance(op, Clip)}
    sums: dict[str, np.ndarray] = {}

    def observe(name: str, value: np.ndarray) -> None:
        if value.ndim == 4 and name in deps.labels:
            sums[name] = sums.get(name, 0) + np.abs(value).sum(axis=(0, 2, 3))
        elif value.ndim == 2 and deps.unit.get(name, 1) == 1 and name in deps.labels:
            sums[name] = sums.get(name, 0) + np.abs(value).sum(axis=0)

    for start in range(0, len(images), batch_size):
        forward(graph, images[start:start + batch_size], observe)
    per_tensor = {t: _mean_normalised(s) for t, s in sums.items()}
    post = _scatter_mean(deps, {t: s for t, s in per_tensor.items() if t in clipped})
    every = _scatter_mean(deps, per_tensor)
    return np.where(np.isnan(post), every, post)


def scores(deps: ChannelDependencies, criterion: str,
           calibration: np.ndarray | None = None) -> np.ndarray:
    if criterion in ("l1", "l2"):
        return weight_scores(deps, criterion)
    if criterion == "activation":
        if calibration is None:
            raise CompileError("pruning criterion 'activation' needs calibration images")
        return activation_scores(deps, calibration)
    raise CompileError(f"unknown pruning criterion {criterion!r}; expected one of "
                       f"{', '.join(CRITERIA)}")


def select(deps: ChannelDependencies, score: np.ndarray, ratio: float,
           scope: str = "global") -> np.ndarray:
    """Group ids to remove: the lowest-scoring ``ratio`` of the prunable groups (globally
    or per layer), every layer keeping at least one group; ties go by group id."""
    if scope not in SCOPES:
        raise CompileError(f"unknown pruning scope {scope!r}; expected one of "
                           f"{', '.join(SCOPES)}")
    if not 0 <= ratio <= MAX_RATIO:
        raise CompileError(f"pruning ratio must be in [0, {MAX_RATIO}], got {ratio}")
    family_of = deps.families()
    prunable = deps.prunable()
    size: dict[tuple[str, ...], int] = {}
    for g in prunable.tolist():
        size[family_of[g]] = size.get(family_of[g], 0) + 1
    key = np.nan_to_num(score[prunable], nan=np.inf)
    ranked = prunable[np.lexsort((prunable, key))]
    removed: list[int] = []
    if scope == "global":
        target = int(round(ratio * len(prunable)))
        left = dict(size)
        for g in ranked.tolist():
            if len(removed) == target:
                break
            if left[family_of[g]] > 1:
                left[family_of[g]] -= 1
                removed.append(g)
    else:
        quota = {f: min(int(np.floor(ratio * n + 1e-9)), n - 1) for f, n in size.items()}
        for g in ranked.tolist():
            if quota[family_of[g]] > 0:
                quota[family_of[g]] -= 1
                removed.append(g)
    return np.array(sorted(removed), np.int64)


def remove_groups(deps: ChannelDependencies, removed: np.ndarray) -> FloatGraph:
    """``deps.graph`` without the channels of groups ``removed`` (real smaller arrays)."""
    graph = deps.graph
    gone = np.zeros(deps.groups, bool)
    gone[removed] = True
    if gone[deps.blocked].any():
        bad = int(np.flatnonzero(gone & deps.blocked)[0])
        raise CompileError(f"channel group {bad} cannot be pruned: it touches "
                           f"{deps.reason[bad]}")
    keep = {t: ~gone[lab] for t, lab in deps.labels.items()}
    if not all(k.any() for k in keep.values()):
        empty = next(t for t, k in keep.items() if not k.any())
        raise CompileError(f"pruning would remove every channel of tensor {empty!r}")

    def features(tensor: str) -> np.ndarray:  # keep mask over a flat tensor's features
        return np.repeat(keep[tensor], deps.unit[tensor])

    nodes: list[Op] = []
    for op in graph.nodes:
        out = keep[op.output]
        if isinstance(op, Conv) and (op.groups == 1 or depthwise(op)):
            w = op.weight[out]
            if op.groups == 1:
                w = w[:, keep[op.inputs[0]]]
            groups = op.groups if op.groups == 1 else int(keep[op.inputs[0]].sum())
            op = dataclasses.replace(op, weight=w, bias=op.bias[out], groups=groups)
        elif isinstance(op, Linear):
            op = dataclasses.replace(op, weight=op.weight[out][:, features(op.inputs[0])],
                                     bias=op.bias[out])
        elif isinstance(op, BatchNorm):
            op = dataclasses.replace(op, gamma=op.gamma[out], beta=op.beta[out],
                                     mean=op.mean[out], var=op.var[out])
        nodes.append(op)
    return dataclasses.replace(graph, nodes=tuple(nodes))


def prune(graph: FloatGraph, ratio: float, criterion: str = "l1", scope: str = "global",
          calibration: np.ndarray | None = None) -> PruneResult:
    """Remove ``ratio`` (0..0.95) of the prunable channel groups of ``graph`` by
    ``criterion`` (l1, l2, activation: the last needs ``calibration`` images)."""
    deps = channel_dependencies(graph)
    removed = select(deps, scores(deps, criterion, calibration), ratio, scope)
    pruned = remove_groups(deps, removed)
    channels = {op.name: (graph.shapes[op.output][0], pruned.shapes[op.output][0])
                for op in graph.nodes if isinstance(op, (Conv, Linear))}
    return PruneResult(pruned, ratio, criterion, scope, removed, len(deps.prunable()),
                       channels)


def parameter_count(graph: FloatGraph) -> int:
    """Weights and biases of the convolutions and fully connected layers."""
    return sum(op.weight.size + op.bias.size for op in graph.nodes
               if isinstance(op, (Conv, Linear)))
