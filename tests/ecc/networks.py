"""Small compiled networks for the ECC tests: the trained LeNet-5 at 8 and 4 bits."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from compiler import ir
from compiler.lower import lower
from compiler.quantize import quantize
from compiler.zoo import lenet5_mnist_float
from nvdla_sim.config import DEFAULT_CONFIG
from nvdla_sim.ecc.layout import WeightMemory, protection, restrict_graph

IMAGES = np.random.default_rng(5).random((24, 1, 28, 28), dtype=np.float32)


@lru_cache(maxsize=None)
def lenet(bits: int) -> ir.Graph:
    """LeNet-5's trained weights quantized to ``bits`` (activations calibrated on random
    images: the codes under test depend on the weights only)."""
    return quantize(lenet5_mnist_float(), IMAGES[:8], weight_bits=bits)


@lru_cache(maxsize=None)
def memory(strategy: str, bits: int) -> WeightMemory:
    prot = protection(strategy, bits)
    return WeightMemory(lower(restrict_graph(lenet(bits), prot, DEFAULT_CONFIG)), prot)
