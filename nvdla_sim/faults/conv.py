"""Faults in the convolution core: CMAC data/weight/partial-sum and CACC registers.

A transient upset maps, through the schedule, to the atomic operations and
accumulation steps it changes: a data-register flip changes one partial sum
of one cell (or of every cell of a CMAC half), a weight-register flip the
products of that weight for the rest of the stripe, a shadow-register flip
the whole next stripe, a partial-sum flip one step, an assembly-buffer flip
one running sum for the rest of its channel operation.  The affected output
elements are then re-accumulated exactly in hardware order (saturating at
the assembly-buffer width) and rounded as CACC does.  Every width (lanes,
partial sums, accumulators) and the number of MAC cells are those of the
register catalogue (:mod:`nvdla_sim.timing.registers`) at the layer's
precision: 8-bit lanes, 34-bit accumulators and atom_k cells at INT8, 16-bit
lanes, 48-bit accumulators and half as many cells at INT16.  Where no partial sum of
the faulty run can reach the saturation bound, accumulation is plain integer
addition, and the new accumulator is the golden one plus the change of the
faulty step: no re-accumulation at all.  Lanes whose data or
weight is zero are gated off in CMAC (RTL: enable = valid & non-zero), so a
flip there has no effect.  Stuck-at faults recompute the layer's partial-sum
tensor for the affected kernels with the bit forced at every use.

A campaign chunk's transient upsets of one layer are mapped together whatever
their input image (:class:`LayerFaults`): schedule lookups and arithmetic are
array operations over all of them, so numpy's per-call cost is paid per layer
and chunk rather than per upset or per (layer, input) pair.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from nvdla_sim.arith import sat, sx
from nvdla_sim.config import HardwareConfig
from nvdla_sim.faults.site import FaultSite, flip_bits
from nvdla_sim.fp16 import cacc_fp48_to_fp32
from nvdla_sim.layers import ConvCore
from nvdla_sim.precision import FP16, FP32
from nvdla_sim.timing.conv import (
    CACC_SUM, CACC_WRITE, DAT_ACTV, DAT_IN, MAC_OUT, SUM_OUT, ConvSchedule)
from nvdla_sim.timing.registers import conv_registers
from nvdla_sim.units import cacc, csc
from nvdla_sim.units.convcore import ConvOperands

DATA, WEIGHT, PSUM = 0, 1, 2  # what a CMAC upset changes
STACK_BYTES = 1 << 25  # largest copy of a layer's operands over a chunk's inputs
# CMAC registers mapped through the schedule, with their pipeline offset (weights: by holder)
CMAC_TARGETS = {"cmac.dat_in": DAT_IN, "cmac.dat_actv": DAT_ACTV, "cmac.sum_out": SUM_OUT,
                "cmac.mac_out": MAC_OUT, "cmac.wt_actv": None, "cmac.wt_sd": None}
# convolution-core registers by number (:class:`Upsets` compares numbers, not names)
CORE = {name: n for n, name in enumerate((*CMAC_TARGETS, "cacc.sum", "cacc.abuf", "cacc.out"))}


class AccPatch(NamedTuple):
    """New final CACC values (before rounding) for some output elements (a tuple: made
    for nearly every injection)."""

    kernels: np.ndarray  # output channel of each element
    pixels: np.ndarray  # oy * Wo + ox
    acc: np.ndarray  # new accumulator value (int64)
    final: np.ndarray | None = None  # new rounded value, when a fault hit the result register


def deliver(conv: ConvCore, acc: np.ndarray) -> np.ndarray:
    """What CACC hands SDP for assembly values ``acc``: rounded 32-bit integers, or on a
    float datapath binary32 patterns (FP48 converted at FP16, :mod:`nvdla_sim.floatpath`)."""
    if conv.precision is FP16:
        return cacc_fp48_to_fp32(acc)
    if conv.precision.is_float:
        return np.asarray(acc, np.int64) & ((1 << FP32.bits) - 1)
    return cacc.truncate(acc, conv.clip_truncate)


def block_lanes(conv: ConvCore, schedule: ConvSchedule) -> int:
    """The lanes of a channel block the fault model keeps: all of them, except that an
    integer layer of a single block keeps only its channels.  The others hold zeros, and
    CMAC gates zero lanes off, so no fault there does anything (a float sum's structure
    keeps them: adding a +0 lane can change the sign of a zero result)."""
    if conv.precision.is_float or schedule.blocks > 1:
        return schedule.lanes
    return min(schedule.lanes, conv.in_channels)


def lane_weights(conv: ConvCore, schedule: ConvSchedule, weights: np.ndarray,
                 config: HardwareConfig) -> np.ndarray:
    """Weights as CMAC cells see them: [kernel, block, tap, lane] in the precision's integer
    type, kernels padded to whole groups and channels to whole blocks with zeros
    (:func:`block_lanes` lanes per block).  The same for every input."""
    ac, c, blocks = block_lanes(conv, schedule), conv.in_channels, schedule.blocks
    kpad = schedule.groups * schedule.cells
    w = np.zeros((kpad, blocks * ac, schedule.taps), conv.precision.dtype)
    w[: conv.kernels, :c] = weights.reshape(conv.kernels, c, schedule.taps)
    return w.reshape(kpad, blocks, ac, schedule.taps).transpose(0, 1, 3, 2)


class ConvFaults:
    """Fault effects for one convolution layer, given its golden operands.  Operands are
    kept in the precision's integer type (a campaign holds one per layer and input) and
    widened where used."""

    integer = True  # golden + change and batched assembly-buffer upsets apply

    def __init__(self, conv: ConvCore, schedule: ConvSchedule, ops: ConvOperands,
                 config: HardwareConfig, weights: np.ndarray | None = None,
                 accumulator: np.ndarray | None = None) -> None:
        """``accumulator``: the golden final CACC values [K, Ho, Wo], if known."""
        self.conv, self.schedule, self.cfg = conv, schedule, config
        regs = {r.name: r for r in conv_registers(config)}
        self.cells = schedule.cells  # kernels per group, one per MAC cell
        self.lane_bits = regs["cmac.dat_actv"].value_width  # one data / weight lane
        self.psum_bits = regs["cmac.sum_out"].width  # adder-tree result
        self.sum_bits = regs["cacc.sum"].width  # CACC adder output, before saturation
        self.acc_bits = regs["cacc.abuf"].width  # assembly buffer (saturating)
        self.out_bits = regs["cacc.out"].width  # rounded result towards SDP
        self.acc_limit = 1 << (self.acc_bits - 1)
        self.accumulator = (None if accumulator is None
                            else accumulator.reshape(accumulator.shape[0], -1))
        ac = block_lanes(conv, schedule)
        win = csc.windows(conv, ops.data)  # [C, R, S, Ho, Wo]
        c, blocks = conv.in_channels, schedule.blocks
        # data[b, tap, lane, pixel], channels >= C are zero
        data = np.zeros((blocks * ac, schedule.taps, schedule.pixels), conv.precision.dtype)
        data[:c] = win.reshape(c, schedule.taps, schedule.pixels)
        self.data = data.reshape(blocks, ac, schedule.taps, schedule.pixels).transpose(0, 2, 1, 3)
        self.weights = (lane_weights(conv, schedule, ops.weights, config) if weights is None
                        else weights)  # [k, b, tap, lane]

    @property
    def nbytes(self) -> int:
        """Memory this input's operands hold (the weights are shared across inputs)."""
        return self.data.base.nbytes if self.data.base is not None else self.data.nbytes

    # -- helpers -----------------------------------------------------------------------
    def _linear(self, excess: int) -> bool:
        """Whether the faulty run is plain addition (no partial sum reaches the assembly
        buffer's bound) when the absolute partial sums add up to at most the golden bound
        (taps * the precision's largest product) plus ``excess``; then its accumulator is
        golden + change."""
        taps = self.conv.in_channels * self.conv.kernel_height * self.conv.kernel_width
        return (self.accumulator is not None
                and taps * self.conv.precision.product_max + excess < self.acc_limit)

    def _batchable(self, register: str) -> bool:
        """Whether upsets of ``register`` take the golden + change path (:meth:`_flips`):
        CMAC data and weight registers keep operands of the precision (the golden bound
        holds); a flipped partial sum adds at most 2**(MAC_RESULT_WIDTH - 1)."""
        if register in ("cmac.dat_in", "cmac.dat_actv", "cmac.wt_actv", "cmac.wt_sd"):
            return self._linear(0)
        if register in ("cmac.sum_out", "cmac.mac_out"):
            return self._linear(1 << (self.psum_bits - 1))
        return False

    def golden_acc(self, kernels: np.ndarray, pixels: np.ndarray) -> np.ndarray:
        """Golden final accumulators (0 for kernels padding the last group)."""
        acc = self.accumulator
        real = kernels < acc.shape[0]
        return np.where(real, acc[np.where(real, kernels, 0), pixels], 0)

    def step_of(self, stripe_op: int) -> int:
        return stripe_op % (self.schedule.blocks * self.schedule.taps)

    def block_tap(self, stripe_op: int) -> tuple[int, int]:
        ops = self.schedule.ops
        return int(ops["block"][stripe_op]), int(ops["tap"][stripe_op])

    def psums(self, kernels: np.ndarray, pixels: np.ndarray) -> np.ndarray:
        """Partial sums [element, step] in accumulation order (block, then tap)."""
        d = self.data[:, :, :, pixels].astype(np.int64)  # [B, T, lane, E]
        w = self.weights[kernels].astype(np.int64)  # [E, B, T, lane]
        return np.einsum("btle,ebtl->ebt", d, w).reshape(len(kernels), -1)

    def accumulate(self, psums: np.ndarray, start: int = 0, initial: np.ndarray | None = None
                   ) -> np.ndarray:
        """Final accumulator from ``psums[:, start:]`` added to ``initial``, saturating
        at the assembly-buffer width after every step (exact; a cumulative sum when
        nothing saturates)."""
        acc = np.zeros(psums.shape[0], np.int64) if initial is None else initial.copy()
        rest = psums[:, start:]
        running = acc[:, None] + np.cumsum(rest, axis=1)
        if rest.size == 0 or (np.abs(running) < self.acc_limit).all():
            return running[:, -1] if rest.size else acc
        for n in range(rest.shape[1]):
            acc = sat(acc + rest[:, n], self.acc_bits)
        return acc

    def elements(self, stripe_op: int, j: np.ndarray | int, cells: np.ndarray) -> tuple:
        kernels = int(self.schedule.ops["group"][stripe_op]) * self.cells + np.asarray(cells)
        pixels = int(self.schedule.ops["first"][stripe_op]) + np.asarray(j)
        return kernels, pixels

    def stuck(self, site: FaultSite) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """A stuck-at's (kernels, acc [kernel, pixel], final or None): :class:`ConvStuck`."""
        return ConvStuck(self).accumulators(site)

    # -- transient upsets --------------------------------------------------------------
    def transient(self, site: FaultSite) -> AccPatch | None:
        """What a flip at ``site.cycle`` does to the accumulators; None if nothing live."""
        reg, sched = site.register, self.schedule
        if self._batchable(reg):
            return self.transients([site])[0]
        if reg in CMAC_TARGETS or reg == "cacc.sum":
            target = self._target(site)
            if target is None:
                return None
            op, j, cells, kind = target
            if kind == DATA:
                return self._data_flip(site, op, j, cells)
            if kind == WEIGHT:
                return self._weight_flip(site, op, j)
            return self._psum_flip(site, op, j)
        if reg == "cacc.abuf":
            return self._abuf_flip(site)
        if reg == "cacc.out":
            at = sched.atomic_at(site.cycle, CACC_WRITE)
            if at is None or self.step_of(at[0]) != sched.blocks * sched.taps - 1:
                return None  # the result register only holds finals after the last step
            k, p = self.elements(at[0], at[1], np.array([site.instance]))
            p = np.full(k.size, p)
            acc = (self.golden_acc(k, p) if self.accumulator is not None
                   else self.accumulate(self.psums(k, p)))
            final = site.apply(deliver(self.conv, acc), self.out_bits)
            return AccPatch(k, p, acc, final)
        raise KeyError(f"not a convolution-core register: {reg}")

    def _target(self, site: FaultSite) -> tuple[int, int, np.ndarray, int] | None:
        """(stripe operation, first pixel in its stripe, cells, kind) that a CMAC data,
        weight or partial-sum upset (or a CACC sum upset) hits; None if nothing live."""
        reg, sched = site.register, self.schedule
        cell = np.array([site.instance])
        if reg in ("cmac.wt_actv", "cmac.wt_sd"):
            if reg == "cmac.wt_actv":
                op = sched.weight_holder(site.cycle)
                first = 0 if op is None else max(
                    0, site.cycle - int(sched.ops["start"][op]) - DAT_ACTV)
            else:
                op, first = sched.shadow_holder(site.cycle, site.instance), 0
            if op is None or first >= int(sched.ops["length"][op]):
                return None
            return op, first, cell, WEIGHT
        at = sched.atomic_at(site.cycle, CMAC_TARGETS.get(reg, CACC_SUM))
        if at is None:
            return None
        if reg == "cmac.dat_in":
            half = self.cells // 2
            return *at, np.arange(site.instance * half, (site.instance + 1) * half), DATA
        return *at, cell, DATA if reg == "cmac.dat_actv" else PSUM

    def transients(self, sites: list[FaultSite]) -> list[AccPatch | None]:
        """:meth:`transient` for many upsets of this input (:class:`LayerFaults`)."""
        return LayerFaults([self]).transients(sites, np.zeros(len(sites), np.int64)).split()

    def _data_flip(self, site: FaultSite, s: int, j: int, cells: np.ndarray) -> AccPatch:
        k, p = self.elements(s, j, cells)
        p = np.full(k.size, p)
        b, t = self.block_tap(s)
        d = self.data[b, t, :, p[0]].astype(np.int64)  # [lane]
        w = self.weights[k, b, t].astype(np.int64)  # [E, lane]
        d_new = site.apply_lanes(d, self.lane_bits)
        live = (d != 0)[None, :] & (w != 0)  # zero lanes are gated off
        change = np.where(live, (d_new - d)[None, :] * w, 0).sum(axis=1)
        ps = self.psums(k, p)
        ps[:, self.step_of(s)] += change
        return AccPatch(k, p, self.accumulate(ps))

    def _weight_flip(self, site: FaultSite, s: int, first_j: int) -> AccPatch:
        j = np.arange(first_j, int(self.schedule.ops["length"][s]))
        k, p = self.elements(s, j, np.full(j.size, site.instance))
        b, t = self.block_tap(s)
        w = self.weights[k[0], b, t].astype(np.int64)  # [lane]
        d = self.data[b, t][:, p].astype(np.int64)  # [lane, E]
        w_new = site.apply_lanes(w, self.lane_bits)
        live = (w != 0)[:, None] & (d != 0)  # zero lanes are gated off
        change = np.where(live, d * (w_new - w)[:, None], 0).sum(axis=0)
        ps = self.psums(k, p)
        ps[:, self.step_of(s)] += change
        return AccPatch(k, p, self.accumulate(ps))

    def _psum_flip(self, site: FaultSite, s: int, j: int) -> AccPatch:
        k, p = self.elements(s, j, np.array([site.instance]))
        p = np.full(k.size, p)
        step = self.step_of(s)
        ps = self.psums(k, p)
        if site.register == "cacc.sum":
            return AccPatch(k, p, self.accumulate(ps, step + 1,
                                                  self._flipped_sum(site, ps, step)))
        ps[:, step] = self._flipped_psum(site, ps[:, step])
        return AccPatch(k, p, self.accumulate(ps))

    def _flipped_sum(self, site: FaultSite, ps: np.ndarray, step: int) -> np.ndarray:
        """CACC's adder output at ``step`` with the upset: running + psum, flipped, then
        saturated."""
        running = self.accumulate(ps[:, :step]) if step else np.zeros(1, np.int64)
        return sat(site.apply(running + ps[:, step], self.sum_bits), self.acc_bits)

    def _flipped_psum(self, site: FaultSite, psum: np.ndarray) -> np.ndarray:
        return site.apply(psum, self.psum_bits)

    def _abuf_flip(self, site: FaultSite) -> AccPatch | None:
        """Entry ``e`` holds pixel ``first + e`` of a stripe between the write of step n
        (issue + CACC_WRITE) and the read for step n + 1 (issue' + CACC_SUM - 1)."""
        sched, ak = self.schedule, self.cells
        entry, cell = divmod(site.instance, ak)
        ops = sched.ops
        s = int(np.searchsorted(ops["start"], site.cycle - entry - CACC_WRITE, side="right")) - 1
        steps = sched.blocks * sched.taps
        if s < 0 or entry >= ops["length"][s] or self.step_of(s) == steps - 1:
            return None
        if site.cycle > ops["start"][s + 1] + entry + CACC_SUM - 1:
            return None
        k, p = self.elements(s, entry, np.array([cell]))
        p = np.full(k.size, p)
        ps = self.psums(k, p)
        step = self.step_of(s)
        running = site.apply(self.accumulate(ps[:, :step + 1]), self.acc_bits)
        return AccPatch(k, p, self.accumulate(ps, step + 1, running))


