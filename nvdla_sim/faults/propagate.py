"""Incremental, batched propagation of faults through the rest of the network.

A chunk of faults runs as one :class:`FaultBatch`: per root tensor, a stack of
copies (one per fault that changed it, patched) and the box bounding each
one's changes; the other faults read their input's golden tensor.  Layer by
layer, only the faults whose changed values the layer reads take part, found
with whole-batch array operations.  A convolution whose faulty run is golden
+ change (:mod:`nvdla_sim.faults.delta`) takes all of them in one product over
their changed input pixels; other layers recompute the cone of the output
each fault's changes reach (the layer restricted to that box, boxes grown to
few shapes), faults whose cones have one shape running as one batch through
the executor.  Each result is compared with golden: values a layer masks
(rounding, ReLU, pooling) stop there, and a fault whose changes all died out
is masked.
"""

from __future__ import annotations

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
# one executor pass (a group of cones of one shape) costs about as much as this many output
# elements (ResNet-18 residual adds: about 0.5 ms per pass, 5 ns per element)
GROUP_ELEMENTS = 1 << 17
BATCH_ELEMENTS = 1 << 23  # faults run together until their patch matrices hold this many
CUTS_KEPT = 4096  # restricted layer descriptors remembered
# a convolution runs golden + change when the changed input pixels are this few per cone
# pixel (always: it costs one product per changed pixel, the cone one per output pixel)
DELTA_SHARE = float("inf")


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


