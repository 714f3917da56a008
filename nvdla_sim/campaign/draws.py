"""Counter-based random draws: the numbers of injection ``i`` are a hash of (seed, i).

Any injection can be drawn alone (replay) or together with millions of others
in one vectorized call, on any worker, with the same result.  The hash is
SplitMix64 (Steele, Lea, Flood, "Fast splittable pseudorandom number
generators", OOPSLA 2014) applied to the seed, the injection id and a stream
number (one stream per quantity drawn).
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def hash64(seed: int, ids: np.ndarray, stream: int) -> np.ndarray:
    """64 well-mixed bits per id (uint64)."""
    with np.errstate(over="ignore"):
        key = _mix(np.uint64(seed & 0xFFFFFFFFFFFFFFFF) * _GOLDEN + np.uint64(stream))
        return _mix(np.asarray(ids, np.uint64) * _GOLDEN + key)


def integers(seed: int, ids: np.ndarray, stream: int, high: np.ndarray | int) -> np.ndarray:
    """Uniform integers in [0, high) (bias below high / 2**64)."""
    return (hash64(seed, ids, stream) % np.asarray(high, np.uint64)).astype(np.int64)


def uniform(seed: int, ids: np.ndarray, stream: int) -> np.ndarray:
    """Uniform floats in [0, 1) with 53 random bits."""
    return (hash64(seed, ids, stream) >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
