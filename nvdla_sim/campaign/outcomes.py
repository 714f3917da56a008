"""Classifying a faulty inference against the golden one.

Outcome categories (one per injection): ``masked`` (outputs bit-identical),
``tolerable`` (outputs corrupted, top-1 unchanged), ``sdc`` (top-1 changed).
Criteria recorded as flags (several may hold): SDC-1 (top-1 changed),
SDC-5 (the true class leaves the top-5; only with >= 10 classes), SDC-10%
and SDC-20% (the softmax confidence of the golden top-1 class moves by more
than 0.10 / 0.20).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MASKED, TOLERABLE, SDC = 0, 1, 2
FLAG_SDC1, FLAG_SDC5, FLAG_SDC10, FLAG_SDC20 = 1, 2, 4, 8
FLAGS = {"sdc1": FLAG_SDC1, "sdc5": FLAG_SDC5, "sdc10": FLAG_SDC10, "sdc20": FLAG_SDC20}


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax along the last axis."""
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class Outcome:
    category: int
    flags: int
    faulty_top1: int
    deviation: float  # max |faulty - golden| of the dequantized output


@dataclass(frozen=True)
class Outcomes:
    """:class:`Outcome` fields for many corrupted inferences, as arrays."""

    category: np.ndarray
    flags: np.ndarray
    faulty_top1: np.ndarray
    deviation: np.ndarray


def classify_corrupted(golden_logits: np.ndarray, faulty_logits: np.ndarray,
                       labels: np.ndarray) -> Outcomes:
    """Compare N corrupted (not bit-identical) dequantized outputs [N, classes] with their
    golden ones, all at once."""
    g, f = np.atleast_2d(golden_logits), np.atleast_2d(faulty_logits)
    rows = np.arange(g.shape[0])
    top1, faulty_top1 = g.argmax(axis=1), f.argmax(axis=1)
    flags = np.where(faulty_top1 != top1, FLAG_SDC1, 0)
    if g.shape[1] >= 10:
        label = np.asarray(labels)[:, None]
        top5_g = np.argsort(-g, axis=1, kind="stable")[:, :5]
        top5_f = np.argsort(-f, axis=1, kind="stable")[:, :5]
        left = (top5_g == label).any(axis=1) & ~(top5_f == label).any(axis=1)
        flags |= np.where(left, FLAG_SDC5, 0)
    move = np.abs(softmax(f)[rows, top1] - softmax(g)[rows, top1])
    flags |= np.where(move > 0.10, FLAG_SDC10, 0) | np.where(move > 0.20, FLAG_SDC20, 0)
    category = np.where(flags & FLAG_SDC1, SDC, TOLERABLE)
    return Outcomes(category, flags, faulty_top1, np.abs(f - g).max(axis=1))


def classify(golden_logits: np.ndarray, faulty_logits: np.ndarray, label: int,
             identical: bool) -> Outcome:
    """Compare dequantized output vectors (one value per class)."""
    g, f = golden_logits.ravel(), faulty_logits.ravel()
    if identical:
        return Outcome(MASKED, 0, int(np.argmax(g)), 0.0)
    out = classify_corrupted(g, f, np.array([label]))
    return Outcome(int(out.category[0]), int(out.flags[0]), int(out.faulty_top1[0]),
                   float(out.deviation[0]))
