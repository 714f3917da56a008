"""What a fault does to one hardware layer's output, recomputed by hand.

:class:`LayerRef` decides from ``docs/timing-and-faults.md`` (through the
literal schedule of :mod:`tests.faults.cycle_reference`) which value a fault
corrupts and how, and pushes the corrupted values through the bit-exact units
that follow the faulty register (``nvdla_sim.units.sdp/pdp/cdp``).  It never
calls the fault injector or the timing model.
"""

from __future__ import annotations

import numpy as np

from nvdla_sim.executor import Executor
from nvdla_sim.units import cdp as cdp_unit, pdp as pdp_unit, sdp as sdp_unit, sdp_rdma
from tests.faults.cycle_reference import (
    ConvCycleRef, Fault, at_cycle, cdp_outputs, corrupt, memory_stream, pdp_outputs,
    sdp_stream_after_conv)

# Registers, widths and instances as the document lists them (nv_small: atom_c = atom_k = 8).
CONV_REGS = {"cmac.dat_in": (64, 2), "cmac.dat_actv": (64, 8), "cmac.wt_sd": (64, 8),
             "cmac.wt_actv": (64, 8), "cmac.sum_out": (19, 8), "cmac.mac_out": (19, 8),
             "cacc.sum": (35, 8), "cacc.abuf": (34, 128), "cacc.out": (32, 8)}
SDP_REGS = {"sdp.in": (32, 1), "sdp.bs_alu": (33, 1), "sdp.bs_mul": (49, 1),
            "sdp.bs_out": (32, 1), "sdp.bn_alu": (33, 1), "sdp.bn_mul": (49, 1),
            "sdp.bn_out": (32, 1), "sdp.out": (8, 1)}
# cycle offset from the element's entry into SDP (sigma)
SDP_OFFSET = {"in": 0, "bs_alu": 1, "bs_mul": 2, "bs_out": 3, "bn_alu": 4, "bn_mul": 5,
              "bn_out": 6, "out": 7}
PDP_REGS = {"pdp.in": (8, 1), "pdp.acc": (16, 1), "pdp.out": (8, 1)}
# CDP widths are not in the document; they are those the CDP unit states
# (sat9 input converter, 22-bit square sum, int16 LUT, 25-bit product, int8).
CDP_REGS = {"cdp.icvt": (9, 1), "cdp.sqsum": (22, 1), "cdp.lut": (16, 1), "cdp.mul": (25, 1),
            "cdp.out": (8, 1)}
CDP_OFFSET = {"sqsum": 0, "lut": 1, "mul": 2, "out": 3}
WIDTH = {name: w for table in (CONV_REGS, SDP_REGS, PDP_REGS, CDP_REGS)
         for name, (w, _) in table.items()}

# PDP behind SDP: an element enters pdp.in as it leaves sdp.out, i.e. the cycle after
# sdp.out held it (sigma + 7 + 1).  See the report: the injector uses sigma + 7.
PDP_FLYING_DELAY = 8


def layer_registers(layer) -> dict[str, tuple[int, int]]:
    regs: dict[str, tuple[int, int]] = {}
    if layer.conv is not None:
        regs.update(CONV_REGS)
    if layer.sdp is not None:
        regs.update(SDP_REGS)
    if layer.pdp is not None:
        regs.update(PDP_REGS)
    if layer.cdp is not None:
        regs.update(CDP_REGS)
    return regs


def element_tap(register: str, width: int, fault: Fault, element: tuple | None):
    """A unit tap that corrupts ``register`` for one element (None: every element)."""
    def tap(name: str, value):
        if name != register:
            return value
        out = np.array(value, np.int64, copy=True)
        if element is not None:
            out[element] = corrupt(int(out[element]), width, fault)
        else:
            flat = out.reshape(-1)
            for i in range(flat.size):
                flat[i] = corrupt(int(flat[i]), width, fault)
        return out
    return tap


