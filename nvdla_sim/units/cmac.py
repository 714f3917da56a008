"""CMAC: the MAC array.  Each cell sums ``atom_c`` int8 x int8 products per cycle.

Functionally the whole convolution is one integer matrix product.  It is
computed exactly with float64 BLAS: every product is at most 2**14 in
magnitude, so a sum of n products is exact while n * 2**14 < 2**53, i.e. for
up to 2**39 terms per output (checked).
"""

from __future__ import annotations

import numpy as np

from nvdla_sim.errors import LayerError

_EXACT_TERMS = 1 << 39  # n * 2**14 < 2**53


def exact_matmul(weights: np.ndarray, patches: np.ndarray) -> np.ndarray:
    """int64 result of ``weights [K, N] @ patches [N, P]`` for int8 operands."""
    n = weights.shape[1]
    if n >= _EXACT_TERMS:
        raise LayerError(f"CMAC: {n} products per output exceed the exact float64 bound")
    return (weights.astype(np.float64) @ patches.astype(np.float64)).astype(np.int64)


def cell_sums(data: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Partial sums of one atomic operation per cell: ``weights [cells, lanes] . data [lanes]``.

    The adder-tree result fits in MAC_RESULT_WIDTH bits (2*8 + log2(atom_c)),
    so no saturation happens here.  ``data`` may carry leading batch axes.
    """
    return np.einsum("...l,kl->...k", data.astype(np.int64), weights.astype(np.int64))