class Patches(NamedTuple):
    """The accumulator patches of many upsets of one layer, flattened: element ``e``
    belongs to upset ``owner[e]`` on input ``image[e]`` (a position in the layer's list
    of inputs).  Elements of one upset are contiguous, upsets in order."""

    live: np.ndarray  # [upsets] bool: the register held something live
    owner: np.ndarray
    image: np.ndarray
    kernels: np.ndarray
    pixels: np.ndarray
    acc: np.ndarray
    final: np.ndarray | None = None  # forced rounded values where ``forced`` (else None)
    forced: np.ndarray | None = None

    @staticmethod
    def of(patches: list[AccPatch | None], image: np.ndarray) -> Patches:
        """Per-upset patches (None: nothing live) of inputs ``image``, flattened."""
        live = np.array([p is not None for p in patches], bool)
        kept = [p for p in patches if p is not None]
        if not kept:
            empty = np.zeros(0, np.int64)
            return Patches(live, empty, empty, empty, empty, empty)
        sizes = np.array([p.acc.size for p in kept])
        owner = np.repeat(np.flatnonzero(live), sizes)
        cat = [np.concatenate([np.asarray(p[i], np.int64) for p in kept]) for i in range(3)]
        final = forced = None
        if any(p.final is not None for p in kept):
            final = np.concatenate([np.zeros(p.acc.size, np.int64) if p.final is None
                                    else np.asarray(p.final, np.int64) for p in kept])
            forced = np.repeat([p.final is not None for p in kept], sizes)
        return Patches(live, owner, np.asarray(image)[owner], *cat, final, forced)

    @staticmethod
    def join(parts: list[tuple[np.ndarray, Patches]]) -> Patches:
        """Patches of disjoint sets of upsets (``positions``: each set's upsets among all,
        together covering 0..n-1), in upset order."""
        n = sum(p.live.size for _, p in parts)
        live = np.zeros(n, bool)
        for positions, p in parts:
            live[positions] = p.live
        owner = np.concatenate([positions[p.owner] for positions, p in parts])
        order = np.argsort(owner, kind="stable")
        pick = [np.concatenate([getattr(p, name) for _, p in parts])[order]
                for name in ("image", "kernels", "pixels", "acc")]
        final = forced = None
        if any(p.final is not None for _, p in parts):
            final = np.concatenate([np.zeros(p.acc.size, np.int64) if p.final is None
                                    else p.final for _, p in parts])[order]
            forced = np.concatenate([np.zeros(p.acc.size, bool) if p.forced is None
                                     else p.forced for _, p in parts])[order]
        return Patches(live, owner[order], *pick, final, forced)

    def split(self) -> list[AccPatch | None]:
        """One :class:`AccPatch` per upset (None where nothing was live)."""
        bounds = np.searchsorted(self.owner, np.arange(self.live.size + 1)).tolist()
        out: list[AccPatch | None] = []
        for n, live in enumerate(self.live.tolist()):
            a, b = bounds[n], bounds[n + 1]
            final = None
            if self.forced is not None and self.forced[a:b].any():
                final = self.final[a:b]
            out.append(AccPatch(self.kernels[a:b], self.pixels[a:b], self.acc[a:b], final)
                       if live else None)
        return out


