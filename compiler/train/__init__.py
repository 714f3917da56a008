"""Quantization-aware training of zoo float graphs (needs the ``train`` extra: torch).

:class:`QatNet` runs any :class:`~compiler.zoo.graph.FloatGraph` in PyTorch,
fake-quantized exactly as :func:`compiler.quantize.quantize` quantizes it;
:func:`train` is the one training entry point (float epochs, then fake-quantized
epochs) and returns the trained float graph with its int8 IR.
"""

from compiler.train.loop import ExtraLoss, Step, TrainConfig, Trained, plain_step, train
from compiler.train.qat import QatNet, fake_quant_activation, fake_quant_weight, tensor_codes

__all__ = ["ExtraLoss", "QatNet", "Step", "TrainConfig", "Trained", "fake_quant_activation",
           "fake_quant_weight", "plain_step", "tensor_codes", "train"]
