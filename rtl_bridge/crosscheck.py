"""RTL cross-check: nvdla_sim against the RTL slices, fault-free and under faults.

:func:`rtl_check` compiles a network, runs it on nvdla_sim (golden), builds
the per-cycle stimulus of the chosen layers from nvdla_sim's schedule, draws
random faults over every register kind the RTL models, asks nvdla_sim what
each does (:meth:`FaultInjector.layer_effect`), replays everything on the
Verilator model under cocotb, and returns a :class:`RtlCheckReport`.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nvdla_sim.config import HardwareConfig, get_config
from nvdla_sim.faults.golden import GoldenRun
from nvdla_sim.faults.injector import FaultInjector
from nvdla_sim.faults.site import FaultSite
from nvdla_sim.layers import HardwareLayer
from nvdla_sim.program import Program
from nvdla_sim.timing.conv import CACC_SUM, CACC_WRITE, DAT_ACTV, DAT_IN, MAC_OUT, SUM_OUT
from nvdla_sim.timing.schedule import LayerSchedule
from nvdla_sim.units.sdp import x_register_live
from rtl_bridge import job as jobs
from rtl_bridge.job import FaultCase, Job, JobResult, LayerCase, LayerOutcome
from rtl_bridge.model import predict
from rtl_bridge.networks import load_network
from rtl_bridge.sites import RTL_REGISTERS, rtl_path
from rtl_bridge.stimulus import LayerStimulus, UnsupportedLayer, check_supported, layer_stimulus
from rtl_bridge.toolchain import (
    CLOCK_NS, RtlParams, ToolchainMissing, build, missing, run_simulation)

CONV_OFFSETS = {"cmac.dat_in": DAT_IN, "cmac.dat_actv": DAT_ACTV, "cmac.sum_out": SUM_OUT,
                "cmac.mac_out": MAC_OUT, "cacc.sum": CACC_SUM}


# -- report ---------------------------------------------------------------------------------
@dataclass
class Disagreement:
    id: int
    layer: int
    site: FaultSite
    description: str
    detail: str

    def __str__(self) -> str:
        return f"{self.description}: {self.detail}"


@dataclass
class LayerSummary:
    index: int
    name: str
    kind: str
    cycles: int
    golden_ok: bool
    golden_detail: str
    faults: int
    agree: int
    rtl_seconds_golden: float


@dataclass
class RtlCheckReport:
    network: str
    config: str
    seed: int
    layers: list[LayerSummary]
    injections: int
    agreements: int
    disagreements: list[Disagreement]
    # register -> (faults, agree, live per nvdla_sim, changed the RTL's finals or outputs)
    by_register: dict[str, tuple[int, int, int, int]]
    by_model: dict[str, tuple[int, int]]
    rtl_seconds_per_injection: float
    model_seconds_per_injection: float
    build_seconds: float
    total_seconds: float
    width_errors: list[str] = field(default_factory=list)
    sim_wall_seconds: float = 0.0  # wall time of the simulation(s), all workers
    workers: int = 1
    error: str = ""
    workdir: str = ""

    @property
    def golden_ok(self) -> bool:
        return all(layer.golden_ok for layer in self.layers) and not self.width_errors

    @property
    def ok(self) -> bool:
        return (self.golden_ok and not self.error and not self.disagreements
                and self.agreements == self.injections)

    @property
    def agreement(self) -> float:
        return self.agreements / self.injections if self.injections else 1.0

    @property
    def time_ratio(self) -> float:
        """RTL seconds per injection / nvdla_sim seconds per injection."""
        m = self.model_seconds_per_injection
        return self.rtl_seconds_per_injection / m if m > 0 else float("inf")

    def to_dict(self) -> dict:
        """JSON-friendly summary."""
        return {
            "network": self.network, "config": self.config, "seed": self.seed, "ok": self.ok,
            "golden_ok": self.golden_ok, "injections": self.injections,
            "agreements": self.agreements, "agreement": self.agreement,
            "layers": [vars(s) for s in self.layers],
            "by_register": {k: dict(zip(("faults", "agree", "live", "changed"), v))
                            for k, v in self.by_register.items()},
            "by_model": {k: dict(zip(("faults", "agree"), v)) for k, v in self.by_model.items()},
            "disagreements": [{"id": d.id, "layer": d.layer, "site": vars(d.site),
                               "description": d.description, "detail": d.detail}
                              for d in self.disagreements],
            "rtl_seconds_per_injection": self.rtl_seconds_per_injection,
            "model_seconds_per_injection": self.model_seconds_per_injection,
            "time_ratio": self.time_ratio, "build_seconds": self.build_seconds,
            "sim_wall_seconds": self.sim_wall_seconds, "workers": self.workers,
            "total_seconds": self.total_seconds, "width_errors": self.width_errors,
            "error": self.error,
        }

    def __str__(self) -> str:
        lines = [f"RTL cross-check: {self.network} on {self.config} (seed {self.seed})"]
        if self.error:
            lines.append("  ERROR in the testbench:")
            lines += [f"    {line}" for line in self.error.strip().splitlines()[-12:]]
        for e in self.width_errors:
            lines.append(f"  register width mismatch: {e}")
        lines.append("  fault-free equivalence:")
        for s in self.layers:
            status = "bit-identical" if s.golden_ok else f"DIFFERS: {s.golden_detail}"
            lines.append(f"    layer {s.index:>3} {s.name:<12} {s.kind:<4} {s.cycles:>6} cycles  "
                         f"{status}  ({s.faults} faults, {s.agree} agree)")
        lines.append(f"  faults: {self.agreements}/{self.injections} agree "
                     f"({100 * self.agreement:.2f}%)")
        lines.append(f"    {'register':<14} {'faults':>6} {'agree':>6} {'live':>6} "
                     f"{'changed':>7}   (live: nvdla_sim found a live value; changed: the RTL's "
                     f"finals or outputs moved)")
        for reg, (n, a, live, changed) in sorted(self.by_register.items()):
            lines.append(f"    {reg:<14} {n:>6} {a:>6} {live:>6} {changed:>7}")
        lines.append("    by model: " + ", ".join(f"{m} {a}/{n}"
                                                  for m, (n, a) in sorted(self.by_model.items())))
        lines.append(f"  time per injection: RTL {1e3 * self.rtl_seconds_per_injection:.2f} ms "
                     f"(one replay), nvdla_sim {1e3 * self.model_seconds_per_injection:.2f} ms "
                     f"(layer_effect): RTL/nvdla_sim = {self.time_ratio:.1f}x")
        wall = self.sim_wall_seconds / self.injections if self.injections else 0.0
        lines.append(f"  simulation {self.sim_wall_seconds:.1f} s wall with {self.workers} "
                     f"worker(s) ({1e3 * wall:.2f} ms per injection), build "
                     f"{self.build_seconds:.1f} s, total {self.total_seconds:.1f} s")
        if self.disagreements:
            lines.append(f"  disagreements ({len(self.disagreements)}):")
            for d in self.disagreements[:50]:
                lines.append(f"    {d}")
            if len(self.disagreements) > 50:
                lines.append(f"    ... {len(self.disagreements) - 50} more")
        return "\n".join(lines)


# -- fault sampling --------------------------------------------------------------------------
def supported_layers(program: Program, params: RtlParams) -> list[int]:
    out = []
    for i, layer in enumerate(program.layers):
        try:
            check_supported(layer, program.config, params)
        except UnsupportedLayer:
            continue
        out.append(i)
    return out


def layer_registers(layer: HardwareLayer, cfg: HardwareConfig) -> list[str]:
    regs = LayerSchedule(layer, cfg).registers
    return [r.name for r in regs if r.name in RTL_REGISTERS]


def _stage_active(layer: HardwareLayer, register: str) -> bool:
    if register.startswith(("sdp.bs_", "sdp.bn_")):
        stage = layer.sdp.bs if register.startswith("sdp.bs_") else layer.sdp.bn
        return x_register_live(stage, register.split("_")[1])
    return True


def live_cycle(register: str, instance: int, schedule: LayerSchedule, cfg: HardwareConfig,
               rng: np.random.Generator) -> int | None:
    """A cycle where docs/timing-and-faults.md says the instance holds a live value (None if
    it never does in this layer).  Only used to aim the random faults; whether the value is
    live is nvdla_sim's call (layer_effect returns None otherwise)."""
    ak = cfg.atom_k
    if register.startswith("sdp."):
        stream = schedule.sdp_stream
        n = int(rng.integers(stream.start.size))
        return int(stream.start[n]) + schedule.sdp_register_offset(register)
    sched = schedule.conv
    ops = sched.ops
    start, length = ops["start"], ops["length"]
    steps = sched.blocks * sched.taps
    s = int(rng.integers(start.size))
    if register in CONV_OFFSETS:
        return int(start[s] + rng.integers(length[s])) + CONV_OFFSETS[register]
    if register == "cacc.out":
        s = s - s % steps + steps - 1
        return int(start[s] + rng.integers(length[s])) + CACC_WRITE
    if register == "cmac.wt_actv":
        return int(start[s] + DAT_ACTV + rng.integers(length[s]))
    if register == "cmac.wt_sd":
        load = (instance if s == 0 else int(start[s - 1]) + DAT_ACTV + instance)
        return int(rng.integers(load, int(start[s]) + DAT_ACTV))
    if register == "cacc.abuf":
        entry = instance // ak
        cand = np.flatnonzero((np.arange(start.size) % steps != steps - 1) & (length > entry))
        if cand.size == 0:
            return None
        s = int(rng.choice(cand))
        first = int(start[s]) + entry + CACC_WRITE
        last = int(start[s + 1]) + entry + CACC_SUM - 1
        return int(rng.integers(first, last + 1))
    raise KeyError(register)


