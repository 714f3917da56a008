"""The register catalogue: one table; widths at every precision the hardware implements,
what value each register holds, and where a bit sits in it."""

from __future__ import annotations

import pytest

from nvdla_sim.config import CONFIGS, NV_FULL, NV_SMALL
from nvdla_sim.timing.registers import (
    VALUE_KINDS, RegisterSpec, catalogue, cdp_registers, conv_registers, pdp_registers,
    sdp_registers)

LANES = ("cmac.dat_in", "cmac.dat_actv", "cmac.wt_sd", "cmac.wt_actv")


def by_name(regs):
    return {r.name: r for r in regs}


def test_nv_small_int8_widths():
    conv = by_name(conv_registers(NV_SMALL))
    assert conv["cmac.dat_actv"].width == 8 * 8 and conv["cmac.dat_actv"].instances == 8
    assert conv["cmac.sum_out"].width == 2 * 8 + 3  # 2*BPE + log2(atomic C)
    assert conv["cacc.abuf"].width == 34 and conv["cacc.sum"].width == 35
    assert conv["cmac.sum_out"].widths == (("int8", 19),)


def test_nv_full_widths_per_precision():
    conv = by_name(conv_registers(NV_FULL))
    assert conv["cmac.sum_out"].width_at("int8") == 2 * 8 + 6
    assert conv["cmac.sum_out"].width_at("int16") == 2 * 16 + 6
    assert conv["cmac.dat_actv"].width_at("int16") == 64 * 16
    assert conv["cacc.abuf"].width_at("int16") == 48  # ACCU_ASSEMBLY_BIT_WIDTH_INT16
    assert conv["cacc.out"].width_at("int16") == conv["cacc.out"].width_at("int8") == 32
    sdp = by_name(sdp_registers(NV_FULL))
    assert (sdp["sdp.out"].width_at("int8"), sdp["sdp.out"].width_at("int16")) == (8, 16)
    assert sdp["sdp.bs_mul"].width_at("int16") == 49
    pdp = by_name(pdp_registers(NV_FULL))
    assert (pdp["pdp.acc"].width_at("int8"), pdp["pdp.acc"].width_at("int16")) == (16, 32)
    assert all(r.widths == ((r.widths[0][0], r.width),) for r in cdp_registers(NV_FULL))


def test_width_follows_the_configured_precision():
    conv16 = by_name(conv_registers(NV_FULL.replace(precision="int16")))
    assert conv16["cmac.sum_out"].width == 38
    assert conv16["cmac.dat_actv"].instances == 16  # one INT16 kernel per MAC cell
    assert by_name(conv_registers(NV_FULL))["cmac.dat_actv"].instances == 32


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_register_holds_whole_values_of_a_known_kind(name):
    cfg = CONFIGS[name]
    for reg in catalogue(cfg).values():
        assert reg.value in VALUE_KINDS
        assert reg.width % reg.value_width == 0 and reg.lanes * reg.value_width == reg.width
        assert reg.value_group == f"{reg.value} ({reg.value_width}-bit)"
    for lane in LANES:  # data atoms and weight slices: atom_c lanes of bpe bits
        reg = catalogue(cfg)[lane]
        assert (reg.value_width, reg.lanes) == (cfg.bpe, cfg.atom_c)


def test_lane_width_follows_the_configured_precision():
    wide = NV_FULL.replace(precision="int16")
    regs = {r.name: r for r in conv_registers(wide) + sdp_registers(wide)}
    assert regs["cmac.wt_actv"].value_width == 16 and regs["cmac.wt_actv"].lanes == 64
    assert regs["sdp.out"].width == 16
    assert regs["cmac.sum_out"].value_width == wide.mac_result_width == 38


@pytest.mark.parametrize("register, bit, lane, value_bit, width", [
    ("cmac.dat_actv", 13, 1, 5, 8),     # lane 1, bit 5 of an int8 activation
    ("cmac.wt_actv", 63, 7, 7, 8),      # sign bit of the last weight lane
    ("cmac.sum_out", 18, 0, 18, 19),    # top bit of a MAC partial sum
    ("cacc.abuf", 33, 0, 33, 34),       # top bit of an assembly-buffer accumulator
    ("cacc.sum", 34, 0, 34, 35),
    ("cacc.out", 0, 0, 0, 32),
    ("sdp.bs_mul", 48, 0, 48, 49),      # SDP intermediates by their own width
    ("sdp.bn_alu", 32, 0, 32, 33),
    ("sdp.out", 7, 0, 7, 8),
    ("pdp.acc", 15, 0, 15, 16),
    ("cdp.icvt", 8, 0, 8, 9),
    ("mem.weight", 7, 0, 7, 8),
    ("mem.act", 0, 0, 0, 8),
])
def test_value_bit_of_every_register_kind(register, bit, lane, value_bit, width):
    reg = catalogue(NV_SMALL)[register]
    assert reg.value_width == width
    assert reg.value_bit(bit) == (lane, value_bit)


def test_a_register_must_hold_whole_values_of_a_known_kind():
    with pytest.raises(ValueError):
        RegisterSpec("x.y", 12, 1, "", "activation", 8)
    with pytest.raises(ValueError):
        RegisterSpec("x.y", 8, 1, "", "voltage")
