"""Inject one fault into a compiled program's run and compute what it does.

The fault's layer is recomputed only where the fault reaches (a few output
elements for a transient upset in the convolution core or SDP, the whole
unit for PDP/CDP inputs and for stuck-at faults), the golden layer output is
patched, and if it changed, the remaining layers run from the patched
memory.  Everything before the fault's layer is taken from the golden run.

The per-layer fault model follows the layer's precision (register widths and
MAC cells from the register catalogue; float datapaths:
:mod:`nvdla_sim.faults.conv_float`).  The incremental propagation of a
changed layer output (:class:`Propagator`) is exact for the precisions of
:data:`INCREMENTAL` (its golden + change convolutions assume int8 values); at
other precisions the layers after the faulty one re-run on the golden memory
with the faulty layer's output written in its place.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from nvdla_sim.executor import LayerTrace
from nvdla_sim.faults.conv import (
    AccPatch, ConvFaults, LayerFaults, Patches, by_input, deliver, lane_weights)
from nvdla_sim.faults.conv_float import FloatConvFaults
from nvdla_sim.faults.golden import GoldenRun
from nvdla_sim.faults.propagate import GoldenTensors, Propagator
from nvdla_sim.faults.site import FaultSite, flip_bits
from nvdla_sim.layers import HardwareLayer
from nvdla_sim.precision import INT8
from nvdla_sim.program import Program
from nvdla_sim.runner import ProgramRunner
from nvdla_sim.surface import FeatureSurface
from nvdla_sim.timing.schedule import LayerSchedule
from nvdla_sim.units import cdp as cdp_unit, pdp as pdp_unit, sdp as sdp_unit, sdp_rdma
from nvdla_sim.units.sdp_rdma import Operands
from nvdla_sim.units.tap import Tap, no_tap

# Cycle offset of each SDP/PDP/CDP register from its element's stream entry.
PDP_OFFSETS = {"pdp.acc": 0, "pdp.out": 1}
CDP_OFFSETS = {"cdp.sqsum": 0, "cdp.lut": 1, "cdp.mul": 2, "cdp.out": 3}
CDP_ICVT_OFFSET = 1
INCREMENTAL = (INT8.name,)  # precisions whose downstream layers the Propagator runs


class LayerEffect(NamedTuple):
    """The faulty layer's output: what it writes, and how much of it changed (a tuple:
    made for nearly every injection)."""

    writes: list[tuple[FeatureSurface, np.ndarray]]
    changed: int  # output elements (including padded lanes) that differ from golden
    detail: str


class InjectionResult(NamedTuple):
    """One injection's outcome (a tuple: made for every injection)."""

    site: FaultSite
    outputs: list[np.ndarray]  # the network's outputs under the fault
    effect: LayerEffect | None  # None: the register held nothing live (masked at once)


def _element_tap(register: str, flat: int | None, site: FaultSite, width: int) -> Tap:
    """Corrupt ``register`` for one element (``flat`` index) or all (stuck-at, flat None)."""
    def tap(name: str, value: np.ndarray) -> np.ndarray:
        if name != register:
            return value
        if flat is None:
            return site.apply(value, width)
        out = np.array(value, np.int64, copy=True)
        out.reshape(-1)[flat] = site.apply(out.reshape(-1)[flat], width)
        return out
    return tap


def _differs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Where two layer outputs differ: bit patterns for floats (a NaN equals itself)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind == "f":
        unsigned = np.dtype(f"u{a.dtype.itemsize}")
        return a.view(unsigned) != b.astype(a.dtype).view(unsigned)
    return a != b