def sample_sites(program: Program, schedules: list[LayerSchedule], layers: list[int], n: int,
                 rng: np.random.Generator, p_live: float = 0.85, p_flip: float = 0.7,
                 p_mbu: float = 0.12) -> list[FaultSite]:
    """``n`` faults spread evenly over the register kinds of ``layers``: flips (mostly at
    a cycle the register is live, sometimes anywhere in the layer; some multi-bit) and
    stuck-at-0/1 over the layer."""
    cfg = program.config
    by_reg: dict[str, list[int]] = {}
    for i in layers:
        for reg in layer_registers(program.layers[i], cfg):
            by_reg.setdefault(reg, []).append(i)
    kinds = sorted(by_reg)
    if not kinds or n <= 0:
        return []
    plan = [kinds[k % len(kinds)] for k in range(n)]
    rng.shuffle(plan)
    sites = []
    for reg in plan:
        candidates = by_reg[reg]
        active = [i for i in candidates if _stage_active(program.layers[i], reg)]
        pool = active if active and rng.random() < 0.9 else candidates
        i = int(rng.choice(pool))
        sched = schedules[i]
        spec = sched.register(reg)
        instance = int(rng.integers(spec.instances))
        bits = 1 if rng.random() >= p_mbu else int(rng.integers(2, 5))
        bit = int(rng.integers(spec.width))
        u = rng.random()
        model = "flip" if u < p_flip else ("stuck0" if u < p_flip + (1 - p_flip) / 2 else "stuck1")
        cycle = 0
        if model == "flip":
            c = live_cycle(reg, instance, sched, cfg, rng) if rng.random() < p_live else None
            cycle = int(rng.integers(sched.cycles)) if c is None else c
        sites.append(FaultSite(i, reg, instance, bit, cycle, model, bits))
    return sites


