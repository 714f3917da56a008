"""Labelled .npz datasets (--dataset PATH.npz) and MNIST padded to larger inputs."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.datasets import DatasetError, fit_mnist, load_labelled
from nvdla_sim.cli import main

SHAPE = (1, 28, 28)


def write(path, **arrays):
    np.savez(path, **arrays)
    return path


def good(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return {"x": rng.random((n, *SHAPE), dtype=np.float32), "y": rng.integers(0, 10, n)}


def test_a_labelled_file_loads_as_float32_and_int64(tmp_path):
    data = good()
    x, y = load_labelled(write(tmp_path / "d.npz", x=data["x"].astype(np.float64),
                               y=data["y"].astype(np.uint8)), SHAPE, classes=10)
    assert x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(x, data["x"])
    np.testing.assert_array_equal(y, data["y"])


@pytest.mark.parametrize("change, message", [
    ({"x": None}, "no array 'x' (float images (N, C, H, W)); it holds y"),
    ({"y": None}, "no array 'y' (integer labels (N,)); it holds x"),
    ({"x": np.zeros((6, 1, 32, 32), np.float32)},
     "array 'x' must be float of shape (N, 1, 28, 28) with N >= 1 for this model, got "
     "float32 (6, 1, 32, 32)"),
    ({"x": np.zeros((6, 28, 28), np.float32)}, "got float32 (6, 28, 28)"),
    ({"x": np.zeros((6, 1, 28, 28), np.uint8)}, "must be float of shape"),
    ({"x": np.zeros((0, 1, 28, 28), np.float32), "y": np.zeros(0, int)}, "with N >= 1"),
    ({"x": np.full((6, 1, 28, 28), np.nan, np.float32)}, "holds NaN or infinite values"),
    ({"y": np.zeros(6)}, "array 'y' must be 1-D integer labels, got float64 (6,)"),
    ({"y": np.zeros((6, 1), int)}, "array 'y' must be 1-D integer labels"),
    ({"y": np.zeros(5, int)}, "5 labels in 'y' for 6 images in 'x'"),
    ({"y": np.array([0, 1, 2, 3, 4, 10])}, "labels in 'y' must be in 0..9, got 0..10"),
    ({"y": np.array([0, 1, 2, 3, 4, -1])}, "labels in 'y' must be in 0..9, got -1..4"),
])
def test_bad_files_are_named_with_what_was_expected(tmp_path, change, message):
    arrays = {**good(), **change}
    path = write(tmp_path / "d.npz", **{k: v for k, v in arrays.items() if v is not None})
    with pytest.raises(DatasetError) as err:
        load_labelled(path, SHAPE, classes=10)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)


def test_unreadable_files_are_named(tmp_path):
    with pytest.raises(DatasetError, match="missing.npz: cannot read an .npz file"):
        load_labelled(tmp_path / "missing.npz", SHAPE)
    (tmp_path / "junk.npz").write_text("junk")
    with pytest.raises(DatasetError, match="junk.npz: cannot read an .npz file"):
        load_labelled(tmp_path / "junk.npz", SHAPE)


def test_mnist_is_padded_around_the_digit_and_channels_repeat():
    images = np.random.default_rng(0).random((2, 1, 28, 28))
    out = fit_mnist(images, (3, 33, 32))
    assert out.shape == (2, 3, 33, 32)
    np.testing.assert_array_equal(out[:, 1:2, 2:30, 2:30], images)
    assert out[:, :, :2].sum() == out[:, :, 30:].sum() == out[:, :, :, :2].sum() == 0
    assert fit_mnist(images, SHAPE) is not None and fit_mnist(images, SHAPE).shape == images.shape


def test_infer_evaluates_a_labelled_file(tmp_path, capsys):
    path = write(tmp_path / "d.npz", **good(8))
    assert main(["infer", "zoo:lenet5", "--dataset", str(path)]) == 0
    text = capsys.readouterr().out
    assert "8 images" in text and "top-1 accuracy (simulator)" in text


def test_infer_names_a_bad_file_in_one_line(tmp_path, capsys):
    path = write(tmp_path / "d.npz", x=good()["x"], y=np.zeros(3, int))
    assert main(["infer", "zoo:lenet5", "--data", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == f"nvdla-fi: error: {path}: 3 labels in 'y' for 6 images in 'x'\n"


def test_campaign_runs_on_a_labelled_file(tmp_path, capsys):
    import h5py
    data = good(4)
    path = write(tmp_path / "d.npz", **data)
    out = tmp_path / "c.h5"
    assert main(["campaign", "--model", "zoo:lenet5", "--dataset", str(path), "--images", "3",
                 "--injections", "20", "--out", str(out), "--no-report", "--quiet"]) == 0
    assert "3 " + str(path) + " images" in capsys.readouterr().out
    with h5py.File(out) as f:
        assert f.attrs["dataset"] == str(path)
        np.testing.assert_array_equal(f["golden/labels"][:], data["y"][:3])
    bad = write(tmp_path / "bad.npz", x=data["x"][:, :, :20])
    assert main(["campaign", "--dataset", str(bad), "--out", str(tmp_path / "d.h5")]) == 2
    assert "no array 'y'" in capsys.readouterr().err
