"""The studies ``nvdla-fi study`` runs: one entry each, one module each.

A study module (``experiments/<module>.py``) defines ``run(options) -> Path``:
it writes its HDF5 result file(s), PNG figures and ``summary.md`` into
``options.out`` and returns the summary's path.  ``--quick`` (the default)
finishes in minutes on 2 cores with sound intervals for the headline numbers;
``--full`` is the paper-scale setting (resumable).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from nvdla_sim.errors import ConfigError


@dataclass(frozen=True)
class StudyOptions:
    """What every study takes from the command line."""

    out: Path
    model: str | None = None   # None: the study's own models
    full: bool = False         # paper scale instead of the quick default
    seed: int = 0
    workers: int = 1
    resume: bool = False
    progress: bool = True


@dataclass(frozen=True)
class Study:
    name: str
    summary: str   # one line for ``nvdla-fi study list``
    module: str    # under experiments/
    reproduces: str  # the study of ../shared/docs/studies.md (or docs/studies.md) it answers

    def run(self, options: StudyOptions) -> Path:
        module = importlib.import_module(f"experiments.{self.module}")
        return module.run(options)


STUDIES: dict[str, Study] = {
    "datatypes": Study("datatypes", "one trained network at int8, int16, fp16, fp32 and int4: "
                       "accuracy, SDC per precision and per value bit", "datatypes",
                       "S1 (data types), S4 (FP32 vs INT8)"),
    "ecc": Study("ecc", "in-place SEC-DED (64,57)/(32,26) vs (72,64) vs none for 8- and 4-bit "
                 "weights under weight-memory faults", "ecc", "S3"),
    "bits-layers": Study("bits-layers", "single bit flips per value bit, model layer and "
                         "region: datapath registers and stored weights/activations",
                         "bits_layers", "S1"),
    "pruning": Study("pruning", "structural channel pruning: accuracy and datapath SDC per "
                     "ratio and criterion", "pruning", "S4"),
    "sparsity": Study("sparsity", "standard vs activation-sparse vs SAQ-trained QDNNs under "
                      "stored-value faults and datapath upsets; sharpness", "sparsity", "S2"),
}


def study(name: str) -> Study:
    if name not in STUDIES:
        known = ", ".join(sorted(STUDIES)) or "none"
        raise ConfigError(f"unknown study {name!r}; known: {known} (nvdla-fi study list)")
    return STUDIES[name]
