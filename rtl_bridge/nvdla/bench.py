"""cocotb side of the NV_nvdla bench: clocks, reset, CSB driver, AXI memory, trace player,
fault injection.  Runs inside the simulator (``rtl_bridge.nvdla.run`` starts it).

* Memory: cocotbext-axi's ``AxiRam`` on the DBB port, backed by nvdla_sim's
  :class:`~nvdla_sim.memory.Memory` (so ``mem_init`` / ``mem_load`` / CRC checks
  are the trace player's own).
* CSB: one request per cycle when ``csb2nvdla_ready``; reads wait for
  ``nvdla2csb_valid``.  Register addresses are the CSB byte addresses
  (``csb2nvdla_addr`` carries them divided by 4).
* Interrupts: on ``dla_intr`` the driver reads GLB ``S_INTR_STATUS``, counts each
  set done bit as an event (``SDP_0`` ...) and clears them (write one to clear);
  ``intr_notify`` consumes one event.
* Layer timing: the cycle of a layer's last op-enable write (its launch) and of
  the ``dla_intr`` that follows it.
* Faults (one per run of a program): a *flip* inverts ``mask`` in a register (or a
  RAM word) right after the clock edge of a chosen cycle (cocotb ``RisingEdge``
  then ``ReadWrite``, then an ``Immediate`` deposit), so every reader in that
  cycle and later sees it until the register is next written; the cycle is
  the n-th since the launch in which the register's valid is high (plus a delay).  A *stuck-at* re-applies its bits whenever the register changes, from
  the launch to the interrupt (Verilator's ``forceable`` does not compile on
  these modules).
"""

from __future__ import annotations

import logging
import os
import pickle
import traceback
from collections import Counter
from pathlib import Path
from time import perf_counter

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.handle import Immediate
from cocotb.simtime import get_sim_time
from cocotb.triggers import Event, First, ReadWrite, RisingEdge, Timer, ValueChange
from cocotbext.axi import AxiBurstType, AxiBus, AxiRam, AxiReadBus, AxiWriteBus
from cocotbext.axi.axi_channels import (
    AxiARBus, AxiARSink, AxiAWBus, AxiAWSink, AxiBBus, AxiRBus, AxiWBus)

from nvdla_sim.device import DONE_INTERRUPTS
from nvdla_sim.errors import NvdlaError, TraceError
from nvdla_sim.memory import Memory
from nvdla_sim.registers import REGMAP
from nvdla_sim.trace.parser import Command, parse_program
from nvdla_sim.trace.player import CrcCheck, _Player

CLOCK_NS = 10
RESET_CYCLES = 20
SETTLE_CYCLES = 256  # after reset, before the first CSB access
TIMEOUT_CYCLES = 5_000_000  # per interrupt wait
_INTR_STATUS = REGMAP.get("GLB", "S_INTR_STATUS").address
_EVENT_OF_BIT = {bit + group: f"{source}_{group}" for sources in DONE_INTERRUPTS.values()
                 for source, bit in sources for group in (0, 1)}


def _without(bus_cls, names: tuple[str, ...]):
    """An AXI channel bus whose ``names`` signals are optional (NVDLA has no size/burst:
    its bursts are INCR of the full bus width, which AxiRam assumes when they are absent)."""
    return type(bus_cls.__name__, (bus_cls,),
                {"_signals": [s for s in bus_cls._signals if s not in names],
                 "_optional_signals": [*bus_cls._optional_signals, *names]})


def _nvdla_bursts() -> None:
    """Teach cocotbext-axi NVDLA's bursts: AXI3's 4-bit lengths (it checks for AXI4's 8;
    the value means the same), and no size/burst signals: every beat is the full 8-byte
    bus, INCR (a missing signal would otherwise read as size 0, one byte per beat)."""
    for sink, p in ((AxiAWSink, "aw"), (AxiARSink, "ar")):
        sink._signal_widths = {k: v for k, v in sink._signal_widths.items() if k != f"{p}len"}
        base = sink._transaction_obj
        if getattr(base, "nvdla", False):
            continue

        def init(self, *args, _base=base, _p=p, **kwargs):
            kwargs.setdefault(f"{_p}size", 3)
            kwargs.setdefault(f"{_p}burst", int(AxiBurstType.INCR))
            _base.__init__(self, *args, **kwargs)
        sink._transaction_obj = type(base.__name__, (base,), {"__init__": init, "nvdla": True})


def axi_bus(dut, prefix: str = "nvdla_core2dbb") -> AxiBus:
    aw = _without(AxiAWBus, ("awsize", "awburst")).from_prefix(dut, f"{prefix}_aw")
    ar = _without(AxiARBus, ("arsize", "arburst")).from_prefix(dut, f"{prefix}_ar")
    return AxiBus(AxiWriteBus(aw, AxiWBus.from_prefix(dut, f"{prefix}_w"),
                              AxiBBus.from_prefix(dut, f"{prefix}_b")),
                  AxiReadBus(ar, AxiRBus.from_prefix(dut, f"{prefix}_r")))


