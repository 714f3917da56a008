"""CMAC: the MAC array.  Each cell sums ``atom_c`` int8 x int8 products per cycle.

Functionally the whole convolution is one integer matrix product, computed
exactly with float32 BLAS: every product is at most 2**14 in magnitude, so
any partial sum of up to 2**10 products stays below 2**24 and is exact in
float32 whatever order BLAS adds in.  Longer sums are split into chunks of
2**10 terms whose exact results are added in int64.
"""

from __future__ import annotations

import numpy as np


CHUNK = 1 << 10  # 2**10 products of |x| <= 2**14 sum below 2**24: exact in float32


def exact_matmul(weights: np.ndarray, patches: np.ndarray) -> np.ndarray:
    """int64 result of ``weights [K, N] @ patches [N, P]`` for int8-valued operands."""
    w = weights.astype(np.float32, copy=False)
    d = patches.astype(np.float32, copy=False)
    n = w.shape[1]
    if n <= CHUNK:
        return (w @ d).astype(np.int64)
    out = np.zeros((w.shape[0], d.shape[1]), np.int64)
    for start in range(0, n, CHUNK):  # a few chunks per layer, each a BLAS call
        out += (w[:, start:start + CHUNK] @ d[start:start + CHUNK]).astype(np.int64)
    return out


def cell_sums(data: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Partial sums of one atomic operation per cell: ``weights [cells, lanes] . data [lanes]``.

    The adder-tree result fits in MAC_RESULT_WIDTH bits (2*8 + log2(atom_c)),
    so no saturation happens here.  ``data`` may carry leading batch axes.
    """
    return np.einsum("...l,kl->...k", data.astype(np.int64), weights.astype(np.int64))
