"""Whole-network inference of a batch of images in one pass per layer.

:class:`~nvdla_sim.runner.ProgramRunner` runs image by image through memory;
a weight-memory trial instead runs a whole test set on one (faulty) weight
image, so every layer here runs once for the batch: activations stay as
batched int8 cubes in their root tensors (the Concat outputs and tiles of
:class:`~nvdla_sim.faults.propagate.Dataflow`), and weights and per-kernel
operands are read from the memory given to :meth:`BatchRunner.run`.  The
arithmetic is the executor's, so the outputs equal ``ProgramRunner``'s
(tested).  A hook sees every stored tensor after its layer wrote it: faults in
activation memory between layers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nvdla_sim.executor import Executor
from nvdla_sim.faults.propagate import Dataflow, Placement
from nvdla_sim.layers import ConvCore, OperandDma, Sdp
from nvdla_sim.memory import Memory
from nvdla_sim.program import Program
from nvdla_sim.surface import FeatureSurface
from nvdla_sim.units import convcore, sdp_rdma

# (layer index, the region the layer just wrote, a view [B, C, H, W] of the stored
# batch): called after each write; may change it in place (activation-memory faults)
StoreHook = Callable[[int, np.ndarray], None]

BATCH_IMAGES = 256  # images per pass: bounds the patch matrices of wide layers


class _Inputs:
    """A layer's reads: features from the batch's root cubes, constants from memory."""

    def __init__(self, roots: list[np.ndarray], flow: Dataflow, memory: Memory,
                 weight_cache: convcore.WeightCache | None = None) -> None:
        self.roots, self.flow, self.memory = roots, flow, memory
        self.weight_cache = weight_cache

    def _cube(self, surface: FeatureSurface) -> np.ndarray:
        where = self.flow.place(surface)
        cpad = self.flow.config.channels_padded(surface.channels, surface.precision)
        return self.roots[where.root][:, where.c0:where.c0 + cpad,
                                      where.y0:where.y0 + surface.height,
                                      where.x0:where.x0 + surface.width]

    def feature(self, surface: FeatureSurface) -> np.ndarray:
        return self._cube(surface)

    def operand_raw(self, dma: OperandDma, sdp: Sdp) -> np.ndarray:
        if dma.data_mode == sdp_rdma.MODE_PER_ELEMENT:
            if sdp_rdma.element_bytes(dma) != 1:
                raise NotImplementedError("batched runs need 1-byte per-element operands")
            return self._cube(sdp_rdma.operand_surface(dma, sdp)).view(np.uint8)[..., None]
        return sdp_rdma.operand_raw(dma, sdp, self.memory, self.flow.config)

    def weights(self, conv: ConvCore) -> convcore.Weights:
        return convcore.weights(conv, self.memory, self.flow.config, self.weight_cache)


class BatchRunner:
    """Runs a program on batches of int8 inputs, with the weights of a given memory."""

    def __init__(self, program: Program, executor: Executor | None = None) -> None:
        """``executor``: one whose caches hold this program's constant weights (a
        :class:`~nvdla_sim.runner.ProgramRunner`'s); default none: each run may bring
        new weights."""
        self.program = program
        self.config = program.config
        self.flow = Dataflow(program)
        self.executor = executor or Executor(program.config)
        (binding,) = program.inputs
        self.input_at = self.flow.place(binding.surface)

    def _shapes(self) -> list[tuple[int, int, int]]:
        cfg = self.config
        return [(cfg.channels_padded(r.channels, r.precision), r.height, r.width)
                for r in self.flow.roots]

    def run(self, x_q: np.ndarray, memory: Memory, hook: StoreHook | None = None,
            batch: int = BATCH_IMAGES) -> np.ndarray:
        """int8 inputs (N, C, H, W) -> the first output (N, C', H', W') as int8."""
        return np.concatenate([self._run(x_q[i:i + batch], memory, hook)
                               for i in range(0, len(x_q), batch)])

    def _run(self, x_q: np.ndarray, memory: Memory, hook: StoreHook | None) -> np.ndarray:
        n = len(x_q)
        roots = [np.zeros((n, *shape), self.config.prec.dtype) for shape in self._shapes()]
        _region(roots, self.input_at, x_q.shape[-3:])[...] = x_q
        inputs = _Inputs(roots, self.flow, memory, self.executor.weight_cache)
        for index, layer in enumerate(self.program.layers):
            writes, _ = self.executor.compute(layer, inputs)
            for surface, cube in writes:
                region = _region(roots, self.flow.place(surface), cube.shape[-3:])
                region[...] = cube
                if hook is not None:
                    hook(index, region)
        out = self.flow.outputs[0]
        (binding,) = self.program.outputs[:1]
        c, h, w = binding.shape
        return roots[out.root][:, out.c0:out.c0 + c, out.y0:out.y0 + h, out.x0:out.x0 + w]


def _region(roots: list[np.ndarray], where: Placement, shape: tuple[int, ...]) -> np.ndarray:
    c, h, w = shape
    return roots[where.root][:, where.c0:where.c0 + c, where.y0:where.y0 + h,
                             where.x0:where.x0 + w]