class MemoryPort:
    """nvdla_sim's Memory seen as the byte array cocotbext-axi's AxiRam expects."""

    def __init__(self, memory: Memory) -> None:
        self.memory = memory

    def __len__(self) -> int:
        return 1 << 32

    def __getitem__(self, s: slice) -> bytes:
        return self.memory.read(s.start, s.stop - s.start).tobytes()

    def __setitem__(self, s: slice, data) -> None:
        self.memory.write(s.start, bytes(data))


def resolve(dut, path: str):
    """Handle of a dotted path below the top (``name[3]`` indexes an array)."""
    h = dut
    for part in path.split("."):
        name, _, index = part.partition("[")
        h = getattr(h, name)
        if index:
            h = h[int(index.rstrip("]"))]
    return h


class Bench:
    def __init__(self, dut) -> None:
        self.dut = dut
        self.memory = Memory()
        self.port = MemoryPort(self.memory)
        self.events: Counter[str] = Counter()
        self.launch: int | None = None  # cycle of the last op-enable write
        self.launched = Event()
        self.layers: list[tuple[int, int]] = []  # (launch, interrupt) cycles

    async def start(self) -> None:
        dut = self.dut
        static = ["global_clk_ovr_on", "tmc2slcg_disable_clock_gating", "test_mode",
                  "csb2nvdla_valid", "csb2nvdla_addr", "csb2nvdla_wdat", "csb2nvdla_write",
                  "csb2nvdla_nposted"]
        static += [f"nvdla_pwrbus_ram_{part}_pd" for part in ("c", "ma", "mb", "p", "o", "a")]
        for name in static:
            try:  # Verilator drops inputs the design never reads
                getattr(dut, name).value = 0
            except AttributeError:
                pass
        cocotb.start_soon(Clock(dut.dla_core_clk, CLOCK_NS, unit="ns").start())
        cocotb.start_soon(Clock(dut.dla_csb_clk, CLOCK_NS, unit="ns").start())
        _nvdla_bursts()
        logging.getLogger(f"cocotb.{dut._name}").setLevel(logging.INFO if os.environ.get("NVFI_AXI_LOG") else logging.WARNING)
        self.ram = AxiRam(axi_bus(dut), dut.dla_core_clk, mem=self.port)

    async def reset(self) -> None:
        """Reset the design (before every program: each starts from a clean NVDLA, as in
        NVIDIA's harness, and a fault cannot outlive its run)."""
        dut = self.dut
        dut.dla_reset_rstn.value = 0
        dut.direct_reset_.value = 0
        await self.cycles(RESET_CYCLES)
        dut.dla_reset_rstn.value = 1
        dut.direct_reset_.value = 1
        await self.cycles(SETTLE_CYCLES)
        self.events.clear()
        self.launch = None
        self.launched.clear()

    @property
    def cycle(self) -> int:
        """Clock edges since time 0 (no per-cycle Python: the simulator's time)."""
        return int(get_sim_time("ns")) // CLOCK_NS

    async def cycles(self, n: int) -> None:
        for _ in range(n):
            await RisingEdge(self.dut.dla_core_clk)

    # -- CSB ---------------------------------------------------------------------------
    async def _request(self, address: int, data: int, write: bool) -> None:
        dut = self.dut
        await RisingEdge(dut.dla_csb_clk)
        while not int(dut.csb2nvdla_ready.value):
            await RisingEdge(dut.dla_csb_clk)
        dut.csb2nvdla_addr.value = address >> 2
        dut.csb2nvdla_wdat.value = data
        dut.csb2nvdla_write.value = int(write)
        dut.csb2nvdla_nposted.value = 0
        dut.csb2nvdla_valid.value = 1
        await RisingEdge(dut.dla_csb_clk)
        dut.csb2nvdla_valid.value = 0

    async def write(self, address: int, data: int) -> None:
        await self._request(address, data, True)

    async def read(self, address: int) -> int:
        await self._request(address, 0, False)
        for _ in range(10_000):
            if int(self.dut.nvdla2csb_valid.value):
                return int(self.dut.nvdla2csb_data.value)
            await RisingEdge(self.dut.dla_csb_clk)
        raise TraceError(f"CSB read of {address:#x} got no response")

    async def wait_event(self, name: str) -> None:
        """Wait for done interrupt ``name`` (e.g. ``SDP_0``) and consume it."""
        while self.events[name] <= 0:
            if not int(self.dut.dla_intr.value):
                fired = await First(RisingEdge(self.dut.dla_intr),
                                    Timer(TIMEOUT_CYCLES * CLOCK_NS, "ns"))
                if isinstance(fired, Timer):
                    raise TraceError(f"no {name} interrupt within {TIMEOUT_CYCLES} cycles")
                await RisingEdge(self.dut.dla_core_clk)
            seen = self.cycle
            status = await self.read(_INTR_STATUS)
            for bit, event in _EVENT_OF_BIT.items():
                if status >> bit & 1:
                    self.events[event] += 1
            if self.events[name] > 0 and self.launch is not None:  # the layer's done
                self.layers.append((self.launch, seen))
                self.launch = None
            await self.write(_INTR_STATUS, status)
            await self.cycles(2)  # let dla_intr fall
        self.events[name] -= 1


