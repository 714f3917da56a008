"""Argument helpers shared by the commands."""

from __future__ import annotations

import argparse

from nvdla_sim.config import CONFIGS


def input_size(text: str) -> tuple[int, int, int]:
    """``CxHxW`` (e.g. 3x32x32)."""
    try:
        c, h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected CxHxW such as 3x32x32, got {text!r}") from None
    return c, h, w


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL",
                        help="zoo:<name> (lenet5, resnet18, resnet50, mobilenet_v1, vgg16_bn, "
                             "squeezenet1_1: trained on MNIST, see `nvdla-fi zoo list`), "
                             "zoo:<name>:random (full width, random weights) or a quantized "
                             ".onnx file")
    parser.add_argument("--config", metavar="NAME",
                        help=f"hardware config: {', '.join(CONFIGS)} or a .toml file "
                             f"(default nv_small; nv_full for --precision int16 / fp16)")
    parser.add_argument("--input-size", type=input_size, metavar="CxHxW",
                        help="input size of a random-weight zoo model (default 3x32x32, "
                             "lenet5 1x28x28); this or --classes selects random weights")
    parser.add_argument("--classes", type=int, metavar="N", help="classes of a zoo model")
    parser.add_argument("--seed", type=int, default=0, help="weights seed of random-weight zoo models")
    add_precision_argument(parser)


def add_precision_argument(parser: argparse.ArgumentParser) -> None:
    from compiler.precisions import PRECISIONS
    parser.add_argument("--precision", choices=list(PRECISIONS), metavar="P",
                        help=f"values and datapath: {', '.join(PRECISIONS)} (default int8; "
                             f"int16 and fp16 need nv_full, fp32 is a reference datapath, "
                             f"int4 is 4-bit weights on the int8 datapath)")


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value
