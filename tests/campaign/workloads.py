"""The small workload campaign tests run: the toy network on seeded random int8 inputs,
labelled with the simulator's own top-1."""

from __future__ import annotations

import numpy as np

from compiler.examples import toy_net
from compiler.lower import lower
from nvdla_sim.campaign.runner import Workload
from nvdla_sim.runner import ProgramRunner


def toy_workload(images: int, seed: int) -> Workload:
    program = lower(toy_net())
    x = np.random.default_rng(seed).integers(-128, 128, (images, *program.inputs[0].shape),
                                             dtype=np.int8)
    labels = ProgramRunner(program).run_batch(x).reshape(images, -1).argmax(1)
    return Workload("toy", program, x, labels)


def campaign_file(path, workload: Workload, **config) -> "Path":
    """Run a small campaign of ``workload`` into ``path`` (HDF5) and return the path."""
    from pathlib import Path

    from nvdla_sim.campaign.config import CampaignConfig
    from nvdla_sim.campaign.runner import make_campaign
    cfg = CampaignConfig(model=workload.name, dataset="random", images=len(workload.inputs),
                         out=str(path), **config)
    make_campaign(cfg, workload).run(Path(path), progress=False)
    return Path(path)