class RtlPlayer(_Player):
    """The trace player's commands against the RTL: memory commands and CRC checks run
    on the bench's memory as in nvdla_sim, register and interrupt commands over CSB."""

    def __init__(self, program: Path, bench: Bench, skip_memory: bool = False) -> None:
        self.program = program
        self.dir = program.parent
        self.bench = bench
        self.nvdla = bench  # the base class reads .memory from it
        self.fired: Counter[str] = Counter()
        self.checks: list[CrcCheck] = []
        self.skip_memory = skip_memory

    async def play(self, commands: list[Command]) -> None:
        for cmd in commands:
            try:
                if cmd.name in ("mem_init", "mem_load") and self.skip_memory:
                    continue
                coro = getattr(self, f"rtl_{cmd.name}", None)
                if coro is not None:
                    await coro(cmd)
                else:
                    getattr(self, f"do_{cmd.name}")(cmd)
            except TraceError:
                raise
            except NvdlaError as exc:
                raise self.fail(cmd, f"{cmd.name}: {exc}") from None

    async def rtl_reg_write(self, cmd: Command) -> None:
        reg = self.register(cmd)
        await self.bench.write(reg.address, self.number(cmd, 1, "register value"))
        if reg.name == "D_OP_ENABLE":
            self.bench.launch = self.bench.cycle
            self.bench.launched.set()

    async def rtl_reg_read(self, cmd: Command) -> None:
        await self.bench.read(self.register(cmd).address)

    async def rtl_reg_read_check(self, cmd: Command) -> None:
        expected = self.number(cmd, 1, "expected value")
        actual = await self.bench.read(self.register(cmd).address)
        if actual != expected:
            raise self.fail(cmd, f"{cmd.args[0]} reads {actual:#x}, expected {expected:#x}")

    async def rtl_poll_reg_equal(self, cmd: Command) -> None:
        expected = self.number(cmd, 1, "expected value")
        address = self.register(cmd).address
        for _ in range(100_000):
            if await self.bench.read(address) == expected:
                return
            await self.bench.cycles(16)
        raise self.fail(cmd, f"{cmd.args[0]} never read {expected:#x}")

    async def rtl_intr_notify(self, cmd: Command) -> None:
        await self.bench.wait_event(cmd.args[0])
        self.fired[cmd.args[1]] += 1


class Injector:
    """One fault acting during a run: flip at one cycle, or stuck-at for the layer."""

    def __init__(self, bench: Bench, fault: dict) -> None:
        self.bench = bench
        self.fault = fault
        self.handle = resolve(bench.dut, fault["path"])
        self.applied = False

    async def run(self) -> None:
        f, b = self.fault, self.bench
        await b.launched.wait()
        await RisingEdge(b.dut.dla_core_clk)  # the last op-enable write is the layer's launch
        if f["model"] == "flip":
            await self._to_cycle(f)
            value = int(self.handle.value)
            self.handle.value = Immediate(value ^ f["mask"])
            self.applied = True
            return
        # stuck-at: re-applied whenever the register changes (a RAM word, which has no
        # value-change callback, after every edge), until the run ends and cancels this
        stuck = f["mask"] if f["model"] == "stuck1" else 0
        change = RisingEdge(b.dut.dla_core_clk) if "[" in f["path"] else ValueChange(self.handle)
        await ReadWrite()
        while True:
            value = int(self.handle.value)
            new = value & ~f["mask"] | stuck
            if new != value:
                self.handle.value = Immediate(new)
                self.applied = True
            await change
            await ReadWrite()

    async def _to_cycle(self, f: dict) -> None:
        """Return right after the edge that starts the fault's cycle, once the simulator has
        evaluated it: ``delay`` edges after the ``count``-th (from 0) cycle since the launch
        in which bit ``anchor_bit`` of ``anchor`` is high (and ``anchor_ready``, when given:
        the cycles a flow-controlled pipe hands its value on)."""
        clk, b = self.bench.dut.dla_core_clk, self.bench
        valid, bit = resolve(b.dut, f["anchor"]), f.get("anchor_bit", 0)
        ready = resolve(b.dut, f["anchor_ready"]) if "anchor_ready" in f else None
        seen = -1
        await ReadWrite()
        while True:  # one Python step per cycle only while the valid is high
            if int(valid.value) >> bit & 1:
                if ready is None or int(ready.value) & 1:
                    seen += 1
                    if seen == f["count"]:
                        break
                await RisingEdge(clk)
            else:
                await ValueChange(valid)
            await ReadWrite()
        if f.get("delay", 0):
            for _ in range(f["delay"]):
                await RisingEdge(clk)
            await ReadWrite()


