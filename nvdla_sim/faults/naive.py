"""The naive way to inject a fault: re-run the whole network from its input.

The faulty layer's output comes from the same exact fault model; every layer
is recomputed from the input, with no golden values reused.  The program
stays loaded, as in any inference loop: one memory image whose activations
each run overwrites, and weights unpacked once (datapath faults never touch
weight memory).  This is the baseline ``nvdla-fi bench`` measures the
incremental injector against (same numerics, so both must give identical
outcomes).
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
        self.runner = ProgramRunner(program, constant_weights=True)
        self.model = FaultInjector(program)  # only for the faulty layer's output

    def run(self, site: FaultSite, x_q: np.ndarray) -> list[np.ndarray]:
        runner = self.runner
        (binding,) = self.program.inputs
        runner.write_tensor(binding, x_q)
        for index, layer in enumerate(self.program.layers):
            trace = runner.executor.run(layer, runner.memory, keep=index == site.layer)
            if index == site.layer:
                effect = self.model.layer_effect(site, index, trace)
                for surface, cube in (effect.writes if effect is not None else []):
                    surface.write(runner.memory, self.program.config, cube)
        return [runner.read_tensor(b) for b in self.program.outputs]
