"""What the host hands the simulator (a job) and what comes back (results).

The host (:mod:`rtl_bridge.crosscheck`) builds the stimulus and nvdla_sim's
predictions; the cocotb test (:mod:`rtl_bridge.tb.replay`) replays every
layer fault-free and once per fault, compares the monitors' captures with
the predictions (:mod:`rtl_bridge.checker`) and writes the outcomes.  Both
sides are pickled into the run folder.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nvdla_sim.faults.site import FaultSite
from rtl_bridge.sites import RtlTarget
from rtl_bridge.toolchain import RtlParams


@dataclass
class Diff:
    """Elements (SDP stream positions) whose value differs from the golden run."""

    positions: np.ndarray
    values: np.ndarray

    @classmethod
    def between(cls, golden: np.ndarray, value: np.ndarray) -> "Diff":
        pos = np.flatnonzero(golden != value)
        return cls(pos.astype(np.int64), np.asarray(value)[pos].astype(np.int64))

    def __len__(self) -> int:
        return int(self.positions.size)


@dataclass
class FaultCase:
    """One fault: where it acts in RTL and what nvdla_sim predicts."""

    id: int
    site: FaultSite
    target: RtlTarget
    live: bool  # nvdla_sim found a live value (layer_effect is not None)
    fin: Diff  # predicted CACC finals / SDP inputs that change
    out: Diff  # predicted SDP int8 outputs that change
    model_seconds: float  # nvdla_sim's time for the prediction (layer_effect)

    def describe(self) -> str:
        return f"#{self.id} {self.site.describe()} [{self.target.path}]"


@dataclass
class LayerCase:
    """One layer: stimulus files (L<index>_*.hex), golden captures, faults."""

    index: int
    name: str
    n_rows: int
    run_cycles: int
    cfg: dict[str, int]
    fin: np.ndarray
    fin_cycle: np.ndarray
    out: np.ndarray
    out_cycle: np.ndarray
    faults: list[FaultCase] = field(default_factory=list)


@dataclass
class Job:
    params: RtlParams
    layers: list[LayerCase]
    widths: dict[str, int]  # register path -> nvdla_sim width, checked against the RTL
    clock_ns: int = 10


@dataclass
class FaultOutcome:
    id: int
    agree: bool
    detail: str
    rtl_seconds: float
    changed_out: int  # SDP outputs the RTL changed (-1: unknown)
    changed_fin: int = -1  # CACC finals / SDP inputs the RTL changed


@dataclass
class LayerOutcome:
    index: int
    name: str
    cycles: int
    golden_ok: bool
    golden_detail: str
    golden_seconds: float
    faults: list[FaultOutcome] = field(default_factory=list)


@dataclass
class JobResult:
    layers: list[LayerOutcome] = field(default_factory=list)
    width_errors: list[str] = field(default_factory=list)
    error: str = ""


def save(obj, path: Path) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)


def load(path: Path):
    with open(path, "rb") as f:
        return pickle.load(f)
