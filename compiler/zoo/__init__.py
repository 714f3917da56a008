"""Built-in CNNs as float graphs: architectures, float forward pass, ONNX export and
the models trained on MNIST.  :mod:`compiler.quantize` turns them into the int8 IR."""

from compiler.zoo.architectures import (lenet5, mobilenet_v1, resnet18, resnet50,
                                        squeezenet1_1, vgg16_bn)
from compiler.zoo.builder import GraphBuilder
from compiler.zoo.fold import fold_batchnorm
from compiler.zoo.forward import forward
from compiler.zoo.graph import (Add, BatchNorm, Clip, Concat, Conv, Flatten, FloatGraph,
                                GlobalAvgPool, Linear, Lrn, Op, Pool)
from compiler.zoo.onnx_export import to_onnx
from compiler.zoo.pretrained import (RECIPES, lenet5_mnist_float, lenet5_mnist_info,
                                     lenet5_mnist_int8, trained_float, trained_info,
                                     trained_int8, trained_path)
from compiler.zoo.registry import MODELS, get_model

__all__ = [
    "Add", "BatchNorm", "Clip", "Concat", "Conv", "Flatten", "FloatGraph", "GlobalAvgPool",
    "GraphBuilder", "Linear", "Lrn", "MODELS", "Op", "Pool", "fold_batchnorm", "forward",
    "get_model", "lenet5", "lenet5_mnist_float", "lenet5_mnist_info", "lenet5_mnist_int8",
    "mobilenet_v1", "RECIPES", "resnet18", "resnet50", "squeezenet1_1", "to_onnx",
    "trained_float", "trained_info", "trained_int8", "trained_path", "vgg16_bn",
]
