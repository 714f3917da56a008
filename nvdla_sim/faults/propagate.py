"""Incremental, batched propagation of faults through the rest of the network.

Each fault carries its own version of the tensors it changed (copies of the
golden ones, patched).  Layer by layer, only the faults whose changed values
the layer reads take part; they run together as one batch through the same
executor (one GEMM for all of them), on the cone of the output their changes
can reach (the layer restricted to that box) or the whole layer when the cone
is most of it.  Each fault's result is compared with the golden one: values
a layer masks (rounding, ReLU, pooling) stop there, and a fault whose
changes all died out is masked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from nvdla_sim.executor import Executor, LayerTrace
from nvdla_sim.faults.delta import ConvDelta, applies as delta_applies
from nvdla_sim.faults.region import (
    Box, can_restrict, cut_key, reach, read_strides, restrict)
from nvdla_sim.layers import ConvCore, HardwareLayer, OperandDma, Sdp
from nvdla_sim.memory import Memory
from nvdla_sim.program import Program
from nvdla_sim.surface import FeatureSurface
from nvdla_sim.units import cdma, cdp as cdp_unit, convcore, pdp as pdp_unit, sdp_rdma

WHOLE_LAYER = 1.0  # recompute the whole layer once the cone covers this much of it
BATCH_ELEMENTS = 1 << 23  # faults run together until their patch matrices hold this many
CUTS_KEPT = 4096  # restricted layer descriptors remembered
DELTA_SHARE = 0.5  # golden + change when the changed input pixels are this few per cone pixel


class Placement(NamedTuple):
    """Where a surface sits in a tensor: its root surface and the origin within it."""

    root: int  # index of the root surface
    c0: int
    y0: int
    x0: int


def layer_reads(layer: HardwareLayer) -> list[FeatureSurface]:
    """Feature surfaces a layer reads (per-element operands included)."""
    reads = []
    if layer.conv is not None:
        reads.append(cdma.feature_surface(layer.conv))
    if layer.sdp is not None:
        s = layer.sdp
        if not s.flying:
            reads.append(sdp_rdma.input_surface(s))
        for stage in (s.bs, s.bn, s.ew):
            dma = stage.dma
            if not dma.disable and dma.data_mode == 1:
                elem = (2 if dma.data_size else 1) * (2 if dma.data_use == 2 else 1)
                reads.append(FeatureSurface(dma.address, s.width, s.height, s.channels,
                                            dma.line_stride, dma.surface_stride, elem))
    if layer.pdp is not None and layer.pdp.from_memory:
        reads.append(pdp_unit.input_surface(layer.pdp))
    if layer.cdp is not None:
        reads.append(cdp_unit.input_surface(layer.cdp))
    return reads


def layer_writes(layer: HardwareLayer) -> FeatureSurface:
    if layer.cdp is not None:
        return cdp_unit.output_surface(layer.cdp)
    if layer.pdp is not None:
        return pdp_unit.output_surface(layer.pdp)
    return sdp_rdma.output_surface(layer.sdp)


class Dataflow:
    """Which layers read which tensors; surfaces located in their root tensors."""

    def __init__(self, program: Program) -> None:
        cfg = self.config = program.config
        reads = [layer_reads(layer) for layer in program.layers]
        writes = [layer_writes(layer) for layer in program.layers]
        surfaces = [b.surface for b in program.tensors.values()] + writes + [
            s for r in reads for s in r]
        # roots: surfaces not inside a larger one (a Concat output, not its slices or tiles)
        spans = [(s.address, s.address + s.span(cfg)) for s in surfaces]
        self.roots = [s for s, (a, e) in zip(surfaces, spans)
                      if not any(a2 <= a and e <= e2 and (a2, e2) != (a, e) for a2, e2 in spans)]
        self._placed: dict[FeatureSurface, Placement] = {}
        self.reads = [[(s, self.place(s)) for s in r] for r in reads]
        self.writes = [(w, self.place(w)) for w in writes]
        self.outputs = [self.place(b.surface) for b in program.outputs]
        keep = {w.root for w in self.outputs}
        last: dict[int, int] = {}
        for index, placed in enumerate(self.reads):
            for _, where in placed:
                last[where.root] = index
        # root tensors no layer reads after layer i (network outputs excluded)
        self.dead_after = [sorted(r for r, n in last.items() if n == i and r not in keep)
                           for i in range(len(reads))]

    def place(self, s: FeatureSurface) -> Placement:
        placed = self._placed.get(s)
        if placed is None:
            placed = self._placed[s] = self._locate(s)
        return placed

    def _locate(self, s: FeatureSurface) -> Placement:
        cfg = self.config
        for i, root in enumerate(self.roots):
            if (root.line_stride, root.surface_stride) != (s.line_stride, s.surface_stride):
                continue
            off = s.address - root.address
            if 0 <= off < root.span(cfg):
                c, rest = divmod(off, root.surface_stride)
                y, rest = divmod(rest, root.line_stride)  # a pixel: one atom per operand byte
                return Placement(i, c * cfg.atom_channels(s.precision), y,
                                 rest // (cfg.mem_atom * s.element_bytes))
        raise ValueError(f"surface at {s.address:#x} lies in no tensor of the program")


def changed_boxes(new: np.ndarray, old: np.ndarray) -> list[Box | None]:
    """Per cube of ``new`` [N, C, H, W], the bounding box of where it differs from ``old``
    (None: identical).  Reductions of the difference mask, not a list of its elements:
    a recomputed cone may differ in a fifth of its values."""
    d = new != old
    n, c, h, w = d.shape
    plane = d.any(axis=1)  # [N, H, W]: some channel differs there
    rows, cols = plane.any(axis=2), plane.any(axis=1)
    chans = d.reshape(n, c, h * w).any(axis=2)

    def span(hits: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
        return hits.argmax(axis=1), size - hits[:, ::-1].argmax(axis=1)
    bounds = [b.tolist() for pair in (span(chans, c), span(rows, h), span(cols, w))
              for b in pair]
    return [Box(*(b[i] for b in bounds)) if hit else None
            for i, hit in enumerate(rows.any(axis=1).tolist())]


class GoldenTensors:
    """The golden value of every root tensor of one input, as int8 cubes, read from the
    memory right after the run, and the run's layer traces; ``constants`` is a memory
    whose weights and operand vectors are the program's (its activations may belong to
    another input)."""

    def __init__(self, flow: Dataflow, memory: Memory, traces: list[LayerTrace]) -> None:
        self.constants = memory
        self.cubes = [root.read(memory, flow.config) for root in flow.roots]
        self.traces = traces


@dataclass
class FaultState:
    """One fault's tensors: golden ones, and patched copies of those it changed."""

    golden: GoldenTensors
    start: int  # the faulty layer
    own: dict[int, np.ndarray] = field(default_factory=dict)
    changed: dict[int, Box] = field(default_factory=dict)

    def cube(self, root: int) -> np.ndarray:
        return self.own.get(root, self.golden.cubes[root])

    def golden_at(self, where: Placement, shape: tuple[int, ...]) -> np.ndarray:
        c, h, w = shape
        return self.golden.cubes[where.root][where.c0:where.c0 + c, where.y0:where.y0 + h,
                                             where.x0:where.x0 + w]

    def write(self, where: Placement, cube: np.ndarray, box: Box | None) -> None:
        """Store a layer's output at ``where``; ``box``: where it differs from golden."""
        c, h, w = cube.shape
        index = (slice(where.c0, where.c0 + c), slice(where.y0, where.y0 + h),
                 slice(where.x0, where.x0 + w))
        if box is None:
            if where.root in self.own:  # an earlier faulty write there is overwritten
                self.own[where.root][index] = cube
            return
        if where.root not in self.own:
            self.own[where.root] = self.golden.cubes[where.root].copy()
        self.own[where.root][index] = cube
        moved = box.shift(where.c0, where.y0, where.x0)
        self.changed[where.root] = moved.union(self.changed.get(where.root))


