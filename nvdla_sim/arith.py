"""NVDLA's integer primitives, vectorized over int64 numpy arrays.

These are the only places that round, truncate or saturate; every unit builds
on them.  Semantics follow NVDLA's C model (``cmod/hls/include/nvdla_int.h``
with ``ac_fixed`` in ``AC_RND_INF, AC_SAT`` mode): shifts round to nearest
with ties away from zero, then saturate to the stage width.  All callers keep
intermediate values below 2**62 so int64 never overflows; each states its
bound.
"""

from __future__ import annotations

import numpy as np

ArrayLike = np.ndarray | int


def as_i64(x: ArrayLike) -> np.ndarray:
    return np.asarray(x, dtype=np.int64)


def sx(value: ArrayLike, bits: int) -> np.ndarray:
    """Sign-extend the low ``bits`` bits (two's complement)."""
    v = as_i64(value) & ((1 << bits) - 1)
    return v - ((v >> (bits - 1)) << bits)


def sx_int(value: int, bits: int) -> int:
    """Scalar :func:`sx` for register fields."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


CLIP_ELEMENTS = 4096  # from this size ``np.clip`` (one pass) beats maximum + minimum


def _clamp(v: np.ndarray, lo: int, hi: int, out: np.ndarray | None = None) -> np.ndarray:
    """``min(max(v, lo), hi)`` into ``out`` (None: a new array).  Large arrays: one
    ``clip`` pass (a third of the time of the two ufuncs at 200,000 elements); small ones
    (fault cones): the two ufuncs, as ``clip``'s Python wrapper costs more than they do."""
    if v.size >= CLIP_ELEMENTS:
        return np.clip(v, lo, hi, out=out)
    t = np.maximum(v, lo, out=out)
    return np.minimum(t, hi, out=t) if t.ndim else np.minimum(t, hi)


def sat(value: ArrayLike, bits: int) -> np.ndarray:
    """Clamp to the signed ``bits``-bit range (a new array)."""
    lim = 1 << (bits - 1)
    return _clamp(as_i64(value), -lim, lim - 1)


def rnd_shr(value: ArrayLike, shift: ArrayLike) -> np.ndarray:
    """``value / 2**shift`` rounded to nearest, ties away from zero (shift >= 0).

    Needs ``|value| + 2**(shift-1) < 2**63``.
    """
    v = as_i64(value)
    if np.ndim(shift) == 0:  # the common case: one shift for the whole array
        s = int(shift)
        if s < 0:
            raise ValueError("rnd_shr needs a non-negative shift")
        if s == 0:
            return v
        # ties away from zero: floor((v + h) / 2^s) for v >= 0, floor((v + h - 1) / 2^s)
        # for v < 0 (= -floor((|v| + h) / 2^s)), with h = 2^(s-1)
        t = v + (1 << (s - 1))  # a new array: the rest goes in place (memory traffic)
        t -= v < 0
        t >>= s
        return t
    s = as_i64(shift)
    if np.any(s < 0):
        raise ValueError("rnd_shr needs a non-negative shift")
    half = np.where(s > 0, np.left_shift(1, np.maximum(s - 1, 0)), 0)
    mag = (np.abs(v) + half) >> s
    return np.where(v < 0, -mag, mag)


def rnd_shr_sat(value: ArrayLike, shift: int, bits: int, relu: bool = False) -> np.ndarray:
    """``sat(rnd_shr(value, shift), bits)``, then ``max(., 0)`` if ``relu``, in one new
    array (the SDP's truncate-and-saturate steps run on every output element; each fresh
    temporary of that size costs as much again in page faults as the arithmetic)."""
    lim = 1 << (bits - 1)
    lo = 0 if relu else -lim
    v = as_i64(value)
    if np.ndim(shift) or not v.ndim or int(shift) <= 0:  # rnd_shr refuses a negative shift
        return _clamp(rnd_shr(v, shift), lo, lim - 1)
    s = int(shift)
    t = v + (1 << (s - 1))  # ties away from zero, as rnd_shr
    t -= v < 0
    t >>= s
    return _clamp(t, lo, lim - 1, out=t)


def shl_sat(value: ArrayLike, shift: ArrayLike, bits: int) -> np.ndarray:
    """``sat_bits(value << shift)`` (cmod ``IntShiftLeft``); shift < 63 - bit length."""
    return sat(as_i64(value) << as_i64(shift), bits)


def wrap(value: ArrayLike, bits: int) -> np.ndarray:
    """Keep the low ``bits`` bits as a signed number (assignment to a narrower type)."""
    return sx(value, bits)