def by_input(image: np.ndarray, inputs: int, pick) -> np.ndarray:
    """``pick(n, sel)`` (rows of input ``n``'s elements ``sel``) for every input, put
    together in element order."""
    if inputs == 1:
        return pick(0, slice(None))
    if image.size == 0:
        return pick(0, np.zeros(0, np.int64))
    order = np.argsort(image, kind="stable")
    bounds = np.searchsorted(image[order], np.arange(inputs + 1)).tolist()
    out = None
    for n in range(inputs):
        if bounds[n] == bounds[n + 1]:
            continue
        sel = order[bounds[n]:bounds[n + 1]]
        rows = pick(n, sel)
        if out is None:
            out = np.empty((image.size, *rows.shape[1:]), rows.dtype)
        out[sel] = rows
    return out


class Upsets(NamedTuple):
    """The fields of many transient upsets, as arrays (read once from their sites)."""

    register: np.ndarray  # register numbers (CORE; -1: another register)
    instance: np.ndarray
    bit: np.ndarray
    bits: np.ndarray
    cycle: np.ndarray

    @staticmethod
    def of(sites: list[FaultSite]) -> Upsets:
        fields = [(s.register, s.instance, s.bit, s.bits, s.cycle) for s in sites]
        columns = list(zip(*fields)) if fields else [(), (), (), (), ()]
        return Upsets(np.array([CORE.get(name, -1) for name in columns[0]], np.int64),
                      *(np.array(c, np.int64) for c in columns[1:]))

    def take(self, rows: np.ndarray) -> Upsets:
        return Upsets(*(a[rows] for a in self))


