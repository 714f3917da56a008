"""Hardware configurations of NVDLA, as data.

Every size the simulator, compiler, timing and fault models use comes from a
:class:`HardwareConfig`; nothing else in the code base hard-codes nv_small's
numbers.  The built-in instances carry the values of NVDLA's ``spec/defs``
files (``nv_small.spec``, ``nv_small_256.spec``, ``nv_large.spec`` and the
derivations of ``projects.spec``); other configurations load from TOML.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from nvdla_sim.errors import ConfigError
from nvdla_sim.tomlfile import read_toml


@dataclass(frozen=True)
class HardwareConfig:
    """One NVDLA hardware instance (the switches of an NVDLA ``.spec`` file)."""

    name: str
    atom_c: int  # MAC_ATOMIC_C_SIZE: input channels per atomic operation
    atom_k: int  # MAC_ATOMIC_K_SIZE: kernels per atomic operation (= MAC cells)
    mem_atom: int  # MEMORY_ATOMIC_SIZE: bytes of one memory atom (= channels per int8 surface)
    cbuf_banks: int  # CBUF_BANK_NUMBER
    cbuf_bank_width: int  # CBUF_BANK_WIDTH in bytes per entry
    cbuf_bank_depth: int  # CBUF_BANK_DEPTH in entries
    bpe: int = 8  # bits per element of the feature datapath
    sdp_bs: bool = True
    sdp_bn: bool = True
    sdp_ew: bool = False
    sdp_lut: bool = False
    pdp: bool = True
    cdp: bool = True
    weight_compression: bool = False
    winograd: bool = False
    batch: bool = False
    sdp_throughput: int = 1  # SDP_BS_THROUGHPUT: elements per cycle
    pdp_throughput: int = 1
    cdp_throughput: int = 1
    mem_width_bits: int = 64  # PRIMARY_MEMIF_WIDTH
    mem_latency: int = 50  # PRIMARY_MEMIF_LATENCY (cycles)

    def __post_init__(self) -> None:
        for field in ("atom_c", "atom_k", "mem_atom", "cbuf_banks", "cbuf_bank_width",
                      "cbuf_bank_depth"):
            value = getattr(self, field)
            if value <= 0 or value & (value - 1):
                raise ConfigError(f"config {self.name!r}: {field} must be a power of two, got {value}")

    @property
    def mac_result_width(self) -> int:
        """Adder-tree output width: 2*BPE + log2(atomic C) (projects.spec)."""
        return 2 * self.bpe + (self.atom_c.bit_length() - 1)

    @property
    def cbuf_bank_bytes(self) -> int:
        return self.cbuf_bank_width * self.cbuf_bank_depth

    def channels_padded(self, channels: int) -> int:
        """Channels rounded up to whole memory atoms (what readers/writers move)."""
        return -(-channels // self.mem_atom) * self.mem_atom

    def surfaces(self, channels: int) -> int:
        return -(-channels // self.mem_atom)

    def replace(self, **changes: object) -> "HardwareConfig":
        return dataclasses.replace(self, **changes)


NV_SMALL = HardwareConfig(
    name="nv_small", atom_c=8, atom_k=8, mem_atom=8,
    cbuf_banks=32, cbuf_bank_width=8, cbuf_bank_depth=512,
)
NV_SMALL_256 = HardwareConfig(
    name="nv_small_256", atom_c=32, atom_k=8, mem_atom=8,
    cbuf_banks=32, cbuf_bank_width=32, cbuf_bank_depth=128,
)
NV_LARGE = HardwareConfig(
    name="nv_large", atom_c=64, atom_k=32, mem_atom=32,
    cbuf_banks=16, cbuf_bank_width=64, cbuf_bank_depth=512,
    sdp_ew=True, sdp_lut=True, weight_compression=True, winograd=True, batch=True,
    sdp_throughput=16, pdp_throughput=8, cdp_throughput=8, mem_width_bits=512, mem_latency=1200,
)
# nv_full (nvdla/hw branch nvdlav1, doc/hw/v1/hwarch.rst): the nv_large datapath
# with every optional unit; INT8 sizes (atomic K doubles for INT8 relative to INT16).
NV_FULL = NV_LARGE.replace(name="nv_full")

CONFIGS: dict[str, HardwareConfig] = {c.name: c for c in (NV_SMALL, NV_SMALL_256, NV_LARGE, NV_FULL)}
DEFAULT_CONFIG = NV_SMALL


def get_config(name_or_path: str | Path | HardwareConfig | None = None) -> HardwareConfig:
    """Resolve a config name (``nv_small`` ...) or a TOML file path."""
    if name_or_path is None:
        return DEFAULT_CONFIG
    if isinstance(name_or_path, HardwareConfig):
        return name_or_path
    key = str(name_or_path)
    if key in CONFIGS:
        return CONFIGS[key]
    path = Path(key)
    if path.suffix == ".toml":
        return load_config_toml(path)
    raise ConfigError(f"unknown hardware config {key!r}: expected one of "
                      f"{', '.join(CONFIGS)} or a .toml file")


def load_config_toml(path: Path) -> HardwareConfig:
    """Load a config; a ``base = "nv_small"`` key starts from a built-in one."""
    data = read_toml(path, "config")
    table = data.get("hardware", data)
    base = CONFIGS.get(table.pop("base", "nv_small"))
    if base is None:
        raise ConfigError(f"{path}: unknown base config; expected one of {', '.join(CONFIGS)}")
    known = {f.name for f in dataclasses.fields(HardwareConfig)}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(unknown)}; expected some of "
                          f"{', '.join(sorted(known))}")
    table.setdefault("name", path.stem)
    return base.replace(**table)
