"""CMAC: the MAC array.  Each cell sums ``atom_c`` data x weight products per cycle.

Functionally the whole convolution is one integer matrix product, computed
exactly with float32 BLAS: a partial sum is exact in float32, whatever order
BLAS adds in, while its magnitude stays below 2**24.  With int8 data
(|x| <= 128) every partial sum of row k over columns J is bounded by
128 * sum_{j in J} |w_kj|, so the columns are split into chunks whose bound is
below 2**24 for every row (:func:`exact_splits`, once per weight matrix: one
or two chunks for typical layers; 2**10 columns when nothing is known about
the weights).  Chunk results are exact integers, added in float64 (exact
below 2**53).  INT16 products (|x| <= 2**30) go through float64 BLAS
instead, exact while ``columns * 2**30 < 2**53`` (chunks of 2**22 columns).
"""

from __future__ import annotations

import numpy as np

from nvdla_sim.precision import INT8, INT16, Precision

CHUNK = 1 << 10  # 2**10 products of |x| <= 2**14 sum below 2**24: exact in float32
FLOAT32_EXACT = 1 << 24
FLOAT64_EXACT = 1 << 53
DATA_MAX = -INT8.min  # |int8|


def gemm_dtype(prec: Precision) -> type:
    """The float type whose GEMM is exact (after chunking) for ``prec``'s operands."""
    return np.float32 if prec.product_max * CHUNK <= FLOAT32_EXACT else np.float64


WIDE_CHUNK = FLOAT64_EXACT // (2 * INT16.product_max)  # 2**22 INT16 products: float64-exact


def exact_splits(weights: np.ndarray, data_max: int = DATA_MAX) -> np.ndarray:
    """Column boundaries [0, ..., N] of ``weights [K, N]`` (int8-valued) such that in every
    chunk, for every row, ``data_max * sum |w|`` stays below 2**24 (greedy, widest
    first), for data of magnitude up to ``data_max``.  Rows are scanned in blocks of
    about 2**22 values, so huge FC layers need no huge temporaries."""
    k, n = weights.shape
    limit = (FLOAT32_EXACT - 1) // data_max
    rows = max(1, (1 << 22) // max(n, 1))
    bounds, start = [0], 0
    while start < n:
        widest = np.zeros(n - start, np.int64)  # largest row sum over [start, start + j]
        for r in range(0, k, rows):
            block = np.abs(weights[r:r + rows, start:].astype(np.int32))
            np.maximum(widest, np.cumsum(block, axis=1).max(axis=0), out=widest)
        start += max(1, int(np.searchsorted(widest, limit, side="right")))
        bounds.append(start)
    return np.array(bounds, np.int64)


def exact_matmul(weights: np.ndarray, patches: np.ndarray,
                 splits: np.ndarray | None = None) -> np.ndarray:
    """int64 result of ``weights [K, N] @ patches [N, P]`` for integer-valued operands;
    ``splits``: :func:`exact_splits` of ``weights`` for the data's bound (default: chunks
    of 2**10 columns, exact for int8 data).  float64 operands (INT16) are multiplied in
    float64, in chunks of 2**22 columns."""
    return exact_product(weights, patches, splits).astype(np.int64)


def exact_product(weights: np.ndarray, patches: np.ndarray,
                  splits: np.ndarray | None = None) -> np.ndarray:
    """:func:`exact_matmul` as floats holding the exact integers (float32 from one BLAS
    call, float64 when chunks were added): callers that go on in int64 convert once."""
    wide = weights.dtype == np.float64 or patches.dtype == np.float64
    dtype = np.float64 if wide else np.float32
    w = weights.astype(dtype, copy=False)
    d = patches.astype(dtype, copy=False)
    n = w.shape[1]
    chunk = WIDE_CHUNK if wide else CHUNK
    bounds = (splits.tolist() if splits is not None and not wide
              else list(range(0, n, chunk)) + [n])
    if len(bounds) == 2:
        return w @ d
    out = None
    for a, b in zip(bounds[:-1], bounds[1:]):  # a few BLAS calls per layer
        part = w[:, a:b] @ d[a:b]
        if out is None:
            out = part.astype(np.float64)
        else:
            out += part
    return out


def cell_sums(data: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Partial sums of one atomic operation per cell: ``weights [cells, lanes] . data [lanes]``.

    The adder-tree result fits in MAC_RESULT_WIDTH bits (2*BPE + log2(atom_c)),
    so no saturation happens here.  ``data`` may carry leading batch axes.
    """
    return np.einsum("...l,kl->...k", data.astype(np.int64), weights.astype(np.int64))
