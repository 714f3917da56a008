"""Zoo models at CIFAR size and seeded random inputs, shared by the zoo and quantizer tests."""

from __future__ import annotations

import functools

import numpy as np

from compiler.zoo import get_model

SMALL = (3, 32, 32)


@functools.cache
def small(name: str):
    return get_model(name, input_shape=SMALL, num_classes=10)


def images(n: int, shape=SMALL, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, *shape)).astype(np.float32)
