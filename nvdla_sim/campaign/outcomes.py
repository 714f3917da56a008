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
    z = logits - logits.max()
    e = np.exp(z)
    return e / e.sum()


@dataclass(frozen=True)
class Outcome:
    category: int
    flags: int
    faulty_top1: int
    deviation: float  # max |faulty - golden| of the dequantized output


def classify(golden_logits: np.ndarray, faulty_logits: np.ndarray, label: int,
             identical: bool) -> Outcome:
    """Compare dequantized output vectors (one value per class)."""
    g, f = golden_logits.ravel(), faulty_logits.ravel()
    top1 = int(np.argmax(g))
    faulty_top1 = int(np.argmax(f))
    if identical:
        return Outcome(MASKED, 0, top1, 0.0)
    flags = 0
    if faulty_top1 != top1:
        flags |= FLAG_SDC1
    if g.size >= 10:
        top5_g = np.argsort(-g, kind="stable")[:5]
        top5_f = np.argsort(-f, kind="stable")[:5]
        if label in top5_g and label not in top5_f:
            flags |= FLAG_SDC5
    move = abs(float(softmax(f)[top1] - softmax(g)[top1]))
    if move > 0.10:
        flags |= FLAG_SDC10
    if move > 0.20:
        flags |= FLAG_SDC20
    category = SDC if flags & FLAG_SDC1 else TOLERABLE
    return Outcome(category, flags, faulty_top1, float(np.max(np.abs(f - g))))
