"""NVDLA's register file: single S_ registers, ping-pong D_ groups, LUT ports.

Semantics follow NVDLA's C model register models (cmod ``gen/*_reg_model.cpp``):

* ``S_POINTER.PRODUCER`` selects which of the two copies of a unit's ``D_*``
  registers CSB writes go to; ``S_*`` registers exist once.
* Writing ``D_OP_ENABLE.OP_EN = 1`` arms the unit on the producer group; the
  caller (:class:`nvdla_sim.device.Nvdla`) decides when an armed set of units
  forms a runnable hardware layer.
* SDP and CDP hold their lookup tables behind ``S_LUT_ACCESS_CFG`` (address,
  table, direction) and ``S_LUT_ACCESS_DATA`` (auto-incrementing data port).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nvdla_sim.registers.regmap import REGMAP, Register, RegisterMap

LE_ENTRIES = 65  # LE (linear/exponent) table: 64 intervals
LO_ENTRIES = 257  # LO (linear only) table: 256 intervals


@dataclass
class LutTables:
    """The two interpolation tables of an SDP or CDP LUT (int16 entries)."""

    le: np.ndarray = field(default_factory=lambda: np.zeros(LE_ENTRIES, np.int16))
    lo: np.ndarray = field(default_factory=lambda: np.zeros(LO_ENTRIES, np.int16))

    def copy(self) -> "LutTables":
        return LutTables(self.le.copy(), self.lo.copy())


@dataclass
class _LutPort:
    addr: int = 0
    table: int = 0  # 0 = LE, 1 = LO
    write: bool = False


class RegisterFile:
    """The CSB-visible state of all units, addressed by byte address."""

    def __init__(self, regmap: RegisterMap = REGMAP) -> None:
        self.regmap = regmap
        self._single: dict[int, int] = {}
        self._groups: tuple[dict[int, int], dict[int, int]] = ({}, {})
        for reg in regmap:
            if reg.dual:
                self._groups[0][reg.address] = reg.reset
                self._groups[1][reg.address] = reg.reset
            else:
                self._single[reg.address] = reg.reset
        self.luts = {"SDP": LutTables(), "CDP": LutTables()}
        self._lut_ports = {"SDP": _LutPort(), "CDP": _LutPort()}
        # CDMA S_CBUF_FLUSH_STATUS.FLUSH_DONE: 0 at reset (RESET_VAL in cmod arnvdla.h),
        # 1 once the CBUF flush that follows reset has run; see Nvdla.let_time_pass
        self.cbuf_flushed = False

    # -- CSB access -----------------------------------------------------------------
    def producer(self, unit: str) -> int:
        pointer = self.regmap.get(unit, "S_POINTER").address
        return self._single[pointer] & 1

    def write(self, reg: Register, value: int) -> int | None:
        """Write a register; returns the armed group when this write sets OP_EN."""
        value &= 0xFFFFFFFF
        if reg.name == "S_LUT_ACCESS_CFG":
            port = self._lut_ports[reg.unit]
            port.addr = reg.field("LUT_ADDR").extract(value)
            port.table = reg.field("LUT_TABLE_ID").extract(value)
            port.write = bool(reg.field("LUT_ACCESS_TYPE").extract(value))
        elif reg.name == "S_LUT_ACCESS_DATA":
            self._lut_data_write(reg.unit, value & 0xFFFF)
        if reg.dual:
            group = self.producer(reg.unit)
            self._groups[group][reg.address] = value
            if reg.name == "D_OP_ENABLE" and value & 1:
                return group
            return None
        if reg.unit == "GLB" and reg.name == "S_INTR_STATUS":  # write one to clear
            self._single[reg.address] &= ~value
            return None
        self._single[reg.address] = value
        return None

    def read(self, reg: Register, group: int | None = None) -> int:
        if reg.unit == "CDMA" and reg.name == "S_CBUF_FLUSH_STATUS":
            return int(self.cbuf_flushed)  # a read-only status bit
        if reg.name == "S_LUT_ACCESS_DATA":
            return self._lut_data_read(reg.unit)
        if reg.dual:
            return self._groups[self.producer(reg.unit) if group is None else group][reg.address]
        return self._single[reg.address]

    def value(self, unit: str, name: str, group: int) -> int:
        """The value a unit sees for ``name`` when it runs on ``group``."""
        reg = self.regmap.get(unit, name)
        return self._groups[group][reg.address] if reg.dual else self._single[reg.address]

    def op_done(self, unit: str, group: int) -> None:
        """Self-clear OP_EN at the end of a layer, as the hardware does."""
        reg = self.regmap.get(unit, "D_OP_ENABLE")
        self._groups[group][reg.address] &= ~1

    def raise_interrupt(self, bit: int) -> None:
        status = self.regmap.get("GLB", "S_INTR_STATUS").address
        self._single[status] |= 1 << bit

    # -- LUT data port ---------------------------------------------------------------
    def _lut_table(self, unit: str) -> np.ndarray:
        port = self._lut_ports[unit]
        tables = self.luts[unit]
        return tables.lo if port.table else tables.le

    def _lut_data_write(self, unit: str, data: int) -> None:
        port = self._lut_ports[unit]
        table = self._lut_table(unit)
        if port.write and port.addr < len(table):
            table[port.addr] = np.int16(data - 0x10000 if data & 0x8000 else data)
            port.addr += 1

    def _lut_data_read(self, unit: str) -> int:
        port = self._lut_ports[unit]
        table = self._lut_table(unit)
        if port.write or port.addr >= len(table):
            return 0
        value = int(table[port.addr]) & 0xFFFF
        port.addr += 1
        return value