def sweep_sites(program: Program, schedules: list[LayerSchedule], layer: int,
                registers: list[str] | None = None, cycles: range | None = None,
                instance: int = 0, bit: int = 0) -> list[FaultSite]:
    """A flip of one bit of one instance of each register at every cycle of ``cycles``
    (default: the whole layer): checks the register timing cycle by cycle."""
    sched = schedules[layer]
    regs = registers or layer_registers(program.layers[layer], program.config)
    cycles = cycles if cycles is not None else range(sched.cycles)
    return [FaultSite(layer, reg, min(instance, sched.register(reg).instances - 1),
                      min(bit, sched.register(reg).width - 1), c, "flip")
            for reg in regs for c in cycles]


# -- the check --------------------------------------------------------------------------------
def prepare_job(program: Program, golden: GoldenRun, inj: FaultInjector, layers: list[int],
                sites: list[FaultSite], params: RtlParams, folder: Path
                ) -> tuple[Job, dict[int, LayerStimulus]]:
    cfg = program.config
    stims: dict[int, LayerStimulus] = {}
    cases: list[LayerCase] = []
    for i in layers:
        stim = layer_stimulus(i, program.layers[i], inj.schedules[i], golden.traces[i],
                              golden.traces[i].sdp_operands, cfg, params)
        stim.write(folder)
        stims[i] = stim
        cases.append(LayerCase(i, stim.name, stim.n_rows, stim.run_cycles, stim.cfg, stim.fin,
                               stim.fin_cycle, stim.out, stim.out_cycle))
    by_index = {c.index: c for c in cases}
    for k, site in enumerate(sites):
        by_index[site.layer].faults.append(predict(k, inj, site.layer, site, golden,
                                                   stims[site.layer]))
    widths = {}
    for i in layers:
        for reg in inj.schedules[i].registers:
            if reg.name in RTL_REGISTERS:
                widths[rtl_path(reg.name, reg.instances - 1, cfg.atom_k)] = reg.width
    return Job(params, cases, widths, CLOCK_NS), stims


