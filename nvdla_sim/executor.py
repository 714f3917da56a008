"""The executor: runs hardware-layer descriptors bit-exactly.

It is the only place that wires units together.  Trace replay and compiled
networks both end here, so NVDLA's trace tests exercise the code path that
runs compiled programs.  :meth:`Executor.compute` takes its input cubes from
an :class:`Inputs` (memory, for :meth:`Executor.run`; or a batch of faulty
versions of the network's tensors, for the fault model) and returns what the
layer writes; with ``keep`` it also returns every intermediate cube (the
golden values the timing and fault models start from).
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from nvdla_sim import floatpath
from nvdla_sim.config import DEFAULT_CONFIG, HardwareConfig
from nvdla_sim.errors import LayerError
from nvdla_sim.layers import ConvCore, HardwareLayer, OperandDma, Sdp
from nvdla_sim.memory import Memory
from nvdla_sim.precision import Precision
from nvdla_sim.surface import FeatureSurface
from nvdla_sim.units import cdma, cdp as cdp_unit, convcore, pdp as pdp_unit, sdp as sdp_unit
from nvdla_sim.units import cacc, sdp_affine, sdp_rdma, sdp_table


BLOCK_ELEMENTS = 1 << 16  # element-wise work on batches goes in blocks of this size
PATCH_BYTES = 1 << 22  # a convolution's patch matrix per slice of a batch


@dataclass
class LayerTrace:
    """Intermediate values of one layer run (kept when ``keep=True``)."""

    conv_operands: convcore.ConvOperands | None = None
    accumulator: np.ndarray | None = None  # CACC before rounding [K, Ho, Wo]
    sdp_in: np.ndarray | None = None  # int32 values entering SDP [Cpad, H, W]
    sdp_operands: list | None = None  # BS, BN, EW operands SDP_RDMA read
    sdp_out: np.ndarray | None = None  # int8 / int16 [Cpad, H, W]
    pdp_in: np.ndarray | None = None
    pdp_out: np.ndarray | None = None
    cdp_in: np.ndarray | None = None
    cdp_out: np.ndarray | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)


class Inputs(Protocol):
    """Where a layer's input data comes from."""

    def feature(self, surface: FeatureSurface) -> np.ndarray:
        """Cube of whole atoms [(B,) Cpad, H, W] stored at ``surface`` (its precision's
        dtype)."""

    def operand_raw(self, dma: OperandDma, sdp: Sdp) -> np.ndarray:
        """Raw bytes of an SDP operand stream (see ``sdp_rdma.operand_raw``)."""

    def weights(self, conv: ConvCore) -> convcore.Weights:
        """The layer's weights, as :func:`convcore.weights` gives them."""


class MemoryInputs:
    """Inputs read from memory (the hardware's view)."""

    def __init__(self, mem: Memory, config: HardwareConfig,
                 weight_cache: convcore.WeightCache | None = None) -> None:
        self.mem, self.config, self.weight_cache = mem, config, weight_cache

    def feature(self, surface: FeatureSurface) -> np.ndarray:
        return surface.read(self.mem, self.config)

    def operand_raw(self, dma: OperandDma, sdp: Sdp) -> np.ndarray:
        return sdp_rdma.operand_raw(dma, sdp, self.mem, self.config)

    def weights(self, conv: ConvCore) -> convcore.Weights:
        return convcore.weights(conv, self.mem, self.config, self.weight_cache)


Writes = list[tuple[FeatureSurface, np.ndarray]]

TABLES_KEPT = 32  # SDP tables (16-256 KiB per channel group); a network has a handful
PLANS_KEPT = 256


