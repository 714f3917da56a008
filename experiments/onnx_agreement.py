"""How closely the simulator follows onnxruntime on QDQ models quantized by onnxruntime.

For each model: export the float zoo graph to ONNX, quantize it with
``onnxruntime.quantization.quantize_static`` (QDQ, per-channel int8 weights,
int8 activations), import it with ``compiler.frontends.load_onnx``, compile
it for nv_small, and run the same inputs on the simulator and on onnxruntime
with graph optimizations disabled (its fused int8 kernels saturate on CPUs
without VNNI: onnxruntime issues 14642, 16105).  Reports top-1 agreement and
the output difference in units of the output scale.

    python -m experiments.onnx_agreement [--images N]
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Agreement:
    model: str
    images: int
    top1_agreement: float
    max_diff_lsb: int
    mean_diff_lsb: float
    identical: float  # fraction of images with bit-identical int8 outputs
    accuracy_sim: float | None = None
    accuracy_ort: float | None = None


def compare(name: str, float_graph, calibration: np.ndarray, images: np.ndarray,
            labels: np.ndarray | None = None) -> Agreement:
    from compiler.frontends import load_onnx
    from compiler.frontends.ort_quantize import ort_outputs, quantize_with_ort
    from compiler.lower import lower
    from compiler.zoo import to_onnx
    from nvdla_sim.runner import ProgramRunner
    qdq = quantize_with_ort(to_onnx(float_graph), calibration)
    graph = load_onnx(qdq)
    runner = ProgramRunner(lower(graph), constant_weights=True)
    out = runner.program.outputs[0]
    sim = runner.run_batch(runner.quantize_input(images)).reshape(len(images), -1)
    ort_real = ort_outputs(qdq, images)
    ort_q = np.rint(ort_real / out.scale).astype(np.int64) + out.zero_point  # exact: int8 grid
    diff = np.abs(sim.astype(np.int64) - ort_q)
    result = Agreement(
        name, len(images), float((sim.argmax(1) == ort_real.argmax(1)).mean()),
        int(diff.max()), float(diff.mean()), float((diff == 0).all(axis=1).mean()))
    if labels is not None:
        result = Agreement(*[getattr(result, f) for f in ("model", "images", "top1_agreement",
                                                            "max_diff_lsb", "mean_diff_lsb",
                                                            "identical")],
                           float((sim.argmax(1) == labels).mean()),
                           float((ort_real.argmax(1) == labels).mean()))
    return result


def lenet5_mnist(images: int) -> Agreement:
    from compiler.datasets import mnist_split
    from compiler.zoo import lenet5_mnist_float
    split = mnist_split()
    return compare("lenet5 (trained, MNIST)", lenet5_mnist_float(), split.train_images[::20],
                   split.test_images[:images], split.test_labels[:images])


def random_weights(model: str, images: int, seed: int = 0) -> Agreement:
    from compiler.zoo import get_model
    rng = np.random.default_rng(seed)
    graph = get_model(model, input_shape=(3, 32, 32), num_classes=10, rng=rng)
    calibration = rng.random((32, 3, 32, 32), dtype=np.float32)
    return compare(f"{model} (random weights, 3x32x32)", graph, calibration,
                   rng.random((images, 3, 32, 32), dtype=np.float32))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1000)
    args = parser.parse_args()
    results = [lenet5_mnist(args.images), random_weights("resnet18", min(args.images, 300)),
               random_weights("mobilenet_v1", min(args.images, 300))]
    print("| model | images | top-1 agreement | identical outputs | max / mean diff (LSB) |"
          " accuracy sim / ORT |")
    print("|---|---|---|---|---|---|")
    for r in results:
        acc = (f"{r.accuracy_sim * 100:.1f}% / {r.accuracy_ort * 100:.1f}%"
               if r.accuracy_sim is not None else "-")
        print(f"| {r.model} | {r.images} | {r.top1_agreement * 100:.2f}% | "
              f"{r.identical * 100:.1f}% | {r.max_diff_lsb} / {r.mean_diff_lsb:.3f} | {acc} |")


if __name__ == "__main__":
    main()
