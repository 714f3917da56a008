"""A campaign's rows as a tidy table: one row per injection, decoded columns.

Indices of the HDF5 rows become names (register, unit, hardware and model
layer, outcome), and each fault's bit is placed in its value: the kind and
width of the value the register holds (:mod:`nvdla_sim.timing.registers`),
the lane, the bit within the value and the bit counted from the value's top
(so values of different widths compare: 0 is the sign bit of an int8 lane
and of a 34-bit accumulator alike).  Model layers are split into regions
(early / middle / late: thirds of the model's layers in execution order).

:func:`tidy` returns the columns as numpy arrays (``to_pandas`` makes a
DataFrame); :func:`export` writes CSV, or Parquet with pyarrow (the
``export`` extra).  Column meanings: docs/hdf5-schema.md.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from nvdla_sim.campaign.outcomes import FLAGS
from nvdla_sim.campaign.store import incomplete, read_rows
from nvdla_sim.config import HardwareConfig
from nvdla_sim.errors import ConfigError
from nvdla_sim.faults.site import MODELS
from nvdla_sim.timing.registers import catalogue

OUTCOMES = ("masked", "tolerable", "sdc")
REGIONS = ("early", "middle", "late")
KEPT = ("id", "image", "label", "golden_top1", "faulty_top1", "instance", "bit", "bits",
        "cycle", "deviation", "changed", "live")


def regions(nodes: list[str]) -> dict[str, str]:
    """Region of each model layer: the first, middle and last third of the distinct
    layers in execution order (a remainder goes to the earlier regions)."""
    order = list(dict.fromkeys(nodes))
    parts = np.array_split(np.arange(len(order)), len(REGIONS))
    return {order[i]: region for region, part in zip(REGIONS, parts) for i in part}


def hardware_config(attrs: dict) -> HardwareConfig:
    data = json.loads(attrs["hardware"])
    return HardwareConfig.from_dict(data)


class Campaign:
    """A result file's rows, attributes and decoded columns (read once)."""

    def __init__(self, path: Path) -> None:
        rows, attrs, f = read_rows(path)
        try:
            self.registers = [r.decode() if isinstance(r, bytes) else str(r)
                              for r in f["registers"][...]]
            self.golden_accuracy = float(np.mean(f["golden/top1"][...] ==
                                                 f["golden/labels"][...]))
            self.sparsity = f["golden/sparsity"][...] if "golden/sparsity" in f else None
        finally:
            f.close()
        self.path, self.rows, self.attrs = Path(path), rows, attrs
        self.incomplete = incomplete(path, rows.size, attrs)
        self.config = json.loads(attrs["config"])
        self.kind = attrs.get("kind", "transient")
        self.hardware = hardware_config(attrs)
        self.layers = json.loads(attrs.get("layers", "[]"))
        self.nodes = json.loads(attrs.get("nodes", "null")) or list(self.layers)
        self.columns = self._decode()

    @property
    def label(self) -> str:
        """Short name for tables and legends: model and fault model."""
        return f"{self.attrs.get('model')} {self.config.get('fault_model')}"

    def _decode(self) -> dict[str, np.ndarray]:
        rows, cat = self.rows, catalogue(self.hardware, int(self.attrs.get("weight_bits", 0)))
        unknown = sorted(set(self.registers) - set(cat))
        if unknown:
            raise ConfigError(f"{self.path}: register(s) {', '.join(unknown)} are not in the "
                              f"register catalogue")
        specs = [cat[name] for name in self.registers]
        reg = rows["register"].astype(np.int64)
        col: dict[str, np.ndarray] = {k: rows[k] for k in KEPT}
        col["register"] = np.array(self.registers, object)[reg]
        col["unit"] = np.array([s.unit for s in specs], object)[reg]
        col["value"] = np.array([s.value for s in specs], object)[reg]
        col["value_width"] = np.array([s.value_width for s in specs], np.int64)[reg]
        col["value_group"] = np.array([s.value_group for s in specs], object)[reg]
        col["lane"], col["value_bit"] = np.divmod(rows["bit"].astype(np.int64),
                                                  col["value_width"])
        col["bit_from_top"] = col["value_width"] - 1 - col["value_bit"]
        col["fault_model"] = np.array(MODELS, object)[rows["model"]]
        col["layer"] = rows["layer"]
        outside = "input" if self.kind == "stored" else "every layer"
        names = np.array(self.layers + [outside], object)  # index -1: the last entry
        nodes = np.array(self.nodes + [outside], object)
        col["layer_name"], col["model_layer"] = names[rows["layer"]], nodes[rows["layer"]]
        region = regions(self.nodes)
        region[outside] = "early" if outside == "input" else "every layer"
        col["region"] = np.array([region[n] for n in col["model_layer"]], object)
        col["outcome"] = np.array(OUTCOMES, object)[rows["outcome"]]
        for name, flag in FLAGS.items():
            col[name] = (rows["flags"] & flag) != 0
        col["corrupted"] = rows["outcome"] != 0
        col["correct"] = rows["faulty_top1"] == rows["label"]
        col["golden_correct"] = rows["golden_top1"] == rows["label"]
        return col

    def model_layer_order(self) -> list[str]:
        return list(dict.fromkeys(self.nodes))


def tidy(path: Path) -> dict[str, np.ndarray]:
    """The decoded columns of a campaign's injections (one entry per row)."""
    return Campaign(path).columns


def to_pandas(columns: dict[str, np.ndarray]):
    import pandas as pd
    return pd.DataFrame(columns)


def export(path: Path, out: Path) -> int:
    """Write the tidy rows of ``path`` to ``out`` (``.csv`` or ``.parquet``); returns the
    number of rows."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise ConfigError(f"{out}: expected a .csv or .parquet file name")
    columns = tidy(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".parquet":
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise ConfigError("Parquet export needs pyarrow: pip install 'nvdla-fi[export]' "
                              "(or write .csv)") from None
        table = pa.table({k: (v.astype(str) if v.dtype == object else v)
                          for k, v in columns.items()})
        pq.write_table(table, out)
    else:
        names = list(columns)
        with open(out, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(names)
            writer.writerows(zip(*(_csv_values(columns[k]) for k in names)))
    return len(columns["id"])


def _csv_values(values: np.ndarray) -> list:
    if values.dtype == bool:
        return values.astype(np.int8).tolist()
    if values.dtype.kind == "f":
        return [repr(float(v)) for v in values]  # exact round trip
    return values.tolist()
