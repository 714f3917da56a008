"""cocotb testbench: replay nvdla_sim layers on the RTL, fault-free and with faults.

Runs inside the simulator (``rtl_bridge.toolchain.run_simulation`` starts it
with the plusarg ``+NVFI_JOB=<job file>``).  For each layer of the job:

1. load the layer's stimulus rows and configuration words into the
   harness (``load`` strobe);
2. replay it fault-free: reset, ``start``, run the layer's cycles, ``dump``
   the monitors' captures; check them against nvdla_sim's golden trace and
   schedule;
3. replay it once per fault:
   * ``flip``: at the clock edge that starts the fault's cycle (after the
     simulator has evaluated that edge: ``RisingEdge`` then ``ReadWrite``),
     read the register and write it back with the fault's bits inverted
     (``Immediate`` deposit): every reader in that cycle and later sees the
     upset until the register is written again;
   * ``stuck0`` / ``stuck1``: force the fault's bits for the whole replay and
     release them afterwards: cocotb ``Force`` / ``Release`` when the fault
     covers the whole register, else Verilator's per-bit force controls of the
     (forceable) register (``<reg>__VforceEn`` = mask, ``<reg>__VforceVal`` =
     value), the other bits following the design;
   and check the RTL's changed outputs against nvdla_sim's prediction.

Results go to ``results.pkl`` next to the job.
"""

from __future__ import annotations

import os
import re
import traceback
from pathlib import Path
from time import perf_counter

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.handle import Force, Immediate, Release
from cocotb.simtime import get_sim_time
from cocotb.triggers import ReadWrite, RisingEdge, Timer

from rtl_bridge import job as jobs
from rtl_bridge.checker import Capture, check_fault, check_golden, parse_capture
from rtl_bridge.job import FaultCase, FaultOutcome, JobResult, LayerCase, LayerOutcome
from rtl_bridge.sites import RtlTarget
from rtl_bridge.toolchain import PRE

_PART = re.compile(r"^(\w+)(?:\[(\d+)\])?$")


class Harness:
    """Driver and monitor side of ``nvfi_tb_top``."""

    def __init__(self, dut, io_dir: Path, clock_ns: int) -> None:
        self.dut = dut
        self.io = io_dir
        self.period = clock_ns
        self._handles: dict[str, object] = {}

    # -- hierarchy ---------------------------------------------------------------------
    def handle(self, path: str):
        h = self._handles.get(path)
        if h is None:
            h = self.dut
            for part in path.split("."):
                m = _PART.match(part)
                if m is None:
                    raise ValueError(f"bad RTL path component {part!r} in {path}")
                h = h[m.group(1)]
                if m.group(2) is not None:
                    h = h[int(m.group(2))]
            self._handles[path] = h
        return h

    def force_controls(self, path: str):
        parent, _, var = path.rpartition(".")
        base = self.handle(parent) if parent else self.dut
        return base[f"{var}__VforceEn"], base[f"{var}__VforceVal"]

    # -- clocking ----------------------------------------------------------------------
    async def edge(self) -> None:
        """Next rising edge, after the simulator has evaluated it."""
        await RisingEdge(self.dut.clk)
        await ReadWrite()

    async def until_edge(self, t_edge: float) -> None:
        """The rising edge at simulation time ``t_edge`` (ns), evaluated."""
        wait = t_edge - get_sim_time("ns") - self.period / 2
        if wait > 0:
            await Timer(wait, "ns")
        await self.edge()
        now = get_sim_time("ns")
        if abs(now - t_edge) > 1e-6:
            raise RuntimeError(f"clock edge at {now} ns, expected {t_edge} ns")

    # -- layer ---------------------------------------------------------------------------
    async def load(self, layer: LayerCase) -> None:
        dut = self.dut
        dut.n_rows.value = layer.n_rows
        dut.layer_id.value = layer.index
        dut.load.value = 1
        await self.edge()
        dut.load.value = 0
        await self.edge()

    async def replay(self, layer: LayerCase, target: RtlTarget | None = None) -> Capture:
        dut = self.dut
        dut.rst.value = 1
        await self.edge()
        await self.edge()
        dut.rst.value = 0
        release = None
        if target is not None and target.model != "flip":
            release = self.force(target)
        await self.edge()
        dut.start.value = 1
        await self.edge()  # this edge took `start`: layer cycle -PRE begins
        dut.start.value = 0
        t0 = get_sim_time("ns")

        def edge_of(cycle: int) -> float:
            return t0 + (cycle + PRE) * self.period

        if target is not None and target.model == "flip":
            await self.until_edge(edge_of(target.cycle))
            cyc = dut.cyc.value.to_signed()
            if cyc != target.cycle:
                raise RuntimeError(f"harness at cycle {cyc}, fault wants {target.cycle}")
            reg = self.handle(target.path)
            reg.value = Immediate(int(reg.value) ^ target.mask)
        await self.until_edge(edge_of(layer.run_cycles))
        if release is not None:
            release()
        return await self.dump()

    def force(self, target: RtlTarget):
        """Stuck-at: force the target's bits until the returned release is called."""
        value = target.mask if target.model == "stuck1" else 0
        if target.mask == (1 << target.width) - 1:  # every bit: cocotb's Force / Release
            reg = self.handle(target.path)
            reg.value = Force(value)

            def release():
                reg.value = Release()
            return release
        en, val = self.force_controls(target.path)  # some bits: Verilator's per-bit force
        val.value = value
        en.value = target.mask

        def release_bits():
            en.value = 0
        return release_bits

    async def dump(self) -> Capture:
        dut = self.dut
        for name in ("fin.hex", "out.hex"):
            (self.io / name).unlink(missing_ok=True)
        n_fin, n_out = int(dut.n_fin.value), int(dut.n_out.value)
        overflow = bool(int(dut.overflow.value))
        dut.dump.value = 1
        await self.edge()
        dut.dump.value = 0
        fin, fin_cycle = _read(self.io / "fin.hex", n_fin)
        out, out_cycle = _read(self.io / "out.hex", n_out)
        return Capture(fin, fin_cycle, ((out + 128) % 256) - 128, out_cycle, overflow)


