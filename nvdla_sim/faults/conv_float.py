"""Faults in the convolution core of a float datapath (FP16, FP32 reference).

The registers, their cycles and the elements a fault reaches are the integer
model's (:mod:`nvdla_sim.faults.conv`); only the arithmetic differs.  Float
accumulation is not associative, so no fault takes the golden + change path:
the affected output elements are re-accumulated in CSC's order from their
partial sums, with the arithmetic of :mod:`nvdla_sim.floatpath` (FP16: CMAC's
FP44 atomic sums, CACC's FP48 adds; FP32 reference: binary32 pairwise trees
and adds).  Registers hold bit patterns (binary16 / binary32 lanes, FP44,
FP48, binary32): a flip or a stuck-at changes a bit of the pattern.  As in the
integer model, lanes whose fault-free value is zero are gated off (their
non-zero flag comes from the fault-free value), so a fault there has no effect.
"""

from __future__ import annotations

import numpy as np

from nvdla_sim.faults.conv import AccPatch, ConvFaults, ConvStuck, deliver
from nvdla_sim.faults.site import FaultSite
from nvdla_sim.floatpath import cmac16, f32, f32_bits, to_bits
from nvdla_sim.floatpath.conv import pairwise_sum
from nvdla_sim.fp16 import cacc_fp48_add
from nvdla_sim.precision import FP16


def _mask(width: int) -> int:
    return (1 << width) - 1