class Lru(OrderedDict):
    """A dict that keeps its ``size`` most recently used entries: fault campaigns give a
    new descriptor to every upset of an SDP or convolution register, and a cache keyed by
    descriptor must not grow with the number of injections."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def __getitem__(self, key: object) -> object:
        self.move_to_end(key)
        return super().__getitem__(key)

    def get(self, key: object, default: object = None) -> object:
        return self[key] if key in self else default

    def __setitem__(self, key: object, value: object) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        if len(self) > self.size:
            self.popitem(last=False)


class Executor:
    """Runs :class:`HardwareLayer` descriptors for one hardware configuration."""

    def __init__(self, config: HardwareConfig = DEFAULT_CONFIG, constant_weights: bool = False
                 ) -> None:
        """``constant_weights``: weight memory (weights and per-kernel SDP operands) never
        changes, so unpacked weights and decoded operands are cached across runs
        (inference loops; fault campaigns on datapath registers)."""
        self.config = config
        self.weight_cache: convcore.WeightCache | None = {} if constant_weights else None
        self.operand_cache: dict[tuple, sdp_rdma.Operands] | None = (
            {} if constant_weights else None)
        self.plan_cache: Lru | None = Lru(PLANS_KEPT) if constant_weights else None
        self.table_cache = Lru(TABLES_KEPT)

    def run(self, layer: HardwareLayer, mem: Memory, keep: bool = False) -> LayerTrace | None:
        """Run one layer on memory: read its inputs, write its outputs."""
        writes, trace = self.compute(layer, MemoryInputs(mem, self.config, self.weight_cache),
                                     keep)
        for surface, cube in writes:
            surface.write(mem, self.config, cube)
        return trace

    def compute(self, layer: HardwareLayer, inputs: Inputs, keep: bool = False
                ) -> tuple[Writes, LayerTrace | None]:
        """What ``layer`` writes, given its inputs (cubes may carry a leading batch axis)."""
        cfg = self.config
        floatpath.check_layer(_precisions(layer), cfg)
        trace = LayerTrace() if keep else None
        if layer.cdp is not None:
            cube = inputs.feature(cdp_unit.input_surface(layer.cdp))
            out = cdp_unit.process(cube, layer.cdp, cfg)
            if trace:
                trace.cdp_in, trace.cdp_out = cube, out
            return [(cdp_unit.output_surface(layer.cdp), out)], trace
        pooled_input = None
        writes: Writes = []
        if layer.sdp is not None:
            sdp = layer.sdp
            sdp_unit.check(sdp)
            if layer.conv is not None:
                if not sdp.flying:
                    raise LayerError("a convolution needs SDP in flying mode "
                                     "(SDP D_FEATURE_MODE_CFG.FLYING_MODE = 1)")
                conv = layer.conv
                prec = sdp.in_prec
                if prec is not conv.precision:
                    raise LayerError(f"SDP processes {prec.name}, but the convolution core "
                                     f"runs {conv.precision.name}")
                convcore.check(conv)
                _check_cube((cfg.channels_padded(conv.kernels, prec), conv.out_height,
                             conv.out_width), sdp.width, sdp.height, sdp.channels, cfg, prec,
                            "SDP input from CACC")
                operands = [self._operands(stage.dma, sdp, inputs)
                            for stage in (sdp.bs, sdp.bn, sdp.ew)]
                plan = None if trace else self._affine_plan(conv, sdp, operands, inputs)
                raw, table = None if plan else self._accumulate(conv, inputs, trace), None

                def to_sdp(acc: np.ndarray) -> np.ndarray:
                    return convcore.to_sdp(conv, acc, cfg)
            else:
                if sdp.flying:
                    raise LayerError("SDP is in flying mode but no convolution was launched")
                raw, plan = inputs.feature(sdp_rdma.input_surface(sdp)), None
                table = None if trace else self._sdp_table(sdp, raw, inputs)
                operands = [] if table is not None else [
                    self._operands(stage.dma, sdp, inputs) for stage in (sdp.bs, sdp.bn, sdp.ew)]

                def to_sdp(cube: np.ndarray) -> np.ndarray:
                    return sdp_unit.input_values(cube, sdp)
            if plan:
                y = self._conv_affine(layer.conv, plan, inputs)
            elif table is not None:
                y = table
            elif trace:
                x = to_sdp(raw)
                y = sdp_unit.process(x, sdp, *operands)
                trace.sdp_in, trace.sdp_out, trace.sdp_operands = x, y, operands
            else:
                y = _blockwise(raw, operands, lambda r, ops: sdp_unit.process(
                    to_sdp(r), sdp, *ops))
            if sdp.output_to_pdp:
                if layer.pdp is None or layer.pdp.from_memory:
                    raise LayerError("SDP streams to PDP, but PDP is not enabled in on-flying mode")
                if layer.pdp.precision is not sdp.out_prec:
                    raise LayerError(f"SDP streams {sdp.out_prec.name} to PDP, which is "
                                     f"programmed for {layer.pdp.precision.name} input")
                pooled_input = y
            else:
                writes.append((sdp_rdma.output_surface(sdp), y))
        if layer.pdp is not None:
            pdp = layer.pdp
            if pooled_input is None:
                if not pdp.from_memory:
                    raise LayerError("PDP is in on-flying mode but SDP does not stream to it")
                pooled_input = inputs.feature(pdp_unit.input_surface(pdp))
            out = pdp_unit.process(pooled_input, pdp, cfg)
            writes.append((pdp_unit.output_surface(pdp), out))
            if trace:
                trace.pdp_in, trace.pdp_out = pooled_input, out
        return writes, trace

    def _operands(self, dma: OperandDma, sdp: Sdp, inputs: Inputs) -> sdp_rdma.Operands:
        """One SDP operand stream, decoded; per-kernel streams are kept when weights are
        (constants of the program, like the weights)."""
        if dma.disable:
            return sdp_rdma.Operands(None, None)
        key = ((dma, sdp.channels) if self.operand_cache is not None
               and dma.data_mode == sdp_rdma.MODE_PER_KERNEL else None)
        operands = self.operand_cache.get(key) if key is not None else None
        if operands is None:
            operands = sdp_rdma.decode_operands(dma, inputs.operand_raw(dma, sdp),
                                                sdp.proc_prec)
            if key is not None:
                self.operand_cache[key] = operands
        return operands

    def _affine_plan(self, conv: ConvCore, sdp: Sdp, operands: list[sdp_rdma.Operands],
                     inputs: Inputs) -> sdp_affine.AffinePlan | None:
        """SDP folded for this convolution's outputs (:mod:`~nvdla_sim.units.sdp_affine`),
        or None where the fold is not proven exact; kept with the weights when they are
        constant (the plan depends only on them and the per-kernel operands)."""
        if (conv.precision.is_float or conv.clip_truncate or not cacc.accumulation_is_safe(
                conv.in_channels * conv.kernel_height * conv.kernel_width, conv.precision)):
            return None
        key = (conv, sdp)
        if self.plan_cache is not None and key in self.plan_cache:
            return self.plan_cache[key]
        weights = inputs.weights(conv)[0]
        cpad = self.config.channels_padded(conv.kernels, sdp.in_prec)

        def padded() -> np.ndarray:  # channels beyond the kernels: input 0, stage by stage
            zero = np.zeros((cpad, 1, 1), np.int64)
            return sdp_unit.process(zero, sdp, *operands)[conv.kernels:, 0, 0]
        plan = sdp_affine.plan(sdp, operands, convcore.accumulator_bounds(conv, weights),
                               padded)
        if self.plan_cache is not None:
            self.plan_cache[key] = plan
        return plan

    def _sdp_table(self, sdp: Sdp, cube: np.ndarray, inputs: Inputs) -> np.ndarray | None:
        """SDP's output by table lookup (:mod:`~nvdla_sim.units.sdp_table`) where it applies
        and pays: tables are kept by descriptor when their operands are registers or
        constant per-kernel streams; one that could not be kept is built only when it is
        smaller than the cube."""
        usable, stage = sdp_table.element_stage(sdp)
        if not usable:
            return None
        streams = (sdp.bs, sdp.bn, sdp.ew)
        per_kernel = any(not s.dma.disable and i != stage for i, s in enumerate(streams))
        keep = self.operand_cache is not None or not per_kernel
        key = sdp_table.key(sdp, stage)
        table = self.table_cache.get(key) if keep else None
        if table is None:
            if not keep and cube.size < self.config.channels_padded(
                    sdp.channels, sdp.in_prec) * (256 if stage is None else 1 << 16):
                return None
            operands = [sdp_rdma.Operands(None, None) if i == stage
                        else self._operands(s.dma, sdp, inputs) for i, s in enumerate(streams)]
            table = sdp_table.build(sdp, operands, stage)
            if keep:
                self.table_cache[key] = table
        operand = None
        if stage is not None:
            dma = streams[stage].dma
            operand = inputs.operand_raw(dma, sdp)[..., 0]
        return sdp_table.apply(table, cube, operand)

    def _conv_affine(self, conv: ConvCore, plan: sdp_affine.AffinePlan, inputs: Inputs
                     ) -> np.ndarray:
        """The convolution and its folded SDP: output [(B,) Cpad, Ho, Wo].  A batch goes
        through in slices whose patch matrix stays within PATCH_BYTES (CPU time over 256
        images: 10-15% less than one pass; 4 MB was the best of 1 to 16 MB on both
        bench networks)."""
        ops = self._conv_operands(conv, inputs)
        if ops.data.ndim == 3:
            return sdp_affine.apply(plan, convcore.gemm(conv, ops)).reshape(
                -1, conv.out_height, conv.out_width)
        per_image = ops.matrix.shape[1] * conv.out_height * conv.out_width * ops.matrix.itemsize
        step = max(1, PATCH_BYTES // per_image)
        data = ops.data
        out = np.empty((len(data), plan.mul.shape[0] + plan.padded.size, conv.out_height,
                        conv.out_width), plan.dtype)
        for a in range(0, len(data), step):
            part = sdp_affine.apply(plan, convcore.gemm(conv, dataclasses.replace(
                ops, data=data[a:a + step])))
            out[a:a + step] = part.reshape(part.shape[0], -1, conv.out_height,
                                           conv.out_width).transpose(1, 0, 2, 3)
        return out

    def _conv_operands(self, conv: ConvCore, inputs: Inputs) -> convcore.ConvOperands:
        data = cdma.feature(conv, inputs.feature(cdma.feature_surface(conv)))
        return convcore.ConvOperands(data, *inputs.weights(conv))

    def _accumulate(self, conv: ConvCore, inputs: Inputs, trace: LayerTrace | None
                    ) -> np.ndarray:
        """CACC's accumulators [(B,) K, Ho, Wo], before rounding."""
        ops = self._conv_operands(conv, inputs)
        acc = convcore.accumulate(conv, ops, self.config)
        if trace:
            trace.conv_operands, trace.accumulator = ops, acc
        return acc


