"""``nvdla-fi rtl check --rtl nvdla``: nvdla_sim against NVIDIA's NV_nvdla RTL.

1. Conformance: NVIDIA's nv_small trace tests (CRC checks) on the RTL.
2. Every layer of a compiled network as a trace test (:mod:`.layers`): the RTL's
   output must be bit-identical to nvdla_sim's, and its launch-to-interrupt
   cycle count is compared with nvdla_sim's cycle model
   (:attr:`LayerSchedule.launch_cycles`).
3. Faults: random single-bit (and adjacent multi-bit) upsets and stuck-at bits
   in the mapped CMAC, CACC and SDP registers (:mod:`.faults`) of the convolution
   layers; nvdla_sim predicts each layer's output
   (:meth:`FaultInjector.layer_effect`), the RTL runs the layer with the fault,
   and the output regions must be equal byte for byte.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from nvdla_sim.faults.injector import FaultInjector
from nvdla_sim.faults.site import FaultSite
from nvdla_sim.timing.schedule import LayerSchedule
from rtl_bridge.crosscheck import live_cycle
from rtl_bridge.networks import load_network
from rtl_bridge.nvdla.faults import MAPPED, RTL_STAGES, rtl_fault
from rtl_bridge.nvdla.layers import LayerTest, export_layers, written_region
from rtl_bridge.nvdla.run import run_programs


@dataclass
class LayerRow:
    index: int
    name: str
    identical: bool
    detail: str
    rtl_cycles: int | None
    model_cycles: int

    @property
    def cycle_error(self) -> float | None:
        if not self.rtl_cycles:
            return None
        return (self.model_cycles - self.rtl_cycles) / self.rtl_cycles


@dataclass
class FaultRow:
    id: int
    layer: int
    register: str
    instance: int
    bit: int
    bits: int
    cycle: int
    model: str
    path: str
    applied: bool | None
    agree: bool
    model_changed: int  # output bytes nvdla_sim predicts to change
    rtl_changed: int  # output bytes that changed on the RTL
    model_seconds: float
    rtl_seconds: float
    error: str | None = None


@dataclass
class RtlNvdlaReport:
    network: str
    seed: int
    traces: list[tuple[str, bool, str]]  # NVIDIA trace tests: name, passed, error
    layers: list[LayerRow]
    faults: list[FaultRow]
    build_seconds: float
    sim_seconds: float
    unmapped: list[str] = field(default_factory=list)

    def by_register(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for f in self.faults:
            r = out.setdefault(f.register, {"faults": 0, "agree": 0, "model_changed": 0,
                                            "rtl_changed": 0})
            r["faults"] += 1
            r["agree"] += f.agree
            r["model_changed"] += f.model_changed > 0
            r["rtl_changed"] += f.rtl_changed > 0
        return dict(sorted(out.items()))

    @property
    def agreements(self) -> int:
        return sum(f.agree for f in self.faults)

    @property
    def ok(self) -> bool:
        return (all(p for _, p, _ in self.traces) and all(r.identical for r in self.layers)
                and self.agreements == len(self.faults))

    def to_dict(self) -> dict:
        return {"network": self.network, "seed": self.seed, "ok": self.ok,
                "traces": [{"name": n, "passed": p, "error": e} for n, p, e in self.traces],
                "layers": [{**asdict(r), "cycle_error": r.cycle_error} for r in self.layers],
                "injections": len(self.faults), "agreements": self.agreements,
                "by_register": self.by_register(),
                "changed_outputs": sum(f.rtl_changed > 0 for f in self.faults),
                "rtl_seconds_per_injection": _mean([f.rtl_seconds for f in self.faults]),
                "model_seconds_per_injection": _mean([f.model_seconds for f in self.faults]),
                "build_seconds": self.build_seconds, "sim_seconds": self.sim_seconds,
                "unmapped_registers": self.unmapped,
                "disagreements": [asdict(f) for f in self.faults if not f.agree]}

    def __str__(self) -> str:
        lines = [f"RTL check on NVIDIA's NV_nvdla (nv_small): {self.network}, seed {self.seed}"]
        if self.traces:
            passed = sum(p for _, p, _ in self.traces)
            lines.append(f"  NVIDIA trace tests: {passed}/{len(self.traces)} pass")
            lines += [f"    FAIL {n}: {e}" for n, p, e in self.traces if not p]
        lines.append("  layers (RTL output vs nvdla_sim; cycles launch -> interrupt):")
        for r in self.layers:
            err = "" if r.cycle_error is None else f"{100 * r.cycle_error:+.1f}%"
            status = "bit-identical" if r.identical else f"DIFFERS: {r.detail}"
            lines.append(f"    {r.index:>2} {r.name:<10} {status:<14} RTL {r.rtl_cycles or 0:>7} "
                         f"model {r.model_cycles:>7} cycles  {err}")
        n = len(self.faults)
        if n:
            changed = sum(f.rtl_changed > 0 for f in self.faults)
            lines.append(f"  faults: {self.agreements}/{n} agree, {changed} changed the output")
            lines.append(f"    {'register':<14} {'faults':>6} {'agree':>6} {'model chg':>9} "
                         f"{'RTL chg':>8}")
            for reg, r in self.by_register().items():
                lines.append(f"    {reg:<14} {r['faults']:>6} {r['agree']:>6} "
                             f"{r['model_changed']:>9} {r['rtl_changed']:>8}")
            lines.append(f"  time per injection: RTL {_mean([f.rtl_seconds for f in self.faults]):.3f}"
                         f" s, nvdla_sim {1e3 * _mean([f.model_seconds for f in self.faults]):.2f}"
                         f" ms")
            bad = [f for f in self.faults if not f.agree]
            for f in bad[:30]:
                lines.append(f"    disagree #{f.id}: L{f.layer} {f.register}[{f.instance}] bit "
                             f"{f.bit}x{f.bits} {f.model} cycle {f.cycle} -> {f.path}: model "
                             f"{f.model_changed} bytes changed, RTL {f.rtl_changed}"
                             + (f" ({f.error})" if f.error else ""))
        if self.unmapped:
            lines.append(f"  not mapped to the RTL (not checked): {', '.join(self.unmapped)}")
        lines.append(f"  build {self.build_seconds:.1f} s, simulation {self.sim_seconds:.1f} s")
        return "\n".join(lines)

    def write_json(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, default=_json_default))


def _json_default(obj):
    if isinstance(obj, np.integer):
        return int(obj)
    raise TypeError(type(obj))


def _mean(xs: list[float]) -> float:
    return float(np.mean(xs)) if xs else 0.0


def sample_faults(injector: FaultInjector, conv_layers: list[int], n: int,
                  rng: np.random.Generator, p_flip: float = 0.7, p_mbu: float = 0.1,
                  registers: tuple[str, ...] = MAPPED) -> list[tuple[FaultSite, dict]]:
    """``n`` faults, the mapped register kinds taking turns: flips at a cycle nvdla_sim
    says the register holds a live value (some of 2-4 adjacent bits), stuck-at-0/1 over
    the layer."""
    cfg = injector.config
    plan = [registers[k % len(registers)] for k in range(n)]
    rng.shuffle(plan)
    out = []
    for reg in plan:
        for _ in range(100):  # draw until the site maps (a live value on a used cell)
            i = int(rng.choice(conv_layers))
            sched = injector.schedules[i]
            spec = sched.register(reg)
            instance = int(rng.integers(spec.instances))
            if reg != "cmac.dat_in" and instance % cfg.atom_k >= _used_cells(injector, i):
                continue
            bits = 1 if rng.random() >= p_mbu else int(rng.integers(2, 5))
            lane_w = cfg.bpe if reg in RTL_STAGES and RTL_STAGES[reg][0].per_lane else spec.width
            bit = int(rng.integers(spec.width))
            bit = min(bit, (bit // lane_w) * lane_w + lane_w - bits)  # one byte lane
            u = rng.random()
            model = "flip" if u < p_flip else ("stuck0" if u < (1 + p_flip) / 2 else "stuck1")
            cycle = 0
            if model == "flip":
                c = live_cycle(reg, instance, sched, cfg, rng)
                if c is None:
                    continue
                cycle = c
            site = FaultSite(i, reg, instance, bit, cycle, model, bits)
            fault = rtl_fault(site, sched, cfg, rng)
            if fault is not None:
                out.append((site, fault))
                break
    return out


def _used_cells(injector: FaultInjector, index: int) -> int:
    """MAC cells a layer uses (kernels of its widest group)."""
    return min(injector.program.layers[index].conv.kernels, injector.config.atom_k)


def rtl_nvdla_check(network: str = "lenet5", injections: int = 100, seed: int = 0,
                    traces: list[Path] | None = None, vmod: Path | None = None,
                    workdir: Path | None = None, layers: list[int] | None = None,
                    registers: tuple[str, ...] = MAPPED) -> RtlNvdlaReport:
    """Run the whole check; ``traces``: NVIDIA trace test folders to play first; ``layers``:
    the hardware layers to check (default: all); ``registers``: the kinds to draw faults
    in (default: every mapped one)."""
    from rtl_bridge.nvdla.build import build  # noqa: PLC0415

    t0 = time.perf_counter()
    build(vmod)
    build_seconds = time.perf_counter() - t0
    work = Path(workdir) if workdir else Path(__import__("tempfile").mkdtemp(prefix="nvdla-chk-"))
    program, x = load_network(network, seed=seed)
    cfg = program.config
    injector = FaultInjector(program)
    golden = injector.golden(x)
    tests = export_layers(program, x, work / "layers", layers)
    conv_layers = [t.index for t in tests if program.layers[t.index].conv is not None]
    rng = np.random.default_rng(seed)
    sampled = (sample_faults(injector, conv_layers, injections, rng, registers=registers)
               if conv_layers else [])
    by_layer: dict[int, list[dict]] = {t.index: [] for t in tests}
    test_of = {t.index: t for t in tests}
    expected: dict[int, tuple[np.ndarray, float]] = {}
    for k, (site, fault) in enumerate(sampled):
        test = test_of[site.layer]
        t = time.perf_counter()
        effect = injector.layer_effect(site, site.layer, golden.traces[site.layer], golden)
        dt = time.perf_counter() - t
        region = test.after if effect is None else written_region(test, cfg, effect.writes[0][1])
        expected[k] = (region, dt)
        by_layer[site.layer].append({**fault, "id": k})
    trace_rows, sim_seconds = [], 0.0
    if traces:
        results, sim_seconds = run_programs([(p, []) for p in traces], vmod=vmod,
                                            workdir=work / "traces")
        trace_rows = [(r.name, r.passed, r.error or "; ".join(
            f"CRC 0x{actual:08x}, expected 0x{expected:08x}"
            for _, _, _, expected, actual in r.checks if expected != actual)) for r in results]
    results, seconds = run_programs([(t.folder, by_layer[t.index]) for t in tests], vmod=vmod,
                                    workdir=work / "sim", regions=True)
    sim_seconds += seconds
    layer_rows, fault_rows = [], []
    for test, res in zip(tests, results):
        layer = program.layers[test.index]
        model_cycles = LayerSchedule(layer, cfg).launch_cycles
        same = res.passed and len(res.regions) == 1 and np.array_equal(res.regions[0], test.after)
        detail = res.error or ("" if same else "output differs from nvdla_sim's")
        rtl_cycles = res.layer_cycles[0] if res.layer_cycles else None
        layer_rows.append(LayerRow(test.index, test.name, same, detail, rtl_cycles, model_cycles))
        for fr in res.faults:
            k = fr["id"]
            site, fault = sampled[k]
            region, dt = expected[k]
            got = fr["regions"][0] if fr["regions"] else None
            agree = got is not None and fr["error"] is None and np.array_equal(got, region)
            fault_rows.append(FaultRow(
                k, site.layer, site.register, site.instance, site.bit, site.bits, site.cycle,
                site.model, fault["path"], fr["applied"], bool(agree),
                int(np.count_nonzero(region != test.after)),
                -1 if got is None else int(np.count_nonzero(got != test.after)),
                dt, fr["seconds"], fr["error"]))
    unmapped = sorted({r.name for i in conv_layers for r in injector.schedules[i].registers}
                      - set(MAPPED))
    return RtlNvdlaReport(network, seed, trace_rows, layer_rows, fault_rows, build_seconds,
                          sim_seconds, unmapped)