class BatchInputs:
    """A layer's inputs for a batch of faults, each from its own tensors and its own
    region.  Every fault runs a translate of one template descriptor (same shape, own
    place): its reads are the template's, moved by its output offset times the read's
    stride, so the executor computes all of them in one pass."""

    def __init__(self, members: list[tuple[FaultState, int, int]], template: HardwareLayer,
                 flow: Dataflow, weight_cache: convcore.WeightCache) -> None:
        self.members, self.flow, self.weight_cache = members, flow, weight_cache
        self.roles = layer_reads(template)
        self.places = [flow.place(s) for s in self.roles]
        self.strides = read_strides(template)

    def feature(self, surface: FeatureSurface) -> np.ndarray:
        role = self.roles.index(surface)
        w, (sy, sx) = self.places[role], self.strides[role]
        cpad = self.flow.config.channels_padded(surface.channels)
        h, width = surface.height, surface.width
        return np.stack([state.cube(w.root)[w.c0:w.c0 + cpad,
                                            w.y0 + dy * sy:w.y0 + dy * sy + h,
                                            w.x0 + dx * sx:w.x0 + dx * sx + width]
                         for state, dy, dx in self.members])

    def operand_raw(self, dma: OperandDma, sdp: Sdp) -> np.ndarray:
        if dma.data_mode == sdp_rdma.MODE_PER_ELEMENT:
            if sdp_rdma.element_bytes(dma) != 1:
                raise NotImplementedError("batched faults need 1-byte per-element operands")
            return self.feature(sdp_rdma.operand_surface(dma, sdp)).view(np.uint8)[..., None]
        memory = self.members[0][0].golden.constants  # per-kernel operands are constants
        return sdp_rdma.operand_raw(dma, sdp, memory, self.flow.config)

    def weights(self, conv: ConvCore) -> convcore.Weights:
        memory = self.members[0][0].golden.constants
        return convcore.weights(conv, memory, self.flow.config, self.weight_cache)


