"""An NVDLA instance seen from its CSB: registers, op-enables, interrupts, memory.

Register writes go to the register file; when the op-enables of a complete
unit chain have been written (e.g. SDP, CACC, CMAC_A/B, CSC and CDMA for a
convolution), the chain's descriptors are decoded and handed to the
executor, exactly as the hardware starts a layer once its last unit is
enabled.  Each finished layer raises its units' done interrupts.
"""

from __future__ import annotations

from collections import Counter, deque

from nvdla_sim.config import DEFAULT_CONFIG, HardwareConfig
from nvdla_sim.executor import Executor
from nvdla_sim.layers import HardwareLayer, decode_layer, with_precision
from nvdla_sim.layers.pdp import PDP_BINDING
from nvdla_sim.layers.sdp import SDP_BINDING
from nvdla_sim.memory import Memory
from nvdla_sim.registers import REGMAP, Register, RegisterFile

# Done interrupts each unit raises: (source name, GLB S_INTR_STATUS bit for group 0);
# group 1 uses the next bit.  Trace programs wait on "<source>_<group>", e.g. "SDP_0".
DONE_INTERRUPTS = {
    "SDP": (("SDP", 0),), "CDP": (("CDP", 2),), "PDP": (("PDP", 4),),
    "CDMA": (("CDMA_DAT", 16), ("CDMA_WT", 18)), "CACC": (("CACC", 20),),
}
# The order in which a launched chain's units finish (data flows CDMA -> CACC -> SDP -> PDP).
FINISH_ORDER = ("CDMA", "CACC", "SDP", "PDP", "CDP")


class Nvdla:
    """Register-level NVDLA model driving the executor."""

    def __init__(self, config: HardwareConfig = DEFAULT_CONFIG, memory: Memory | None = None,
                 keep: bool = False, deferred: bool = False) -> None:
        """``deferred``: a launched layer computes at once, but its done interrupts (and
        the self-clearing of its OP_EN bits) arrive one per :meth:`deliver_interrupt`,
        as a program that polls OP_EN and waits for each interrupt sees them."""
        self.config = config
        self.memory = memory if memory is not None else Memory(
            Memory() if config.secondary_memory else None)
        self.regs = RegisterFile()
        self.deferred = deferred
        # interrupts not yet delivered: (source, group, bit, units to clear after it)
        self.pending: deque[tuple[str, int, int, dict[str, int]]] = deque()
        self.executor = Executor(config)
        self.armed: dict[str, int] = {}  # unit -> group it was enabled on
        self.events: Counter[str] = Counter()  # done interrupts not yet waited for, "SDP_0" ...
        self.layers: list[HardwareLayer] = []
        self.keep = keep
        self.traces: list = []

    # -- CSB -------------------------------------------------------------------------
    def write(self, reg: Register | str, value: int) -> None:
        reg = REGMAP.lookup(reg) if isinstance(reg, str) else reg
        group = self.regs.write(reg, value)
        if group is not None:
            self.armed[reg.unit] = group
            self._launch_ready()

    def read(self, reg: Register | str) -> int:
        reg = REGMAP.lookup(reg) if isinstance(reg, str) else reg
        return self.regs.read(reg)

    def let_time_pass(self) -> None:
        """What a program polling a status register waits for: the model is untimed, so
        the only background activity is the CBUF flush that follows reset."""
        self.regs.cbuf_flushed = True

    # -- launching ---------------------------------------------------------------------
    def _reader(self, units: dict[str, int]):
        def read(unit: str, name: str) -> int:
            group = units.get(unit, self.regs.producer(unit))
            return self.regs.value(unit, name, group)
        return read

    def _candidate(self) -> set[str] | None:
        """The units of the chain the armed units would launch, if the chain is complete."""
        armed = self.armed
        read = self._reader(armed)
        if "CDP" in armed:
            return {"CDP", "CDP_RDMA"}
        if "SDP" in armed:
            sdp = SDP_BINDING.decode(read)
            units = {"SDP"}
            if sdp.output_to_pdp:
                units.add("PDP")
            if sdp.flying:
                units |= {"CDMA", "CSC", "CMAC_A", "CMAC_B", "CACC"}
            layer = HardwareLayer("probe", sdp=sdp)
            units |= set(layer.units)
            return units
        if "PDP" in armed:
            pdp = PDP_BINDING.decode(read)
            return {"PDP", "PDP_RDMA"} if pdp.from_memory else None
        return None

    def _launch_ready(self) -> None:
        units = self._candidate()
        if units is None or not units <= set(self.armed):
            return
        groups = {u: self.armed[u] for u in units}
        self.let_time_pass()  # a layer starts after the CBUF flush
        layer = decode_layer(units, self._reader(groups), self.regs.luts,
                             name=f"layer{len(self.layers)}")
        if len(self.config.precisions) == 1:
            layer = with_precision(layer, self.config.prec.code)
        trace = self.executor.run(layer, self.memory, keep=self.keep)
        self.layers.append(layer)
        if self.keep:
            self.traces.append(trace)
        for unit in groups:
            del self.armed[unit]
        done = [(source, groups[unit], bit) for unit in FINISH_ORDER if unit in groups
                for source, bit in DONE_INTERRUPTS[unit]]
        for i, (source, group, bit) in enumerate(done):
            self.pending.append((source, group, bit, groups if i == len(done) - 1 else {}))
        if not self.deferred:
            while self.pending:
                self.deliver_interrupt()

    def deliver_interrupt(self) -> str | None:
        """Raise the next done interrupt of a launched layer (``"SDP_0"`` ...); None when
        no launched layer has one left.  After a layer's last interrupt its units'
        OP_EN bits clear."""
        if not self.pending:
            return None
        source, group, bit, units = self.pending.popleft()
        self.regs.raise_interrupt(bit + group)
        self.events[f"{source}_{group}"] += 1
        for unit, unit_group in units.items():
            self.regs.op_done(unit, unit_group)
        return f"{source}_{group}"
