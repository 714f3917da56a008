"""Memory planning: where every tensor, weight blob and operand vector lives.

Activations get packed feature surfaces; a Concat output is allocated once
and its inputs become channel slices of it (same strides, base moved by whole
surfaces), so producers write straight into place.  Everything is aligned to
``ALIGN`` bytes in one linear address space starting at ``BASE``.
"""

from __future__ import annotations

import numpy as np

from compiler.ir import CompileError, Concat, Graph
from nvdla_sim.config import HardwareConfig
from nvdla_sim.program import TensorBinding
from nvdla_sim.surface import FeatureSurface

BASE = 0x8000_0000
ALIGN = 64


class MemoryPlan:
    """Allocates addresses and collects the initial memory image."""

    def __init__(self, graph: Graph, config: HardwareConfig) -> None:
        self.graph = graph
        self.config = config
        self.next = BASE
        self.image: list[tuple[int, np.ndarray]] = []
        self.tensors: dict[str, TensorBinding] = {}
        self._plan_tensors()

    def allocate(self, size: int) -> int:
        address = self.next
        self.next += -(-size // ALIGN) * ALIGN
        return address

    def place(self, data: np.ndarray) -> int:
        """Put constant bytes (weights, operands) into the image; returns their address."""
        blob = np.ascontiguousarray(data).view(np.uint8).ravel()
        address = self.allocate(blob.size)
        self.image.append((address, blob.copy()))
        return address

    def scratch(self, width: int, height: int, channels: int) -> FeatureSurface:
        """A newly allocated packed feature surface at the configuration's precision."""
        prec = self.config.prec
        surf = FeatureSurface.packed(0, width, height, channels, self.config, precision=prec)
        return FeatureSurface(self.allocate(surf.span(self.config)), width, height, channels,
                              surf.line_stride, surf.surface_stride, precision=prec)

    def surface(self, name: str) -> FeatureSurface:
        return self.tensors[name].surface

    def _packed(self, name: str) -> TensorBinding:
        t = self.graph.tensor(name)
        c, h, w = t.shape
        surf = self.scratch(w, h, c)
        return TensorBinding(name, surf, t.quant.scale, t.quant.zero_point)

    def _plan_tensors(self) -> None:
        atom = self.config.atom_channels(self.config.prec)
        for name in self.graph.inputs:
            self.tensors[name] = self._packed(name)
        aliases: dict[str, tuple[str, int]] = {}  # concat input -> (concat output, channel offset)
        for node in self.graph.nodes:
            if not isinstance(node, Concat):
                continue
            offset = 0
            for name in node.inputs:
                t = self.graph.tensor(name)
                if offset % atom:
                    raise CompileError(
                        f"node {node.name} (Concat): input {name} starts at channel {offset}, "
                        f"which is not a multiple of the {atom}-channel memory atom; NVDLA "
                        f"surfaces can only be concatenated at atom boundaries")
                if name in self.graph.inputs or name in aliases or \
                        len(self.graph.consumers(name)) != 1:
                    raise CompileError(
                        f"node {node.name} (Concat): input {name} is also used elsewhere; "
                        f"only tensors consumed by the Concat alone can be written in place")
                if t.quant != self.graph.tensor(node.output).quant:
                    raise CompileError(
                        f"node {node.name} (Concat): input {name} is quantized with "
                        f"{t.quant}, the output with {self.graph.tensor(node.output).quant}; "
                        f"concatenated tensors must share one quantization")
                aliases[name] = (node.output, offset)
                offset += t.channels
        for node in self.graph.nodes:
            if node.output not in aliases:
                self.tensors.setdefault(node.output, self._packed(node.output))
        # resolve aliases nearest the root first (a concat output may itself be a concat input)
        for name in sorted(aliases, key=lambda n: self._depth(n, aliases)):
            parent, offset = aliases[name]
            base = self.tensors[parent].surface
            t = self.graph.tensor(name)
            surf = FeatureSurface(base.address + offset // atom * base.surface_stride,
                                  base.width, base.height, t.channels, base.line_stride,
                                  base.surface_stride, precision=base.precision)
            self.tensors[name] = TensorBinding(name, surf, t.quant.scale, t.quant.zero_point)

    @staticmethod
    def _depth(name: str, aliases: dict[str, tuple[str, int]]) -> int:
        depth = 0
        while name in aliases:
            name = aliases[name][0]
            depth += 1
        return depth