def _work_elements(layer: HardwareLayer) -> int:
    """Largest intermediate array of one fault's run of ``layer``, in elements: the
    convolution's patch matrix, or the output."""
    if layer.conv is not None:
        v = layer.conv
        return v.in_channels * v.kernel_height * v.kernel_width * v.out_height * v.out_width
    out = layer_writes(layer)
    return max(1, out.channels * out.height * out.width)


def _round_up(box: Box, h: int, w: int) -> Box:
    """Grow a box to even height and width (within h x w), so that boxes fall into fewer
    shapes and batch together."""
    def grow(lo: int, hi: int, size: int) -> tuple[int, int]:
        n = min(size, hi - lo + (hi - lo) % 2)
        lo = min(lo, size - n)
        return lo, lo + n
    y0, y1 = grow(box.y0, box.y1, h)
    x0, x1 = grow(box.x0, box.x1, w)
    return Box(box.c0, box.c1, y0, y1, x0, x1)


class Propagator:
    """Runs faults' effects through the layers after theirs, batched."""

    def __init__(self, program: Program, executor: Executor) -> None:
        self.program, self.executor = program, executor
        self.config = program.config
        self.flow = Dataflow(program)
        self.weight_cache = executor.weight_cache if executor.weight_cache is not None else {}
        self._cuts: dict[tuple[int, Box], HardwareLayer] = {}  # restrict(), by layer and box
        self._read_roots = [tuple(where.root for _, where in reads) for reads in self.flow.reads]
        self._cones: dict[tuple, tuple[Box | None, Box | None]] = {}  # _cone(), remembered
        self._deltas: dict[int, ConvDelta | None] = {}

    @staticmethod
    def _store(members: list[tuple[FaultState, Placement]], cubes: np.ndarray,
               golden: np.ndarray | None = None) -> None:
        """Write each fault's cube at its place, with the box where it differs from the
        golden cube there (``golden``: those cubes, when the caller has them)."""
        if golden is None:
            golden = np.stack([state.golden_at(where, cubes.shape[1:])
                               for state, where in members])
        for (state, where), cube, box in zip(members, cubes, changed_boxes(cubes, golden)):
            state.write(where, cube, box)

    def _cut(self, index: int, box: Box) -> HardwareLayer:
        """The layer restricted to ``box``, remembered (cones recur across chunks)."""
        cut = self._cuts.get((index, box))
        if cut is None:
            if len(self._cuts) >= CUTS_KEPT:
                self._cuts.clear()
            cut = self._cuts[(index, box)] = restrict(self.program.layers[index], box,
                                                      self.config)
        return cut

    def _delta(self, index: int, golden: GoldenTensors) -> ConvDelta | None:
        """The layer's :class:`ConvDelta`, if its faulty runs are golden + change."""
        if index not in self._deltas:
            layer = self.program.layers[index]
            self._deltas[index] = None
            if delta_applies(layer):
                weights = convcore.weights(layer.conv, golden.constants, self.config,
                                           self.weight_cache)[0]
                self._deltas[index] = ConvDelta(layer, weights, self.config)
        return self._deltas[index]

    def _change(self, index: int, state: FaultState, box: Box
                ) -> tuple[np.ndarray, int, int]:
        """The fault's change of the convolution input within ``box`` (int16 [C, h, w]),
        and the box's top-left pixel."""
        (_, where), = self.flow.reads[index]
        region = (slice(where.c0, where.c0 + self.program.layers[index].conv.in_channels),
                  slice(where.y0 + box.y0, where.y0 + box.y1),
                  slice(where.x0 + box.x0, where.x0 + box.x1))
        change = (state.cube(where.root)[region].astype(np.int16)
                  - state.golden.cubes[where.root][region])
        return change, box.y0, box.x0

    def _by_delta(self, index: int, conv: ConvDelta,
                  members: list[tuple[FaultState, tuple[np.ndarray, int, int]]]) -> None:
        """Run faults through a convolution as golden + change, in bounded batches."""
        out, where = self.flow.writes[index]
        shape = (self.config.channels_padded(out.channels), out.height, out.width)
        step = max(1, BATCH_ELEMENTS // 4 // (shape[0] * shape[1] * shape[2]))
        for at in range(0, len(members), step):
            batch = members[at:at + step]
            runs = list({id(state.golden): state.golden for state, _ in batch}.values())
            position = {id(run): n for n, run in enumerate(runs)}
            image = np.array([position[id(state.golden)] for state, _ in batch])
            accumulators = np.stack([run.traces[index].accumulator for run in runs])
            golden_out = np.stack([state.golden_at(where, shape) for state, _ in batch])
            cubes = conv.outputs([change for _, change in batch], accumulators, image,
                                 runs[0].traces[index].sdp_operands, golden_out)
            self._store([(state, where) for state, _ in batch], cubes, golden_out)

    def states(self, faults: list[tuple[GoldenTensors, int, list[tuple[FeatureSurface,
                                                                       np.ndarray]]]]
               ) -> list[FaultState]:
        """The :class:`FaultState` of each (golden tensors, faulty layer, its writes); the
        writes to one surface are compared with golden in one pass."""
        states = [FaultState(golden, start) for golden, start, _ in faults]
        by_surface: dict[FeatureSurface, list[tuple[FaultState, np.ndarray]]] = {}
        for state, (_, _, writes) in zip(states, faults):
            for surface, cube in writes:
                by_surface.setdefault(surface, []).append((state, cube))
        for surface, members in by_surface.items():
            where = self.flow.place(surface)
            cpad = self.config.channels_padded(surface.channels)
            self._store([(state, where) for state, _ in members],
                        np.stack([cube[:cpad] for _, cube in members]))
        return states

    def run(self, states: list[FaultState]) -> list[list[np.ndarray] | None]:
        """Network outputs of each fault (None: masked before the outputs).  A fault's copy
        of a tensor is dropped once no later layer reads it, so memory stays bounded by
        the tensors live at one point of the network."""
        if states:
            first = min(s.start for s in states)
            for index in range(first + 1, len(self.program.layers)):
                live = [s for s in states if s.changed]
                self._layer(index, [s for s in live if s.start < index])
                for root in self.flow.dead_after[index]:
                    for s in live:
                        s.own.pop(root, None)
                        s.changed.pop(root, None)
        outputs = []
        for s in states:
            if not s.changed:
                outputs.append(None)
                continue
            outputs.append([s.cube(w.root)[w.c0:w.c0 + b.surface.channels,
                                           w.y0:w.y0 + b.surface.height,
                                           w.x0:w.x0 + b.surface.width]
                            for b, w in zip(self.program.outputs, self.flow.outputs)])
        return outputs

    def _cone(self, index: int, state: FaultState) -> tuple[Box | None, Box | None]:
        """The box of the layer's input that the fault changed and the output box it
        reaches (None, None: it changed nothing the layer reads), remembered by the
        changed boxes of the tensors the layer reads (they recur across faults)."""
        key = (index, *map(state.changed.get, self._read_roots[index]))
        found = self._cones.get(key)
        if found is None:
            if len(self._cones) >= CUTS_KEPT:
                self._cones.clear()
            box = self._input_box(index, key[1:])
            found = self._cones[key] = (
                box, None if box is None else reach(self.program.layers[index], box,
                                                     self.config))
        return found

    def _input_box(self, index: int, changed_boxes: tuple[Box | None, ...]) -> Box | None:
        cfg, box = self.config, None
        for (surface, where), changed in zip(self.flow.reads[index], changed_boxes):
            if changed is None:
                continue
            local = changed.shift(-where.c0, -where.y0, -where.x0).clip(
                cfg.channels_padded(surface.channels), surface.height, surface.width)
            if not local.empty:
                box = local.union(box)
        return box

    def _layer(self, index: int, states: list[FaultState]) -> None:
        """Recompute, for each fault whose changes this layer reads, the cone of the output
        they reach; faults whose cones have one shape run as one batch."""
        layer, cfg = self.program.layers[index], self.config
        out, out_place = self.flow.writes[index]
        total = cfg.channels_padded(out.channels) * out.height * out.width
        whole = Box(0, 0, 0, out.height, 0, out.width)
        groups: dict[tuple, list[tuple[FaultState, Box]]] = {}
        conv_delta = self._delta(index, states[0].golden) if states else None
        by_delta = []
        for state in states:
            box, cone = self._cone(index, state)
            if cone is None or cone.empty:
                continue
            if conv_delta is not None:
                change = self._change(index, state, box)
                pixels = np.count_nonzero(change[0].any(axis=0))
                if pixels <= DELTA_SHARE * (cone.y1 - cone.y0) * (cone.x1 - cone.x0):
                    by_delta.append((state, change))
                    continue
            if cone.size < WHOLE_LAYER * total and can_restrict(layer):
                cone = _round_up(cone, out.height, out.width)
                key = cut_key(layer, cone)
            else:
                cone, key = whole, ("whole",)
            groups.setdefault(key, []).append((state, cone))
        if by_delta:
            self._by_delta(index, conv_delta, by_delta)
        for key, members in groups.items():
            first = members[0][1]
            template = layer if key == ("whole",) else self._cut(index, first)
            per_member = _work_elements(template)
            step = max(1, BATCH_ELEMENTS // per_member)
            for at in range(0, len(members), step):
                offsets = [(state, c.y0 - first.y0, c.x0 - first.x0)
                           for state, c in members[at:at + step]]
                inputs = BatchInputs(offsets, template, self.flow, self.weight_cache)
                (_, cubes), = self.executor.compute(template, inputs)[0]
                self._store([(state, out_place._replace(y0=out_place.y0 + first.y0 + dy,
                                                        x0=out_place.x0 + first.x0 + dx))
                             for state, dy, dx in offsets], cubes)