class LayerFaults:
    """Transient upsets of one convolution layer over several inputs at once (a campaign
    chunk's upsets of the layer, whatever their input image): each input's
    :class:`ConvFaults` holds its operands; schedule lookups and the golden + change
    arithmetic run once for all upsets, so numpy's per-call cost is paid per layer, not
    per (layer, input) pair.  Upsets whose faulty run may saturate (and every upset of
    a float datapath) are re-accumulated one at a time by their input's model."""

    def __init__(self, parts: list[ConvFaults]) -> None:
        self.parts = parts
        self.f = parts[0]  # the layer: schedule, widths, weights (shared by the inputs)
        self._stacks: dict[str, np.ndarray | None] = {}

    def _stack(self, name: str) -> np.ndarray | None:
        """The inputs' operands (``data`` [N, B, T, L, P]) or golden accumulators
        (``accumulator`` [N, K, P]) stacked, made once (a campaign keeps this object
        while its chunks draw the same inputs); None when the copy would exceed
        STACK_BYTES: then each input's elements are gathered apart."""
        if name not in self._stacks:
            first = getattr(self.f, name)
            small = first is not None and len(self.parts) * first.nbytes <= STACK_BYTES
            self._stacks[name] = (np.stack([getattr(p, name) for p in self.parts])
                                  if small else None)
        return self._stacks[name]

    def lanes(self, image: np.ndarray, block: np.ndarray, tap: np.ndarray,
              pixel: np.ndarray) -> np.ndarray:
        """Data lanes [element, lane] (int64) of (input, block, tap, pixel) elements."""
        data = self._stack("data")
        if data is not None:
            return data[image, block, tap, :, pixel].astype(np.int64)

        def pick(n, sel):
            idx = (block, tap, pixel) if isinstance(sel, slice) else (
                block[sel], tap[sel], pixel[sel])
            return self.parts[n].data[idx[0], idx[1], :, idx[2]]
        return by_input(image, len(self.parts), pick).astype(np.int64)

    def golden_acc(self, image: np.ndarray, kernels: np.ndarray,
                   pixels: np.ndarray) -> np.ndarray:
        """Golden final accumulators (0 for kernels padding the last group)."""
        acc = self._stack("accumulator")
        if acc is None:
            return by_input(image, len(self.parts), lambda n, sel: self.parts[n].golden_acc(
                kernels[sel], pixels[sel]))
        real = kernels < acc.shape[1]
        return np.where(real, acc[image, np.where(real, kernels, 0), pixels], 0)

    def psums(self, image: np.ndarray, kernels: np.ndarray, pixels: np.ndarray) -> np.ndarray:
        """Partial sums [element, step] in accumulation order (block, then tap)."""
        data = self._stack("data")
        if data is None:
            return by_input(image, len(self.parts), lambda n, sel: self.parts[n].psums(
                kernels[sel], pixels[sel]))
        d = data[image, :, :, :, pixels].astype(np.int64)  # [E, B, T, lane]
        w = self.f.weights[kernels].astype(np.int64)  # [E, B, T, lane]
        return np.einsum("ebtl,ebtl->ebt", d, w).reshape(len(kernels), -1)

    def transients(self, sites: list[FaultSite], image: np.ndarray) -> Patches:
        """The patches of transient upsets ``sites`` on inputs ``image``."""
        f = self.f
        upsets = Upsets.of(sites)
        reg = upsets.register
        group = np.full(len(sites), "one", object)  # each by its input's model
        if f.integer:
            group[reg == CORE["cacc.abuf"]] = "abuf"
            group[reg == CORE["cacc.sum"]] = "sum"
            if f.accumulator is not None:
                group[reg == CORE["cacc.out"]] = "out"
            for name in CMAC_TARGETS:
                if f._batchable(name):
                    group[reg == CORE[name]] = "flips"
        parts = []
        for name in ("abuf", "sum", "out", "flips", "one"):
            positions = np.flatnonzero(group == name)
            if not positions.size:
                continue
            img = image[positions]
            if name == "one":
                part = Patches.of([self.parts[i].transient(sites[n]) for n, i in
                                   zip(positions.tolist(), img.tolist())], img)
            else:
                part = getattr(self, "_" + name)(upsets.take(positions), img)
            parts.append((positions, part))
        if len(parts) == 1 and parts[0][0].size == len(sites):
            return parts[0][1]
        if not parts:
            empty = np.zeros(0, np.int64)
            return Patches(np.zeros(0, bool), empty, empty, empty, empty, empty)
        return Patches.join(parts)

    def _targets(self, u: Upsets) -> tuple[np.ndarray, ...]:
        """:meth:`ConvFaults._target` of many CMAC data, weight and partial-sum upsets (and
        CACC sum upsets): (live, stripe operation, first pixel in its stripe, first cell,
        cells, kind), each an array over the sites."""
        f = self.f
        sched, ops = f.schedule, f.schedule.ops
        start, length = ops["start"], ops["length"]
        reg, cycle, cell = u.register, u.cycle, u.instance
        offset = np.zeros(reg.size, np.int64)
        for name, at in (*CMAC_TARGETS.items(), ("cacc.sum", CACC_SUM)):
            offset[reg == CORE[name]] = at or 0
        dat_in = reg == CORE["cmac.dat_in"]
        active, shadow = reg == CORE["cmac.wt_actv"], reg == CORE["cmac.wt_sd"]
        kind = np.where(dat_in | (reg == CORE["cmac.dat_actv"]), DATA,
                        np.where(active | shadow, WEIGHT, PSUM))
        ncells = np.ones(reg.size, np.int64)
        half = f.cells // 2
        ncells[dat_in] = half
        first_cell = np.where(dat_in, cell * half, cell)
        last = start.size - 1
        # atomic_at / weight_holder: the latest operation started by (cycle - offset)
        behind = np.where(active, DAT_ACTV, np.where(shadow, DAT_ACTV + cell, offset))
        op = np.searchsorted(start, cycle - behind, side="right") - 1
        op = np.where(shadow, op + 1, op)  # shadow_holder: the next operation to load
        safe = np.clip(op, 0, last)
        j = cycle - offset - start[safe]
        live = (op >= 0) & (op <= last)
        first = np.where(active, np.maximum(0, cycle - start[safe] - DAT_ACTV), 0)
        weights = active | shadow
        live &= np.where(weights, first < length[safe], j < length[safe])
        live &= ~active | (cycle <= start[safe] + length[safe] - 1 + DAT_ACTV)
        live &= ~shadow | ((cycle >= cell) & (cycle < start[safe] + DAT_ACTV))
        return live, safe, np.where(weights, first, j), first_cell, ncells, kind

    def _flips(self, u: Upsets, image: np.ndarray) -> Patches:
        """Golden accumulator + change for data, weight and partial-sum flips, together.
        A data flip changes one lane vector for some cells (kernels) at one pixel; a
        weight flip one cell's lane vector for the pixels from ``first`` to the stripe's
        end; a partial-sum flip one cell's sum at one pixel."""
        f = self.f
        ops, ak, lw = f.schedule.ops, f.cells, f.lane_bits
        live, op, start, first_cell, cells_per, kinds = self._targets(u)
        who = np.flatnonzero(live)
        if who.size == 0:
            empty = np.zeros(0, np.int64)
            return Patches(live, empty, empty, empty, empty, empty)
        op, start, first_cell, cells_per, kinds = (a[who] for a in (
            op, start, first_cell, cells_per, kinds))
        # elements (kernel, pixel) of each flip, flattened
        pixels_per = np.where(kinds == WEIGHT, ops["length"][op] - start, 1)
        count = pixels_per * cells_per
        owner = np.repeat(np.arange(who.size), count)
        offset = np.arange(owner.size) - np.repeat(np.cumsum(count) - count, count)
        cell = first_cell[owner] + offset % cells_per[owner]
        kernel = ops["group"][op][owner] * ak + cell
        pixel = ops["first"][op][owner] + start[owner] + offset // cells_per[owner]
        block, tap = ops["block"][op][owner], ops["tap"][op][owner]
        img = image[who][owner]
        data = self.lanes(img, block, tap, pixel)  # [E, lane]
        weights = f.weights[kernel, block, tap].astype(np.int64)  # [E, lane]
        # the flipped register's bits per lane (transient upsets are flips)
        bit, bits = u.bit[who], u.bits[who]
        masks = _lane_masks(bit, bits, data.shape[1], lw)[owner]
        change = np.zeros(owner.size, np.int64)
        gated = (data != 0) & (weights != 0)  # zero lanes are gated off
        for kind, values in ((DATA, data), (WEIGHT, weights)):
            sel = kinds[owner] == kind
            if sel.any():
                new = sx((values[sel] & ((1 << lw) - 1)) ^ masks[sel], lw)
                other = weights[sel] if kind == DATA else data[sel]
                change[sel] = np.where(gated[sel], (new - values[sel]) * other, 0).sum(axis=1)
        sel = kinds[owner] == PSUM
        if sel.any():
            psum = (data[sel] * weights[sel]).sum(axis=1)
            width = f.psum_bits
            mask = (((np.int64(1) << bits) - 1) << bit)[owner[sel]] & ((1 << width) - 1)
            change[sel] = sx((psum & ((1 << width) - 1)) ^ mask, width) - psum
        acc = self.golden_acc(img, kernel, pixel) + change
        return Patches(live, who[owner], img, kernel, pixel, acc)

    def _abuf(self, u: Upsets, image: np.ndarray) -> Patches:
        """Assembly-buffer upsets (the most numerous convolution-core faults): entry ``e``
        holds pixel ``first + e`` of a stripe between the write of step n and the read for
        step n + 1 (:meth:`ConvFaults._abuf_flip`); the running sum flips."""
        f = self.f
        sched, ak = f.schedule, f.cells
        ops, steps = sched.ops, sched.blocks * sched.taps
        entry, cell = np.divmod(u.instance, ak)
        cycle = u.cycle
        op = np.searchsorted(ops["start"], cycle - entry - CACC_WRITE, side="right") - 1
        safe = np.maximum(op, 0)
        step = safe % steps
        live = (op >= 0) & (entry < ops["length"][safe]) & (step != steps - 1)
        nxt = np.minimum(safe + 1, ops["start"].size - 1)
        live &= cycle <= ops["start"][nxt] + entry + CACC_SUM - 1
        return self._resumed(u, image, live, safe, entry, cell, False)

    def _sum(self, u: Upsets, image: np.ndarray) -> Patches:
        """CACC adder-output upsets: running + psum of one step flips, then saturates."""
        live, op, j, cell, _, _ = self._targets(u)
        return self._resumed(u, image, live, op, j, cell, True)

    def _resumed(self, u: Upsets, image: np.ndarray, live: np.ndarray,
                 op: np.ndarray, j: np.ndarray, cell: np.ndarray, adder: bool) -> Patches:
        """Upsets of one running sum (one cell, one pixel) at stripe operation ``op``'s
        step: the assembly-buffer value written at that step flips, or with ``adder`` the
        adder's output (running + psum) flips and then saturates.  From there the golden
        running sums move by the change, exactly whenever no running sum reaches the
        assembly buffer's bound; those that may are re-accumulated in hardware order,
        step by step for all of them at once."""
        f = self.f
        ops, steps = f.schedule.ops, f.schedule.blocks * f.schedule.taps
        rows = np.flatnonzero(live)
        if rows.size == 0:
            empty = np.zeros(0, np.int64)
            return Patches(live, empty, empty, empty, empty, empty)
        op = op[rows]
        kernels = ops["group"][op] * f.cells + cell[rows]
        pixels = ops["first"][op] + j[rows]
        img = image[rows]
        step = op % steps
        bit, bits = u.bit[rows], u.bits[rows]
        width = f.sum_bits if adder else f.acc_bits

        def upset(value: np.ndarray, sel=slice(None)) -> np.ndarray:
            flipped = flip_bits(value, bit[sel], bits[sel], width)
            return sat(flipped, f.acc_bits) if adder else flipped
        psums = self.psums(img, kernels, pixels)
        sums = np.cumsum(psums, axis=1)  # golden running sums
        at = sums[np.arange(rows.size), step]
        later = np.arange(steps)[None, :] >= step[:, None] + (0 if adder else 1)
        faulty = np.where(later, sums - at[:, None] + upset(at)[:, None], sums)
        acc = faulty[:, -1]
        slow = np.flatnonzero(~(np.abs(faulty) < f.acc_limit).all(axis=1))
        if slow.size:
            acc[slow] = self._saturating(psums[slow], step[slow], adder,
                                         lambda value, rows: upset(value, slow[rows]))
        return Patches(live, rows, img, kernels, pixels, acc)

    def _saturating(self, psums: np.ndarray, step: np.ndarray, adder: bool,
                    upset) -> np.ndarray:
        """Final accumulators in hardware order (saturating after every step), the
        running sum (or with ``adder`` the adder's output) of row ``n`` replaced by
        ``upset`` of it at step ``step[n]``: :meth:`ConvFaults._abuf_flip` and
        :meth:`ConvFaults._psum_flip` for many upsets at once."""
        acc = np.zeros(psums.shape[0], np.int64)
        low, high = -self.f.acc_limit, self.f.acc_limit - 1
        at = {n: np.flatnonzero(step == n) for n in np.unique(step).tolist()}
        for n in range(psums.shape[1]):
            acc += psums[:, n]
            rows = at.get(n)
            if rows is not None and adder:
                flipped = upset(acc[rows], rows)  # the adder's output, saturated by upset
            np.maximum(acc, low, out=acc)
            np.minimum(acc, high, out=acc)
            if rows is not None:
                acc[rows] = flipped if adder else upset(acc[rows], rows)
        return acc

    def _out(self, u: Upsets, image: np.ndarray) -> Patches:
        """Result-register upsets: the rounded final value of one element flips (the
        register holds finals only after a channel operation's last step)."""
        f = self.f
        sched = f.schedule
        ops, steps = sched.ops, sched.blocks * sched.taps
        cycle = u.cycle
        op = np.searchsorted(ops["start"], cycle - CACC_WRITE, side="right") - 1
        safe = np.maximum(op, 0)
        j = cycle - CACC_WRITE - ops["start"][safe]
        live = (op >= 0) & (j < ops["length"][safe]) & (safe % steps == steps - 1)
        rows = np.flatnonzero(live)
        op = safe[rows]
        kernels = ops["group"][op] * f.cells + u.instance[rows]
        pixels = ops["first"][op] + j[rows]
        img = image[rows]
        acc = self.golden_acc(img, kernels, pixels)
        final = flip_bits(deliver(f.conv, acc), u.bit[rows], u.bits[rows], f.out_bits)
        return Patches(live, rows, img, kernels, pixels, acc, final,
                       np.ones(rows.size, bool))


