"""The built-in CNNs as float graphs with deterministic random weights.

Topologies follow the reference implementations (LeCun's LeNet-5, torchvision
ResNet / VGG / SqueezeNet, the MobileNet v1 paper) so that fault-injection
results on them are comparable with the literature; dropout is an identity at
inference and is left out.  Every function takes the per-sample input shape
``(C, H, W)``, the number of classes and ``rng`` (a seed or a
``numpy.random.Generator``): the same arguments give the same weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from compiler.ir import CompileError
from compiler.zoo.builder import INPUT, GraphBuilder
from compiler.zoo.graph import FloatGraph

Rng = int | np.random.Generator


def scaled(channels: int, width: float) -> int:
    """Channels under width multiplier ``width``: ``int(channels * width)``, at least 1
    (Keras' MobileNet rule), the same for every architecture."""
    if not width > 0:
        raise CompileError(f"width multiplier must be positive, got {width}")
    return max(1, int(channels * width))


def _classifier(b: GraphBuilder, x: str, num_classes: int) -> FloatGraph:
    """Global average pool, flatten and the final fully connected layer ``fc``."""
    x = b.flatten("flatten", b.global_avg_pool("avgpool", x))
    return b.build(b.linear("fc", x, num_classes))


def lenet5(input_shape: Sequence[int] = (1, 28, 28), num_classes: int = 10,
           rng: Rng = 0) -> FloatGraph:
    """LeNet-5 for MNIST: conv5x5(6, pad 2)+ReLU, maxpool2, conv5x5(16)+ReLU, maxpool2,
    fc120+ReLU, fc84+ReLU, fc(num_classes)."""
    b = GraphBuilder("lenet5", input_shape, rng)
    x = b.relu("relu1", b.conv("conv1", INPUT, 6, 5, pad=2))
    x = b.max_pool("pool1", x, 2, 2)
    x = b.relu("relu2", b.conv("conv2", x, 16, 5))
    x = b.flatten("flatten", b.max_pool("pool2", x, 2, 2))
    x = b.relu("relu3", b.linear("fc1", x, 120))
    x = b.relu("relu4", b.linear("fc2", x, 84))
    return b.build(b.linear("fc3", x, num_classes))


# Residual branches end in a batchnorm with small gamma, as trained ResNets do (and
# torchvision's zero_init_residual in the extreme): with full-size gammas a deep random
# ResNet is chaotic, 1% input noise reshuffling its logits, so int8 could not track it.
RESIDUAL_GAIN = 0.3


def _basic_block(b: GraphBuilder, name: str, x: str, planes: int, stride: int) -> str:
    y = b.conv_bn_act(f"{name}.1", x, planes, 3, stride, 1)
    y = b.conv_bn_act(f"{name}.2", y, planes, 3, 1, 1, act=False, gain=RESIDUAL_GAIN)
    return b.relu(f"{name}.relu", b.add(f"{name}.add", y, _shortcut(b, name, x, planes, stride)))


def _bottleneck(b: GraphBuilder, name: str, x: str, planes: int, stride: int) -> str:
    """torchvision's ResNet v1.5 bottleneck: the stride sits on the 3x3 conv."""
    y = b.conv_bn_act(f"{name}.1", x, planes, 1)
    y = b.conv_bn_act(f"{name}.2", y, planes, 3, stride, 1)
    y = b.conv_bn_act(f"{name}.3", y, planes * 4, 1, act=False, gain=RESIDUAL_GAIN)
    shortcut = _shortcut(b, name, x, planes * 4, stride)
    return b.relu(f"{name}.relu", b.add(f"{name}.add", y, shortcut))


def _shortcut(b: GraphBuilder, name: str, x: str, channels: int, stride: int) -> str:
    """Identity, or a strided 1x1 conv + batchnorm where the shape changes."""
    if stride == 1 and b.shape(x)[0] == channels:
        return x
    return b.conv_bn_act(f"{name}.downsample", x, channels, 1, stride, act=False)


def _resnet(name: str, bottleneck: bool, blocks: Sequence[int], input_shape: Sequence[int],
            num_classes: int, rng: Rng, cifar_stem: bool | None, width: float) -> FloatGraph:
    b = GraphBuilder(name, input_shape, rng)
    if cifar_stem is None:
        cifar_stem = max(b.input_shape[1:]) <= 32
    stem = scaled(64, width)
    if cifar_stem:
        x = b.conv_bn_act("stem", INPUT, stem, 3, 1, 1)
    else:
        x = b.max_pool("maxpool", b.conv_bn_act("stem", INPUT, stem, 7, 2, 3), 3, 2, 1)
    block = _bottleneck if bottleneck else _basic_block
    for stage, (planes, count) in enumerate(zip((64, 128, 256, 512), blocks), start=1):
        for i in range(count):
            stride = 2 if stage > 1 and i == 0 else 1
            x = block(b, f"layer{stage}.{i}", x, scaled(planes, width), stride)
    return _classifier(b, x, num_classes)


def resnet18(input_shape: Sequence[int] = (3, 224, 224), num_classes: int = 1000,
             rng: Rng = 0, cifar_stem: bool | None = None, width: float = 1.0) -> FloatGraph:
    """ResNet-18 (torchvision).  ``cifar_stem`` (default: inputs of at most 32x32) replaces
    the 7x7/2 conv + maxpool stem by a 3x3/1 conv, as CIFAR ResNets do; ``width``
    multiplies every layer's channels (:func:`scaled`)."""
    return _resnet("resnet18", False, (2, 2, 2, 2), input_shape, num_classes, rng, cifar_stem,
                   width)


def resnet50(input_shape: Sequence[int] = (3, 224, 224), num_classes: int = 1000,
             rng: Rng = 0, cifar_stem: bool | None = None, width: float = 1.0) -> FloatGraph:
    """ResNet-50 (torchvision v1.5 bottlenecks); ``cifar_stem`` and ``width`` as for
    :func:`resnet18`."""
    return _resnet("resnet50", True, (3, 4, 6, 3), input_shape, num_classes, rng, cifar_stem,
                   width)


def mobilenet_v1(input_shape: Sequence[int] = (3, 224, 224), num_classes: int = 1000,
                 rng: Rng = 0, width: float = 1.0, cifar_stem: bool = False) -> FloatGraph:
    """MobileNet v1: 3x3/2 conv then 13 depthwise-separable blocks (depthwise 3x3 +
    pointwise 1x1, each with batchnorm and ReLU6); ``width`` is the multiplier alpha
    (:func:`scaled`, as in Keras); ``cifar_stem`` makes the first conv stride 1, as
    CIFAR MobileNets do.  With random weights this deep plain network is chaotic (1%
    input noise reshuffles the logits), so its int8 version only tracks the float one
    layer by layer, not end to end."""

    def channels(c: int) -> int:
        return scaled(c, width)

    b = GraphBuilder("mobilenet_v1", input_shape, rng)
    x = b.conv_bn_act("stem", INPUT, channels(32), 3, 1 if cifar_stem else 2, 1, high=6.0)
    plan = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), *[(512, 1)] * 5,
            (1024, 2), (1024, 1)]
    for i, (c, stride) in enumerate(plan, start=1):
        cin = b.shape(x)[0]
        x = b.conv_bn_act(f"block{i}.dw", x, cin, 3, stride, 1, groups=cin, high=6.0)
        x = b.conv_bn_act(f"block{i}.pw", x, channels(c), 1, high=6.0)
    return _classifier(b, x, num_classes)


VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
         512, 512, 512, "M")


def vgg16_bn(input_shape: Sequence[int] = (3, 224, 224), num_classes: int = 1000,
             rng: Rng = 0, hidden: int = 4096, width: float = 1.0) -> FloatGraph:
    """VGG-16 with batchnorm (torchvision): 13 conv3x3+BN+ReLU in 5 stages with max
    pools, then fc(hidden)+ReLU, fc(hidden)+ReLU, fc(num_classes).  torchvision's
    adaptive 7x7 average pool is the identity at 224x224 and is left out: other input
    sizes feed their flattened feature map to the first fully connected layer.  ``width``
    multiplies the convolutions' channels (:func:`scaled`)."""
    b = GraphBuilder("vgg16_bn", input_shape, rng)
    x, stage, index = INPUT, 1, 1
    for item in VGG16:
        if item == "M":
            x = b.max_pool(f"pool{stage}", x, 2, 2)
            stage, index = stage + 1, 1
        else:
            conv = b.conv(f"conv{stage}_{index}.conv", x, scaled(int(item), width), 3, pad=1)
            x = b.relu(f"conv{stage}_{index}.relu", b.batchnorm(f"conv{stage}_{index}.bn", conv))
            index += 1
    x = b.flatten("flatten", x)
    x = b.relu("fc1.relu", b.linear("fc1", x, hidden))
    x = b.relu("fc2.relu", b.linear("fc2", x, hidden))
    return b.build(b.linear("fc3", x, num_classes))


