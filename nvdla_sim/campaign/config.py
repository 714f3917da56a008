"""Campaign configuration: one frozen dataclass, loadable from TOML, stored in every result.

Every value, from a TOML file, an option or the Python API, passes the same
checks (:func:`problem`): its type (a bool is not an integer, ``"false"`` is
not a bool), its range and its key; the error names the file and line, the
option, or the field.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from nvdla_sim.errors import ConfigError
from nvdla_sim.tomlfile import read_toml

FAULT_MODELS = ("flip", "stuck0", "stuck1", "weight-ber", "stored-flip")
SAMPLINGS = ("uniform", "stratified")
STRATA = ("layer", "unit", "register", "bit", "value")

# the automatic chunk: a multiple of CHUNK_STEP in [CHUNK_STEP, CHUNK_MAX] whose faults'
# copies of the network's tensors, were every fault to change every tensor, fit in
# CHUNK_BUDGET bytes (LeNet-5: 43 KB of tensors, chunk 8000; ResNet-18 at width 0.125
# on 32x32: 363 KB, chunk 2000; measured: 62 MB allocated above the golden runs)
CHUNK_STEP, CHUNK_MAX, CHUNK_BUDGET = 1000, 8000, 1 << 30


def auto_chunk(tensor_bytes: int) -> int:
    """The chunk of a campaign whose network's tensors (one inference) take
    ``tensor_bytes``: larger chunks share more fixed per-layer work (one thread: LeNet-5
    runs 1.5x faster at 8000 than at 1000, ResNet-18 1.1x at 2000) while a fault holds a
    copy of each tensor it changed."""
    fits = CHUNK_BUDGET // (max(1, tensor_bytes) * CHUNK_STEP) * CHUNK_STEP
    return int(min(CHUNK_MAX, max(CHUNK_STEP, fits)))


@dataclass(frozen=True)
class CampaignConfig:
    model: str = "zoo:lenet5"
    hardware: str = "nv_small"
    precision: str = "int8"  # compile precision (compiler.precisions): int8 int16 fp16 fp32 int4
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
    # batch more (LeNet-5: 8000 runs 1.5x faster than 1000) and hold more memory
    # (ResNet-18: 41 MB above the golden runs at 1000, 62 MB at 2000); 0: chosen from
    # the network (auto_chunk)
    chunk: int = 0
    margin: float = 0.01  # target margin of error (reported with the sample size)
    confidence: float = 0.95
    ber: tuple[float, ...] = (1e-6, 1e-5, 1e-4, 1e-3)  # weight-ber: bit-error rates
    trials: int = 5  # weight-ber: random error patterns per rate
    out: str = "results/campaign.h5"
    extra: dict = field(default_factory=dict, compare=False)  # model options (input size ...)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            issue = problem(f.name, getattr(self, f.name))
            if issue:
                raise ConfigError(f"campaign {f.name} {issue}")
        if self.fault_model not in ("flip", "stored-flip") and self.bits != 1:
            raise ConfigError("multi-bit upsets (bits > 1) are transient: use fault_model = flip")

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        data.pop("out")  # where results go does not change them
        return json.dumps(data, sort_keys=True)

    def replace(self, **changes) -> "CampaignConfig":
        """A copy with the given (non-None) values; a bad one is named as its option
        (``--injections``)."""
        changes = {k: v for k, v in changes.items() if v is not None}
        for key, value in changes.items():
            issue = problem(key, value)
            if issue:
                raise ConfigError(f"--{key.replace('_', '-')} {issue}")
        if "ber" in changes:
            changes["ber"] = tuple(changes["ber"])
        return dataclasses.replace(self, **changes)


_CHOICES = {"fault_model": FAULT_MODELS, "sampling": SAMPLINGS, "stratify_by": STRATA}
_AT_LEAST_1 = ("images", "injections", "bits", "trials")
_TEXT = ("model", "hardware", "dataset", "out")
_EXTRA = {"input_size": "a list of 3 positive integers [C, H, W]",
          "classes": "an integer >= 1", "seed": "an integer >= 0"}


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def problem(key: str, value: object) -> str | None:
    """What is wrong with ``value`` for campaign field ``key`` ("must be ..., got ..."),
    or None when it is fine."""
    got = f"got {value!r}"
    if key == "precision":
        from compiler.precisions import PRECISIONS
        if value not in PRECISIONS:
            return f"must be one of {', '.join(PRECISIONS)}, {got}"
    elif key in _CHOICES:
        if value not in _CHOICES[key]:
            return f"must be one of {', '.join(_CHOICES[key])}, {got}"
    elif key in _AT_LEAST_1:
        if not _is_int(value) or value < 1:
            return f"must be an integer >= 1, {got}"
    elif key in ("seed", "chunk"):
        if not _is_int(value) or value < 0:
            return f"must be an integer >= 0, {got}"
    elif key in _TEXT:
        if not isinstance(value, str) or not value:
            return f"must be a non-empty string, {got}"
    elif key == "run_level":
        if not isinstance(value, bool):
            return f"must be true or false (a boolean, not a string), {got}"
    elif key in ("margin", "confidence"):
        if not _is_real(value) or not 0 < value < 1:
            return f"must be a number between 0 and 1 (exclusive), {got}"
    elif key == "ber":
        if (not isinstance(value, (list, tuple)) or not value
                or not all(_is_real(b) and 0 <= b <= 1 for b in value)):
            return f"must be a non-empty list of bit-error rates in [0, 1], {got}"
    elif key == "extra":
        if not isinstance(value, dict):
            return f"must be a table of model options ({', '.join(_EXTRA)}), {got}"
        for name, item in value.items():
            if name not in _EXTRA:
                return f"has unknown key {name!r}; known keys: {', '.join(_EXTRA)}"
            ok = (isinstance(item, (list, tuple)) and len(item) == 3
                  and all(_is_int(v) and v > 0 for v in item) if name == "input_size"
                  else _is_int(item) and item >= (1 if name == "classes" else 0))
            if not ok:
                return f"{name} must be {_EXTRA[name]}, got {item!r}"
    else:
        known = ", ".join(f.name for f in dataclasses.fields(CampaignConfig))
        return f"is not a campaign key; known keys: {known}"
    return None


def _line_of(text: str, key: str) -> str:
    """``:N`` of the line that sets ``key`` (or opens table ``[key]``) in a TOML text, or ""
    when not found."""
    k = re.escape(key)
    m = re.search(rf"^[ \t]*(\[[ \t]*(campaign\.)?{k}[ \t]*[\].]|\"?{k}\"?[ \t]*=)", text, re.MULTILINE)
    return f":{text.count(chr(10), 0, m.start()) + 1}" if m else ""


def load_campaign_toml(path: Path) -> CampaignConfig:
    """The [campaign] table of a TOML file (a file without the table holds its keys at
    the top); any other key or table is an error naming the file and line."""
    data = read_toml(path, "campaign")
    text = Path(path).read_text()
    table = data
    if isinstance(data.get("campaign"), dict):
        table = dict(data["campaign"])
        outside = sorted(set(data) - {"campaign"})
        if outside:
            key = outside[0]
            raise ConfigError(f"{path}{_line_of(text, key)}: {key!r} is outside the "
                              f"[campaign] table; put every campaign key under [campaign]")
    for key, value in table.items():
        issue = problem(key, value)
        if issue:
            raise ConfigError(f"{path}{_line_of(text, key)}: [campaign] {key} {issue}")
    if "ber" in table:
        table["ber"] = tuple(table["ber"])
    try:
        return CampaignConfig(**table)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