class LayerRef:
    """One hardware layer, given the memory before it and its fault-free trace."""

    def __init__(self, program, index: int, mem_before, trace) -> None:
        self.cfg = cfg = program.config
        self.layer = layer = program.layers[index]
        self.trace = trace
        self.conv = None
        if layer.conv is not None:
            ops = trace.conv_operands
            self.conv = ConvCycleRef(layer.conv, ops.data, ops.weights, cfg.atom_c, cfg.atom_k)
            self.conv_golden = self.conv.simulate()
            cpad = cfg.channels_padded(layer.conv.kernels)
            assert np.array_equal(np.array(self.conv.sdp_input(self.conv_golden, cpad)),
                                  trace.sdp_in), "reference convolution differs from the trace"
        if layer.sdp is not None:
            sdp = layer.sdp
            self.operands = [sdp_rdma.read_operands(st.dma, sdp, mem_before, cfg)
                             for st in (sdp.bs, sdp.bn, sdp.ew)]
            cpad = cfg.channels_padded(sdp.channels)
            if self.conv is not None:
                self.sdp_stream = sdp_stream_after_conv(self.conv, self.conv_golden, cpad)
            else:
                self.sdp_stream = memory_stream(cpad, sdp.height, sdp.width, cfg.mem_atom,
                                                cfg.mem_latency)
            assert len(self.sdp_stream) == trace.sdp_in.size
        if layer.pdp is not None:
            pdp = layer.pdp
            cpad = cfg.channels_padded(pdp.in_channels)
            if pdp.from_memory:
                self.pdp_in = memory_stream(cpad, pdp.in_height, pdp.in_width, cfg.mem_atom,
                                            cfg.mem_latency)
            else:
                self.pdp_in = [(t + PDP_FLYING_DELAY, e) for t, e in self.sdp_stream]
            arrival = {e: t for t, e in self.pdp_in}
            self.pdp_out = pdp_outputs(pdp, arrival, cpad)
        if layer.cdp is not None:
            cdp = layer.cdp
            cpad = cfg.channels_padded(cdp.channels)
            self.cdp_in = memory_stream(cpad, cdp.height, cdp.width, cfg.mem_atom,
                                        cfg.mem_latency)
            arrival = {e: t for t, e in self.cdp_in}
            self.cdp_out = cdp_outputs(cdp, arrival, cpad)

    # -- golden output --------------------------------------------------------------------
    @property
    def golden(self) -> np.ndarray:
        t = self.trace
        if self.layer.cdp is not None:
            return t.cdp_out
        return t.pdp_out if self.layer.pdp is not None else t.sdp_out

    def output_surface(self):
        layer = self.layer
        if layer.cdp is not None:
            return cdp_unit.output_surface(layer.cdp)
        if layer.pdp is not None:
            return pdp_unit.output_surface(layer.pdp)
        return sdp_rdma.output_surface(layer.sdp)

    # -- faulty output ----------------------------------------------------------------------
    def _sdp(self, x: np.ndarray, tap=None) -> np.ndarray:
        kwargs = {} if tap is None else {"tap": tap}
        y = sdp_unit.process(x, self.layer.sdp, *self.operands, **kwargs).astype(np.int8)
        if self.layer.pdp is not None:  # on the fly into PDP
            return pdp_unit.process(y, self.layer.pdp, self.cfg)
        return y

    def output(self, fault: Fault) -> np.ndarray | None:
        """The layer's output cube under ``fault``; None if the register held nothing live."""
        unit, name = fault.register.split(".", 1)
        layer, cfg = self.layer, self.cfg
        width = WIDTH[fault.register]
        if unit in ("cmac", "cacc"):
            res = self.conv.simulate(fault)
            if fault.transient and not res.live:
                return None
            x = np.array(self.conv.sdp_input(res, cfg.channels_padded(layer.conv.kernels)),
                         np.int64)
            return self._sdp(x)
        if unit == "sdp":
            stage = name.split("_")[0]
            if stage in ("bs", "bn"):
                x = getattr(layer.sdp, stage)
                part = name.split("_")[1]
                if x.bypass or (part == "alu" and x.alu_bypass) or (part == "mul" and x.mul_bypass):
                    return None  # "a bypassed stage / ALU / multiplier has no register"
            element = None
            if fault.transient:
                element = at_cycle(self.sdp_stream, fault.cycle - SDP_OFFSET[name])
                if element is None:
                    return None
            return self._sdp(self.trace.sdp_in, element_tap(name, width, fault, element))
        if unit == "pdp":
            element = None
            if fault.transient:
                if name == "in":
                    element = at_cycle(self.pdp_in, fault.cycle)
                else:
                    element = at_cycle(self.pdp_out, fault.cycle - (name == "out"))
                if element is None:
                    return None
            return pdp_unit.process(self.trace.pdp_in, layer.pdp, cfg,
                                    element_tap(name, width, fault, element))
        if unit == "cdp":
            element = None
            if fault.transient:
                if name == "icvt":
                    element = at_cycle(self.cdp_in, fault.cycle - 1)
                else:
                    element = at_cycle(self.cdp_out, fault.cycle - CDP_OFFSET[name])
                if element is None:
                    return None
            return cdp_unit.process(self.trace.cdp_in, layer.cdp, cfg,
                                    element_tap(name, width, fault, element))
        raise KeyError(fault.register)


def memory_with_input(program, x_q: np.ndarray):
    """The program's memory image with the int8 input [C, H, W] written (channels padded)."""
    cfg = program.config
    mem = program.memory()
    (binding,) = program.inputs
    cube = np.zeros((cfg.channels_padded(binding.surface.channels), *x_q.shape[1:]), np.int8)
    cube[: x_q.shape[0]] = x_q
    binding.surface.write(mem, cfg, cube)
    return mem


def run_with_stuck_at(program, x_q: np.ndarray, fault: Fault) -> list[np.ndarray]:
    """Network outputs with ``fault`` (a stuck-at) in every layer that has the register,
    recomputed layer by layer: each layer runs fault-free on the (faulty) memory, then the
    reference replaces its output."""
    cfg = program.config
    mem = memory_with_input(program, x_q)
    executor = Executor(cfg)
    for i, layer in enumerate(program.layers):
        before = mem.copy()
        trace = executor.run(layer, mem, keep=True)
        if fault.register not in layer_registers(layer):
            continue
        ref = LayerRef(program, i, before, trace)
        out = ref.output(fault)
        if out is not None:
            ref.output_surface().write(mem, cfg, out)
    return [b.surface.read(mem, cfg)[: b.surface.channels] for b in program.outputs]


def layer_inputs(program, x_q: np.ndarray):
    """(memory before layer i, fault-free trace of layer i) for every layer."""
    cfg = program.config
    mem = memory_with_input(program, x_q)
    executor = Executor(cfg)
    out = []
    for layer in program.layers:
        before = mem.copy()
        out.append((before, executor.run(layer, mem, keep=True)))
    return out
