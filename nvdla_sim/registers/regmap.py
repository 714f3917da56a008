"""The NVDLA register map: units, registers, fields and their addresses.

The data comes from :mod:`nvdla_sim.registers.regmap_table` (generated from
NVDLA's SystemRDL).  Names follow the trace spelling ``NVDLA_<UNIT>.<REG>_0``;
the short form ``<UNIT>.<REG>`` is accepted everywhere as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from nvdla_sim.errors import RegisterError
from nvdla_sim.registers.regmap_table import UNITS


@dataclass(frozen=True)
class Field:
    name: str
    lsb: int
    width: int
    access: str  # "rw", "r" (read-only status) or "w"
    reset: int

    @property
    def mask(self) -> int:
        return ((1 << self.width) - 1) << self.lsb

    def extract(self, word: int) -> int:
        return (word >> self.lsb) & ((1 << self.width) - 1)

    def insert(self, word: int, value: int) -> int:
        if not 0 <= value < (1 << self.width):
            raise RegisterError(f"value {value:#x} does not fit field {self.name} "
                                f"({self.width} bits)")
        return (word & ~self.mask) | (value << self.lsb)


@dataclass(frozen=True)
class Register:
    unit: str
    name: str
    address: int  # byte address in the CSB space
    fields: tuple[Field, ...]
    dual: bool  # True for D_* registers, which exist once per ping-pong group

    @property
    def qualified(self) -> str:
        return f"{self.unit}.{self.name}"

    @cached_property
    def reset(self) -> int:
        word = 0
        for f in self.fields:
            word |= (f.reset << f.lsb) & f.mask
        return word

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise RegisterError(f"register {self.qualified} has no field {name!r}; fields are "
                            f"{', '.join(f.name for f in self.fields)}")


# Unit base addresses on the CSB of the full NVDLA (nv_full, nv_large): nvdla/hw branch
# nvdlav1, cmod/include/arnvdla.h (NVDLA_<UNIT>_S_STATUS_0 ...).  Register offsets
# inside a unit are the same as in the nv_small map (``regmap_table``).
FULL_BASES = {
    "GLB": 0x0000, "MCIF": 0x2000, "CDMA": 0x5000, "CSC": 0x6000, "CMAC_A": 0x7000,
    "CMAC_B": 0x8000, "CACC": 0x9000, "SDP_RDMA": 0xA000, "SDP": 0xB000,
    "PDP_RDMA": 0xC000, "PDP": 0xD000, "CDP_RDMA": 0xE000, "CDP": 0xF000,
}


class RegisterMap:
    """Look registers up by name or address."""

    def __init__(self, table: dict = UNITS, bases: dict[str, int] | None = None) -> None:
        """``bases`` moves units to other base addresses (another CSB layout)."""
        self.units: dict[str, int] = {}
        self._by_name: dict[tuple[str, str], Register] = {}
        self._by_address: dict[int, Register] = {}
        for unit, (base, regs) in table.items():
            base = bases[unit] if bases is not None else base
            self.units[unit] = base
            op_enable = next((off for name, off, _ in regs if name == "D_OP_ENABLE"), None)
            for name, offset, fields in regs:
                reg = Register(unit, name, base + offset,
                               tuple(Field(*f) for f in fields),
                               dual=op_enable is not None and offset >= op_enable)
                self._by_name[(unit, name)] = reg
                self._by_address[reg.address] = reg

    def __iter__(self):
        return iter(self._by_name.values())

    def get(self, unit: str, name: str) -> Register:
        try:
            return self._by_name[(unit, name)]
        except KeyError:
            if unit not in self.units:
                raise RegisterError(f"unknown unit {unit!r}; units are "
                                    f"{', '.join(self.units)}") from None
            raise RegisterError(f"unknown register {name!r} in unit {unit}") from None

    def at(self, address: int) -> Register:
        try:
            return self._by_address[address]
        except KeyError:
            raise RegisterError(f"no register at address {address:#x}") from None

    def lookup(self, spelled: str) -> Register:
        """Resolve ``NVDLA_SDP.D_OP_ENABLE_0``, ``NVDLA_SDP.RDMA_D_X_0`` or ``SDP.D_OP_ENABLE``."""
        text = spelled.strip()
        if "." not in text:
            raise RegisterError(f"register name {spelled!r} is not of the form UNIT.REGISTER")
        unit, name = text.split(".", 1)
        trace_form = unit.startswith("NVDLA_")
        if trace_form:
            unit = unit[len("NVDLA_"):]
            if not name.endswith("_0"):
                raise RegisterError(f"register name {spelled!r}: trace names end in '_0'")
            name = name[:-2]
        if unit == "SDP" and name.startswith("RDMA_"):  # spelling of the .reg files
            unit, name = "SDP_RDMA", name[len("RDMA_"):]
        return self.get(unit, name)


REGMAP = RegisterMap()
CSB_MAPS = {"small": REGMAP, "full": RegisterMap(bases=FULL_BASES)}


def csb_map(layout: str) -> RegisterMap:
    """The register map of a CSB layout (``HardwareConfig.csb_layout``)."""
    try:
        return CSB_MAPS[layout]
    except KeyError:
        raise RegisterError(f"unknown CSB layout {layout!r}; expected one of "
                            f"{', '.join(CSB_MAPS)}") from None
