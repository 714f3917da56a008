"""What each bit of a value is, per number format: its field (sign, exponent, mantissa).

Integers are two's complement (the top bit is the sign, the others its
magnitude bits); floats are IEEE 754 (binary16: sign 15, exponent 14-10,
mantissa 9-0; binary32: sign 31, exponent 30-23, mantissa 22-0).  NVDLA's FP16
accumulation values put the exponent *above* a two's-complement mantissa whose top bit
is the sign: CMAC's FP44 (exponent 43-38, sign 37, mantissa 36-0,
``cmod/cmac/NV_NVDLA_cmac.h``) and CACC's FP48 (exponent 47-40, sign 39, mantissa 38-0,
``cmod/cacc/NV_NVDLA_cacc.h``).  Analyses
and reports name bits through :func:`number_format` so a table of FP32 bits
says "30 (exponent MSB)" where an INT8 one says "7 (sign)".
"""

from __future__ import annotations

from dataclasses import dataclass

from nvdla_sim.errors import ConfigError
from nvdla_sim.precision import FP16, FP32

FIELDS = ("sign", "exponent", "mantissa", "magnitude")


@dataclass(frozen=True)
class NumberFormat:
    name: str
    bits: int
    exponent_bits: int = 0  # 0: a two's-complement integer
    signed_mantissa: bool = False  # exponent on top of a two's-complement mantissa (FP44)

    @property
    def is_float(self) -> bool:
        return self.exponent_bits > 0

    @property
    def mantissa_bits(self) -> int:
        """Mantissa bits below the sign (IEEE) or below the mantissa's sign bit (FP44)."""
        return self.bits - 1 - self.exponent_bits if self.is_float else 0

    def field(self, bit: int) -> str:
        """``sign``, ``exponent`` or ``mantissa`` (floats), ``sign`` or ``magnitude`` (ints)."""
        if not 0 <= bit < self.bits:
            raise ValueError(f"bit {bit} is outside a {self.bits}-bit {self.name} value")
        if self.signed_mantissa:
            top = self.mantissa_bits  # the mantissa's sign bit
            return "exponent" if bit > top else "sign" if bit == top else "mantissa"
        if bit == self.bits - 1:
            return "sign"
        if not self.is_float:
            return "magnitude"
        return "exponent" if bit >= self.mantissa_bits else "mantissa"

    def field_bits(self, field: str) -> list[int]:
        return [b for b in range(self.bits) if self.field(b) == field]

    def label(self, bit: int) -> str:
        """``"30 (exponent MSB)"``, ``"7 (sign)"``, ``"3"``: the bit with its field where
        it is a float's field or the sign."""
        field = self.field(bit)
        if field == "magnitude":
            return str(bit)
        if field == "sign":
            return f"{bit} (sign)"
        span = self.field_bits(field)
        place = " MSB" if bit == span[-1] else " LSB" if bit == span[0] else ""
        return f"{bit} ({field} {bit - span[0]}{place})"


FORMATS: dict[str, NumberFormat] = {f.name: f for f in (
    NumberFormat("int4", 4), NumberFormat("int8", 8), NumberFormat("int16", 16),
    NumberFormat(FP16.name, FP16.bits, FP16.exp_bits),
    NumberFormat(FP32.name, FP32.bits, FP32.exp_bits),
    NumberFormat("fp17", 17, 6),  # PDP's FP16 averaging format (cmod vlibs.h vFp17Type)
    NumberFormat("fp44", 44, 6, signed_mantissa=True),
    NumberFormat("fp48", FP16.acc_bits, FP16.acc_exp_bits, signed_mantissa=True))}


def number_format(name: str) -> NumberFormat:
    """A format by name: those of :data:`FORMATS`, or ``intN`` for any two's-complement
    width (a 34-bit accumulator is ``int34``)."""
    if name in FORMATS:
        return FORMATS[name]
    if name.startswith("int") and name[3:].isdigit() and int(name[3:]) >= 2:
        return NumberFormat(name, int(name[3:]))
    raise ConfigError(f"unknown number format {name!r}; expected one of "
                      f"{', '.join(FORMATS)} or intN")