def _fire(b: GraphBuilder, name: str, x: str, squeeze: int, expand: int) -> str:
    """SqueezeNet fire module: 1x1 squeeze, then 1x1 and 3x3 expands concatenated."""
    s = b.relu(f"{name}.squeeze.relu", b.conv(f"{name}.squeeze", x, squeeze, 1))
    e1 = b.relu(f"{name}.expand1x1.relu", b.conv(f"{name}.expand1x1", s, expand, 1))
    e3 = b.relu(f"{name}.expand3x3.relu", b.conv(f"{name}.expand3x3", s, expand, 3, pad=1))
    return b.concat(f"{name}.concat", [e1, e3])


def squeezenet1_1(input_shape: Sequence[int] = (3, 224, 224), num_classes: int = 1000,
                  rng: Rng = 0, width: float = 1.0, cifar_stem: bool = False,
                  class_bias: float = 0.0) -> FloatGraph:
    """SqueezeNet 1.1 (torchvision): 3x3/2 conv, 8 fire modules between ceil-mode 3x3/2
    max pools, a 1x1 conv to the classes + ReLU and a global average pool.  ``width``
    multiplies the channels but the classes' (:func:`scaled`); ``cifar_stem`` makes the
    first conv 3x3/1 with padding 1.  The class conv starts as torchvision's: N(0, 0.01)
    weights, bias ``class_bias`` (0 there).  The features it sees are non-negative and
    correlated, so a class whose random filter sums them negatively is below zero for
    every input, and its ReLU passes no gradient: dead from the first step.  A positive
    ``class_bias`` starts every class alive."""
    b = GraphBuilder("squeezenet1_1", input_shape, rng)
    x = b.relu("conv1.relu", b.conv("conv1", INPUT, scaled(64, width), 3, 1 if cifar_stem else 2,
                                    1 if cifar_stem else 0))
    plan: list[str | tuple[int, int]] = ["M", (16, 64), (16, 64), "M", (32, 128), (32, 128),
                                         "M", (48, 192), (48, 192), (64, 256), (64, 256)]
    fire, pool = 2, 0  # fire2..fire9 as in the paper
    for item in plan:
        if isinstance(item, str):  # "M": a max pool
            pool += 1
            x = b.max_pool(f"pool{pool}", x, 3, 2, ceil_mode=True)
        else:
            x = _fire(b, f"fire{fire}", x, *(scaled(c, width) for c in item))
            fire += 1
    x = b.relu("conv10.relu", b.conv("conv10", x, num_classes, 1, init=(0.01, class_bias)))
    return b.build(b.flatten("flatten", b.global_avg_pool("avgpool", x)))
