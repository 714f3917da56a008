"""The executor: runs hardware-layer descriptors on memory, bit-exactly.

It is the only place that wires units together.  Trace replay and compiled
networks both end here, so NVDLA's trace tests exercise the code path that
runs compiled programs.  ``run`` can keep every intermediate cube (the
golden values the timing and fault models start from).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nvdla_sim.config import DEFAULT_CONFIG, HardwareConfig
from nvdla_sim.errors import LayerError
from nvdla_sim.layers import HardwareLayer
from nvdla_sim.memory import Memory
from nvdla_sim.units import cdp as cdp_unit
from nvdla_sim.units import convcore, pdp as pdp_unit, sdp as sdp_unit, sdp_rdma


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


class Executor:
    """Runs :class:`HardwareLayer` descriptors for one hardware configuration."""

    def __init__(self, config: HardwareConfig = DEFAULT_CONFIG) -> None:
        self.config = config

    def run(self, layer: HardwareLayer, mem: Memory, keep: bool = False) -> LayerTrace | None:
        cfg = self.config
        trace = LayerTrace() if keep else None
        if layer.cdp is not None:
            cube = cdp_unit.input_surface(layer.cdp).read(mem, cfg)
            out = cdp_unit.process(cube, layer.cdp, cfg)
            cdp_unit.output_surface(layer.cdp).write(mem, cfg, out)
            if trace:
                trace.cdp_in, trace.cdp_out = cube, out
            return trace
        pooled_input = None
        if layer.sdp is not None:
            sdp = layer.sdp
            sdp_unit.check(sdp)
            if layer.conv is not None:
                if not sdp.flying:
                    raise LayerError("a convolution needs SDP in flying mode "
                                     "(SDP D_FEATURE_MODE_CFG.FLYING_MODE = 1)")
                ops = convcore.fetch(layer.conv, mem, cfg)
                acc = convcore.accumulate(layer.conv, ops, cfg)
                x = convcore.to_sdp(layer.conv, acc, cfg)
                _check_cube(x, sdp.width, sdp.height, sdp.channels, cfg, "SDP input from CACC")
                if trace:
                    trace.conv_operands, trace.accumulator = ops, acc
            else:
                if sdp.flying:
                    raise LayerError("SDP is in flying mode but no convolution was launched")
                x = sdp_rdma.read_input(sdp, mem, cfg)
            operands = [sdp_rdma.read_operands(stage.dma, sdp, mem, cfg)
                        for stage in (sdp.bs, sdp.bn, sdp.ew)]
            y = sdp_unit.process(x, sdp, *operands)
            if trace:
                trace.sdp_in, trace.sdp_out, trace.sdp_operands = x, y, operands
            if sdp.output_to_pdp:
                if layer.pdp is None or layer.pdp.from_memory:
                    raise LayerError("SDP streams to PDP, but PDP is not enabled in on-flying mode")
                pooled_input = y
            else:
                sdp_rdma.output_surface(sdp).write(mem, cfg, y)
        if layer.pdp is not None:
            pdp = layer.pdp
            if pooled_input is None:
                if not pdp.from_memory:
                    raise LayerError("PDP is in on-flying mode but SDP does not stream to it")
                pooled_input = pdp_unit.input_surface(pdp).read(mem, cfg)
            out = pdp_unit.process(pooled_input, pdp, cfg)
            pdp_unit.output_surface(pdp).write(mem, cfg, out)
            if trace:
                trace.pdp_in, trace.pdp_out = pooled_input, out
        return trace


def _check_cube(x: np.ndarray, width: int, height: int, channels: int, cfg: HardwareConfig,
                what: str) -> None:
    expected = (cfg.channels_padded(channels), height, width)
    if x.shape != expected:
        raise LayerError(f"{what}: cube is {x.shape[2]}x{x.shape[1]}x{x.shape[0]} (WxHxC), "
                         f"but SDP is programmed for {width}x{height}x{channels}")