def _pick(a: np.ndarray, flat: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The values of one operand at cube elements ``flat`` (indexing the broadcast
    dimensions of a per-kernel operand at 0, never materializing it at the cube's size)."""
    index = np.unravel_index(flat, shape)
    lead = len(shape) - a.ndim
    return a[tuple(0 if n == 1 else i for n, i in zip(a.shape, index[lead:]))]


def _gather(operands: Operands, flat: np.ndarray, shape: tuple[int, ...]) -> Operands:
    """The operand values of cube elements ``flat``."""
    return Operands(*(None if a is None else _pick(a, flat, shape)
                      for a in (operands.alu, operands.mul)))


def _in_layer(patch: AccPatch | None, trace: LayerTrace) -> AccPatch | None:
    """``patch`` without elements beyond the layer's padded channels (cells there write
    nothing)."""
    if patch is None:
        return None
    keep = patch.kernels < trace.sdp_in.shape[0]
    if keep.all():
        return patch
    return AccPatch(patch.kernels[keep], patch.pixels[keep], patch.acc[keep],
                    None if patch.final is None else patch.final[keep])


class FaultInjector:
    """Fault injection into one program; keep one per worker (it caches schedules)."""

    def __init__(self, program: Program) -> None:
        self.program = program
        self.config = program.config
        self.runner = ProgramRunner(program, constant_weights=True)
        self.schedules = [LayerSchedule(layer, self.config) for layer in program.layers]
        self.propagator = Propagator(program, self.runner.executor)
        self.incremental = self.config.precision in INCREMENTAL
        self._lane_weights: dict[int, np.ndarray] = {}  # per convolution layer, all inputs
        # per convolution layer: (golden runs, their LayerFaults) of the last chunk
        self._layer_cache: dict[int, tuple[list[GoldenRun], LayerFaults]] = {}
        self._sdp_batched = {i for i, layer in enumerate(program.layers)  # integer SDP
                             if layer.sdp is not None and not layer.sdp.proc_prec.is_float}

    def golden(self, x_q: np.ndarray) -> GoldenRun:
        """The fault-free run of one quantized input, with everything injection reuses."""
        outputs, traces = self.runner.run(x_q, keep=True)
        tensors = GoldenTensors(self.propagator.flow, self.runner.memory, traces)
        weights = tuple(a for cached in self.propagator.weight_cache.values() for a in cached
                        if a is not None)
        return GoldenRun(x_q, traces, outputs, tensors, shared=weights)

    def golden_tensor(self, golden: GoldenRun, surface: FeatureSurface) -> np.ndarray:
        """The golden value [C, H, W] of the tensor stored at ``surface``."""
        w = self.propagator.flow.place(surface)
        return golden.tensors.cubes[w.root][w.c0:w.c0 + surface.channels,
                                             w.y0:w.y0 + surface.height,
                                             w.x0:w.x0 + surface.width]

    # -- per-layer effects -----------------------------------------------------------------
    def _sdp_elements(self, index: int, trace: LayerTrace, x: np.ndarray, flat: np.ndarray,
                      tap: Tap = no_tap) -> np.ndarray:
        """SDP on some elements, with the operands SDP_RDMA read when the layer ran."""
        sdp = self.program.layers[index].sdp
        ops = [_gather(o, flat, trace.sdp_in.shape) for o in trace.sdp_operands]
        return sdp_unit.process(x, sdp, *ops, tap=tap).astype(sdp.out_prec.dtype)

    def _finish(self, layer: HardwareLayer, trace: LayerTrace, sdp_out: np.ndarray | None,
                pdp_tap: Tap = no_tap, pdp_in: np.ndarray | None = None,
                detail: str = "") -> LayerEffect:
        """Write the faulty SDP output, or run the flying PDP on it."""
        if layer.pdp is None:
            surface = sdp_rdma.output_surface(layer.sdp)
            changed = int(np.count_nonzero(_differs(sdp_out, trace.sdp_out)))
            return LayerEffect([(surface, sdp_out)], changed, detail)
        source = pdp_in if pdp_in is not None else (sdp_out if sdp_out is not None
                                                    else trace.pdp_in)
        out = pdp_unit.process(source, layer.pdp, self.config, pdp_tap)
        changed = int(np.count_nonzero(_differs(out, trace.pdp_out)))
        return LayerEffect([(pdp_unit.output_surface(layer.pdp), out)], changed, detail)

    def layer_effect(self, site: FaultSite, index: int, trace: LayerTrace,
                     golden: GoldenRun | None = None) -> LayerEffect | None:
        """The faulty layer's output (None: the register held nothing live).  With
        ``golden``, per-layer state is cached there for the next injection."""
        layer, sched = self.program.layers[index], self.schedules[index]
        width = sched.register(site.register).width
        unit = site.unit
        if unit in ("cmac", "cacc"):
            return self._conv_effect(site, index, trace, golden)
        if unit == "sdp":
            name = site.register.split(".", 1)[1]
            stage = {"bs": layer.sdp.bs, "bn": layer.sdp.bn}.get(name.split("_")[0])
            if stage is not None and not sdp_unit.x_register_live(stage, name.split("_")[1]):
                return None  # a bypassed stage's (ALU's, multiplier's) registers hold nothing
            if site.transient:
                e = sched.sdp_stream.at(site.cycle - sched.sdp_register_offset(site.register))
                if e is None:
                    return None
                flat = np.array([e])
                y = self._sdp_elements(index, trace, trace.sdp_in.reshape(-1)[flat], flat,
                                       _element_tap(name, 0, site, width))
                out = trace.sdp_out.copy()
                out.reshape(-1)[e] = y[0]
            else:
                flat = np.arange(trace.sdp_in.size)
                out = self._sdp_elements(index, trace, trace.sdp_in.reshape(-1), flat,
                                         _element_tap(name, None, site, width)
                                         ).reshape(trace.sdp_out.shape)
            return self._finish(layer, trace, out, detail=f"SDP element register {name}")
        if unit == "pdp":
            name = site.register.split(".", 1)[1]
            flat = None
            if site.transient:
                stream = sched.pdp_input if name == "in" else sched.pdp_output
                flat = stream.at(site.cycle - PDP_OFFSETS.get(site.register, 0))
                if flat is None:
                    return None
            tap = _element_tap(name, flat, site, width)
            if layer.sdp is not None:  # flying: PDP fed by this layer's SDP
                return self._finish(layer, trace, trace.sdp_out, pdp_tap=tap)
            out = pdp_unit.process(trace.pdp_in, layer.pdp, self.config, tap)
            changed = int(np.count_nonzero(_differs(out, trace.pdp_out)))
            return LayerEffect([(pdp_unit.output_surface(layer.pdp), out)], changed, name)
        if unit == "cdp":
            name = site.register.split(".", 1)[1]
            flat = None
            if site.transient:
                if name == "icvt":
                    flat = sched.cdp_input.at(site.cycle - CDP_ICVT_OFFSET)
                else:
                    flat = sched.cdp_output.at(site.cycle - CDP_OFFSETS[site.register])
                if flat is None:
                    return None
            out = cdp_unit.process(trace.cdp_in, layer.cdp, self.config,
                                   _element_tap(name, flat, site, width))
            changed = int(np.count_nonzero(_differs(out, trace.cdp_out)))
            return LayerEffect([(cdp_unit.output_surface(layer.cdp), out)], changed, name)
        raise KeyError(f"unknown register {site.register}")

    def _conv_effect(self, site: FaultSite, index: int, trace: LayerTrace,
                     golden: GoldenRun | None) -> LayerEffect | None:
        patch = self.conv_patch(site, index, trace, golden)
        image = np.zeros(1, np.int64)
        return self._conv_effects(index, [trace], image, Patches.of([patch], image))[0]

    def _conv_faults(self, index: int, trace: LayerTrace, golden: GoldenRun | None
                     ) -> ConvFaults:
        """The layer's :class:`ConvFaults`, kept in ``golden``'s cache when given."""
        key = ("conv", index)
        faults = golden.cache.get(key) if golden is not None else None
        if faults is None:
            conv, sched = self.program.layers[index].conv, self.schedules[index].conv
            weights = self._lane_weights.get(index)
            if weights is None:
                weights = self._lane_weights[index] = lane_weights(
                    conv, sched, trace.conv_operands.weights, self.config)
            kind = FloatConvFaults if conv.precision.is_float else ConvFaults
            faults = kind(conv, sched, trace.conv_operands, self.config, weights,
                          trace.accumulator)
            if golden is not None:
                golden.cache[key] = faults
        return faults

    def conv_patch(self, site: FaultSite, index: int, trace: LayerTrace,
                   golden: GoldenRun | None = None) -> AccPatch | None:
        """The accumulators a convolution-core fault changes (within the layer's padded
        channels); None when the register held nothing live."""
        faults = self._conv_faults(index, trace, golden)
        if site.transient:
            return _in_layer(faults.transient(site), trace)
        kernels, acc, final = faults.stuck(site)
        pixels = self.schedules[index].conv.pixels
        p = np.tile(np.arange(pixels), kernels.size)
        return _in_layer(AccPatch(np.repeat(kernels, pixels), p, acc.ravel(),
                                  None if final is None else final.ravel()), trace)

    def _conv_effects(self, index: int, traces: list[LayerTrace], image: np.ndarray,
                      patches: Patches) -> list[LayerEffect | None]:
        """Layer outputs for the accumulator patches of many upsets of one layer (upset
        ``u`` on input ``traces[image[u]]``), one per upset (None: nothing live): CACC's
        rounding, SDP and the comparison with the golden output run once for all."""
        layer = self.program.layers[index]
        keep = patches.kernels < traces[0].sdp_in.shape[0]  # cells beyond write nothing
        owner, inputs = patches.owner[keep], patches.image[keep]
        flat = (patches.kernels[keep] * self.schedules[index].conv.pixels
                + patches.pixels[keep])
        rounded = deliver(layer.conv, patches.acc[keep])
        if patches.forced is not None:  # a fault in the result register itself
            rounded = np.where(patches.forced[keep], patches.final[keep], rounded)
        values = self._sdp_inputs(index, traces, inputs, rounded, flat)
        sizes = np.bincount(owner, minlength=patches.live.size)
        return self._element_effects(index, traces, image, patches.live, owner, inputs, flat,
                                     values, sizes, lambda n: f"{n} accumulator(s)")

    def _element_effects(self, index: int, traces: list[LayerTrace], image: np.ndarray,
                         live: np.ndarray, owner: np.ndarray, inputs: np.ndarray,
                         flat: np.ndarray, values: np.ndarray, detail: np.ndarray,
                         label: Callable[[int], str]) -> list[LayerEffect | None]:
        """The layer effects of upsets (upset ``u`` on input ``traces[image[u]]``, None
        where not ``live``, described by ``label(detail[u])``) that change SDP output
        elements ``flat`` of upset ``owner`` (sorted) on input ``inputs`` to ``values``:
        compared with the golden output at once; the upsets that leave it golden share
        one effect per input and description, and only the outputs that differ are built
        (then pooled by a flying PDP)."""
        layer = self.program.layers[index]
        golden_out = np.stack([t.sdp_out for t in traces])  # [input, C, H, W]
        before = golden_out.reshape(len(traces), -1)[inputs, flat]
        upsets = live.size
        changes = np.bincount(owner[_differs(values, before)], minlength=upsets)
        surface = (pdp_unit.output_surface(layer.pdp) if layer.pdp
                   else sdp_rdma.output_surface(layer.sdp))
        effects = np.full(upsets, None, object)
        quiet = np.flatnonzero(live & (changes == 0))  # the layer's output is golden
        if quiet.size:
            key = image[quiet] * (int(detail[quiet].max()) + 1) + detail[quiet]
            _, first, which = np.unique(key, return_index=True, return_inverse=True)
            shared = np.empty(first.size, object)
            for j, u in enumerate(quiet[first].tolist()):
                trace = traces[int(image[u])]
                golden = trace.pdp_out if layer.pdp else trace.sdp_out
                shared[j] = LayerEffect([(surface, golden)], 0, label(int(detail[u])))
            effects[quiet] = shared[which.ravel()]
        hit = np.flatnonzero(live & (changes > 0))
        if hit.size:  # their SDP outputs: golden copies, patched all at once
            outs = golden_out[image[hit]]
            slot = np.full(upsets, -1, np.int64)
            slot[hit] = np.arange(hit.size)
            mine = slot[owner] >= 0
            outs.reshape(hit.size, -1)[slot[owner[mine]], flat[mine]] = values[mine]
            texts = {d: label(d) for d in np.unique(detail[hit]).tolist()}
            for out, n, changed, d, i in zip(outs, hit.tolist(), changes[hit].tolist(),
                                             detail[hit].tolist(), image[hit].tolist()):
                effects[n] = (LayerEffect([(surface, out)], changed, texts[d])
                              if layer.pdp is None else
                              self._finish(layer, traces[i], out, detail=texts[d]))
        return effects.tolist()

    def _sdp_effects(self, index: int, items: list[tuple[FaultSite, GoldenRun]],
                     ks: list[int]) -> list[LayerEffect | None]:
        """The layer effects of transient SDP register upsets ``ks`` (positions in
        ``items``) of layer ``index``: each corrupts one element as it passes one pipeline
        register; SDP runs once on all those elements, each register flipped where its
        upsets are."""
        layer, sched = self.program.layers[index], self.schedules[index]
        runs, image = self._inputs(items, ks)
        traces = [g.traces[index] for g in runs]
        live = np.zeros(len(ks), bool)
        element = np.zeros(len(ks), np.int64)
        names: list[str] = []
        for n, k in enumerate(ks):
            site = items[k][0]
            name = site.register.split(".", 1)[1]
            names.append(name)
            stage = {"bs": layer.sdp.bs, "bn": layer.sdp.bn}.get(name.split("_")[0])
            if stage is not None and not sdp_unit.x_register_live(stage, name.split("_")[1]):
                continue  # a bypassed stage's (ALU's, multiplier's) registers hold nothing
            e = sched.sdp_stream.at(site.cycle - sched.sdp_register_offset(site.register))
            if e is not None:
                live[n], element[n] = True, e
        rows = np.flatnonzero(live)
        flat, inputs = element[rows], image[rows]
        sites = [items[ks[r]][0] for r in rows.tolist()]
        bit = np.array([s.bit for s in sites], np.int64)
        bits = np.array([s.bits for s in sites], np.int64)
        where: dict[str, list[int]] = {}  # register -> its upsets among the live ones
        for n, r in enumerate(rows.tolist()):
            where.setdefault(names[r], []).append(n)
        widths = {name: sched.register(f"sdp.{name}").width for name in where}

        def tap(name: str, value: np.ndarray) -> np.ndarray:
            at = where.get(name)
            if at is None:
                return value
            out = np.array(value, np.int64, copy=True)
            out[at] = flip_bits(out[at], bit[at], bits[at], widths[name])
            return out
        x = by_input(inputs, len(traces), lambda n, sel: traces[n].sdp_in.reshape(-1)[flat[sel]])
        values = self._sdp_inputs(index, traces, inputs, x, flat, tap)
        kinds = sorted(set(names))
        code = np.array([kinds.index(name) for name in names], np.int64)
        return self._element_effects(index, traces, image, live, rows, inputs, flat, values,
                                     code, lambda c: f"SDP element register {kinds[c]}")

    @staticmethod
    def _inputs(items: list[tuple[FaultSite, GoldenRun]], ks: list[int]
                ) -> tuple[list[GoldenRun], np.ndarray]:
        """The distinct golden runs of upsets ``ks`` (in a fixed order: chunks drawing the
        same inputs list them alike) and each upset's position among them."""
        ids = np.array([id(items[k][1]) for k in ks], np.int64)
        _, first, image = np.unique(ids, return_index=True, return_inverse=True)
        return [items[ks[i]][1] for i in first.tolist()], image.ravel()

    def _layer_faults(self, index: int, runs: list[GoldenRun]) -> LayerFaults:
        """The layer's :class:`LayerFaults` over the inputs of ``runs``, kept while the
        next chunk draws the same inputs (it holds their operands stacked)."""
        kept = self._layer_cache.get(index)
        if kept is not None and len(kept[0]) == len(runs) and all(
                a is b for a, b in zip(kept[0], runs)):
            return kept[1]
        made = LayerFaults([self._conv_faults(index, g.traces[index], g) for g in runs])
        self._layer_cache[index] = (runs, made)
        return made

    def _sdp_inputs(self, index: int, traces: list[LayerTrace], image: np.ndarray,
                    x: np.ndarray, flat: np.ndarray, tap: Tap = no_tap) -> np.ndarray:
        """SDP on elements ``flat`` of inputs ``image`` (``traces``), with the operands
        SDP_RDMA read when each input ran: one pass for all."""
        sdp = self.program.layers[index].sdp
        shape = traces[0].sdp_in.shape

        def pick(stage: int, name: str) -> np.ndarray | None:
            arrays = [getattr(t.sdp_operands[stage], name) for t in traces]
            if arrays[0] is None or all(a is arrays[0] for a in arrays):  # constant weights
                return None if arrays[0] is None else _pick(arrays[0], flat, shape)
            return by_input(image, len(traces), lambda n, sel: _pick(arrays[n], flat[sel],
                                                                     shape))
        ops = [Operands(pick(stage, "alu"), pick(stage, "mul"))
               for stage in range(len(traces[0].sdp_operands))]
        return sdp_unit.process(x, sdp, *ops, tap=tap).astype(sdp.out_prec.dtype)

    # -- whole runs --------------------------------------------------------------------------
    def run(self, site: FaultSite, golden: GoldenRun) -> InjectionResult:
        """The network's outputs with ``site`` injected (layer -1: stuck in every layer)."""
        return self.run_many([(site, golden)])[0]

    def run_many(self, items: list[tuple[FaultSite, GoldenRun]]) -> list[InjectionResult]:
        """Inject many faults (any inputs, any layers).  Convolution-core faults of one
        layer share one mapping and SDP pass, whatever their inputs; all downstream runs
        are batched."""
        effects: list[LayerEffect | None] = [None] * len(items)
        groups: dict[tuple[int, str], list[int]] = {}  # (layer, kind): upsets done together
        for k, (site, golden) in enumerate(items):
            layer = site.layer
            if layer < 0:
                continue
            unit, transient = site.unit, site.model == "flip"
            if unit == "cmac" or unit == "cacc":
                groups.setdefault((layer, "core" if transient else "stuck"), []).append(k)
            elif unit == "sdp" and transient and layer in self._sdp_batched:
                groups.setdefault((layer, "sdp"), []).append(k)
            else:
                effects[k] = self.layer_effect(site, layer, golden.traces[layer], golden)
        for (index, kind), ks in groups.items():
            for k, effect in zip(ks, self._sdp_effects(index, items, ks) if kind == "sdp"
                                 else self._core_effects(index, items, ks, kind == "core")):
                effects[k] = effect
        results: list[InjectionResult | None] = [None] * len(items)
        pending = []
        for k, (site, golden) in enumerate(items):
            if site.layer < 0:
                results[k] = self._rerun(site, golden)
                continue
            effect = effects[k]
            if effect is None or effect.changed == 0:
                results[k] = InjectionResult(site, golden.outputs, effect)
                continue
            if not self.incremental:
                results[k] = self._rerun(site, golden, effect)
                continue
            pending.append((k, site, golden, effect))
        states = self.propagator.states([(golden.tensors, site.layer, effect.writes)
                                         for _, site, golden, effect in pending])
        outputs = self.propagator.run(states)
        for (k, site, golden, effect), out in zip(pending, outputs):
            results[k] = InjectionResult(site, golden.outputs if out is None else out, effect)
        return results

    def _core_effects(self, index: int, items: list[tuple[FaultSite, GoldenRun]],
                      ks: list[int], transient: bool) -> list[LayerEffect | None]:
        """The layer effects of convolution-core upsets ``ks`` (positions in ``items``,
        transient or stuck-at) of layer ``index``, over all their inputs."""
        runs, image = self._inputs(items, ks)
        traces = [g.traces[index] for g in runs]
        if transient:
            patches = self._layer_faults(index, runs).transients([items[k][0] for k in ks],
                                                                 image)
        else:
            patches = Patches.of([self.conv_patch(items[k][0], index, traces[i], runs[i])
                                  for k, i in zip(ks, image.tolist())], image)
        return self._conv_effects(index, traces, image, patches)

    def _rerun(self, site: FaultSite, golden: GoldenRun, effect: LayerEffect | None = None
               ) -> InjectionResult:
        """The network re-run on the loaded memory with the fault: from ``golden``'s tensors
        (the program's tensors never share memory, so the memory after its run holds every
        layer's input) with ``effect``, the faulty layer's output, written in place of
        layer ``site.layer``; or, for a stuck-at of the whole run (layer -1), from the input
        with the fault in every layer using its register."""
        mem, executor = self.runner.memory, self.runner.executor
        if site.layer < 0:
            self.runner.write_tensor(self.program.inputs[0], golden.x_q)
        else:
            for root, cube in zip(self.propagator.flow.roots, golden.tensors.cubes):
                root.write(mem, self.config, cube)
            for surface, cube in effect.writes:
                surface.write(mem, self.config, cube)
        first = effect
        for i, layer in enumerate(self.program.layers[site.layer + 1:], site.layer + 1):
            if site.layer < 0 and any(r.name == site.register
                                      for r in self.schedules[i].registers):
                here = self.layer_effect(site, i, executor.run(layer, mem, keep=True))
                first = first or here
                for surface, cube in (here.writes if here is not None else []):
                    surface.write(mem, self.config, cube)
            else:
                executor.run(layer, mem)
        outputs = [b.surface.read(mem, self.config)[: b.surface.channels]
                   for b in self.program.outputs]
        return InjectionResult(site, outputs, first)
