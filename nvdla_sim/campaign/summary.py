"""Rates with Wilson intervals, overall and per layer / unit / register / bit, and per bit
of the value a register holds (with the register catalogue's specs)."""

from __future__ import annotations

import numpy as np

from nvdla_sim.campaign.outcomes import FLAGS, MASKED, SDC, TOLERABLE
from nvdla_sim.campaign.stats import wilson
from nvdla_sim.config import HardwareConfig
from nvdla_sim.timing.registers import RegisterSpec, catalogue

RATE_DTYPE = np.dtype([
    ("key", "S32"), ("n", "<i8"), ("masked", "<i8"), ("tolerable", "<i8"), ("sdc", "<i8"),
    ("sdc_rate", "<f8"), ("sdc_low", "<f8"), ("sdc_high", "<f8"),
    ("sdc5", "<i8"), ("sdc10", "<i8"), ("sdc20", "<i8"),
])


def _rates(key: str, rows: np.ndarray, confidence: float) -> tuple:
    n = rows.size
    sdc = int(np.count_nonzero(rows["outcome"] == SDC))
    low, high = wilson(sdc, n, confidence)
    return (key.encode()[:32], n, int(np.count_nonzero(rows["outcome"] == MASKED)),
            int(np.count_nonzero(rows["outcome"] == TOLERABLE)), sdc,
            sdc / n if n else 0.0, low, high,
            *(int(np.count_nonzero(rows["flags"] & FLAGS[f])) for f in ("sdc5", "sdc10", "sdc20")))


def _table(rows: np.ndarray, keys: np.ndarray, labels, confidence: float) -> np.ndarray:
    out = [_rates(str(labels(k)), rows[keys == k], confidence) for k in np.unique(keys)]
    return np.array(out, RATE_DTYPE)


def summarize(rows: np.ndarray, registers: list[str], confidence: float = 0.95,
              hardware: HardwareConfig | None = None) -> dict[str, np.ndarray]:
    """Tables ``overall``, ``by_layer``, ``by_unit``, ``by_register``, ``by_bit`` (register
    bit); with the ``hardware`` config also, from its register catalogue, ``by_value_bit``
    (``group:bit``, e.g. ``accumulator (34-bit):33``), ``by_bit_from_top`` and
    ``by_int8_bit`` (bits of the ``bpe``-bit activations and weights)."""
    unit_of = np.array([r.split(".")[0] for r in registers])
    units = unit_of[rows["register"]] if rows.size else np.array([], str)
    tables = {
        "overall": np.array([_rates("all", rows, confidence)], RATE_DTYPE),
        "by_layer": _table(rows, rows["layer"], int, confidence),
        "by_unit": _table(rows, units, str, confidence),
        "by_register": _table(rows, rows["register"], lambda k: registers[k], confidence),
        "by_bit": _table(rows, rows["bit"], int, confidence),
    }
    if hardware is not None:
        specs = [catalogue(hardware)[name] for name in registers]
        tables.update(_value_tables(rows, specs, hardware.bpe, confidence))
    return tables


def _value_tables(rows: np.ndarray, specs: list[RegisterSpec], bpe: int, confidence: float
                  ) -> dict[str, np.ndarray]:
    width = np.array([s.value_width for s in specs], np.int64)[rows["register"]]
    group = np.array([s.value_group for s in specs])[rows["register"]]
    vbit = rows["bit"].astype(np.int64) % width
    top = width - 1 - vbit
    keys = np.char.add(np.char.add(group, ":"), vbit.astype(str))
    int8 = (width == bpe) & np.isin(np.array([s.value for s in specs])[rows["register"]],
                                    ["activation", "weight"])
    return {"by_value_bit": _table(rows, keys, str, confidence),
            "by_bit_from_top": _table(rows, top, int, confidence),
            "by_int8_bit": _table(rows[int8], vbit[int8], int, confidence)}
