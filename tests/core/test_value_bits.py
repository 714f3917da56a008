"""Bits of values named by field: the tables of S4 (FP32 bit 30 = exponent MSB, INT8 bit 7)."""

from __future__ import annotations

import pytest

from nvdla_sim.errors import ConfigError
from nvdla_sim.value_bits import number_format


def test_ieee_fields():
    fp32, fp16 = number_format("fp32"), number_format("fp16")
    assert fp32.field_bits("exponent") == list(range(23, 31))
    assert fp32.field_bits("mantissa") == list(range(23))
    assert fp32.label(30) == "30 (exponent 7 MSB)" and fp32.label(31) == "31 (sign)"
    assert fp32.label(22) == "22 (mantissa 22 MSB)" and fp32.label(0) == "0 (mantissa 0 LSB)"
    assert fp16.field_bits("exponent") == list(range(10, 15))
    assert fp16.mantissa_bits == 10 and fp16.field(15) == "sign"


def test_integer_fields():
    int8, int4 = number_format("int8"), number_format("int4")
    assert int8.label(7) == "7 (sign)" and int8.label(6) == "6"
    assert int4.field(3) == "sign" and int4.field_bits("magnitude") == [0, 1, 2]
    with pytest.raises(ValueError):
        int4.field(4)
    with pytest.raises(ConfigError, match="unknown number format 'uint8'"):
        number_format("uint8")


def test_register_values_have_a_format_per_precision():
    from nvdla_sim.config import NV_FULL
    from nvdla_sim.timing.registers import catalogue, value_format
    for precision, acc in (("int8", "int34"), ("int16", "int48")):
        cat = catalogue(NV_FULL.replace(precision=precision))
        assert value_format(cat["cacc.abuf"], precision).name == acc
        assert value_format(cat["mem.act"], precision).label(cat["mem.act"].width - 1) \
            .endswith("(sign)")
    assert number_format("int34").field(33) == "sign"
