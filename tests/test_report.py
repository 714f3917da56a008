"""Reports: one campaign (the width-aware tables and figures), several side by side."""

from __future__ import annotations

import pytest

from nvdla_sim.cli.main import main
from nvdla_sim.report import report
from tests.campaign.workloads import campaign_file, toy_workload


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    workload = toy_workload(4, seed=3)
    tmp = tmp_path_factory.mktemp("report")
    return [campaign_file(tmp / "a.h5", workload, injections=500, chunk=250),
            campaign_file(tmp / "b.h5", workload, injections=120, fault_model="stored-flip",
                          sampling="stratified", stratify_by="register")]


def test_single_report_has_the_int8_bit_table_and_figures(files, tmp_path):
    written = report(files[0], tmp_path)
    names = {p.name for p in written}
    assert {"value_bits.png", "bits_from_top.png", "model_layers.png", "regions.png",
            "registers.png", "value_bits.csv", "summary.md"} <= names
    md = (tmp_path / "summary.md").read_text()
    table = md.split("## INT8 values")[1].split("## Per kind")[0]
    rows = [line.split("|")[1].strip() for line in table.splitlines()
            if line.startswith("| ") and not line.startswith("| bit")]
    assert rows == [str(b) for b in range(7)] + ["7 (sign)"]  # fields named (value_bits)
    for heading in ("## Per region", "## Per model layer", "accuracy under one fault",
                    "FIT of SDC", "## Bits from the top"):
        assert heading in md
    assert "%" in table and "[" in table  # rates with intervals


def test_stratified_campaign_has_no_fit(files):
    from nvdla_sim.campaign.tidy import Campaign
    from nvdla_sim.report import _headline
    text = "\n".join(_headline(Campaign(files[1]), 1e-4))
    assert "n/a (stratified sampling" in text and "weight the strata equally" in text


def test_several_campaigns_side_by_side(files, tmp_path, capsys):
    assert main(["report", *map(str, files), "-o", str(tmp_path), "--raw-fit", "2e-4"]) == 0
    md = (tmp_path / "summary.md").read_text()
    assert md.startswith("# Campaigns compared")
    assert "a: toy flip" in md and "b: toy stored-flip" in md
    for name in ("compare_int8_bits.png", "compare_bits_from_top.png", "compare_regions.png"):
        assert (tmp_path / name).stat().st_size > 10_000
    assert "raw 0.0002 FIT per bit" in md


def test_negative_raw_fit_is_a_user_error(files, tmp_path, capsys):
    assert main(["report", str(files[0]), "-o", str(tmp_path), "--raw-fit", "-1"]) == 2
    assert "--raw-fit" in capsys.readouterr().err
