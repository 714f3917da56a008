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
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from nvdla_sim.arith import sat, sx
from nvdla_sim.config import HardwareConfig
from nvdla_sim.faults.site import FaultSite
from nvdla_sim.fp16 import cacc_fp48_to_fp32
from nvdla_sim.layers import ConvCore
from nvdla_sim.precision import FP16, FP32
from nvdla_sim.timing.conv import (
    CACC_SUM, CACC_WRITE, DAT_ACTV, DAT_IN, MAC_OUT, SUM_OUT, ConvSchedule)
from nvdla_sim.timing.registers import conv_registers
from nvdla_sim.units import cacc, csc
from nvdla_sim.units.convcore import ConvOperands

DATA, WEIGHT, PSUM = 0, 1, 2  # what a CMAC upset changes
# CMAC registers mapped through the schedule, with their pipeline offset (weights: by holder)
CMAC_TARGETS = {"cmac.dat_in": DAT_IN, "cmac.dat_actv": DAT_ACTV, "cmac.sum_out": SUM_OUT,
                "cmac.mac_out": MAC_OUT, "cmac.wt_actv": None, "cmac.wt_sd": None}


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


def lane_weights(conv: ConvCore, schedule: ConvSchedule, weights: np.ndarray,
                 config: HardwareConfig) -> np.ndarray:
    """Weights as CMAC cells see them: [kernel, block, tap, lane] in the precision's integer
    type, kernels padded to whole groups and channels to whole blocks with zeros.  The
    same for every input."""
    ac, c, blocks = schedule.lanes, conv.in_channels, schedule.blocks
    kpad = schedule.groups * schedule.cells
    w = np.zeros((kpad, blocks * ac, schedule.taps), conv.precision.dtype)
    w[: conv.kernels, :c] = weights.reshape(conv.kernels, c, schedule.taps)
    return w.reshape(kpad, blocks, ac, schedule.taps).transpose(0, 1, 3, 2)


