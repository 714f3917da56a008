"""The register catalogue on the float datapaths: widths and value formats per precision."""

from __future__ import annotations

from nvdla_sim.config import NV_FULL
from nvdla_sim.timing.registers import catalogue, value_format


def test_fp16_registers_declare_their_formats():
    cat = catalogue(NV_FULL.replace(precision="fp16"))
    expect = {"cmac.dat_actv": (1024, 16, "fp16"), "cmac.wt_actv": (1024, 16, "fp16"),
              "cmac.sum_out": (44, 16, "fp44"), "cacc.abuf": (48, 1024, "fp48"),
              "cacc.out": (32, 16, "fp32"), "sdp.in": (32, 1, "fp32"),
              "sdp.bs_alu": (32, 1, "fp32"), "sdp.bn_mul": (32, 1, "fp32"),
              "sdp.out": (16, 1, "fp16"), "pdp.acc": (17, 1, "fp17"),
              "pdp.out": (16, 1, "fp16"), "mem.act": (16, 1, "fp16")}
    for name, (width, instances, fmt) in expect.items():
        reg = cat[name]
        assert (reg.width, reg.instances, value_format(reg, "fp16").name) == (
            width, instances, fmt), name
    assert value_format(cat["cmac.sum_out"], "fp16").label(37) == "37 (sign)"
    assert value_format(cat["cacc.abuf"], "fp16").label(47) == "47 (exponent 7 MSB)"
    assert cat["cmac.dat_actv"].lanes == 64  # 64 FP16 lanes per atomic operation


def test_fp32_reference_registers_are_binary32():
    cat = catalogue(NV_FULL.replace(precision="fp32"))
    for name in ("cmac.dat_actv", "cmac.sum_out", "cacc.abuf", "sdp.bs_mul", "sdp.out",
                 "pdp.acc", "mem.weight"):
        assert value_format(cat[name], "fp32").name == "fp32", name
    assert cat["cmac.dat_actv"].lanes == 32  # half as many 4-byte lanes
    assert cat["cacc.abuf"].widths == (("int8", 34), ("int16", 48), ("fp16", 48),
                                       ("fp32", 32))