def _read(path: Path, n: int):
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    value, cycle = parse_capture(path.read_text())
    if value.size != n:
        raise RuntimeError(f"{path.name}: {value.size} entries, monitor counted {n}")
    return value, cycle


async def _run_layer(h: Harness, layer: LayerCase) -> LayerOutcome:
    await h.load(layer)
    t = perf_counter()
    cap = await h.replay(layer)
    golden_seconds = perf_counter() - t
    why = check_golden(layer, cap)
    outcome = LayerOutcome(layer.index, layer.name, layer.run_cycles, not why, why,
                           golden_seconds)
    for case in layer.faults:
        outcome.faults.append(await _run_fault(h, layer, case))
    return outcome


async def _run_fault(h: Harness, layer: LayerCase, case: FaultCase) -> FaultOutcome:
    t = perf_counter()
    try:
        cap = await h.replay(layer, case.target)
        why, changed_out, changed_fin = check_fault(layer, cap, case.fin, case.out)
    except Exception as exc:  # noqa: BLE001  (report, keep going)
        why, changed_out, changed_fin = f"testbench error: {exc!r}", -1, -1
    return FaultOutcome(case.id, not why, why, perf_counter() - t, changed_out, changed_fin)


def _check_widths(h: Harness, widths: dict[str, int]) -> list[str]:
    errors = []
    for path, width in widths.items():
        try:
            n = len(h.handle(path))
        except Exception as exc:  # noqa: BLE001
            errors.append(f"{path}: not found ({exc!r})")
            continue
        if n != width:
            errors.append(f"{path}: {n} bits in RTL, nvdla_sim says {width}")
    return errors


@cocotb.test()
async def replay(dut):
    """Replay every layer of the job fault-free and with each of its faults."""
    job_path = Path(cocotb.plusargs.get("NVFI_JOB") or os.environ["NVFI_JOB"])
    job: jobs.Job = jobs.load(job_path)
    io_dir = job_path.parent
    result = JobResult()
    try:
        Clock(dut.clk, job.clock_ns, unit="ns").start()
        h = Harness(dut, io_dir, job.clock_ns)
        for name in ("rst", "start", "load", "dump"):
            dut[name].value = 0
        result.width_errors = _check_widths(h, job.widths)
        for layer in job.layers:
            result.layers.append(await _run_layer(h, layer))
            jobs.save(result, io_dir / "results.pkl")  # partial results survive a crash
    except Exception:  # noqa: BLE001
        result.error = traceback.format_exc()
    jobs.save(result, io_dir / "results.pkl")
