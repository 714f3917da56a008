"""Launch the NV_nvdla bench from Python: trace programs, optionally with faults.

A job is a list of programs (``.cfg`` trace tests, NVIDIA's or exported by
:mod:`compiler.export`), each with the faults to run on it after its golden
run.  The simulator writes its results as each program finishes.
"""

from __future__ import annotations

import pickle
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter

from nvdla_sim.trace.player import program_file
from rtl_bridge.nvdla.build import TOPLEVEL, build
from rtl_bridge.toolchain import _patched_environ, _runner, environment


@dataclass
class ProgramResult:
    name: str
    program: Path
    error: str | None
    checks: list[tuple[int, int, int, int, int]]  # line, address, size, expected, actual
    regions: list  # the checked memory regions (uint8 arrays)
    layers: list[tuple[int, int]]  # (launch, interrupt) cycles
    seconds: float
    faults: list[dict] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.error is None and bool(self.checks) and all(c[3] == c[4] for c in self.checks)

    @property
    def layer_cycles(self) -> list[int]:
        return [done - launch for launch, done in self.layers]


def run_programs(programs: list[tuple[Path, list[dict]]], vmod: Path | None = None,
                 workdir: Path | None = None, verbose: bool = False, regions: bool = False
                 ) -> tuple[list[ProgramResult], float]:
    """Play ``(program or test folder, faults)`` pairs in one simulation; returns the results
    and the simulation's wall time.  ``regions``: bring back the checked memory regions
    (always for a program with faults)."""
    build_dir = build(vmod, verbose=verbose)
    env = environment()
    work = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="nvdla-rtl-"))
    work.mkdir(parents=True, exist_ok=True)
    entries = []
    for path, faults in programs:
        path = Path(path)
        cfg = program_file(path) if path.is_dir() else path
        entries.append({"program": str(cfg.resolve()), "faults": faults,
                        "regions": regions or bool(faults)})
    job, out = work / "job.pkl", work / "results"
    job.write_bytes(pickle.dumps({"programs": entries}))
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    t0 = perf_counter()
    with _patched_environ(env):
        runner = _runner()
        try:
            runner.test(test_module="rtl_bridge.nvdla.bench", hdl_toplevel=TOPLEVEL,
                        hdl_toplevel_lang="verilog", build_dir=build_dir, test_dir=work,
                        plusargs=[f"+NVFI_JOB={job}", f"+NVFI_OUT={out}"],
                        results_xml=str(work / "results.xml"),
                        log_file=None if verbose else work / "sim.log")
        except SystemExit as exc:
            if not any(out.iterdir()):
                raise RuntimeError(f"the simulation failed (exit {exc.code}); see "
                                   f"{work / 'sim.log'}") from None
    wall = perf_counter() - t0
    files = sorted(out.glob("*.pkl"))
    if len(files) < len(entries):
        raise RuntimeError(f"the simulation stopped after {len(files)} of {len(entries)} "
                           f"programs; see {work / 'sim.log'}")
    results = []
    for file in files:
        raw = pickle.loads(file.read_bytes())
        g = raw["golden"] or {"error": raw.get("crash", "crashed"), "checks": [], "regions": [],
                              "layers": [], "seconds": 0.0}
        error = g["error"] or raw.get("crash")
        results.append(ProgramResult(Path(raw["program"]).parent.name, Path(raw["program"]),
                                     error, g["checks"], g["regions"], g["layers"], g["seconds"],
                                     raw["faults"]))
    return results, wall