def changed_bounds(new: np.ndarray, old: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per cube of ``new`` [N, C, H, W], whether it differs from ``old`` and the bounding
    box of where (int64 [N, 6]: c0, c1, y0, y1, x0, x1; meaningless where it does not).
    Reductions of the difference mask, not a list of its elements: a recomputed cone
    may differ in a fifth of its values."""
    d = new != old
    n, c, h, w = d.shape
    plane = d.any(axis=1)  # [N, H, W]: some channel differs there
    rows, cols = plane.any(axis=2), plane.any(axis=1)
    chans = d.reshape(n, c, h * w).any(axis=2)
    bounds = np.empty((n, 6), np.int64)
    for k, (hits, size) in enumerate(((chans, c), (rows, h), (cols, w))):
        bounds[:, 2 * k] = hits.argmax(axis=1)
        bounds[:, 2 * k + 1] = size - hits[:, ::-1].argmax(axis=1)
    return rows.any(axis=1), bounds


NO_BOX = np.array([1 << 30, -(1 << 30)] * 3, np.int64)  # the union's identity: empty


def _rows_any(mask: np.ndarray) -> np.ndarray:
    """``mask.any(axis=1)`` of a bool [N, K]: where K is a multiple of 8, the OR of its
    8-byte words column by column (numpy's row reduction costs about 20 ns a row,
    whatever K; this about 0.2 ns per word)."""
    n, k = mask.shape
    if k % 8 or k > 512 or not mask.flags.c_contiguous:
        return mask.any(axis=1)
    words = mask.view(np.uint64)
    out = words[:, 0].copy()
    for j in range(1, k // 8):
        out |= words[:, j]
    return out != 0


def _union(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bounding boxes [.., 6] of both (an empty box is NO_BOX)."""
    return np.stack([np.minimum(a[..., 0::2], b[..., 0::2]),
                     np.maximum(a[..., 1::2], b[..., 1::2])], axis=-1).reshape(a.shape)


def _nonempty(boxes: np.ndarray) -> np.ndarray:
    return ((boxes[..., 0] < boxes[..., 1]) & (boxes[..., 2] < boxes[..., 3])
            & (boxes[..., 4] < boxes[..., 5]))


def _unique_rows(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of an int64 array [N, M] and each row's index among them (rows
    compared as bytes: faster than np.unique's axis=0)."""
    a = np.ascontiguousarray(a)
    keys = a.view(np.dtype((np.void, a.dtype.itemsize * a.shape[1]))).ravel()
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return a[first], inverse.ravel()


def _windows(ids: np.ndarray, c0: int, c: int, ys: np.ndarray, xs: np.ndarray, h: int,
             w: int) -> tuple:
    """Index of the windows [c0, c0 + c) x [y, y + h) x [x, x + w) of cubes ``ids`` of a
    stack [N, C, H, W]: plain slices when every window sits at one place."""
    if ys.size and (ys == ys[0]).all() and (xs == xs[0]).all():
        y, x = int(ys[0]), int(xs[0])
        return ids, slice(c0, c0 + c), slice(y, y + h), slice(x, x + w)
    return (ids[:, None, None, None], np.arange(c0, c0 + c)[None, :, None, None],
            (ys[:, None] + np.arange(h))[:, None, :, None],
            (xs[:, None] + np.arange(w))[:, None, None, :])


class GoldenTensors:
    """The golden value of every root tensor of one input, as int8 cubes, read from the
    memory right after the run, and the run's layer traces; ``constants`` is a memory
    whose weights and operand vectors are the program's (its activations may belong to
    another input)."""

    def __init__(self, flow: Dataflow, memory: Memory, traces: list[LayerTrace]) -> None:
        self.constants = memory
        self.cubes = [root.read(memory, flow.config) for root in flow.roots]
        self.traces = traces


class FaultBatch:
    """The tensors of a batch of faults, one stack per root tensor: the faults that
    changed it (``ids``) hold a patched copy each (``data``) and the box bounding
    where it differs from golden (``boxes``; NO_BOX when a write left it golden);
    the others read the golden stack of their input (``golden``).  Whole-batch numpy
    operations, no per-fault objects."""

    def __init__(self, runs: list[GoldenTensors], image: np.ndarray, start: np.ndarray
                 ) -> None:
        self.runs, self.image, self.start = runs, image, start
        self.size = image.size
        self.ids: dict[int, np.ndarray] = {}
        self.data: dict[int, np.ndarray] = {}
        self.boxes: dict[int, np.ndarray] = {}
        self.row: dict[int, np.ndarray] = {}  # fault -> its row of data (-1: none)
        self._golden: dict[int, np.ndarray] = {}

    def golden(self, root: int) -> np.ndarray:
        """Golden cubes [G, C, H, W] of the batch's inputs."""
        stack = self._golden.get(root)
        if stack is None:
            stack = self._golden[root] = np.stack([run.cubes[root] for run in self.runs])
        return stack

    def windows(self, root: int, ids: np.ndarray, c0: int, c: int, ys: np.ndarray,
                xs: np.ndarray, h: int, w: int) -> np.ndarray:
        """Faults ``ids``' values of a window (at ``ys``, ``xs``) of a root tensor."""
        row = self.row.get(root)
        if row is None:
            return self.golden(root)[_windows(self.image[ids], c0, c, ys, xs, h, w)]
        r = row[ids]
        own = r >= 0
        if own.all():
            return self.data[root][_windows(r, c0, c, ys, xs, h, w)]
        out = self.golden(root)[_windows(self.image[ids], c0, c, ys, xs, h, w)]
        if own.any():
            out[own] = self.data[root][_windows(r[own], c0, c, ys[own], xs[own], h, w)]
        return out

    def rows(self, root: int, ids: np.ndarray) -> np.ndarray:
        """Rows of ``ids`` in the root's stack, made (golden copies) for those without;
        the stack grows by doubling."""
        row = self.row.get(root)
        if row is None:
            row = self.row[root] = np.full(self.size, -1, np.int64)
            self.ids[root] = np.empty(0, np.int64)
            self.data[root] = self.golden(root)[:0]
            self.boxes[root] = np.empty((0, 6), np.int64)
        fresh = np.zeros(self.size, bool)  # ``ids`` may repeat a fault (one per pixel)
        fresh[ids[row[ids] < 0]] = True
        new = np.flatnonzero(fresh)
        if new.size:
            count = self.ids[root].size
            if count + new.size > self.data[root].shape[0]:
                data = self.data[root]
                grown = np.empty((max(2 * data.shape[0], count + new.size, 16),
                                  *data.shape[1:]), data.dtype)
                grown[:count] = data[:count]
                self.data[root] = grown
            row[new] = np.arange(count, count + new.size)
            self.ids[root] = np.concatenate([self.ids[root], new])
            np.take(self.golden(root), self.image[new], axis=0, mode="clip",  # unbuffered
                    out=self.data[root][count:count + new.size])
            self.boxes[root] = np.concatenate([self.boxes[root],
                                               np.tile(NO_BOX, (new.size, 1))])
        return row[ids]

    def store(self, where: Placement, ids: np.ndarray, cubes: np.ndarray, ys: np.ndarray,
              xs: np.ndarray) -> None:
        """Write faults ``ids``' cubes at ``where`` moved by (``ys``, ``xs``); a fault
        keeps a copy of the tensor where its cube differs from golden, or where it
        already had one (an earlier faulty write there is overwritten)."""
        c, h, w = cubes.shape[1:]
        ys, xs = ys + where.y0, xs + where.x0
        golden = self.windows(where.root, ids, where.c0, c, ys, xs, h, w)
        hit, bounds = changed_bounds(cubes, golden)
        row = self.row.get(where.root)
        keep = hit if row is None else hit | (row[ids] >= 0)
        if not keep.any():
            return
        if not keep.all():
            ids, cubes, bounds, hit, ys, xs = (a[keep] for a in (ids, cubes, bounds, hit, ys,
                                                                 xs))
        r = self.rows(where.root, ids)
        self.data[where.root][_windows(r, where.c0, c, ys, xs, h, w)] = cubes
        moved = bounds + np.stack([np.full(ys.size, where.c0), ys, xs], axis=1).repeat(2, 1)
        moved[~hit] = NO_BOX
        self.boxes[where.root][r] = _union(self.boxes[where.root][r], moved)

    def store_pixels(self, where: Placement, fault: np.ndarray, oy: np.ndarray,
                     ox: np.ndarray, values: np.ndarray) -> None:
        """Write channels [0, K) of output pixels (``fault``, ``oy``, ``ox``) (values
        [E, K]), the rest of each fault's output being golden."""
        k = values.shape[1]
        old = self.golden(where.root)[self.image[fault], where.c0:where.c0 + k,
                                      where.y0 + oy, where.x0 + ox]
        differ = values != old
        hit = _rows_any(differ)
        row = self.row.get(where.root)
        keep = hit if row is None else hit | (row[fault] >= 0)
        if not keep.any():
            return
        if not keep.all():
            fault, oy, ox, values, differ, hit = (
                a[keep] for a in (fault, oy, ox, values, differ, hit))
        r = self.rows(where.root, fault)
        self.data[where.root][r, where.c0:where.c0 + k, where.y0 + oy, where.x0 + ox] = values
        if fault.size > 1 and (fault[1:] < fault[:-1]).any():  # a fault's pixels together
            order = np.argsort(fault, kind="stable")
            fault, oy, ox, differ, hit = (a[order] for a in (fault, oy, ox, differ, hit))
        first = np.flatnonzero(np.concatenate([[True], fault[1:] != fault[:-1]]))
        chans = np.logical_or.reduceat(differ, first, axis=0)  # [faults, K]
        far = 1 << 30  # pixels rewritten with their golden values bound nothing
        merged = np.empty((first.size, 6), np.int64)
        merged[:, 0] = chans.argmax(axis=1)
        merged[:, 1] = k - chans[:, ::-1].argmax(axis=1)
        for lo, at in ((2, oy), (4, ox)):
            merged[:, lo] = np.minimum.reduceat(np.where(hit, at, far), first)
            merged[:, lo + 1] = np.maximum.reduceat(np.where(hit, at + 1, -far), first)
        merged += np.array([where.c0, where.c0, where.y0, where.y0, where.x0, where.x0])
        merged[~chans.any(axis=1)] = NO_BOX  # every pixel of the fault rewritten golden
        rt = self.row[where.root][fault[first]]
        self.boxes[where.root][rt] = _union(self.boxes[where.root][rt], merged)

    def drop(self, root: int) -> None:
        """Forget a root tensor no later layer reads."""
        for d in (self.ids, self.data, self.boxes, self.row):
            d.pop(root, None)

    def changed(self) -> np.ndarray:
        """Faults with a change in some tensor still kept."""
        out = np.zeros(self.size, bool)
        for root, ids in self.ids.items():
            out[ids[_nonempty(self.boxes[root])]] = True
        return out


class BatchInputs:
    """A layer's inputs for faults ``ids`` of a batch, each running a translate of one
    template descriptor (same shape, own place): its reads are the template's, moved
    by its output offset (``dy``, ``dx``) times the read's stride, so the executor
    computes all of them in one pass."""

    def __init__(self, batch: FaultBatch, ids: np.ndarray, dy: np.ndarray, dx: np.ndarray,
                 template: HardwareLayer, flow: Dataflow, weight_cache: convcore.WeightCache
                 ) -> None:
        self.batch, self.ids, self.dy, self.dx = batch, ids, dy, dx
        self.flow, self.weight_cache = flow, weight_cache
        self.roles = layer_reads(template)
        self.places = [flow.place(s) for s in self.roles]
        self.strides = read_strides(template)

    def feature(self, surface: FeatureSurface) -> np.ndarray:
        role = self.roles.index(surface)
        w, (sy, sx) = self.places[role], self.strides[role]
        cpad = self.flow.config.channels_padded(surface.channels, surface.precision)
        return self.batch.windows(w.root, self.ids, w.c0, cpad, w.y0 + self.dy * sy,
                                  w.x0 + self.dx * sx, surface.height, surface.width)

    def operand_raw(self, dma: OperandDma, sdp: Sdp) -> np.ndarray:
        if dma.data_mode == sdp_rdma.MODE_PER_ELEMENT:
            if sdp_rdma.element_bytes(dma) != 1:
                raise NotImplementedError("batched faults need 1-byte per-element operands")
            return self.feature(sdp_rdma.operand_surface(dma, sdp)).view(np.uint8)[..., None]
        return sdp_rdma.operand_raw(dma, sdp, self.batch.runs[0].constants, self.flow.config)

    def weights(self, conv: ConvCore) -> convcore.Weights:
        return convcore.weights(conv, self.batch.runs[0].constants, self.flow.config,
                                self.weight_cache)


def _work_elements(layer: HardwareLayer) -> int:
    """Largest intermediate array of one fault's run of ``layer``, in elements: the
    convolution's patch matrix, or the output."""
    if layer.conv is not None:
        v = layer.conv
        return v.in_channels * v.kernel_height * v.kernel_width * v.out_height * v.out_width
    out = layer_writes(layer)
    return max(1, out.channels * out.height * out.width)


def _sizes(boxes: np.ndarray) -> np.ndarray:
    """Elements in each box [N, 6]."""
    return (boxes[:, 1] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 2]) * (boxes[:, 5] - boxes[:, 4])


def _round_up(cones: np.ndarray, h: int, w: int) -> np.ndarray:
    """Grow boxes [N, 6] to a power-of-two height and width (within h x w), so that they
    fall into few shapes and batch together."""
    out = cones.copy()
    for lo, size in ((2, h), (4, w)):
        span = cones[:, lo + 1] - cones[:, lo]
        n = np.minimum(size, 1 << np.ceil(np.log2(np.maximum(span, 1))).astype(np.int64))
        out[:, lo] = np.maximum(0, np.minimum(cones[:, lo], size - n))
        out[:, lo + 1] = out[:, lo] + n
    return out


class Propagator:
    """Runs faults' effects through the layers after theirs, batched."""

    def __init__(self, program: Program, executor: Executor) -> None:
        self.program, self.executor = program, executor
        self.config = program.config
        self.flow = Dataflow(program)
        self.weight_cache = executor.weight_cache if executor.weight_cache is not None else {}
        self._cuts: dict[tuple[int, Box], HardwareLayer] = {}  # restrict(), by layer and box
        self._deltas: dict[int, ConvDelta | None] = {}

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

    def states(self, faults: list[tuple[GoldenTensors, int, list[tuple[FeatureSurface,
                                                                       np.ndarray]]]]
               ) -> FaultBatch:
        """The :class:`FaultBatch` of (golden tensors, faulty layer, its writes); the
        writes to one surface are compared with golden in one pass."""
        runs = list({id(golden): golden for golden, _, _ in faults}.values())
        position = {id(run): n for n, run in enumerate(runs)}
        batch = FaultBatch(runs, np.array([position[id(g)] for g, _, _ in faults], np.int64),
                           np.array([start for _, start, _ in faults], np.int64))
        by_surface: dict[FeatureSurface, tuple[list[int], list[np.ndarray]]] = {}
        for n, (_, _, writes) in enumerate(faults):
            for surface, cube in writes:
                ids, cubes = by_surface.setdefault(surface, ([], []))
                ids.append(n)
                cubes.append(cube)
        for surface, (ids, cubes) in by_surface.items():
            cpad = self.config.channels_padded(surface.channels, surface.precision)
            zero = np.zeros(len(ids), np.int64)
            batch.store(self.flow.place(surface), np.array(ids, np.int64),
                        np.stack([cube[:cpad] for cube in cubes]), zero, zero)
        return batch

    def run(self, batch: FaultBatch) -> list[list[np.ndarray] | None]:
        """Network outputs of each fault (None: masked before the outputs).  A fault's copy
        of a tensor is dropped once no later layer reads it, so memory stays bounded by
        the tensors live at one point of the network."""
        if batch.size:
            for index in range(int(batch.start.min()) + 1, len(self.program.layers)):
                self._layer(index, batch)
                for root in self.flow.dead_after[index]:
                    batch.drop(root)
        ids = np.flatnonzero(batch.changed())
        outputs: list[list[np.ndarray] | None] = [None] * batch.size
        if ids.size == 0:
            return outputs
        zero = np.zeros(ids.size, np.int64)
        tensors = [batch.windows(w.root, ids, w.c0, b.surface.channels, zero + w.y0,
                                 zero + w.x0, b.surface.height, b.surface.width)
                   for b, w in zip(self.program.outputs, self.flow.outputs)]
        for n, f in enumerate(ids.tolist()):
            outputs[f] = [t[n] for t in tensors]
        return outputs

    def _input_boxes(self, index: int, batch: FaultBatch) -> np.ndarray:
        """Per fault, the box of the layer's input it changed (NO_BOX: none), for faults
        injected before the layer."""
        cfg, boxes = self.config, np.tile(NO_BOX, (batch.size, 1))
        for surface, where in self.flow.reads[index]:
            ids = batch.ids.get(where.root)
            if ids is None:
                continue
            local = batch.boxes[where.root] - np.array([where.c0, where.c0, where.y0,
                                                        where.y0, where.x0, where.x0])
            limit = (cfg.channels_padded(surface.channels, surface.precision), surface.height,
                     surface.width)
            for k, size in enumerate(limit):
                np.clip(local[:, 2 * k:2 * k + 2], 0, size, out=local[:, 2 * k:2 * k + 2])
            hit = _nonempty(local)
            boxes[ids[hit]] = _union(boxes[ids[hit]], local[hit])
        boxes[batch.start >= index] = NO_BOX
        return boxes

    def _layer(self, index: int, batch: FaultBatch) -> None:
        """Recompute, for each fault whose changes this layer reads, the cone of the output
        they reach; faults whose cones have one shape run as one batch."""
        layer, cfg = self.program.layers[index], self.config
        boxes = self._input_boxes(index, batch)
        ids = np.flatnonzero(_nonempty(boxes))
        if ids.size == 0:
            return
        cones = reach(layer, boxes[ids], cfg)
        live = _nonempty(cones)
        ids, cones = ids[live], cones[live]
        conv_delta = self._delta(index, batch.runs[0]) if ids.size else None
        if conv_delta is not None:
            ids, cones = self._by_delta(index, conv_delta, batch, ids, cones)
        if ids.size == 0:
            return
        out, out_place = self.flow.writes[index]
        total = cfg.channels_padded(out.channels, out.precision) * out.height * out.width
        if can_restrict(layer):
            cut = _sizes(cones) < WHOLE_LAYER * total
            cones[cut] = _round_up(cones[cut], out.height, out.width)
        else:
            cut = np.zeros(ids.size, bool)
        unique, inverse = _unique_rows(np.where(cut[:, None], cones, -1))
        keys: dict[tuple, int] = {}
        group = np.array([keys.setdefault(cut_key(layer, Box(*box)) if box[0] >= 0
                                          else ("whole",), len(keys))
                          for box in unique.tolist()])[inverse]
        cut_cost = len(keys) * GROUP_ELEMENTS + int(np.where(cut, _sizes(cones), total).sum())
        if len(keys) > 1 and (ids.size * total + GROUP_ELEMENTS) < cut_cost:
            keys, group = {("whole",): 0}, np.zeros(ids.size, np.int64)  # one pass is cheaper
        for key, number in keys.items():
            members = np.flatnonzero(group == number)
            first = Box(*cones[members[0]].tolist())
            whole = key == ("whole",)
            template = layer if whole else self._cut(index, first)
            dy = np.zeros(members.size, np.int64) if whole else cones[members, 2] - first.y0
            dx = np.zeros(members.size, np.int64) if whole else cones[members, 4] - first.x0
            y0, x0 = (0, 0) if whole else (first.y0, first.x0)
            step = max(1, BATCH_ELEMENTS // _work_elements(template))
            for at in range(0, members.size, step):
                part = slice(at, at + step)
                inputs = BatchInputs(batch, ids[members[part]], dy[part], dx[part], template,
                                     self.flow, self.weight_cache)
                (_, cubes), = self.executor.compute(template, inputs)[0]
                batch.store(out_place, ids[members[part]], cubes, dy[part] + y0,
                            dx[part] + x0)

    def _by_delta(self, index: int, conv: ConvDelta, batch: FaultBatch, ids: np.ndarray,
                  cones: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run the faults whose change of the convolution's input is on few pixels (at
        most DELTA_SHARE per pixel of their cone) as golden + change, in bounded
        batches; the others (ids, cones) are returned."""
        (surface, where), = self.flow.reads[index]
        c = self.program.layers[index].conv.in_channels
        h, w = surface.height, surface.width
        golden = batch.golden(where.root)
        rows = batch.row[where.root][ids]
        region = (slice(where.c0, where.c0 + c), slice(where.y0, where.y0 + h),
                  slice(where.x0, where.x0 + w))
        plane = (batch.data[where.root][(rows, *region)]
                 != golden[(batch.image[ids], *region)]).any(axis=1)  # [N, h, w]
        pixels = plane.sum(axis=(1, 2))
        area = (cones[:, 3] - cones[:, 2]) * (cones[:, 5] - cones[:, 4])
        take = pixels <= DELTA_SHARE * area
        if not take.any():
            return ids, cones
        out, out_place = self.flow.writes[index]
        step = max(1, BATCH_ELEMENTS // 4 // (c * h * w))
        chosen = np.flatnonzero(take)
        for at in range(0, chosen.size, step):
            part = chosen[at:at + step]
            f, py, px = np.nonzero(plane[part])
            fault = ids[part][f]
            change = (batch.data[where.root][rows[part][f], where.c0:where.c0 + c,
                                             where.y0 + py, where.x0 + px].astype(np.int16)
                      - golden[batch.image[fault], where.c0:where.c0 + c, where.y0 + py,
                               where.x0 + px])  # [E, C]
            used = np.unique(batch.image[fault])
            slot = np.zeros(len(batch.runs), np.int64)
            slot[used] = np.arange(used.size)
            accumulators = np.stack([batch.runs[g].traces[index].accumulator for g in used])
            target, oy, ox, values = conv.changed(
                f, py, px, change, accumulators, slot[batch.image[ids[part]]],
                batch.runs[0].traces[index].sdp_operands)
            batch.store_pixels(out_place, ids[part][target], oy, ox, values)
        return ids[~take], cones[~take]
