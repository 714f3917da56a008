"""``nvdla-fi study ecc`` end to end at a tiny scale: tables, intervals, exact resume."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import experiments.ecc as ecc
from nvdla_sim.cli import main
from nvdla_sim.ecc.trials import ProtectedNetwork

TINY = ecc.Scale(bits=(8, 4), strategies=("none", "secded64_57", "secded32_26"),
                 rates=(1e-4, 1e-2), trials=3, images=40, wot_epochs=1)


@pytest.fixture
def tiny(monkeypatch):
    """The study at a tiny scale, on random images (loading MNIST is the slow part,
    tested elsewhere): the trained LeNet-5's weights are what the codes protect."""
    from compiler.zoo import lenet5_mnist_float
    rng = np.random.default_rng(0)
    images = rng.random((TINY.images, 1, 28, 28), dtype=np.float32)
    labels = rng.integers(0, 10, TINY.images)
    data = ecc.Data("lenet5", lenet5_mnist_float(), images[:8], images, labels, images,
                    labels, "LeNet-5 on random images (test)")
    monkeypatch.setattr(ecc, "QUICK", TINY)
    monkeypatch.setattr(ecc, "load", lambda model, images: data)


def rows(path):
    with h5py.File(path, "r") as f:
        return f["trials"][...]


def test_study_writes_tables_and_resumes_exactly(tiny, tmp_path, monkeypatch):
    whole = tmp_path / "whole"
    assert main(["study", "ecc", "-o", str(whole), "--quiet"]) == 0
    summary = (whole / "summary.md").read_text()
    for text in ("accuracy drop (points)", "weight bits wrong after correction",
                 "(64,57) in place", "(32,26) in place", "unprotected", "4-bit vs 8-bit",
                 "| 1e-2 |"):
        assert text in summary
    assert (whole / "ecc_drop.png").stat().st_size > 0
    expected = rows(whole / "ecc.h5")
    assert expected.size == 2 * 3 * 2 * 3
    assert (expected["accuracy"][expected["wrong_bits"] == 0]
            == expected["golden_accuracy"][expected["wrong_bits"] == 0]).all()
    assert (expected["wrong_bits"][expected["strategy"] == 0] > 0).any()

    # a study killed after some trials continues where it stopped, to the same rows
    cut = tmp_path / "cut"
    real, calls = ProtectedNetwork.trial, []

    def dying(self, *args):
        calls.append(1)
        if len(calls) > 23:
            raise RuntimeError("killed")
        return real(self, *args)
    monkeypatch.setattr(ProtectedNetwork, "trial", dying)
    with pytest.raises(RuntimeError):
        main(["study", "ecc", "-o", str(cut), "--quiet"])
    monkeypatch.setattr(ProtectedNetwork, "trial", real)
    assert 0 < rows(cut / "ecc.h5").size < expected.size
    assert main(["study", "ecc", "-o", str(cut), "--quiet"]) == 2  # not empty: refused
    assert main(["study", "ecc", "-o", str(cut), "--resume", "--quiet"]) == 0
    got = rows(cut / "ecc.h5")
    same = [f for f in expected.dtype.names if f != "seconds"]
    assert np.array_equal(got[same], expected[same])


def test_unknown_model_is_one_line(tmp_path, capsys):
    assert main(["study", "ecc", "--model", "zoo:mobilenet_v1", "-o", str(tmp_path / "x"),
                 "--quiet"]) == 2
    assert "no trained weights" in capsys.readouterr().err