def _summarize(network: str, program: Program, seed: int, job: Job, result: JobResult,
               build_seconds: float, total: float, workdir: str) -> RtlCheckReport:
    cases = {c.id: (layer, c) for layer in job.layers for c in layer.faults}
    by_reg: dict[str, list[int]] = {}
    by_model: dict[str, list[int]] = {}
    disagreements = []
    rtl_t, model_t, agree, n = [], [], 0, 0
    summaries = []
    for lo in result.layers:
        layer_agree = 0
        for fo in lo.faults:
            layer_case, case = cases[fo.id]
            n += 1
            agree += fo.agree
            layer_agree += fo.agree
            r = by_reg.setdefault(case.site.register, [0, 0, 0, 0])
            r[0] += 1
            r[1] += fo.agree
            r[2] += case.live
            r[3] += fo.changed_out > 0 or fo.changed_fin > 0
            m = by_model.setdefault(case.site.model, [0, 0])
            m[0] += 1
            m[1] += fo.agree
            rtl_t.append(fo.rtl_seconds)
            model_t.append(case.model_seconds)
            if not fo.agree:
                disagreements.append(Disagreement(fo.id, lo.index, case.site, case.describe(),
                                                  fo.detail))
        kind = program.layers[lo.index].kind
        summaries.append(LayerSummary(lo.index, lo.name, kind, lo.cycles, lo.golden_ok,
                                      lo.golden_detail, len(lo.faults), layer_agree,
                                      lo.golden_seconds))
    expected = sum(len(layer.faults) for layer in job.layers)
    return RtlCheckReport(
        network=network, config=program.config.name, seed=seed, layers=summaries,
        injections=expected, agreements=agree, disagreements=disagreements,
        by_register={k: tuple(v) for k, v in by_reg.items()},
        by_model={k: tuple(v) for k, v in by_model.items()},
        rtl_seconds_per_injection=float(np.mean(rtl_t)) if rtl_t else 0.0,
        model_seconds_per_injection=float(np.mean(model_t)) if model_t else 0.0,
        build_seconds=build_seconds, total_seconds=total, width_errors=result.width_errors,
        error=result.error + ("" if n == expected else
                              f"\n{expected - n} fault(s) not run by the testbench"),
        workdir=workdir)


@dataclass
class Prepared:
    """A compiled network with its golden run and the RTL build parameters."""

    network: str
    seed: int
    program: Program
    injector: FaultInjector
    golden: GoldenRun
    params: RtlParams
    usable: list[int]


def prepare(network: str = "toy", config: HardwareConfig | str | None = None, seed: int = 0
            ) -> Prepared:
    cfg = get_config(config) if config is not None else None
    program, x = load_network(network, cfg, seed)
    params = RtlParams.from_config(program.config)
    inj = FaultInjector(program)
    return Prepared(network, seed, program, inj, inj.golden(x), params,
                    supported_layers(program, params))


def _shards(job: Job, n: int) -> list[Job]:
    """Deal the faults over ``n`` jobs, balancing replayed cycles.  The first job replays
    every layer fault-free; the others only the layers they have faults in (each replay
    of a layer starts with a fault-free run, which is checked too)."""
    loads = [0] * n
    per: list[list[list[FaultCase]]] = [[[] for _ in job.layers] for _ in range(n)]
    for li, layer in enumerate(job.layers):
        for case in layer.faults:
            k = int(np.argmin(loads))
            per[k][li].append(case)
            loads[k] += layer.run_cycles
    out = []
    for k in range(n):
        layers = [dataclasses.replace(layer, faults=per[k][li])
                  for li, layer in enumerate(job.layers) if k == 0 or per[k][li]]
        if layers:
            out.append(Job(job.params, layers, job.widths if k == 0 else {}, job.clock_ns))
    return out


def _merge(job: Job, results: list[JobResult]) -> JobResult:
    merged: dict[int, LayerOutcome] = {}
    for r in results:
        for lo in r.layers:
            m = merged.get(lo.index)
            if m is None:
                merged[lo.index] = dataclasses.replace(lo, faults=list(lo.faults))
            else:
                m.golden_ok = m.golden_ok and lo.golden_ok
                m.golden_detail = m.golden_detail or lo.golden_detail
                m.faults += lo.faults
    return JobResult(layers=[merged[layer.index] for layer in job.layers if layer.index in merged],
                     width_errors=[e for r in results for e in r.width_errors],
                     error="\n".join(r.error for r in results if r.error))


