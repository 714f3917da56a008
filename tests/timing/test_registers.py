"""The register catalogue: one table, widths at every precision the hardware implements."""

from __future__ import annotations

from nvdla_sim.config import NV_FULL, NV_SMALL
from nvdla_sim.timing.registers import (
    cdp_registers, conv_registers, pdp_registers, sdp_registers)


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
