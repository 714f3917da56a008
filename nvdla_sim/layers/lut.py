"""Descriptor of the SDP / CDP interpolation lookup table (shared register layout)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nvdla_sim.layers.binding import Binding, bits


@dataclass(frozen=True)
class Lut:
    """LUT configuration plus the two tables (LE: 65 entries, LO: 257; int16).

    Index selects are kept as the raw 8-bit fields; the units interpret them.
    SDP start/end values are int32, CDP ones 38-bit (LOW + HIGH registers).
    """

    le_function: int  # 0 = exponent, 1 = linear
    uflow_priority: int  # 0 = LE, 1 = LO
    oflow_priority: int
    hybrid_priority: int
    le_index_offset: int  # signed
    le_index_select: int
    lo_index_select: int
    le_start: int
    le_end: int
    lo_start: int
    lo_end: int
    le_uflow_scale: int
    le_oflow_scale: int
    le_uflow_shift: int  # signed 5-bit
    le_oflow_shift: int
    lo_uflow_scale: int
    lo_oflow_scale: int
    lo_uflow_shift: int
    lo_oflow_shift: int
    le_table: np.ndarray = field(default_factory=lambda: np.zeros(65, np.int16), compare=False)
    lo_table: np.ndarray = field(default_factory=lambda: np.zeros(257, np.int16), compare=False)


def _lut_binding(unit: str, wide: bool) -> Binding:
    def point(name: str):
        if wide:
            return bits(f"{unit}.S_LUT_{name}_LOW.LUT_{name}_LOW", f"{unit}.S_LUT_{name}_HIGH.LUT_{name}_HIGH",
                        signed=True)
        return bits(f"{unit}.S_LUT_{name}.LUT_{name}", signed=True)

    def slope(table: str, kind: str, what: str):
        return bits(f"{unit}.S_LUT_{table}_SLOPE_{what}.LUT_{table}_SLOPE_{kind}_{what}", signed=True)

    return Binding(Lut, {
        "le_function": bits(f"{unit}.S_LUT_CFG.LUT_LE_FUNCTION"),
        "uflow_priority": bits(f"{unit}.S_LUT_CFG.LUT_UFLOW_PRIORITY"),
        "oflow_priority": bits(f"{unit}.S_LUT_CFG.LUT_OFLOW_PRIORITY"),
        "hybrid_priority": bits(f"{unit}.S_LUT_CFG.LUT_HYBRID_PRIORITY"),
        "le_index_offset": bits(f"{unit}.S_LUT_INFO.LUT_LE_INDEX_OFFSET", signed=True),
        "le_index_select": bits(f"{unit}.S_LUT_INFO.LUT_LE_INDEX_SELECT"),
        "lo_index_select": bits(f"{unit}.S_LUT_INFO.LUT_LO_INDEX_SELECT"),
        "le_start": point("LE_START"), "le_end": point("LE_END"),
        "lo_start": point("LO_START"), "lo_end": point("LO_END"),
        "le_uflow_scale": slope("LE", "UFLOW", "SCALE"), "le_oflow_scale": slope("LE", "OFLOW", "SCALE"),
        "le_uflow_shift": slope("LE", "UFLOW", "SHIFT"), "le_oflow_shift": slope("LE", "OFLOW", "SHIFT"),
        "lo_uflow_scale": slope("LO", "UFLOW", "SCALE"), "lo_oflow_scale": slope("LO", "OFLOW", "SCALE"),
        "lo_uflow_shift": slope("LO", "UFLOW", "SHIFT"), "lo_oflow_shift": slope("LO", "OFLOW", "SHIFT"),
        "le_table": None, "lo_table": None,
    })


SDP_LUT_BINDING = _lut_binding("SDP", wide=False)
CDP_LUT_BINDING = _lut_binding("CDP", wide=True)
