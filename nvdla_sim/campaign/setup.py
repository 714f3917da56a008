"""Build a campaign's workload (compiled program + quantized inputs) from its config."""

from __future__ import annotations

import numpy as np

from nvdla_sim.campaign.config import CampaignConfig
from nvdla_sim.campaign.runner import Workload
from nvdla_sim.errors import ConfigError
from nvdla_sim.runner import ProgramRunner


def build_workload(config: CampaignConfig) -> Workload:
    from compiler.precisions import compile_model
    from compiler.workloads import load_dataset
    extra = config.extra
    _, program = compile_model(config.model, config.precision, config.hardware,
                               extra.get("input_size"), extra.get("classes"),
                               extra.get("seed", 0))
    runner = ProgramRunner(program, constant_weights=True)  # weights are read, never written
    images, labels = load_dataset(config.dataset, program.inputs[0].shape, config.images,
                                  config.seed, classes=int(np.prod(program.outputs[0].shape)))
    if len(images) < config.images:
        raise ConfigError(f"images = {config.images}: dataset {config.dataset} has only "
                          f"{len(images)} images (ask for at most that many)")
    inputs = runner.quantize_input(images)
    if labels is None:  # unlabeled: the golden top-1 stands in for the true class
        labels = runner.run_batch(inputs).reshape(len(inputs), -1).argmax(axis=1)
    return Workload(config.model, program, inputs, np.asarray(labels))
