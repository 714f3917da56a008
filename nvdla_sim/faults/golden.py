"""The fault-free run of one input, kept for injection.

Every hardware layer's intermediate values (convolution operands, CACC
accumulators, SDP/PDP/CDP inputs and outputs) and every tensor's golden
value are kept, so a fault only recomputes what it changes.  Weights and
other constants are not copied: they stay in the injector's memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from functools import cached_property

import numpy as np

from nvdla_sim.executor import LayerTrace
from nvdla_sim.faults.propagate import GoldenTensors


@dataclass
class GoldenRun:
    x_q: np.ndarray
    traces: list[LayerTrace]
    outputs: list[np.ndarray]
    tensors: GoldenTensors
    # per-layer fault-model state, built on demand (values have ``nbytes``)
    cache: dict = field(default_factory=dict)
    shared: tuple[np.ndarray, ...] = ()  # arrays every run shares (the weights)

    @property
    def nbytes(self) -> int:
        """Memory this run holds: its values, and the fault-model state built so far."""
        return self.values_nbytes + sum(state.nbytes for state in self.cache.values())

    @cached_property
    def values_nbytes(self) -> int:
        """Memory the golden values hold (an array they share counts once; the weights,
        shared by every run, not at all)."""
        def size(obj, seen) -> int:
            if isinstance(obj, np.ndarray):
                base = _owner(obj)
                if id(base) in seen:
                    return 0
                seen.add(id(base))
                return base.nbytes if isinstance(base, np.ndarray) else obj.nbytes
            if is_dataclass(obj):
                return sum(size(getattr(obj, f.name), seen) for f in fields(obj))
            if isinstance(obj, (list, tuple)):
                return sum(size(o, seen) for o in obj)
            return 0
        seen = {id(_owner(a)) for a in self.shared}
        return size(self.traces, seen) + size(self.tensors.cubes, seen)


def _owner(a: np.ndarray):
    """The object holding ``a``'s memory (itself, or the array it views)."""
    return a if a.base is None else a.base
