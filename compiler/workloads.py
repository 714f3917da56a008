"""Resolve what users name on the command line: models and datasets.

Models: ``zoo:<name>`` (the built-in architectures trained on MNIST, see
:mod:`compiler.zoo.pretrained`), ``zoo:<name>:random`` (the architecture at full
width with seeded random weights, for speed tests; an input size or class count
also selects it), or a path to a quantized ``.onnx`` file.  Zoo models with
random weights are quantized with activations calibrated on deterministic random
inputs.  Datasets: ``mnist`` (the held-out MNIST test split, zero-padded to
larger inputs), ``random`` (uniform inputs in [0, 1), seeded), or a labelled
``.npz`` file (arrays ``x`` and ``y``, :func:`compiler.datasets.load_labelled`).

``precision`` (:mod:`compiler.precisions`) picks the values: a trained zoo model
is its stored int8 graph at int8, its float weights quantized with the training
calibration at int16 / int4, and the float graph itself at fp16 / fp32.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from compiler.ir import CompileError, Graph
from compiler.zoo.graph import FloatGraph

ZOO_PREFIX = "zoo:"
RANDOM = "random"  # zoo:<name>:random
DEFAULT_INPUT = (3, 32, 32)  # CIFAR-size: zoo models other than LeNet-5
DEFAULT_CLASSES = 10
CALIBRATION_IMAGES = 32
CALIBRATION_IMAGES_FILE = 512  # MNIST training images calibrating a model file at int16


def load_model(spec: str, input_shape: tuple[int, ...] | None = None,
               classes: int | None = None, seed: int = 0, precision: str = "int8"
               ) -> Graph | FloatGraph:
    """The IR graph named by ``spec`` at ``precision``: quantized (an ``ir.Graph``), or
    for a float precision the float graph (``compiler.zoo.graph.FloatGraph``)."""
    from compiler.precisions import check_graph, get_compile_precision, quantize_for
    integer = get_compile_precision(precision).integer
    if spec.startswith(ZOO_PREFIX):
        from compiler import zoo
        name, _, variant = spec[len(ZOO_PREFIX):].partition(":")
        if name not in zoo.MODELS or variant not in ("", RANDOM):
            raise CompileError(f"unknown model {spec!r}; built-in models: "
                               f"{', '.join(ZOO_PREFIX + m for m in zoo.MODELS)} (trained "
                               f"on MNIST; add :{RANDOM} for random weights)")
        if not variant and input_shape is None and classes is None:
            if precision == "int8":
                return zoo.trained_int8(name)
            graph = zoo.trained_float(name)
            return quantize_for(graph, zoo.pretrained.trained_calibration(
                name, graph.input_shape), precision) if integer else graph
        shape = tuple(input_shape or ((1, 28, 28) if name == "lenet5" else DEFAULT_INPUT))
        graph = zoo.get_model(name, input_shape=shape, num_classes=classes or DEFAULT_CLASSES,
                              rng=np.random.default_rng(seed))
        calibration = random_inputs(shape, CALIBRATION_IMAGES, seed + 1)
        return quantize_for(graph, calibration, precision) if integer else graph
    path = Path(spec)
    if path.suffix.lower() == ".onnx":
        if input_shape is not None or classes is not None:
            raise CompileError(f"{spec}: --input-size and --classes apply to zoo models only")
        from compiler.frontends import load_onnx
        graph = load_onnx(path)
        check_graph(graph, precision)
        return graph
    if path.suffix.lower() == ".npz":  # a model file: nvdla-fi zoo train --out, nvdla-fi prune
        from compiler.zoo.storage import load_float_graph, load_int8_graph
        if not integer:
            return load_float_graph(path)
        if precision in ("int8", "int4"):
            graph = load_int8_graph(path)
            check_graph(graph, precision)
            return graph
        from compiler.datasets import fit_mnist, mnist_split
        from compiler.train.loop import calibration_subset
        graph = load_float_graph(path)
        return quantize_for(graph, calibration_subset(fit_mnist(
            mnist_split().train_images, graph.input_shape), CALIBRATION_IMAGES_FILE), precision)
    raise CompileError(f"cannot load model {spec!r}: expected zoo:<name>, a path to a "
                       f"quantized .onnx file or a model .npz file")


def random_inputs(shape: tuple[int, ...], n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((n, *shape), dtype=np.float32)


def load_dataset(name: str, input_shape: tuple[int, int, int], limit: int | None = None,
                 seed: int = 0, classes: int | None = None,
                 ) -> tuple[np.ndarray, np.ndarray | None]:
    """Float images (N, C, H, W) and labels (None for unlabeled data); ``classes``
    bounds the labels of an ``.npz`` file."""
    if name == "mnist":
        from compiler.datasets import fit_mnist, mnist_split
        split = mnist_split()
        labels = split.test_labels
        # interleave the label-sorted split so any prefix covers every digit
        rank = np.arange(labels.size) - np.searchsorted(labels, labels)
        order = np.lexsort((labels, rank))
        images, labels = fit_mnist(split.test_images[order], tuple(input_shape)), labels[order]
    elif name == "random":
        images, labels = random_inputs(tuple(input_shape), limit or 100, seed), None
    elif name.lower().endswith(".npz"):
        from compiler.datasets import load_labelled
        images, labels = load_labelled(name, tuple(input_shape), classes)
    else:
        raise CompileError(f"unknown dataset {name!r}; expected mnist, random or a labelled "
                           f"PATH.npz")
    if limit is not None:
        images = images[:limit]
        labels = None if labels is None else labels[:limit]
    return images, labels
