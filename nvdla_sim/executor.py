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

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from nvdla_sim.config import DEFAULT_CONFIG, HardwareConfig
from nvdla_sim.errors import LayerError
from nvdla_sim.layers import ConvCore, HardwareLayer, OperandDma, Sdp
from nvdla_sim.memory import Memory
from nvdla_sim.surface import FeatureSurface
from nvdla_sim.units import cdma, cdp as cdp_unit, convcore, pdp as pdp_unit, sdp as sdp_unit
from nvdla_sim.units import sdp_rdma


@dataclass
class LayerTrace:
    """Intermediate values of one layer run (kept when ``keep=True``)."""

    conv_operands: convcore.ConvOperands | None = None
    accumulator: np.ndarray | None = None  # CACC before rounding [K, Ho, Wo]
    sdp_in: np.ndarray | None = None  # int32 values entering SDP [Cpad, H, W]
    sdp_operands: list | None = None  # BS, BN, EW operands SDP_RDMA read
    sdp_out: np.ndarray | None = None  # int8 [Cpad, H, W]
    pdp_in: np.ndarray | None = None
    pdp_out: np.ndarray | None = None
    cdp_in: np.ndarray | None = None
    cdp_out: np.ndarray | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)


class Inputs(Protocol):
    """Where a layer's input data comes from."""

    def feature(self, surface: FeatureSurface) -> np.ndarray:
        """int8 cube of whole atoms [(B,) Cpad, H, W] stored at ``surface``."""

    def operand_raw(self, dma: OperandDma, sdp: Sdp) -> np.ndarray:
        """Raw bytes of an SDP operand stream (see ``sdp_rdma.operand_raw``)."""

    def weights(self, conv: ConvCore) -> tuple[np.ndarray, np.ndarray]:
        """(int8 [K, C, R, S], float32 [K, C*R*S]) weights."""


class MemoryInputs:
    """Inputs read from memory (the hardware's view)."""

    def __init__(self, mem: Memory, config: HardwareConfig,
                 weight_cache: convcore.WeightCache | None = None) -> None:
        self.mem, self.config, self.weight_cache = mem, config, weight_cache

    def feature(self, surface: FeatureSurface) -> np.ndarray:
        return surface.read(self.mem, self.config)

    def operand_raw(self, dma: OperandDma, sdp: Sdp) -> np.ndarray:
        return sdp_rdma.operand_raw(dma, sdp, self.mem, self.config)

    def weights(self, conv: ConvCore) -> tuple[np.ndarray, np.ndarray]:
        return convcore.weights(conv, self.mem, self.config, self.weight_cache)


Writes = list[tuple[FeatureSurface, np.ndarray]]


class Executor:
    """Runs :class:`HardwareLayer` descriptors for one hardware configuration."""

    def __init__(self, config: HardwareConfig = DEFAULT_CONFIG, constant_weights: bool = False
                 ) -> None:
        """``constant_weights``: weight memory never changes, so unpacked weights are
        cached across runs (fault campaigns on datapath registers)."""
        self.config = config
        self.weight_cache: convcore.WeightCache | None = {} if constant_weights else None

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
                x = self._convolve(layer.conv, inputs, trace)
                _check_cube(x, sdp.width, sdp.height, sdp.channels, cfg, "SDP input from CACC")
            else:
                if sdp.flying:
                    raise LayerError("SDP is in flying mode but no convolution was launched")
                x = inputs.feature(sdp_rdma.input_surface(sdp)).astype(np.int64)
            operands = [sdp_rdma.decode_operands(
                stage.dma, None if stage.dma.disable else inputs.operand_raw(stage.dma, sdp))
                for stage in (sdp.bs, sdp.bn, sdp.ew)]
            y = sdp_unit.process(x, sdp, *operands)
            if trace:
                trace.sdp_in, trace.sdp_out, trace.sdp_operands = x, y, operands
            if sdp.output_to_pdp:
                if layer.pdp is None or layer.pdp.from_memory:
                    raise LayerError("SDP streams to PDP, but PDP is not enabled in on-flying mode")
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

    def _convolve(self, conv: ConvCore, inputs: Inputs, trace: LayerTrace | None) -> np.ndarray:
        cfg = self.config
        convcore.check(conv)
        data = cdma.feature(conv, inputs.feature(cdma.feature_surface(conv)))
        ops = convcore.ConvOperands(data, *inputs.weights(conv))
        acc = convcore.accumulate(conv, ops, cfg)
        if trace:
            trace.conv_operands, trace.accumulator = ops, acc
        return convcore.to_sdp(conv, acc, cfg)


def _check_cube(x: np.ndarray, width: int, height: int, channels: int, cfg: HardwareConfig,
                what: str) -> None:
    expected = (cfg.channels_padded(channels), height, width)
    if x.shape[-3:] != expected:
        raise LayerError(f"{what}: cube is {x.shape[-1]}x{x.shape[-2]}x{x.shape[-3]} (WxHxC), "
                         f"but SDP is programmed for {width}x{height}x{channels}")
