"""The trained zoo: how each model is trained on MNIST, and loading the result.

Every zoo architecture has a :class:`Recipe`: its arguments (input size, width
multipliers chosen to train in minutes on two CPU cores and to simulate fast) and
its training settings (:class:`compiler.train.TrainConfig` fields).  ``nvdla-fi zoo
train NAME`` (:func:`compiler.train.zoo.train_recipe`) trains it and writes one
``.npz`` (:mod:`compiler.zoo.storage`: float weights and the exact int8 IR that was
evaluated, so loading never recalibrates).  Bundled files live in ``data/``; others
are looked up in the cache (``$NVDLA_FI_CACHE``, default ``~/.cache/nvdla-fi``).

Data: :func:`compiler.datasets.mnist_split` (4000 training, 1000 held-out images);
networks with CIFAR-style stems take it zero-padded to 1x32x32 (one channel: the
digits have one, and repeating it would only triple the first layer's work).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from compiler import ir
from compiler.ir import CompileError
from compiler.zoo.graph import FloatGraph
from compiler.zoo.storage import load_float_graph, load_info, load_int8_graph

DATA = Path(__file__).with_name("data")
MNIST32 = (1, 32, 32)


@dataclass(frozen=True)
class Recipe:
    """``arch(**kwargs, num_classes=10, rng=seed)`` trained with ``train`` settings."""

    arch: str
    kwargs: dict[str, Any]
    train: dict[str, Any] = field(default_factory=dict)
    minutes: int = 1  # rough training time on one (shared) core, for messages


RECIPES: dict[str, Recipe] = {
    "lenet5": Recipe("lenet5", {"input_shape": (1, 28, 28)},
                     {"epochs": 40, "qat_epochs": 3, "weight_decay": 1e-4}, 2),
    "resnet18": Recipe("resnet18", {"input_shape": MNIST32, "width": 0.125},
                       {"epochs": 12, "qat_epochs": 2}, 8),
    "resnet50": Recipe("resnet50", {"input_shape": MNIST32, "width": 0.125},
                       {"epochs": 5, "qat_epochs": 1}, 25),
    "mobilenet_v1": Recipe("mobilenet_v1", {"input_shape": MNIST32, "width": 0.25,
                                            "cifar_stem": True},
                           {"epochs": 32, "qat_epochs": 2, "lr": 3e-3, "batch_size": 32}, 22),
    "vgg16_bn": Recipe("vgg16_bn", {"input_shape": MNIST32, "width": 0.125, "hidden": 64},
                       {"epochs": 12, "qat_epochs": 2}, 4),
    "squeezenet1_1": Recipe("squeezenet1_1", {"input_shape": MNIST32, "width": 0.5,
                                              "cifar_stem": True, "class_bias": 0.5},
                            {"epochs": 20, "qat_epochs": 2}, 23),
}


def cache_dir() -> Path:
    return Path(os.environ.get("NVDLA_FI_CACHE", Path.home() / ".cache" / "nvdla-fi")) / "zoo"


def file_name(name: str) -> str:
    return f"{name}_mnist.npz"


def trained_path(name: str) -> Path | None:
    """The bundled file of model ``name``, else its cached one, else None."""
    if name not in RECIPES:
        raise CompileError(f"model {name}: no training recipe; trained models: "
                           f"{', '.join(RECIPES)}")
    for folder in (DATA, cache_dir()):
        if (folder / file_name(name)).is_file():
            return folder / file_name(name)
    return None


def _path(name: str) -> Path:
    path = trained_path(name)
    if path is None:
        raise CompileError(f"model {name}: not trained yet; train it with `nvdla-fi zoo "
                           f"train {name}` (about {RECIPES[name].minutes} min; cached in "
                           f"{cache_dir()}), or use zoo:{name}:random for random weights")
    return path


def trained_float(name: str) -> FloatGraph:
    """The trained float graph of zoo model ``name``."""
    return load_float_graph(_path(name))


def trained_int8(name: str) -> ir.Graph:
    """The trained model quantized to the int8 IR, exactly as evaluated at training."""
    return load_int8_graph(_path(name))


def trained_calibration(name: str, shape: tuple[int, int, int]) -> np.ndarray:
    """The calibration images zoo model ``name`` was quantized with at training (the
    recipe's ``calibration_images`` spread over the MNIST training split), to quantize
    its float weights at another precision the same way."""
    from compiler.datasets import fit_mnist, mnist_split
    from compiler.train.loop import calibration_subset
    count = trained_info(name)["train_config"]["calibration_images"]
    return calibration_subset(fit_mnist(mnist_split().train_images, shape), count)


def trained_info(name: str) -> dict[str, Any]:
    """How it was trained and its float and int8 accuracies on the MNIST test split."""
    return load_info(_path(name))


LENET5_MNIST = DATA / file_name("lenet5")


def lenet5_mnist_float() -> FloatGraph:
    """The trained float LeNet-5 (input (1, 28, 28) in [0, 1], 10 classes)."""
    return trained_float("lenet5")


def lenet5_mnist_int8() -> ir.Graph:
    return trained_int8("lenet5")


def lenet5_mnist_info() -> dict[str, Any]:
    return trained_info("lenet5")
