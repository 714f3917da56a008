"""Campaign configuration: one frozen dataclass, loadable from TOML, stored in every result."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from nvdla_sim.errors import ConfigError
from nvdla_sim.tomlfile import read_toml

FAULT_MODELS = ("flip", "stuck0", "stuck1", "weight-ber", "stored-flip")
SAMPLINGS = ("uniform", "stratified")
STRATA = ("layer", "unit", "register", "bit", "value")


@dataclass(frozen=True)
class CampaignConfig:
    model: str = "zoo:lenet5"
    hardware: str = "nv_small"
    dataset: str = "mnist"  # "mnist" (held-out test images), "random" or a labelled .npz
    images: int = 100  # inputs the injections are spread over
    injections: int = 10_000
    fault_model: str = "flip"
    bits: int = 1  # adjacent bits per upset (multi-bit upset when > 1)
    run_level: bool = False  # stuck-at faults hold in every layer of the run
    sampling: str = "uniform"
    stratify_by: str = "register"
    seed: int = 0
    # injections injected together (downstream runs batched) and flushed; larger chunks
    # batch more (LeNet-5: 1000 runs ~1.3x faster than 500) and hold more memory
    # (ResNet-18: ~250 MB above the golden runs at 1000)
    chunk: int = 1000
    margin: float = 0.01  # target margin of error (reported with the sample size)
    confidence: float = 0.95
    ber: tuple[float, ...] = (1e-6, 1e-5, 1e-4, 1e-3)  # weight-ber: bit-error rates
    trials: int = 5  # weight-ber: random error patterns per rate
    out: str = "results/campaign.h5"
    extra: dict = field(default_factory=dict, compare=False)  # model options (input size ...)

    def __post_init__(self) -> None:
        checks = [("fault_model", FAULT_MODELS), ("sampling", SAMPLINGS),
                  ("stratify_by", STRATA)]
        for name, allowed in checks:
            if getattr(self, name) not in allowed:
                raise ConfigError(f"campaign {name} must be one of {', '.join(allowed)}, "
                                  f"got {getattr(self, name)!r}")
        for name in ("images", "injections", "chunk", "bits", "trials"):
            if getattr(self, name) < 1:
                raise ConfigError(f"campaign {name} must be at least 1, got {getattr(self, name)}")
        if self.fault_model not in ("flip", "stored-flip") and self.bits != 1:
            raise ConfigError("multi-bit upsets (bits > 1) are transient: use fault_model = flip")

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        data.pop("out")  # where results go does not change them
        return json.dumps(data, sort_keys=True)

    def replace(self, **changes) -> "CampaignConfig":
        changes = {k: v for k, v in changes.items() if v is not None}
        if "ber" in changes:
            changes["ber"] = tuple(changes["ber"])
        return dataclasses.replace(self, **changes)


def load_campaign_toml(path: Path) -> CampaignConfig:
    data = read_toml(path, "campaign")
    table = dict(data.get("campaign", data))
    known = {f.name for f in dataclasses.fields(CampaignConfig)}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(unknown)} in [campaign]; "
                          f"known keys: {', '.join(sorted(known - {'extra'}))}")
    if "ber" in table:
        table["ber"] = tuple(float(b) for b in table["ber"])
    try:
        return CampaignConfig(**table)
    except TypeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