def _simulate(params: RtlParams, job: Job, folder: Path, io: Path, verbose: bool) -> JobResult:
    io.mkdir(parents=True, exist_ok=True)
    if io != folder:
        for f in folder.glob("L*_*.hex"):
            link = io / f.name
            link.unlink(missing_ok=True)
            link.symlink_to(f)
    jobs.save(job, io / "job.pkl")
    (io / "results.pkl").unlink(missing_ok=True)
    try:
        path = run_simulation(params, io / "job.pkl", io, verbose=verbose)
    except RuntimeError as exc:
        path, failure = None, str(exc)
    else:
        failure = "the simulation wrote no results"
    if path is not None and path.is_file():
        return jobs.load(path)
    log = io / "sim.log"
    tail = log.read_text()[-3000:] if log.is_file() else ""
    return JobResult(error=f"{failure}\n{tail}")


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def run_sites(prep: Prepared, layers: list[int], sites: list[FaultSite],
              workdir: str | Path | None = None, verbose: bool = False, mutate=None,
              workers: int | None = None) -> RtlCheckReport:
    """Replay ``layers`` fault-free and ``sites`` on the RTL; compare with nvdla_sim.

    The faults are shared among ``workers`` simulator processes (default: up to two,
    one per core).  ``mutate(job)`` may alter the job before it runs (tests use it to
    show that deliberately wrong fault timing is caught)."""
    t_start = time.perf_counter()
    t0 = time.perf_counter()
    build(prep.params, verbose=verbose)
    build_seconds = time.perf_counter() - t0
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="nvfi-rtl-")
        folder = Path(tmp.name)
    else:
        folder = Path(workdir)
        folder.mkdir(parents=True, exist_ok=True)
    try:
        job, _ = prepare_job(prep.program, prep.golden, prep.injector, layers, sites,
                             prep.params, folder)
        if mutate is not None:
            mutate(job)
        n = max(1, min(workers or default_workers(), len(sites) or 1))
        shards = _shards(job, n)
        t_sim = time.perf_counter()
        if len(shards) == 1:
            result = _simulate(prep.params, shards[0], folder, folder, verbose)
        else:
            with ThreadPoolExecutor(len(shards)) as pool:
                futures = [pool.submit(_simulate, prep.params, shard, folder, folder / f"w{k}",
                                       verbose) for k, shard in enumerate(shards)]
                result = _merge(job, [f.result() for f in futures])
        report = _summarize(prep.network, prep.program, prep.seed, job, result, build_seconds,
                            time.perf_counter() - t_start, "" if tmp else str(folder))
        report.sim_wall_seconds = time.perf_counter() - t_sim
        report.workers = len(shards)
        return report
    finally:
        if tmp is not None:
            tmp.cleanup()


def rtl_check(layers: list[int] | None = None, injections: int = 2000, seed: int = 0, *,
              network: str = "toy", config: HardwareConfig | str | None = None,
              workdir: str | Path | None = None, verbose: bool = False,
              workers: int | None = None) -> RtlCheckReport:
    """Fault-free equivalence of ``layers`` (default: every CONV+SDP and SDP layer of the
    network), then ``injections`` random faults spread over every register kind the RTL
    models; nvdla_sim's predicted outputs are compared with the RTL's bit for bit.

    ``network``: one of :data:`rtl_bridge.networks.NETWORKS`; ``config``: a hardware
    config (name, TOML path or object) to compile for; ``workdir``: keep the stimulus,
    job, results and simulator log there (default: a temporary folder); ``workers``:
    simulator processes sharing the faults (default: up to two, one per core)."""
    t_start = time.perf_counter()
    reason = missing()
    if reason:
        raise ToolchainMissing(reason)
    prep = prepare(network, config, seed)
    if layers is None:
        chosen = prep.usable
    else:
        bad = [i for i in layers if i not in prep.usable]
        if bad:
            raise UnsupportedLayer(f"layer(s) {bad} of {network} are not CONV+SDP or SDP "
                                   f"layers the RTL implements (usable: {prep.usable})")
        chosen = list(layers)
    rng = np.random.default_rng(seed)
    sites = sample_sites(prep.program, prep.injector.schedules, chosen, injections, rng)
    report = run_sites(prep, chosen, sites, workdir, verbose, workers=workers)
    report.total_seconds = time.perf_counter() - t_start
    return report
