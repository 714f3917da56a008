"""Faults in stored values: one bit flip per inference in a weight or an activation.

The fault model of framework-level studies (one value of the network wrong for
the whole inference), placed in what NVDLA keeps in memory:

* ``mem.weight``: a weight of a convolution as the hardware stores it (int8,
  int16, binary16 or binary32 ``[K, C, R, S]``; a depthwise layer's block-diagonal
  zeros included, since NVDLA stores and reads them).  Every hardware layer that reads that weight
  blob (the row tiles of a large layer share one) computes with the flipped
  value; the fault's ``layer`` is the first of them.
* ``mem.act``: an element of an activation tensor, flipped after the layer
  that writes it (``layer``; -1 for the network input) and before any layer
  reads it.

Sites are blocks of a :class:`~nvdla_sim.campaign.space.SiteSpace` (one per
weight blob and per written tensor, ``instance`` = flat index of the value,
``bit`` = bit of the stored value, cycle 0: of a float, a bit of its IEEE
encoding, so sign, exponent and mantissa flips are what memory would see), so
uniform and stratified sampling, replay and the result rows are those of register campaigns.  The
ECC study (issue 14) builds the bit layout of weight memory words; this
module flips values, not memory words.
"""

from __future__ import annotations

import numpy as np

from nvdla_sim.campaign.space import Block, SiteSpace
from nvdla_sim.faults.golden import GoldenRun
from nvdla_sim.faults.injector import FaultInjector, InjectionResult, LayerEffect
from nvdla_sim.faults.propagate import BatchInputs, FaultBatch
from nvdla_sim.faults.site import FaultSite
from nvdla_sim.precision import Precision
from nvdla_sim.timing.registers import STORED_ACTIVATION, STORED_WEIGHT, stored_register
from nvdla_sim.units import convcore


def flip_value(site: FaultSite, value, prec: Precision, width: int):
    """``value`` (one stored element of precision ``prec``) with ``site``'s bits of its
    ``width``-bit encoding corrupted: an integer sign-extended into its lane, a float
    through its IEEE bits (the same bytes read as a signed integer and back)."""
    if not prec.is_float:
        return site.apply(int(value), width)
    raw = np.asarray(value, prec.dtype).view(f"<i{prec.element_bytes}")
    return np.asarray(site.apply(int(raw), width), raw.dtype).view(prec.dtype)[()]


def _blob(layer) -> tuple:
    """The key of a convolution's weight blob (layers with one key read the same bytes)."""
    v = layer.conv
    return (v.weight_address, v.kernels, v.kernel_channels, v.kernel_height, v.kernel_width)


class _FaultyWeights(BatchInputs):
    """A layer's golden inputs with one faulty weight array."""

    def __init__(self, golden: GoldenRun, layer, flow, weights: convcore.Weights) -> None:
        zero = np.zeros(1, np.int64)
        batch = FaultBatch([golden.tensors], zero, zero)
        super().__init__(batch, zero, zero, zero, layer, flow, {})
        self.faulty = weights

    def weights(self, conv) -> convcore.Weights:
        return self.faulty


