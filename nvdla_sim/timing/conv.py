"""Cycle-approximate schedule of the convolution core (CSC -> CMAC -> CACC).

Loop nest (cmod ``csc.cpp``, RTL ``NV_NVDLA_CSC_sg.v``), outermost first::

    kernel group g (one kernel per MAC cell: atom_k at INT8, half as many at INT16)
      stripe: up to 2 * atom_k consecutive output pixels (p = oy * Wo + ox)
        channel block b (lanes = HardwareConfig.mac_channels: atom_c, 32 at FP32)
          kernel tap rs = y * S + x             <- a "stripe operation": weights fixed
            pixel j of the stripe               <- one atomic operation per cycle

Stripe length: ``2 * atom_k`` while at least ``4 * atom_k`` pixels remain, all
remaining pixels when at most ``2 * atom_k`` remain, ``atom_k`` otherwise, at
every precision (cmod ``NV_NVDLA_csc.h``: ``MAX_STRIPE_LENGTH_INT8`` equals
``_INT16``).  A stripe operation lasts ``max(L, cells)`` cycles: the next
stripe's weights load into the shadow registers one kernel (cell) per cycle
meanwhile, ``cells`` being the kernel group of the layer's precision
(:meth:`HardwareConfig.kernel_group`; cmod ``KERNEL_PER_GROUP_INT8`` /
``_INT16``).  Cycle 0 is the first weight load; the first atomic operation
issues at cycle ``cells``.

Assumptions (documented in docs/timing.md): no memory or CBUF stalls, CSC
issues one atomic operation per cycle, SDP never back-pressures CACC.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from nvdla_sim.config import HardwareConfig
from nvdla_sim.layers import ConvCore

# Cycle at which a register holds an atomic operation's value, counted from the cycle
# CSC issues it (after RTL NV_NVDLA_CMAC.h: input retiming, pre/active stages, adder
# tree, output retiming into CACC; NV_NVDLA_CACC_CALC_int8.v: sum, then write).
DAT_IN = 2  # input retiming register, shared by the cells of one CMAC half
DAT_ACTV = 4  # active data register of each MAC cell (products form in this cycle)
SUM_OUT = 5  # adder-tree result register of each cell
MAC_OUT = 7  # CMAC output register towards CACC
CACC_SUM = 8  # CACC adder output: partial sum + psum (35 bits, before saturation)
CACC_WRITE = 9  # assembly-buffer write of a partial / final-result register


def stripe_lengths(pixels: int, atom_k: int) -> list[int]:
    out, left = [], pixels
    while left > 0:
        if left >= 4 * atom_k:
            n = 2 * atom_k
        elif left <= 2 * atom_k:
            n = left
        else:
            n = atom_k
        out.append(n)
        left -= n
    return out


@dataclass(frozen=True)
class ConvSchedule:
    """Every stripe operation of one convolution, as parallel numpy arrays."""

    conv: ConvCore
    config: HardwareConfig

    # -- structure -------------------------------------------------------------------
    @cached_property
    def cells(self) -> int:
        """MAC cells (kernels per group) at the layer's precision."""
        return self.config.kernel_group(self.conv.precision)

    @cached_property
    def groups(self) -> int:
        return -(-self.conv.kernels // self.cells)

    @cached_property
    def lanes(self) -> int:
        """Channels of one atomic operation at the layer's precision."""
        return self.config.mac_channels(self.conv.precision)

    @cached_property
    def blocks(self) -> int:
        return -(-self.conv.in_channels // self.lanes)

    @cached_property
    def taps(self) -> int:
        return self.conv.kernel_height * self.conv.kernel_width

    @cached_property
    def pixels(self) -> int:
        return self.conv.out_width * self.conv.out_height

    @cached_property
    def stripes(self) -> tuple[np.ndarray, np.ndarray]:
        """(first pixel, length) of each stripe."""
        lengths = np.array(stripe_lengths(self.pixels, self.config.atom_k), np.int64)
        return np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths

    @cached_property
    def ops(self) -> dict[str, np.ndarray]:
        """Stripe operations in issue order: group, stripe, block, tap, first pixel,
        length, start cycle, duration."""
        first, length = self.stripes
        n_stripes = first.size
        g, st, b, rs = np.meshgrid(np.arange(self.groups), np.arange(n_stripes),
                                   np.arange(self.blocks), np.arange(self.taps), indexing="ij")
        g, st, b, rs = (a.ravel() for a in (g, st, b, rs))
        duration = np.maximum(length[st], self.cells)
        start = self.cells + np.concatenate([[0], np.cumsum(duration)[:-1]])
        return {"group": g, "stripe": st, "block": b, "tap": rs, "first": first[st],
                "length": length[st], "start": start, "duration": duration}

    @cached_property
    def core_cycles(self) -> int:
        ops = self.ops
        return int(ops["start"][-1] + ops["duration"][-1]) if ops["start"].size else 0

    @cached_property
    def cycles(self) -> int:
        """Until the last result leaves CACC (SDP's tail is added by the layer schedule)."""
        return self.core_cycles + CACC_WRITE + 1

    @cached_property
    def fetch_cycles(self) -> int:
        """Cycles from the launch to cycle 0: CSC starts once the whole input cube
        (``dat_cbuf_ready``: all its slices) and the first kernel group's weights
        (``wt_cbuf_ready``) are in the CBUF (RTL ``NV_NVDLA_CSC_sg.v``); CDMA fetches both
        through one memory port after its latency.  Later groups' weights load while
        earlier ones compute."""
        conv, cfg = self.conv, self.config
        atoms = -(-conv.in_channels // cfg.atom_channels(cfg.prec))
        data = conv.in_width * conv.in_height * atoms * cfg.mem_atom
        kernel = conv.kernel_height * conv.kernel_width * conv.in_channels
        weights = min(conv.kernels, cfg.kernel_group(cfg.prec)) * kernel * cfg.prec.element_bytes
        return cfg.mem_latency + -(-(data + weights) * 8 // cfg.mem_width_bits)

    # -- queries ---------------------------------------------------------------------
    def stripe_op_at(self, cycle: int, offset: int) -> int | None:
        """Index of the stripe operation whose ops are at pipeline ``offset`` at ``cycle``
        (None if that stage is idle: before the first or in a short stripe's gap)."""
        ops = self.ops
        s = int(np.searchsorted(ops["start"], cycle - offset, side="right")) - 1
        if s < 0:
            return None
        j = cycle - offset - int(ops["start"][s])
        return s if j < int(ops["length"][s]) else None

    def atomic_at(self, cycle: int, offset: int) -> tuple[int, int] | None:
        """(stripe operation, pixel index within its stripe) at pipeline ``offset``."""
        s = self.stripe_op_at(cycle, offset)
        if s is None:
            return None
        return s, cycle - offset - int(self.ops["start"][s])

    def weight_holder(self, cycle: int) -> int | None:
        """Stripe operation whose weights the active registers hold *live* at ``cycle``:
        promoted at ``start + DAT_ACTV``, last used by the stripe's last atomic op."""
        ops = self.ops
        s = int(np.searchsorted(ops["start"], cycle - DAT_ACTV, side="right")) - 1
        if s < 0:
            return None
        return s if cycle <= ops["start"][s] + ops["length"][s] - 1 + DAT_ACTV else None

    def shadow_holder(self, cycle: int, cell: int) -> int | None:
        """Stripe operation whose weights cell ``cell``'s shadow register holds live.

        Kernel ``cell`` of stripe operation ``s`` is written at cycle
        ``start(s - 1) + DAT_ACTV + cell`` (the first stripe's at cycle ``cell``) and
        promoted to the active register at ``start(s) + DAT_ACTV``; a write and the
        previous promotion may share a clock edge.
        """
        ops = self.ops
        # stripe operation s loads at start(s - 1) + DAT_ACTV + cell (cycle ``cell`` for s = 0)
        s = int(np.searchsorted(ops["start"], cycle - DAT_ACTV - cell, side="right"))
        if s == 0 and cycle < cell or s >= ops["start"].size:
            return None
        return s if cycle < ops["start"][s] + DAT_ACTV else None