class ConvFaults:
    """Fault effects for one convolution layer, given its golden operands.  Operands are
    kept in the precision's integer type (a campaign holds one per layer and input) and
    widened where used."""

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
        ac = schedule.lanes
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
        """:meth:`transient` for many upsets of CMAC's data, weight and partial-sum
        registers and CACC's result register: schedule lookups per site, the arithmetic
        for all at once where the faulty runs are golden + change (:meth:`_linear`);
        per site otherwise and for the other registers."""
        out: list[AccPatch | None] = [None] * len(sites)
        flips: list[tuple[int, int, int, np.ndarray, int]] = []  # (site, op, pixel, cells, kind)
        for n, site in enumerate(sites):
            if not self._batchable(site.register):
                out[n] = self.transient(site)
                continue
            target = self._target(site)
            if target is not None:
                flips.append((n, *target))
        if flips:
            for n, patch in zip([f[0] for f in flips], self._flips(sites, flips)):
                out[n] = patch
        return out

    def _flips(self, sites: list[FaultSite],
               flips: list[tuple[int, int, int, np.ndarray, int]]) -> list[AccPatch]:
        """Golden accumulator + change for data, weight and partial-sum flips, together.
        A data flip changes one lane vector for some cells (kernels) at one pixel; a
        weight flip one cell's lane vector for the pixels from ``first`` to the stripe's
        end; a partial-sum flip one cell's sum at one pixel."""
        ops, ak, lw = self.schedule.ops, self.cells, self.lane_bits
        kinds = np.array([f[4] for f in flips])
        op = np.array([f[1] for f in flips])
        start = np.array([f[2] for f in flips])  # pixel in stripe (first pixel: weights)
        cells = [f[3] for f in flips]
        # elements (kernel, pixel) of each flip, flattened
        pixels_per = np.where(kinds == WEIGHT, ops["length"][op] - start, 1)
        cells_per = np.array([c.size for c in cells])
        count = pixels_per * cells_per
        owner = np.repeat(np.arange(len(flips)), count)
        offset = np.arange(owner.size) - np.repeat(np.cumsum(count) - count, count)
        cell = np.concatenate(cells)[np.repeat(np.cumsum(cells_per) - cells_per, count)
                                     + offset % cells_per[owner]]
        kernel = ops["group"][op][owner] * ak + cell
        pixel = ops["first"][op][owner] + start[owner] + offset // cells_per[owner]
        block, tap = ops["block"][op][owner], ops["tap"][op][owner]
        data = self.data[block, tap, :, pixel].astype(np.int64)  # [E, lane]
        weights = self.weights[kernel, block, tap].astype(np.int64)  # [E, lane]
        # the flipped register's bits per lane (transient upsets are flips)
        masks = np.array([sites[f[0]].lane_masks(data.shape[1], lw) for f in flips],
                         np.int64)[owner]
        change = np.zeros(owner.size, np.int64)
        live = (data != 0) & (weights != 0)  # zero lanes are gated off
        for kind, values in ((DATA, data), (WEIGHT, weights)):
            sel = kinds[owner] == kind
            if sel.any():
                new = sx((values[sel] & ((1 << lw) - 1)) ^ masks[sel], lw)
                other = weights[sel] if kind == DATA else data[sel]
                change[sel] = np.where(live[sel], (new - values[sel]) * other, 0).sum(axis=1)
        sel = kinds[owner] == PSUM
        if sel.any():
            psum = (data[sel] * weights[sel]).sum(axis=1)
            width = self.psum_bits
            new = np.array([sites[flips[i][0]].apply(int(v), width)
                            for i, v in zip(owner[sel].tolist(), psum.tolist())], np.int64)
            change[sel] = new - psum
        acc = self.golden_acc(kernel, pixel) + change
        bounds = np.concatenate([[0], np.cumsum(count)]).tolist()
        return [AccPatch(kernel[a:b], pixel[a:b], acc[a:b])
                for a, b in zip(bounds[:-1], bounds[1:])]

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

    def abuf_flips(self, sites: list[FaultSite]) -> list[AccPatch | None]:
        """:meth:`transient` for many assembly-buffer upsets at once (the most numerous
        convolution-core faults); exact whenever no running sum saturates, per fault
        in hardware order otherwise."""
        sched, ak = self.schedule, self.cells
        ops, steps = sched.ops, sched.blocks * sched.taps
        entry, cell = np.divmod(np.array([s.instance for s in sites]), ak)
        cycle = np.array([s.cycle for s in sites])
        op = np.searchsorted(ops["start"], cycle - entry - CACC_WRITE, side="right") - 1
        safe = np.maximum(op, 0)
        step = safe % steps
        live = (op >= 0) & (entry < ops["length"][safe]) & (step != steps - 1)
        nxt = np.minimum(safe + 1, ops["start"].size - 1)
        live &= cycle <= ops["start"][nxt] + entry + CACC_SUM - 1
        out: list[AccPatch | None] = [None] * len(sites)
        rows = np.flatnonzero(live)
        if rows.size == 0:
            return out
        kernels = ops["group"][op[rows]] * ak + cell[rows]
        pixels = ops["first"][op[rows]] + entry[rows]
        sums = np.cumsum(self.psums(kernels, pixels), axis=1)  # golden running sums
        step = step[rows]
        running = sums[np.arange(rows.size), step]
        width = self.acc_bits
        raw = running & ((1 << width) - 1)
        bit = np.array([sites[r].bit for r in rows], np.int64)
        span = np.array([sites[r].bits for r in rows], np.int64)
        flipped = raw ^ (((np.int64(1) << span) - 1) << bit & ((1 << width) - 1))
        flipped = flipped - ((flipped >> (width - 1)) << width)  # sign-extend
        later = np.arange(steps)[None, :] > step[:, None]
        faulty = np.where(later, sums - running[:, None] + flipped[:, None], sums)
        exact = (np.abs(faulty) < self.acc_limit).all(axis=1)
        for n, r in enumerate(rows):
            if exact[n]:
                out[r] = AccPatch(kernels[n:n + 1], pixels[n:n + 1], faulty[n, -1:])
            else:
                out[r] = self._abuf_flip(sites[r])
        return out

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
