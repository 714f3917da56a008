"""Find NVIDIA's nv_small RTL and build ``NV_nvdla`` with cocotb's Verilator runner.

The build takes minutes (the VPI symbol table of the whole design), so it is
done once per configuration and cached under
``<build root>/nvdla/<key>/``, the key hashing the RTL folder, the Verilator
arguments and the control file.  Only the datapath registers the fault
cross-check reaches (and the top's ports) are made public: cocotb's default
``--public-flat-rw`` over the whole design makes the model about nine times
slower.  Verilator's ``forceable`` does not compile on these modules, so the
bench re-applies stuck-at bits every cycle instead.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path

from rtl_bridge.toolchain import PACKAGE, ToolchainMissing, _patched_environ, build_root, \
    environment

TOPLEVEL = "NV_nvdla"
RTL_ENV = "NVDLA_RTL"

# Unit folders searched for modules (NVIDIA's verilator file list, nv_small).
_UNITS = ("bdma", "cacc", "car", "cbuf", "cdma", "cdp", "cmac", "csc", "glb", "nocif", "pdp",
          "retiming", "rubik", "sdp", "top", "csb_master", "cfgrom")
# Files holding several modules (must be read whole, not found by module name).
_LIBRARIES = ("vlibs/RANDFUNC.vlib", "vlibs/nv_assert_no_x.vlib",
              "nvdla/nocif/NV_NVDLA_XXIF_libs.v")
DEFINES = ("SYNTHESIS", "NO_PLI_OR_EMU", "NO_PLI", "DESIGNWARE_NOEXIST")

# (module, variable pattern) made public (readable and writable through VPI).
PUBLIC = (
    ("NV_nvdla", "*"),  # the ports the bench drives
    ("NV_NVDLA_CMAC_CORE_rt_in", "in_rt_*"),
    ("NV_NVDLA_CMAC_CORE_active", "*"),
    ("NV_NVDLA_CMAC_CORE_mac", "*"),
    ("NV_NVDLA_CMAC_CORE_rt_out", "*"),
    ("NV_NVDLA_CACC_CALC_int8", "*"),
    ("NV_NVDLA_CACC_calculator", "*"),
    ("nv_ram_rws_16x272", "M"),
    ("nv_ram_rws_16x256", "M"),
    # SDP: only the pipe registers faults reach and their handshakes (a public port would
    # be a copy its reader keeps seeing after a flip of the register behind it)
    *((m, v) for m in ("NV_NVDLA_SDP_HLS_X_INT_ALU_pipe_p2", "NV_NVDLA_SDP_HLS_X_INT_MUL_pipe_p1",
                       "NV_NVDLA_SDP_HLS_X_INT_RELU_pipe_p1")
      for v in ("p*_pipe_data", "p*_pipe_valid", "p*_pipe_ready")),
    *(("NV_NVDLA_SDP_HLS_C_INT_pipe_p4", v) for v in ("p4_pipe_data", "p4_pipe_valid",
                                                       "p4_pipe_ready")),
    *(("NV_NVDLA_SDP_CMUX_pipe_p2", v) for v in ("pipe_skid_cmux2dp_pd", "pipe_skid_cmux2dp_pvld",
                                                  "sdp_cmux2dp_ready")),
    ("NV_NVDLA_GLB_ic", "*"),
)
VERILATOR_ARGS = [
    "--no-timing", "-Wno-fatal", "-Wno-lint", "-Wno-style", "-Wno-MODDUP",
    "--x-assign", "0", "--x-initial", "0", "--output-split", "20000",
]


def default_rtl() -> Path | None:
    """``$NVDLA_RTL``, else ``shared/nvdla-rtl/nv_small/vmod`` next to the checkout or a
    folder above it."""
    env = os.environ.get(RTL_ENV)
    if env:
        return Path(env)
    for parent in PACKAGE.parents:
        cand = parent / "shared" / "nvdla-rtl" / "nv_small" / "vmod"
        if cand.is_dir():
            return cand
    return None


def rtl_missing(vmod: Path | None) -> str | None:
    """Why ``vmod`` is not usable as the nv_small RTL (None when it is)."""
    if vmod is None:
        return (f"NVIDIA's nv_small RTL was not found: give its vmod/ folder with --rtl-dir "
                f"or ${RTL_ENV} (looked for shared/nvdla-rtl/nv_small/vmod above {PACKAGE})")
    top = vmod / "nvdla" / "top" / f"{TOPLEVEL}.v"
    if not top.is_file():
        return f"{vmod}: not NVIDIA's nv_small vmod/ folder ({top} is missing)"
    if not (vmod / "rams" / "fpga" / "small_rams").is_dir():
        return f"{vmod}: the behavioural RAM models rams/fpga/small_rams are missing"
    return None


def control_file() -> str:
    lines = ["`verilator_config"]
    lines += [f'public_flat_rw -module "{m}" -var "{v}"' for m, v in PUBLIC]
    return "\n".join(lines) + "\n"


def build_args(vmod: Path) -> list[str]:
    """Verilator arguments: search paths (behavioural RAMs before the synthesis ones), the
    multi-module libraries, defines and warnings."""
    dirs = [vmod / "nvdla" / u for u in _UNITS]
    dirs += [vmod / "rams" / "fpga" / "small_rams", vmod / "rams" / "synth",
             vmod / "rams" / "model", vmod / "vlibs"]
    args = [a for d in dirs for a in ("-y", str(d))]
    args += [f"-I{vmod / 'include'}", "+libext+.v"]
    for lib in _LIBRARIES:
        args += ["-v", str(vmod / lib)]
    args += [f"-D{d}" for d in DEFINES]
    return args + VERILATOR_ARGS


def build_key(vmod: Path) -> str:
    h = hashlib.sha1()
    h.update(str(vmod.resolve()).encode())
    h.update(repr(build_args(vmod)).encode())
    h.update(control_file().encode())
    h.update((vmod / "nvdla" / "top" / f"{TOPLEVEL}.v").read_bytes())
    return f"nv_small-{h.hexdigest()[:10]}"


def build(vmod: Path | None = None, verbose: bool = False) -> Path:
    """Build ``NV_nvdla`` from ``vmod`` (default: :func:`default_rtl`) once; returns the
    build folder (the cached one when it exists)."""
    vmod = vmod if vmod is not None else default_rtl()
    reason = rtl_missing(vmod)
    if reason:
        raise ToolchainMissing(reason)
    env = environment()
    out = build_root().parent / "nvdla" / build_key(vmod)
    binary = out / TOPLEVEL
    if binary.is_file():
        return out
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build per key at a time
        try:
            if binary.is_file():
                return out
            vlt = out / "public.vlt"
            vlt.write_text(control_file())
            from rtl_bridge.toolchain import _runner  # noqa: PLC0415

            with _patched_environ(env):
                runner = _runner()
                runner.build(sources=[vmod / "nvdla" / "top" / f"{TOPLEVEL}.v", vlt],
                             hdl_toplevel=TOPLEVEL, build_dir=out, build_args=build_args(vmod),
                             always=True, log_file=None if verbose else out / "build.log")
            if not binary.is_file():
                raise RuntimeError(f"the Verilator build of {TOPLEVEL} failed; see "
                                   f"{out / 'build.log'}")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return out
