"""Register map and register file of NVDLA's configuration space bus (CSB)."""

from nvdla_sim.registers.regfile import LutTables, RegisterFile
from nvdla_sim.registers.regmap import REGMAP, Field, Register, RegisterMap

__all__ = ["REGMAP", "Field", "LutTables", "Register", "RegisterFile", "RegisterMap"]