def _lane_masks(bit: np.ndarray, bits: np.ndarray, lanes: int, lane_width: int) -> np.ndarray:
    """[upset, lane] the flipped bits of each ``lane_width``-bit lane of upsets of bits
    ``bit .. bit + bits - 1`` of a register of ``lanes`` lanes (lane 0 in the low bits):
    :meth:`FaultSite.lane_masks`, vectorized."""
    low = np.arange(lanes, dtype=np.int64)[None, :] * lane_width
    lo = np.clip(bit[:, None] - low, 0, lane_width)
    hi = np.clip((bit + bits)[:, None] - low, 0, lane_width)
    return ((np.int64(1) << hi) - (np.int64(1) << lo)) & ((1 << lane_width) - 1)


class ConvStuck:
    """Stuck-at faults of the convolution core: the whole layer with one bit forced."""

    def __init__(self, faults: ConvFaults) -> None:
        self.f = faults

    def cells(self, site: FaultSite) -> np.ndarray:
        ak = self.f.cells
        if site.register == "cmac.dat_in":
            return np.arange(site.instance * ak // 2, (site.instance + 1) * ak // 2)
        if site.register == "cacc.abuf":
            return np.array([site.instance % ak])
        return np.array([site.instance])

    def accumulators(self, site: FaultSite) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(kernels, acc [kernel, pixel], final [kernel, pixel] or None) with the bit stuck."""
        f, reg = self.f, site.register
        ak, sched = f.cells, f.schedule
        cells = self.cells(site)
        kernels = (np.arange(sched.groups)[:, None] * ak + cells[None, :]).ravel()
        data, weights = f.data.astype(np.int64), f.weights[kernels].astype(np.int64)
        if reg in ("cmac.dat_in", "cmac.dat_actv"):
            lanes_last = data.transpose(0, 1, 3, 2)
            forced = site.apply_lanes(lanes_last, f.lane_bits).transpose(0, 1, 3, 2)
            data = np.where(data != 0, forced, 0)
        elif reg in ("cmac.wt_actv", "cmac.wt_sd"):
            weights = np.where(weights != 0, site.apply_lanes(weights, f.lane_bits), 0)
        psums = np.einsum("btlp,kbtl->btkp", data, weights).reshape(
            -1, kernels.size, sched.pixels)  # [step, kernel, pixel]
        if reg in ("cmac.sum_out", "cmac.mac_out"):
            psums = site.apply(psums, f.psum_bits)
        slot = np.zeros(sched.pixels, bool)
        if reg == "cacc.abuf":
            first, length = sched.stripes
            entry = site.instance // ak
            slot[(first + entry)[entry < length]] = True
        acc = np.zeros(psums.shape[1:], np.int64)
        steps = psums.shape[0]
        for n in range(steps):  # one vectorized step per stripe operation of a channel op
            total = acc + psums[n]
            if reg == "cacc.sum":
                total = site.apply(total, f.sum_bits)
            acc = sat(total, f.acc_bits)
            if reg == "cacc.abuf" and n < steps - 1:
                acc = np.where(slot[None, :], site.apply(acc, f.acc_bits), acc)
        final = None
        if reg == "cacc.out":
            final = site.apply(deliver(f.conv, acc), f.out_bits)
        return kernels, acc, final