class StoredFaults:
    """Injects stored-value flips into one program (keep one per worker)."""

    def __init__(self, injector: FaultInjector) -> None:
        self.injector = injector
        self.program = program = injector.program
        self.flow = injector.propagator.flow
        self.users: dict[int, list[int]] = {}  # first layer of a weight blob -> its readers
        first: dict[tuple, int] = {}
        for i, layer in enumerate(program.layers):
            if layer.conv is not None:
                self.users.setdefault(first.setdefault(_blob(layer), i), []).append(i)
        self._check_users()
        # a stored weight's bits: the packed width of narrow (INT4) weights, else the lane's
        self.weight_width = program.weight_bits or program.config.bpe

    def _check_users(self) -> None:
        """Readers of one blob must not feed each other (their faulty outputs are all
        computed from golden inputs)."""
        for readers in self.users.values():
            written = {self.flow.writes[i][1].root for i in readers}
            for j in range(readers[0] + 1, readers[-1] + 1):
                if any(w.root in written for _, w in self.flow.reads[j]):
                    raise NotImplementedError(
                        f"layer {self.program.layers[j].name} reads the output of a layer "
                        f"sharing its weights; stored-weight faults need them independent")

    def space(self, bits: int = 1) -> SiteSpace:
        """Every stored weight blob (at its first reader) and activation tensor, one block
        each, sized by its values."""
        cfg = self.program.config
        blocks = []
        for first in self.users:
            conv = self.program.layers[first].conv
            values = conv.kernels * conv.kernel_channels * conv.kernel_height * conv.kernel_width
            blocks.append(Block(first, stored_register(STORED_WEIGHT, values, cfg,
                                                       self.weight_width), 1))
        surfaces = [(-1, b.surface) for b in self.program.inputs[:1]]
        surfaces += [(i, surface) for i, (surface, _) in enumerate(self.flow.writes)]
        for index, s in surfaces:
            values = s.channels * s.height * s.width
            blocks.append(Block(index, stored_register(STORED_ACTIVATION, values, cfg), 1))
        return SiteSpace.of_blocks(blocks, "flip", bits)

    def _weight_writes(self, site: FaultSite, golden: GoldenRun
                       ) -> tuple[int, list, str]:
        cfg, executor = self.program.config, self.injector.runner.executor
        readers = self.users[site.layer]
        conv = self.program.layers[readers[0]].conv
        w, matrix, _ = convcore.weights(conv, golden.tensors.constants, cfg,
                                        self.injector.propagator.weight_cache)
        index = np.unravel_index(site.instance, w.shape)
        new = flip_value(site, w[index], self.program.config.prec, self.weight_width)
        w2, m2 = w.copy(), matrix.copy()
        w2[index] = new
        m2[index[0], np.ravel_multi_index(index[1:], w.shape[1:])] = new
        writes = []
        for i in readers:
            layer = self.program.layers[i]
            inputs = _FaultyWeights(golden, layer, self.flow,
                                    (w2, m2, None))
            (surface, cubes), = executor.compute(layer, inputs)[0]
            writes.append((surface, cubes[0]))
        return readers[-1], writes, f"weight {tuple(int(i) for i in index)} " \
                                    f"{w[index]} -> {new}"

    def _activation_writes(self, site: FaultSite, golden: GoldenRun
                           ) -> tuple[int, list, str]:
        surface = (self.program.inputs[0].surface if site.layer < 0
                   else self.flow.writes[site.layer][0])
        w = self.flow.place(surface)
        cpad = self.program.config.channels_padded(surface.channels, surface.precision)
        cube = golden.tensors.cubes[w.root][w.c0:w.c0 + cpad, w.y0:w.y0 + surface.height,
                                            w.x0:w.x0 + surface.width].copy()
        # instance: flat index over the real channels [C, H, W]
        index = np.unravel_index(site.instance, (surface.channels, surface.height,
                                                 surface.width))
        old = cube[index]
        cube[index] = flip_value(site, old, surface.precision, surface.precision.bits)
        return site.layer, [(surface, cube)], f"activation {tuple(int(i) for i in index)}: " \
                                              f"{old} -> {cube[index]}"

    def run_many(self, items: list[tuple[FaultSite, GoldenRun]]) -> list[InjectionResult]:
        """The network's outputs under each stored-value flip (downstream runs batched)."""
        faults, effects = [], []
        for site, golden in items:
            make = (self._weight_writes if site.register == STORED_WEIGHT
                    else self._activation_writes)
            start, writes, detail = make(site, golden)
            golden_cubes = [self.injector.golden_tensor(golden, s) for s, _ in writes]
            changed = sum(int(np.count_nonzero(c[:g.shape[0]] != g))
                          for (_, c), g in zip(writes, golden_cubes))
            effects.append(LayerEffect(writes, changed, detail))
            faults.append((golden.tensors, start, writes))
        outputs = self.injector.propagator.run(self.injector.propagator.states(faults))
        return [InjectionResult(site, golden.outputs if out is None else out, effect)
                for (site, golden), effect, out in zip(items, effects, outputs)]
