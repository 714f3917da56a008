"""Fault sites and the bit operations that corrupt a register value.

A site names one physical register bit (or ``bits`` adjacent bits) of one
hardware layer and, for transient upsets, the cycle it flips at.  Values are
two's-complement numbers of the register's width: a flip XORs the bits, a
stuck-at forces them, and the result is read back as signed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nvdla_sim.arith import sx

MODELS = ("flip", "stuck0", "stuck1")


@dataclass(frozen=True)
class FaultSite:
    """(layer, register, instance, bit, cycle, model): one fault, replayable alone.

    ``layer`` is a hardware-layer index, or -1 for a stuck-at that holds for
    the whole run (every layer using the register).  ``cycle`` counts from the
    layer's launch and is ignored by stuck-at models.  ``bits`` > 1 is a
    multi-bit upset of adjacent bits starting at ``bit``.
    """

    layer: int
    register: str
    instance: int
    bit: int
    cycle: int = 0
    model: str = "flip"
    bits: int = 1

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"unknown fault model {self.model!r}; expected one of {MODELS}")

    @property
    def unit(self) -> str:
        return self.register.split(".", 1)[0]

    @property
    def transient(self) -> bool:
        return self.model == "flip"

    def mask(self, width: int) -> int:
        """The affected bits, clipped to the register width."""
        return ((1 << self.bits) - 1) << self.bit & ((1 << width) - 1)

    def lane_masks(self, lanes: int, lane_width: int) -> list[int]:
        """The affected bits of each ``lane_width``-bit lane (lane 0 in the low bits)."""
        span = ((1 << self.bits) - 1) << self.bit  # over the whole register
        return [(span >> (lane * lane_width)) & ((1 << lane_width) - 1)
                for lane in range(lanes)]

    def _corrupt(self, value, mask, width: int) -> np.ndarray:
        """``value`` as a ``width``-bit register with the ``mask`` bits flipped or stuck."""
        raw = np.asarray(value, np.int64) & ((1 << width) - 1)
        if self.model == "flip":
            raw = raw ^ mask
        elif self.model == "stuck0":
            raw = raw & ~mask
        else:
            raw = raw | mask
        return sx(raw, width)

    def apply(self, value, width: int):
        """Corrupted value(s) of a ``width``-bit register holding ``value``."""
        out = self._corrupt(value, self.mask(width), width)
        return out if np.ndim(value) else int(out)

    def apply_lanes(self, value, lane_width: int):
        """Like :meth:`apply` for a register of ``lane_width``-bit lanes along the last axis
        of ``value`` (a data atom or weight slice): bit ``b`` is bit ``b % w`` of lane ``b // w``."""
        value = np.asarray(value, np.int64)
        masks = np.array(self.lane_masks(value.shape[-1], lane_width), np.int64)
        return self._corrupt(value, masks, lane_width)

    def describe(self) -> str:
        what = {"flip": "flip", "stuck0": "stuck-at-0", "stuck1": "stuck-at-1"}[self.model]
        bits = f"bit {self.bit}" if self.bits == 1 else f"bits {self.bit}..{self.bit + self.bits - 1}"
        where = "every layer" if self.layer < 0 else f"layer {self.layer}"
        when = f" at cycle {self.cycle}" if self.transient else ""
        return f"{what} of {self.register}[{self.instance}] {bits}, {where}{when}"


def flip_bits(value: np.ndarray, bit: np.ndarray, bits: np.ndarray, width: int) -> np.ndarray:
    """``value`` as ``width``-bit registers with bits ``bit .. bit + bits - 1`` flipped,
    read back as signed: :meth:`FaultSite.apply` of many flips at once (width < 63)."""
    mask = (((np.int64(1) << bits) - 1) << bit) & ((1 << width) - 1)
    return sx((np.asarray(value, np.int64) & ((1 << width) - 1)) ^ mask, width)