class FloatConvFaults(ConvFaults):
    """:class:`ConvFaults` with float arithmetic on bit patterns (int64)."""

    integer = False  # every upset re-accumulates on its own

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        prec = self.conv.precision
        self.data = to_bits(self.data, prec).reshape(self.data.shape)  # [B, T, lane, P]
        self.weights = to_bits(self.weights, prec).reshape(self.weights.shape)

    # -- the float arithmetic -----------------------------------------------------------
    def atomic(self, weights: np.ndarray, data: np.ndarray) -> np.ndarray:
        """Partial sums [K, P] (FP44 / binary32 patterns) of lane patterns weights [K, L]
        and data [L, P]."""
        if self.conv.precision is FP16:
            return cmac16.atomic(weights, data)
        with np.errstate(over="ignore", invalid="ignore"):
            return f32_bits(pairwise_sum(f32(weights)[:, :, None] * f32(data)[None, :, :]))

    def add(self, acc: np.ndarray, psum: np.ndarray) -> np.ndarray:
        """One CACC step on assembly value and partial-sum patterns."""
        if self.conv.precision is FP16:
            return cacc_fp48_add(acc, psum)
        with np.errstate(over="ignore", invalid="ignore"):
            return f32_bits(f32(acc) + f32(psum))

    def _linear(self, excess: int) -> bool:
        return False  # float sums depend on their order: always re-accumulate

    def psums(self, kernels: np.ndarray, pixels: np.ndarray) -> np.ndarray:
        """Partial sums [element, step] of (kernel, pixel) pairs, in accumulation order."""
        kernels, pixels = np.asarray(kernels), np.asarray(pixels)
        one_pixel, one_kernel = (pixels == pixels[0]).all(), (kernels == kernels[0]).all()
        pick = np.arange(kernels.size)
        out = []
        for b in range(self.schedule.blocks):
            for t in range(self.schedule.taps):
                w, d = self.weights[:, b, t], self.data[b, t]
                if one_pixel:  # the cells of one atomic operation
                    out.append(self.atomic(w[kernels], d[:, pixels[:1]])[:, 0])
                elif one_kernel:  # one cell over a stripe
                    out.append(self.atomic(w[kernels[:1]], d[:, pixels])[0])
                else:
                    out.append(self.atomic(w[kernels], d[:, pixels])[pick, pick])
        return np.stack(out, axis=1)

    def accumulate(self, psums: np.ndarray, start: int = 0, initial: np.ndarray | None = None
                   ) -> np.ndarray:
        acc = np.zeros(psums.shape[0], np.int64) if initial is None else initial.copy()
        for n in range(start, psums.shape[1]):
            acc = self.add(acc, psums[:, n])
        return acc

    def _lanes(self, site: FaultSite, golden: np.ndarray) -> np.ndarray:
        """Lane patterns of a data atom or weight slice (last axis) with the fault, zero
        lanes gated off."""
        faulty = site.apply_lanes(golden, self.lane_bits) & _mask(self.lane_bits)
        zero = (golden & _mask(self.lane_bits - 1)) == 0  # +0 or -0
        return np.where(zero, golden, faulty)

    # -- transient upsets ---------------------------------------------------------------
    def transient(self, site: FaultSite) -> AccPatch | None:
        patch = super().transient(site)
        if patch is None or patch.final is None:
            return patch
        return patch._replace(final=patch.final & _mask(self.out_bits))  # a pattern

    def _data_flip(self, site: FaultSite, s: int, j: int, cells: np.ndarray) -> AccPatch:
        k, p = self.elements(s, j, cells)
        b, t = self.block_tap(s)
        d = self._lanes(site, self.data[b, t, :, p])  # [lane]
        ps = self.psums(k, np.full(k.size, p))
        ps[:, self.step_of(s)] = self.atomic(self.weights[k, b, t], d[:, None])[:, 0]
        return AccPatch(k, np.full(k.size, p), self.accumulate(ps))

    def _weight_flip(self, site: FaultSite, s: int, first_j: int) -> AccPatch:
        j = np.arange(first_j, int(self.schedule.ops["length"][s]))
        k, p = self.elements(s, j, np.full(j.size, site.instance))
        b, t = self.block_tap(s)
        w = self._lanes(site, self.weights[k[0], b, t])  # [lane]
        ps = self.psums(k, p)
        ps[:, self.step_of(s)] = self.atomic(w[None, :], self.data[b, t][:, p])[0]
        return AccPatch(k, p, self.accumulate(ps))

    def _flipped_sum(self, site: FaultSite, ps: np.ndarray, step: int) -> np.ndarray:
        """The adder's output (running + psum in the accumulator's format), flipped: the
        new running value, no saturation."""
        total = self.add(self.accumulate(ps[:, :step]), ps[:, step])
        return site.apply(total, self.sum_bits) & _mask(self.sum_bits)

    def _flipped_psum(self, site: FaultSite, psum: np.ndarray) -> np.ndarray:
        return site.apply(psum, self.psum_bits) & _mask(self.psum_bits)

    def _abuf_flip(self, site: FaultSite) -> AccPatch | None:
        patch = super()._abuf_flip(site)  # the integer model's liveness and re-accumulation
        if patch is None:
            return None
        return patch._replace(acc=patch.acc & _mask(self.acc_bits))

    # -- stuck-at ----------------------------------------------------------------------
    def stuck(self, site: FaultSite) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """The whole layer (every kernel the register serves) with the bits forced."""
        reg, sched = site.register, self.schedule
        cells = ConvStuck(self).cells(site)
        kernels = (np.arange(sched.groups)[:, None] * self.cells + cells[None, :]).ravel()
        slot = np.zeros(sched.pixels, bool)
        if reg == "cacc.abuf":
            first, length = sched.stripes
            entry = site.instance // self.cells
            slot[(first + entry)[entry < length]] = True
        acc = np.zeros((kernels.size, sched.pixels), np.int64)
        steps = sched.blocks * sched.taps
        for n in range(steps):
            b, t = divmod(n, sched.taps)
            d = self.data[b, t]  # [lane, P]
            w = self.weights[kernels, b, t]  # [K, lane]
            if reg in ("cmac.dat_in", "cmac.dat_actv"):
                d = self._lanes(site, d.T).T
            elif reg in ("cmac.wt_actv", "cmac.wt_sd"):
                w = self._lanes(site, w)
            psum = self.atomic(w, d)
            if reg in ("cmac.sum_out", "cmac.mac_out"):
                psum = site.apply(psum, self.psum_bits) & _mask(self.psum_bits)
            acc = self.add(acc, psum)
            if reg == "cacc.sum":
                acc = site.apply(acc, self.sum_bits) & _mask(self.sum_bits)
            if reg == "cacc.abuf" and n < steps - 1:
                acc = np.where(slot[None, :], site.apply(acc, self.acc_bits)
                               & _mask(self.acc_bits), acc)
        final = None
        if reg == "cacc.out":
            final = site.apply(deliver(self.conv, acc), self.out_bits) & _mask(self.out_bits)
        return kernels, acc, final
