"""The fault-free run of one input, kept for injection.

Every hardware layer's intermediate values (convolution operands, CACC
accumulators, SDP/PDP/CDP inputs and outputs) and every tensor's golden
value are kept, so a fault only recomputes what it changes.  Weights and
other constants are not copied: they stay in the injector's memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass

import numpy as np

from nvdla_sim.executor import LayerTrace
from nvdla_sim.faults.propagate import GoldenTensors


@dataclass
class GoldenRun:
    x_q: np.ndarray
    traces: list[LayerTrace]
    outputs: list[np.ndarray]
    tensors: GoldenTensors
    cache: dict = field(default_factory=dict)  # per-layer fault-model state, built on demand

    @property
    def nbytes(self) -> int:
        """Memory the golden values hold (weights shared with the program are not counted
        twice: they are cached once per injector)."""
        def size(obj, seen) -> int:
            if isinstance(obj, np.ndarray):
                base = obj if obj.base is None else obj.base
                if id(base) in seen:
                    return 0
                seen.add(id(base))
                return base.nbytes if isinstance(base, np.ndarray) else obj.nbytes
            if is_dataclass(obj):
                return sum(size(getattr(obj, f.name), seen) for f in fields(obj))
            if isinstance(obj, (list, tuple)):
                return sum(size(o, seen) for o in obj)
            return 0
        seen: set[int] = set()
        return size(self.traces, seen) + size(self.tensors.cubes, seen)