async def _monitor(bench: Bench, valid: str, ready: str, data: str, into: list[int]) -> None:
    """Record ``data`` at every handshake (``valid`` and ``ready`` high at a clock edge)."""
    dut, clk = bench.dut, bench.dut.dla_core_clk
    v, r, d = getattr(dut, valid), getattr(dut, ready), getattr(dut, data)
    await ReadWrite()
    while True:
        if int(v.value) and int(r.value):  # taken by the next edge
            into.append(int(d.value))
        if int(v.value):
            await RisingEdge(clk)
        else:
            await ValueChange(v)
        await ReadWrite()


async def play(bench: Bench, program: Path, fault: dict | None = None,
               memory: Memory | None = None, probe: bool = False) -> dict:
    """Run one trace program (from ``memory`` without its memory commands when given)."""
    t0 = perf_counter()
    await bench.reset()
    if memory is not None:
        bench.memory = bench.port.memory = memory
    player = RtlPlayer(program, bench, skip_memory=memory is not None)
    first = len(bench.layers)
    out: dict = {"error": None}
    injector = Injector(bench, fault) if fault else None
    task = cocotb.start_soon(injector.run()) if injector else None
    sdp_in: list[int] = []
    mon = cocotb.start_soon(_monitor(bench, "cacc2sdp_valid", "cacc2sdp_ready", "cacc2sdp_pd",
                                     sdp_in)) if probe else None
    try:
        await player.play(parse_program(program))
        if not player.checks and fault is None:
            out["error"] = f"{program}: the program checks no CRC"
    except NvdlaError as exc:
        out["error"] = str(exc)
    for t in (task, mon):
        if t is not None and not t.done():
            t.cancel()
    out["sdp_in"] = sdp_in
    out["checks"] = [(c.line, c.address, c.size, c.expected, c.actual) for c in player.checks]
    out["regions"] = [bench.memory.read(c.address, c.size) for c in player.checks]
    out["layers"] = bench.layers[first:]
    out["applied"] = injector.applied if injector else None
    out["seconds"] = perf_counter() - t0
    cocotb.log.info("%s%s: %.2f s, layers %s, %s", program.parent.name,
                    f" fault {fault['id']}" if fault else "", out["seconds"], out["layers"],
                    out["error"] or "ok")
    return out


@cocotb.test()
async def run_job(dut):
    """Play every program of the job file (``+NVFI_JOB``), then its faults; each program's
    results are pickled into the folder ``+NVFI_OUT`` as it finishes (a crash keeps what
    was done)."""
    job = pickle.loads(Path(str(cocotb.plusargs["NVFI_JOB"])).read_bytes())
    out_dir = Path(str(cocotb.plusargs["NVFI_OUT"]))
    bench = Bench(dut)
    await bench.start()
    for index, entry in enumerate(job["programs"]):
        program = Path(entry["program"])
        res = {"program": str(program), "golden": None, "faults": []}
        try:
            res["golden"] = await play(bench, program, probe=entry.get("probe", False))
            if entry.get("faults"):
                snapshot = _initial_memory(program)
                for fault in entry["faults"]:
                    r = await play(bench, program, fault, memory=snapshot.copy())
                    r["id"] = fault["id"]
                    res["faults"].append(r)
        except Exception:  # noqa: BLE001 - reported to the host, which decides
            res["crash"] = traceback.format_exc()
        if not entry.get("regions"):
            for r in [res["golden"], *res["faults"]]:
                if r is not None:
                    r["regions"] = []
        _save(out_dir / f"{index:05d}.pkl", res)


def _initial_memory(program: Path) -> Memory:
    """Memory after the program's memory commands (replayed on a scratch player)."""
    player = _Player(program, _scratch_config(), keep=False)
    player.run([c for c in parse_program(program) if c.name in ("mem_init", "mem_load")])
    return player.nvdla.memory


def _scratch_config():
    from nvdla_sim.config import DEFAULT_CONFIG  # noqa: PLC0415

    return DEFAULT_CONFIG


def _save(path: Path, result: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(pickle.dumps(result))
    os.replace(tmp, path)
