"""The tools researchers use instead, run by ``nvdla-fi bench`` beside the simulator.

PyTorchFI 0.6 (``pip install -e '.[bench]'``): its batched single-bit neuron
injection (``random_neuron_single_bit_inj_batched``: one random conv-output neuron
per batch element, one random bit of its 8-bit quantized value flipped, then a
forward pass of the corrupted model) on the float model with the network's
weights -- :class:`compiler.train.QatNet` in float mode, its convolutions run by
``nn.Conv2d`` modules that PyTorchFI can hook.  Its fault model is its own
(framework-level, neither bit-exact nor hardware-aware): the bench compares
speeds only.
"""

from __future__ import annotations

import copy
import importlib.util
import random

import numpy as np

from compiler.zoo.graph import Conv, FloatGraph

PYTORCHFI_VERSION = "0.6.0"


def pytorchfi_missing() -> str | None:
    """Why the PyTorchFI peer cannot run here (None: it can)."""
    for module in ("torch", "pytorchfi"):
        if importlib.util.find_spec(module) is None:
            return (f"{module} is not installed (pip install -e '.[bench]': torch and "
                    f"pytorchfi=={PYTORCHFI_VERSION})")
    return None


def _hooked_net(graph: FloatGraph):
    """``graph`` as a float :class:`QatNet` whose convolutions are ``nn.Conv2d`` children
    sharing its parameters, in graph order (PyTorchFI hooks module outputs, counting
    layers in the order the modules are registered)."""
    from torch import nn

    from compiler.train import QatNet
    from compiler.train.qat import pad

    class HookedNet(QatNet):
        def __init__(self) -> None:
            super().__init__(graph)
            self.convs = nn.ModuleDict()
            for op in graph.nodes:
                if isinstance(op, Conv):
                    k, cg, r, s = op.weight.shape
                    module = nn.Conv2d(cg * op.groups, k, (r, s), op.stride, 0, op.dilation,
                                       op.groups)
                    module.weight, module.bias = self.array(op, "weight"), self.array(op, "bias")
                    self.convs[op.name.replace(".", "_")] = module

        def _affine(self, op, bn, x):
            if self.quant is not None or not isinstance(op, Conv):
                return super()._affine(op, bn, x)
            return self.convs[op.name.replace(".", "_")](pad(x, op.pads))

        def __deepcopy__(self, memo):
            """PyTorchFI copies the model for every batch: copy the parameters, share the
            graph (read only here; copying its arrays too would charge PyTorchFI twice)."""
            memo[id(self.graph)] = self.graph
            memo.update((id(op), op) for op in self.graph.nodes)
            new = self.__class__.__new__(self.__class__)
            memo[id(self)] = new
            for name, value in self.__dict__.items():
                new.__dict__[name] = copy.deepcopy(value, memo)
            return new

    return HookedNet().eval()


class PytorchfiPeer:
    """PyTorchFI's batched single-bit neuron injection over a fixed batch of images (element
    ``b`` holds image ``b mod N``), classified against the fault-free top-1 as the
    simulator's campaign classifies its injections."""

    def __init__(self, graph: FloatGraph, images: np.ndarray, batch: int, seed: int = 0) -> None:
        import torch
        from torch import nn
        from pytorchfi.neuron_error_models import single_bit_flip_func

        self.torch = torch
        self.batch = batch
        net = _hooked_net(graph)
        self.x = torch.from_numpy(np.ascontiguousarray(
            images[np.arange(batch) % len(images)], np.float32))
        peaks: list[float] = []
        hooks = [m.register_forward_hook(lambda m, i, out: peaks.append(float(out.abs().max())))
                 for m in net.convs.values()]
        with torch.no_grad():
            self.golden_top1 = net(self.x).argmax(1)
        for hook in hooks:
            hook.remove()
        # PyTorchFI quantizes each layer's outputs to its range: a value equal to the range
        # would quantize to 2**7, outside 8 bits (its _flip_bit_signed raises), so the range
        # sits 1/256 above the peak
        self.ranges = [p * (1 + 1 / 256) for p in peaks]
        random.seed(seed)  # PyTorchFI draws with the random module
        self.pfi = single_bit_flip_func(net, batch, input_shape=list(images.shape[1:]),
                                        layer_types=[nn.Conv2d], bits=8)

    def run(self, batches: int) -> tuple[int, int]:
        """(injections, top-1 changes) of ``batches`` corrupted batches."""
        from pytorchfi.neuron_error_models import random_neuron_single_bit_inj_batched
        changed = 0
        for _ in range(batches):
            corrupted = random_neuron_single_bit_inj_batched(self.pfi, self.ranges)
            with self.torch.no_grad():
                changed += int((corrupted(self.x).argmax(1) != self.golden_top1).sum())
        return batches * self.batch, changed