def _precisions(layer: HardwareLayer) -> list[Precision]:
    """The precisions a layer's units are programmed with (CDP: integer only)."""
    precs = []
    if layer.conv is not None:
        precs.append(layer.conv.precision)
    if layer.sdp is not None:
        precs += [layer.sdp.proc_prec, layer.sdp.out_prec, layer.sdp.in_prec]
    if layer.pdp is not None:
        precs.append(layer.pdp.precision)
    return precs


def _blockwise(cube: np.ndarray, operands: list[sdp_rdma.Operands],
               fn: Callable[[np.ndarray, list[sdp_rdma.Operands]], np.ndarray]) -> np.ndarray:
    """``fn(cube, operands)`` on a batch [B, ...] a few samples at a time: SDP's chain of
    element-wise passes then works on arrays that stay in cache (twice as fast on large
    batches).  Operands with a batch axis are cut alike; per-kernel ones broadcast."""
    if cube.ndim < 4:
        return fn(cube, operands)
    step = max(1, BLOCK_ELEMENTS // max(1, cube[0].size))
    if step >= cube.shape[0]:
        return fn(cube, operands)

    def cut(a: np.ndarray | None, sl: slice) -> np.ndarray | None:
        return a[sl] if a is not None and a.ndim == cube.ndim else a
    parts = []
    for start in range(0, cube.shape[0], step):
        sl = slice(start, start + step)
        parts.append(fn(cube[sl], [sdp_rdma.Operands(cut(o.alu, sl), cut(o.mul, sl))
                                   for o in operands]))
    return np.concatenate(parts)


def _check_cube(shape: tuple[int, int, int], width: int, height: int, channels: int,
                cfg: HardwareConfig, prec: Precision, what: str) -> None:
    """``shape`` [C, H, W] (channels padded) against what SDP is programmed for."""
    if shape != (cfg.channels_padded(channels, prec), height, width):
        raise LayerError(f"{what}: cube is {shape[2]}x{shape[1]}x{shape[0]} (WxHxC), "
                         f"but SDP is programmed for {width}x{height}x{channels}")
