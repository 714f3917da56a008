"""Sharpness-aware minimisation (SAM) as a training step, and the sharpness measure.

SAM (Foret et al., ICLR 2021) minimises ``max_{|e| <= rho} L(w + e)``: each
step first moves the weights to ``w + rho * g / |g|`` (``g`` the gradient at
``w``, ``|.|`` the L2 norm over all trainable parameters), takes the gradient
there, returns to ``w`` and updates with that gradient.  Used as the ``step``
of :func:`compiler.train.train` through its fake-quantized epochs it is SAQ,
sharpness-aware quantization (Liu et al., 2021): the perturbation and the
gradient see the quantized network.

Sharpness (the measure): ``S(rho) = L(w + e*) - L(w)``, the loss increase under
the worst-case perturbation of radius ``rho``, ``e*`` approximated by ``steps``
normalised-gradient ascent steps of length ``rho / steps``, each projected back
onto the ball ``|e| <= rho`` (``steps = 1``: SAM's own ``e = rho * g / |g|``).
``L`` is the mean cross-entropy on the given images, in evaluation mode
(batchnorms use their running statistics), of the fake-quantized network
when an int8 graph is given (quantization ranges fixed, weight scales
following the perturbed weights, gradients straight-through) or of the float
one otherwise.  Absolute ``rho``, as SAM uses it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from compiler import ir
from compiler.ir import CompileError
from compiler.train.loop import Closure, Step, check_data, torch_settings
from compiler.train.qat import QatNet
from compiler.zoo.graph import FloatGraph


def _trainable(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    return [p for group in optimizer.param_groups for p in group["params"]
            if p.grad is not None]


def _norm(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t) for t in tensors]))


def sam_step(rho: float = 0.05) -> Step:
    """A ``step`` for :func:`compiler.train.train` doing sharpness-aware minimisation."""
    if not rho > 0:
        raise CompileError(f"sam_step: rho must be positive, got {rho}")

    def step(optimizer: torch.optim.Optimizer, closure: Closure) -> None:
        closure()  # gradient at w
        params = _trainable(optimizer)
        scale = rho / (_norm([p.grad for p in params]) + 1e-12)
        with torch.no_grad():
            shifts = [p.grad * scale for p in params]
            for p, e in zip(params, shifts):
                p.add_(e)
        closure()  # gradient at w + e
        with torch.no_grad():
            for p, e in zip(params, shifts):
                p.sub_(e)
        optimizer.step()

    return step


@dataclass(frozen=True)
class Sharpness:
    loss: float            # L(w)
    perturbed_loss: float  # L(w + e*)
    rho: float
    steps: int

    @property
    def increase(self) -> float:
        return self.perturbed_loss - self.loss


def sharpness(graph: FloatGraph, images: np.ndarray, labels: np.ndarray, rho: float = 0.05,
              steps: int = 1, int8_graph: ir.Graph | None = None, weight_bits: int = 8,
              batch_size: int = 500, threads: int = 1) -> Sharpness:
    """``S(rho)`` of ``graph`` (fake-quantized as ``int8_graph`` if given) on ``images``."""
    if not rho > 0 or steps < 1:
        raise CompileError(f"sharpness: rho must be positive and steps >= 1, got rho={rho}, "
                           f"steps={steps}")
    images, labels = check_data(graph, images, labels)
    x, y = torch.from_numpy(images), torch.from_numpy(labels)
    with torch_settings(threads):
        net = QatNet(graph, weight_bits)
        net.set_quantization(int8_graph)
        net.eval()
        params = list(net.parameters())

        def loss(grad: bool) -> float:
            """Mean cross-entropy over all images; gradients accumulated when ``grad``."""
            total = 0.0
            for p in params:
                p.grad = None
            for first in range(0, len(x), batch_size):
                with torch.set_grad_enabled(grad):
                    xb, yb = x[first:first + batch_size], y[first:first + batch_size]
                    part = F.cross_entropy(net(xb), yb, reduction="sum") / len(x)
                    if grad:
                        part.backward()
                total += float(part.detach())
            return total

        base = loss(False)
        original = [p.detach().clone() for p in params]
        shift = [torch.zeros_like(p) for p in params]
        for _ in range(steps):
            loss(True)
            grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
            g = _norm(grads)
            if g == 0:
                break
            with torch.no_grad():
                shift = [e + rho / steps * d / g for e, d in zip(shift, grads)]
                length = _norm(shift)
                if length > rho:
                    shift = [e * (rho / length) for e in shift]
                for p, w, e in zip(params, original, shift):
                    p.copy_(w + e)
        perturbed = loss(False)
    return Sharpness(base, perturbed, rho, steps)
