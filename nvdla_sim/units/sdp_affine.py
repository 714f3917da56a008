"""SDP's integer pipeline as one affine map and one rounding, where bounds prove it equal.

A convolution's SDP usually adds a per-kernel bias and multiplies by a
per-kernel scale in BS and BN, shifts once, and converts with scale 1:
``sat_P(sat32(rnd((((x + a1) * m1) + a2) * m2 >> s)) - offset)``.  Run stage by
stage (:func:`nvdla_sim.units.sdp.process`) that is a dozen passes over int64
cubes.  When the value bounds of the input rule out every intermediate
saturation, the same integers come from ``clip(floor((x * M + C) / 2**s)
adjusted for ties, L, H)`` with per-kernel ``M`` and ``C``: multiply, add,
shift, clip (two more passes where a negative tie is reachable).

The bounds come from the weights: a convolution's accumulator for kernel k
lies within ``sum_j min(w_kj * d)`` and ``sum_j max(w_kj * d)`` over the data
range ``d in [P.min, P.max]`` (inputs, padding and CDMA's converter output are
all of the precision P), whatever the input.  :func:`plan` folds the stages
with Python integers, checks every saturation the stages would apply against
those bounds, and returns None whenever it cannot prove the fold exact
(per-element operands, MAX / MIN ALUs, PReLU, two roundings, EW or LUT in
use, a converter that rounds after a rounding X stage, ...): the caller then
runs the stage-by-stage model.  Rounding is NVDLA's round half away from zero
(:func:`nvdla_sim.arith.rnd_shr`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from nvdla_sim.arith import shl_sat
from nvdla_sim.layers import Sdp, SdpX
from nvdla_sim.precision import Precision
from nvdla_sim.units.sdp import ALU_EQL, ALU_SUM
from nvdla_sim.units.sdp_rdma import Operands

INT32 = (-(1 << 31), (1 << 31) - 1)
SAFE = 1 << 62  # every int64 value of the fold stays below this
BLOCK_ELEMENTS = 1 << 18  # elements per pass: temporaries in cache, few calls


@dataclass(frozen=True)
class AffinePlan:
    """``out[k] = clip(floor((v + base - (ties and v < 0)) / 2**shift), lo, hi)`` with
    ``v = x[k] * mul[k] + add[k]`` for the real kernels (without reachable ties the base
    is folded into ``add``); ``padded`` is the output of the zero channels that pad the
    kernels to whole atoms."""

    mul: np.ndarray  # [K, 1] int64
    add: np.ndarray  # [K, 1]
    base: int  # rounding half (2**(shift-1)) and the offset after the rounding, scaled
    shift: int
    ties: bool  # some negative v lies halfway: round it away from zero (else half up)
    lo: int
    hi: int
    padded: np.ndarray  # [Cpad - K] of the output precision
    dtype: np.dtype


def _per_channel(value: np.ndarray | int, channels: int) -> list[int]:
    """A per-kernel operand ([Cpad, 1, 1]) or a register value as ``channels`` ints."""
    if isinstance(value, np.ndarray) and value.ndim:
        return [int(v) for v in value.reshape(value.shape[0], -1)[:channels, 0]]
    return [int(value)] * channels


def _stage_operands(stage: SdpX, ops: Operands, channels: int
                    ) -> tuple[list[int], list[int]] | None:
    """(ALU addend, multiplier) per channel of an X stage that adds and multiplies, or
    None where it does something else (MAX / MIN, PReLU, a per-element operand)."""
    add, mul = [0] * channels, [1] * channels
    if not stage.alu_bypass:
        if stage.alu_algo not in (ALU_SUM, ALU_EQL):  # the algorithms that add (as cmod)
            return None
        op = ops.alu if stage.alu_src else stage.alu_operand
        if op is None or (isinstance(op, np.ndarray) and op.size != op.shape[0]):
            return None
        add = _per_channel(shl_sat(op, stage.alu_shift, 32), channels)
    if not stage.mul_bypass:
        if stage.mul_prelu:
            return None
        op = ops.mul if stage.mul_src else stage.mul_operand
        if op is None or (isinstance(op, np.ndarray) and op.size != op.shape[0]):
            return None
        mul = _per_channel(op, channels)
    return add, mul


def _rnd(v: int, s: int) -> int:
    """Round half away from zero of ``v / 2**s`` (Python ints)."""
    if s == 0:
        return v
    h = 1 << (s - 1)
    return (v + h) >> s if v >= 0 else -((-v + h) >> s)


def _negative_tie(lo: int, hi: int, mul: int, add: int, shift: int) -> bool:
    """Whether some integer x in [lo, hi] makes ``v = x * mul + add`` negative and exactly
    halfway between multiples of 2**shift (where rounding away from zero differs from
    rounding half up).  Solves ``x * mul = 2**(shift-1) - add (mod 2**shift)`` and checks
    the solution in range with the lowest v."""
    if not shift:
        return False
    modulus, target = 1 << shift, ((1 << (shift - 1)) - add) % (1 << shift)
    if mul == 0:
        return add < 0 and target == 0
    twos = min((mul & -mul).bit_length() - 1, shift)
    if target % (1 << twos):
        return False
    period = modulus >> twos
    odd = (mul >> twos) % period if period > 1 else 0
    x0 = (target >> twos) * pow(odd, -1, period) % period if period > 1 else 0
    first = lo + (x0 - lo) % period
    if first > hi:
        return False
    x = first if mul > 0 else first + (hi - first) // period * period
    return x * mul + add < 0


def _affine(bounds: list[tuple[int, int]], mul: list[int], add: list[int]
            ) -> list[tuple[int, int]]:
    """Bounds of ``x * mul + add`` per channel."""
    return [tuple(sorted((lo * m + a, hi * m + a))) for (lo, hi), m, a in zip(bounds, mul, add)]


def _within(bounds: list[tuple[int, int]], lo: int, hi: int) -> bool:
    return all(lo <= a and b <= hi for a, b in bounds)


def plan(sdp: Sdp, operands: list[Operands], x_bounds: list[tuple[int, int]],
         padded: Callable[[], np.ndarray]) -> AffinePlan | None:
    """The fold of ``sdp`` for inputs within ``x_bounds`` (one (lo, hi) per real kernel),
    or None where it is not provably exact.  ``padded()``: the stage-by-stage output of
    the channels that pad the kernels to whole atoms (their input is 0)."""
    if not sdp.ew.bypass or sdp.in_prec.is_float or sdp.out_prec.is_float:
        return None
    k = len(x_bounds)
    if not _within(x_bounds, *INT32):
        return None
    mul, add = [1] * k, [0] * k  # the value so far: x * mul + add, exact
    bounds = list(x_bounds)
    shift, relu, rounded = 0, False, False
    for stage, ops in ((sdp.bs, operands[0]), (sdp.bn, operands[1])):
        if stage.bypass:
            continue
        if rounded:  # a second stage after a rounding one: two roundings do not fold
            return None
        found = _stage_operands(stage, ops, k)
        if found is None:
            return None
        a, m = found
        add = [(c + ai) * mi for c, ai, mi in zip(add, a, m)]
        mul = [c * mi for c, mi in zip(mul, m)]
        bounds = _affine([(lo + ai, hi + ai) for (lo, hi), ai in zip(bounds, a)], m, [0] * k)
        if not _within(bounds, -SAFE, SAFE):
            return None
        shift = stage.mul_shift & 63
        relu = not stage.relu_bypass
        # sat32 after the stage's rounding: never reached
        if not _within([(_rnd(lo, shift), _rnd(hi, shift)) for lo, hi in bounds], *INT32):
            return None
        rounded = shift > 0 or relu
    prec: Precision = sdp.out_prec
    p_lo, p_hi = int(prec.min), int(prec.max)
    offset = sdp.cvt_offset
    if rounded:  # the converter may only subtract its offset: no second rounding
        if sdp.cvt_scale != 1 or sdp.cvt_shift != 0:
            return None
        lo = min(max(p_lo, -offset), p_hi) if relu else p_lo  # max(y, 0) - offset
        delta = -offset  # added after the rounding: exact before it as delta * 2**shift
    else:  # X stages exact: the converter's rounding is the only one
        scale = sdp.cvt_scale
        add = [(c - offset) * scale for c in add]
        mul = [c * scale for c in mul]
        shift, delta, lo = sdp.cvt_shift, 0, p_lo
    base = ((1 << (shift - 1)) if shift else 0) + (delta << shift)
    for (xlo, xhi), m, c in zip(x_bounds, mul, add):
        if max(abs(xlo * m), abs(xhi * m)) + abs(c) + abs(base) >= SAFE:
            return None
    ties = any(_negative_tie(xlo, xhi, m, c, shift)
               for (xlo, xhi), m, c in zip(x_bounds, mul, add))
    if not ties:  # the base folds into the addend: one pass less
        add, base = [c + base for c in add], 0
    return AffinePlan(np.array([[v] for v in mul], np.int64),
                      np.array([[v] for v in add], np.int64), base, shift, ties, lo, p_hi,
                      padded(), prec.dtype)


def apply(p: AffinePlan, acc: np.ndarray) -> np.ndarray:
    """SDP output [Cpad, N] (output precision) of exact integer accumulators [K, N] (any
    integer-valued dtype), in column blocks that stay in cache."""
    k, n = acc.shape
    out = np.empty((k + p.padded.size, n), p.dtype)
    out[k:] = p.padded[:, None]
    step = max(1, BLOCK_ELEMENTS // max(k, 1))
    for a in range(0, n, step):
        # float32 -> int32 converts in SIMD, -> int64 does not (|x| < 2**31: plan checks)
        t = acc[:, a:a + step].astype(np.int32).astype(np.int64)
        out[:k, a:a + step] = _map(p, t, p.mul, p.add)
    return out


def apply_rows(p: AffinePlan, acc: np.ndarray) -> np.ndarray:
    """:func:`apply` for accumulators [N, K] (int64, one row per output pixel, as a later
    convolution's faulty pixels come): SDP output [N, Cpad]."""
    n, k = acc.shape
    out = np.empty((n, k + p.padded.size), p.dtype)
    out[:, k:] = p.padded
    step = max(1, BLOCK_ELEMENTS // max(k, 1))
    for a in range(0, n, step):
        out[a:a + step, :k] = _map(p, acc[a:a + step].astype(np.int64), p.mul.T, p.add.T)
    return out


def _map(p: AffinePlan, t: np.ndarray, mul: np.ndarray, add: np.ndarray) -> np.ndarray:
    """The plan's map on int64 ``t`` in place (``mul``, ``add`` broadcast along its
    kernel axis)."""
    t *= mul
    t += add
    if p.ties:
        t += t >> 63  # -1 where v < 0: ties then round away from zero
        t += p.base
    if p.shift:
        t >>= p.shift
    np.clip(t, p.lo, p.hi, out=t)
    return t
