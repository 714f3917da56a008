"""Built-in models by name."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from compiler.ir import CompileError
from compiler.zoo.architectures import (lenet5, mobilenet_v1, resnet18, resnet50,
                                        squeezenet1_1, vgg16_bn)
from compiler.zoo.graph import FloatGraph
from compiler.zoo.pretrained import RECIPES, trained_float

MODELS: dict[str, Callable[..., FloatGraph]] = {
    "lenet5": lenet5,
    "resnet18": resnet18,
    "resnet50": resnet50,
    "mobilenet_v1": mobilenet_v1,
    "vgg16_bn": vgg16_bn,
    "squeezenet1_1": squeezenet1_1,
}


def get_model(name: str, pretrained: bool = False, **kwargs: Any) -> FloatGraph:
    """The float graph of built-in model ``name``.

    ``kwargs`` go to the architecture (``input_shape``, ``num_classes``, ``rng``, and
    e.g. ``width``).  ``pretrained=True`` loads the weights trained on MNIST
    (:mod:`compiler.zoo.pretrained`), which fix the architecture's arguments.
    """
    if name not in MODELS:
        raise CompileError(f"unknown model {name!r}; built-in models: {', '.join(MODELS)}")
    if pretrained:
        if kwargs:
            raise CompileError(f"model {name}: pretrained weights fix the architecture "
                               f"({RECIPES[name].kwargs}); drop {', '.join(sorted(kwargs))}")
        return trained_float(name)
    builder = MODELS[name]
    signature = inspect.signature(builder)
    try:
        signature.bind(**kwargs)
    except TypeError as err:
        raise CompileError(f"model {name}: {err}; parameters: "
                           f"{', '.join(signature.parameters)}") from None
    return builder(**kwargs)
