"""Tidy rows of a campaign: decoded columns, value bits, regions, CSV/Parquet round trip."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from nvdla_sim.campaign.store import read_rows
from nvdla_sim.campaign.tidy import REGIONS, Campaign, export, regions, tidy
from nvdla_sim.config import NV_SMALL
from nvdla_sim.errors import ConfigError
from nvdla_sim.timing.registers import catalogue
from tests.campaign.workloads import campaign_file, toy_workload


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    workload = toy_workload(4, seed=2)
    tmp = tmp_path_factory.mktemp("tidy")
    return {"flip": campaign_file(tmp / "flip.h5", workload, injections=600, chunk=300),
            "stored": campaign_file(tmp / "stored.h5", workload, injections=200,
                                    fault_model="stored-flip", sampling="stratified",
                                    stratify_by="register")}


def test_regions_are_thirds_of_the_model_layers_in_order():
    nodes = ["a", "b", "b", "c", "d", "e", "e", "f", "g"]  # tiles repeat their node
    got = regions(nodes)
    assert got == {"a": "early", "b": "early", "c": "early", "d": "middle", "e": "middle",
                   "f": "late", "g": "late"}
    assert set(regions(["x"]).values()) == {"early"}
    assert set(regions([f"n{i}" for i in range(30)]).values()) == set(REGIONS)


def test_columns_decode_registers_values_and_layers(results):
    c = Campaign(results["flip"])
    rows, col = c.rows, c.columns
    cat = catalogue(NV_SMALL)
    assert len(col["id"]) == rows.size == 600
    for n in range(rows.size):
        spec = cat[col["register"][n]]
        assert col["register"][n] == c.registers[rows["register"][n]]
        assert col["unit"][n] == spec.unit and col["value"][n] == spec.value
        assert (col["lane"][n], col["value_bit"][n]) == spec.value_bit(int(rows["bit"][n]))
        assert col["bit_from_top"][n] == spec.value_width - 1 - col["value_bit"][n]
        assert col["layer_name"][n] == c.layers[rows["layer"][n]]
    assert set(col["outcome"]) <= {"masked", "tolerable", "sdc"}
    assert np.array_equal(col["corrupted"], rows["outcome"] > 0)
    assert np.array_equal(col["sdc1"], rows["outcome"] == 2)
    assert len(set(col["value_group"])) >= 4  # lanes, partial sums, accumulators, SDP
    # the model layer of each hardware layer is its compiler node
    assert set(col["model_layer"]) <= set(c.nodes)


def test_stored_rows_name_weights_activations_and_the_input(results):
    col = tidy(results["stored"])
    assert set(col["register"]) == {"mem.weight", "mem.act"}
    assert (col["value_width"] == 8).all() and (col["bit"] == col["value_bit"]).all()
    inputs = col["layer"] == -1
    assert (col["layer_name"][inputs] == "input").all()
    assert (col["region"][inputs] == "early").all()


def test_csv_round_trip(results, tmp_path):
    col = tidy(results["flip"])
    out = tmp_path / "rows.csv"
    assert export(results["flip"], out) == 600
    with open(out, newline="") as fh:
        back = list(csv.DictReader(fh))
    assert list(back[0]) == list(col)
    for name, values in col.items():
        read = [r[name] for r in back]
        if values.dtype == bool:
            assert [bool(int(v)) for v in read] == values.tolist(), name
        elif values.dtype.kind == "f":
            assert np.array_equal(np.array(read, float).astype(values.dtype), values), name
        elif values.dtype.kind in "iu":
            assert [int(v) for v in read] == values.tolist(), name
        else:
            assert read == [str(v) for v in values], name


def test_parquet_round_trip(results, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet", reason="Parquet needs the export extra")
    col = tidy(results["stored"])
    out = tmp_path / "rows.parquet"
    export(results["stored"], out)
    table = pq.read_table(out).to_pydict()
    assert list(table) == list(col)
    for name, values in col.items():
        assert table[name] == values.tolist(), name


def test_export_refuses_unknown_formats(results, tmp_path):
    with pytest.raises(ConfigError, match="csv or .parquet"):
        export(results["flip"], tmp_path / "rows.txt")


def test_rows_read_back_unchanged(results):
    rows, attrs, f = read_rows(results["flip"])
    f.close()
    assert attrs["physical_bits"] > 0 and "nodes" in attrs


def test_summary_tables_by_value_bit_agree_with_the_tidy_columns(results):
    from nvdla_sim.campaign.summary import summarize
    c = Campaign(results["flip"])
    tables = summarize(c.rows, c.registers, 0.95, c.hardware)
    col = c.columns
    int8 = (col["value_width"] == 8) & np.isin(col["value"], ["activation", "weight"])
    for row in tables["by_int8_bit"]:
        sel = int8 & (col["value_bit"] == int(row["key"]))
        assert row["n"] == sel.sum() and row["sdc"] == (col["outcome"][sel] == "sdc").sum()
    keys = {r["key"].decode(): r["n"] for r in tables["by_value_bit"]}
    assert keys["accumulator (34-bit):33"] == ((col["register"] == "cacc.abuf")
                                               & (col["bit"] == 33)).sum()
    assert sum(r["n"] for r in tables["by_bit_from_top"]) == col["id"].size
