"""The naive way to inject a fault: re-run the whole network from its input.

The faulty layer's output comes from the same exact fault model; everything
else is recomputed from scratch, with no golden values reused.  This is the
baseline ``nvdla-fi bench`` measures the incremental injector against (same
numerics, so both must give identical outcomes).
"""

from __future__ import annotations

import numpy as np

from nvdla_sim.faults.injector import FaultInjector
from nvdla_sim.faults.site import FaultSite
from nvdla_sim.program import Program
from nvdla_sim.runner import ProgramRunner


class NaiveInjector:
    def __init__(self, program: Program) -> None:
        self.program = program
        self.model = FaultInjector(program)  # only for the faulty layer's output

    def run(self, site: FaultSite, x_q: np.ndarray) -> list[np.ndarray]:
        runner = ProgramRunner(self.program)  # a fresh memory image every time
        (binding,) = self.program.inputs
        runner.write_tensor(binding, x_q)
        for index, layer in enumerate(self.program.layers):
            trace = runner.executor.run(layer, runner.memory, keep=index == site.layer)
            if index == site.layer:
                effect = self.model.layer_effect(site, index, trace)
                for surface, cube in (effect.writes if effect is not None else []):
                    surface.write(runner.memory, self.program.config, cube)
        return [runner.read_tensor(b) for b in self.program.outputs]
