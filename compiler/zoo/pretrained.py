"""Bundled trained models: LeNet-5 on MNIST, float and int8.

``data/lenet5_mnist.npz`` is written by ``experiments/train_lenet5.py``; it holds
the float weights and the exact int8 IR that was evaluated, so loading it never
recalibrates.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from compiler import ir
from compiler.ir import CompileError
from compiler.zoo.graph import FloatGraph
from compiler.zoo.storage import load_float_graph, load_info, load_int8_graph

LENET5_MNIST = Path(__file__).with_name("data") / "lenet5_mnist.npz"


def _path() -> Path:
    if not LENET5_MNIST.is_file():
        raise CompileError(f"pretrained lenet5: {LENET5_MNIST} is missing; "
                           f"create it with: python experiments/train_lenet5.py")
    return LENET5_MNIST


def lenet5_mnist_float() -> FloatGraph:
    """The trained float LeNet-5 (input (1, 28, 28) in [0, 1], 10 classes)."""
    return load_float_graph(_path())


def lenet5_mnist_int8() -> ir.Graph:
    """The trained LeNet-5 quantized to the int8 IR, exactly as evaluated at training."""
    return load_int8_graph(_path())


def lenet5_mnist_info() -> dict[str, Any]:
    """How it was trained and its float and int8 accuracies on the MNIST test split."""
    return load_info(_path())
