"""State shared by the lowering of all nodes of one graph."""

from __future__ import annotations

from dataclasses import dataclass, field

from compiler.ir import Graph
from compiler.lower.planner import MemoryPlan
from nvdla_sim.config import HardwareConfig
from nvdla_sim.layers import HardwareLayer
from nvdla_sim.program import LayerInfo


@dataclass
class LowerContext:
    graph: Graph
    config: HardwareConfig
    plan: MemoryPlan
    layers: list[HardwareLayer] = field(default_factory=list)
    info: list[LayerInfo] = field(default_factory=list)

    def emit(self, layer: HardwareLayer, info: LayerInfo) -> None:
        self.layers.append(layer)
        self.info.append(info)

    def layer_name(self, node: str, part: int, parts: int) -> str:
        return node if parts == 1 else f"{node}/{part}"
