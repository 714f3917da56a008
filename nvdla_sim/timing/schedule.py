"""Which element each datapath register of a hardware layer holds at which cycle.

A :class:`LayerSchedule` combines the convolution core schedule with the
element streams of SDP, PDP and CDP (one element per cycle each: the
nv_small throughputs).  Element streams are serialized: a unit takes the
next element one cycle after the previous one, or when it becomes available
if that is later.  Cycle 0 is the layer's launch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from nvdla_sim.config import HardwareConfig
from nvdla_sim.layers import HardwareLayer
from nvdla_sim.timing.conv import CACC_WRITE, ConvSchedule
from nvdla_sim.timing.registers import (
    RegisterSpec, cdp_registers, conv_registers, pdp_registers, sdp_registers)


def serialize(ready: np.ndarray) -> np.ndarray:
    """One element per cycle, each no earlier than it is ready (order kept)."""
    idx = np.arange(ready.size)
    return np.maximum.accumulate(ready - idx) + idx if ready.size else ready


@dataclass(frozen=True)
class Stream:
    """Elements of a cube entering a pipeline: flat indices and their start cycles."""

    order: np.ndarray  # flat index into the unit's cube, in processing order
    start: np.ndarray  # cycle the element enters the first register (strictly increasing)

    def at(self, cycle: int) -> int | None:
        """Flat index of the element that entered at ``cycle`` (None if none did)."""
        i = int(np.searchsorted(self.start, cycle))
        return int(self.order[i]) if i < self.start.size and self.start[i] == cycle else None

    @property
    def end(self) -> int:
        return int(self.start[-1]) + 1 if self.start.size else 0


def surface_order(channels_padded: int, height: int, width: int, atom: int) -> np.ndarray:
    """Flat [c, y, x] indices in memory read order: surface, line, pixel, lane."""
    c = np.arange(channels_padded).reshape(-1, atom)  # [surface, lane]
    s, y, x, lane = np.meshgrid(np.arange(c.shape[0]), np.arange(height), np.arange(width),
                                np.arange(atom), indexing="ij")
    return ((s * atom + lane) * height + y) * width + x


@dataclass
class LayerSchedule:
    layer: HardwareLayer
    config: HardwareConfig
    registers: list[RegisterSpec] = field(init=False)

    def __post_init__(self) -> None:
        cfg = self.config
        regs: list[RegisterSpec] = []
        if self.layer.conv is not None:
            regs += conv_registers(cfg)
        if self.layer.sdp is not None:
            regs += sdp_registers(cfg)
        if self.layer.pdp is not None:
            regs += pdp_registers(cfg)
        if self.layer.cdp is not None:
            regs += cdp_registers(cfg)
        self.registers = regs

    def register(self, name: str) -> RegisterSpec:
        for reg in self.registers:
            if reg.name == name:
                return reg
        raise KeyError(f"layer {self.layer.name} has no register {name}")

    @cached_property
    def conv(self) -> ConvSchedule | None:
        return ConvSchedule(self.layer.conv, self.config) if self.layer.conv else None

    # -- SDP -------------------------------------------------------------------------
    @cached_property
    def sdp_stream(self) -> Stream | None:
        sdp, cfg = self.layer.sdp, self.config
        if sdp is None:
            return None
        prec = sdp.in_prec
        cpad = cfg.channels_padded(sdp.channels, prec)
        if self.conv is None:
            order = surface_order(cpad, sdp.height, sdp.width, cfg.atom_channels(prec)).ravel()
            return Stream(order, cfg.mem_latency + np.arange(order.size))
        sched = self.conv
        ak = sched.cells
        ops = sched.ops
        per = sched.blocks * sched.taps
        last = ops["start"][per - 1::per]  # last stripe operation of each (group, stripe)
        group, first, length = ops["group"][::per], ops["first"][::per], ops["length"][::per]
        order, ready = [], []
        for g, f, n, t in zip(group, first, length, last):  # one iteration per stripe
            lanes = np.arange(ak) + g * ak
            lanes = lanes[lanes < cpad]
            p = f + np.arange(n)
            order.append((lanes[None, :] * sched.pixels + p[:, None]).ravel())
            ready.append(np.repeat(t + np.arange(n) + CACC_WRITE + 1, lanes.size))
        return Stream(np.concatenate(order), serialize(np.concatenate(ready)))

    def sdp_register_offset(self, name: str) -> int:
        names = [r.name for r in sdp_registers(self.config)]
        return names.index(name)

    # -- PDP and CDP -----------------------------------------------------------------
    @cached_property
    def pdp_input(self) -> Stream | None:
        pdp, cfg = self.layer.pdp, self.config
        if pdp is None:
            return None
        if not pdp.from_memory:  # taken the cycle after SDP's output register holds it
            sdp = self.sdp_stream
            return Stream(sdp.order, sdp.start + len(sdp_registers(cfg)))
        order = surface_order(cfg.channels_padded(pdp.in_channels, pdp.precision),
                              pdp.in_height, pdp.in_width,
                              cfg.atom_channels(pdp.precision)).ravel()
        return Stream(order, cfg.mem_latency + np.arange(order.size))

    @cached_property
    def pdp_output(self) -> Stream | None:
        """Output elements when their window's last input has arrived (pdp.acc cycle)."""
        pdp = self.layer.pdp
        if pdp is None:
            return None
        inp = self.pdp_input
        arrival = np.empty(inp.order.size, np.int64)
        arrival[inp.order] = inp.start
        cpad = self.config.channels_padded(pdp.in_channels, pdp.precision)
        arrival = arrival.reshape(cpad, pdp.in_height, pdp.in_width)
        oy = np.arange(pdp.out_height) * pdp.stride_y - pdp.pad_top
        ox = np.arange(pdp.out_width) * pdp.stride_x - pdp.pad_left
        last_y = np.clip(oy + pdp.kernel_height - 1, 0, pdp.in_height - 1)
        last_x = np.clip(ox + pdp.kernel_width - 1, 0, pdp.in_width - 1)
        done = arrival[:, last_y][:, :, last_x].ravel() + 1
        order = np.argsort(done, kind="stable")
        return Stream(order, serialize(done[order]))

    @cached_property
    def cdp_input(self) -> Stream | None:
        cdp, cfg = self.layer.cdp, self.config
        if cdp is None:
            return None
        order = surface_order(cfg.channels_padded(cdp.channels), cdp.height, cdp.width,
                              cfg.mem_atom).ravel()
        return Stream(order, cfg.mem_latency + np.arange(order.size))

    @cached_property
    def cdp_output(self) -> Stream | None:
        """Elements once every channel of their normalization window has arrived."""
        cdp, cfg = self.layer.cdp, self.config
        if cdp is None:
            return None
        inp = self.cdp_input
        cpad = cfg.channels_padded(cdp.channels)
        arrival = np.empty(inp.order.size, np.int64)
        arrival[inp.order] = inp.start
        arrival = arrival.reshape(cpad, -1)
        half = cdp.normalz_len + 1
        idx = np.clip(np.arange(cpad)[:, None] + np.arange(-half, half + 1)[None, :], 0, cpad - 1)
        done = arrival[idx].max(axis=1).ravel() + 2
        order = np.argsort(done, kind="stable")
        return Stream(order, serialize(done[order]))

    # -- totals ----------------------------------------------------------------------
    @cached_property
    def cycles(self) -> int:
        ends = [0]
        if self.conv is not None:
            ends.append(self.conv.cycles)
        if self.sdp_stream is not None:
            ends.append(self.sdp_stream.end + len(sdp_registers(self.config)))
        if self.pdp_output is not None:
            ends.append(self.pdp_output.end + 2)
        if self.cdp_output is not None:
            ends.append(self.cdp_output.end + 4)
        return max(ends)

    @cached_property
    def launch_cycles(self) -> int:
        """Estimated cycles from the layer's launch to its done interrupt: :attr:`cycles`
        (the register timeline, which starts at the convolution's first weight load) plus
        the convolution's input fetch (:attr:`ConvSchedule.fetch_cycles`)."""
        return self.cycles + (self.conv.fetch_cycles if self.conv is not None else 0)
