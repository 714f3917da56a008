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
from nvdla_sim.precision import INT8, Precision, get_precision
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
    precision: str = "int8"  # the datapath precision compiled programs and the fault model use
    precisions: tuple[str, ...] = ("int8",)  # precisions the hardware implements
    csb_layout: str = "small"  # unit base addresses on the CSB: "small" or "full" (regmap)
    secondary_memory: bool = False  # SECONDARY_MEMIF_ENABLE: CVSRAM (RAM type 0)
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
        object.__setattr__(self, "precisions", tuple(self.precisions))  # JSON / TOML lists
        for field in ("atom_c", "atom_k", "mem_atom", "cbuf_banks", "cbuf_bank_width",
                      "cbuf_bank_depth"):
            value = getattr(self, field)
            if value <= 0 or value & (value - 1):
                raise ConfigError(f"config {self.name!r}: {field} must be a power of two, got {value}")
        for name in (self.precision, *self.precisions):
            get_precision(name)  # a known name (one-line error otherwise)
        if self.precision not in self.precisions:
            raise ConfigError(f"config {self.name!r}: precision {self.precision!r} is not one "
                              f"of the precisions it implements ({', '.join(self.precisions)})")

    @property
    def prec(self) -> Precision:
        """The :class:`Precision` of compiled programs on this configuration."""
        return get_precision(self.precision)

    @property
    def bpe(self) -> int:
        """Bits per element of the feature datapath (BPE) at the configured precision."""
        return self.prec.bits

    @property
    def mac_result_width(self) -> int:
        """Adder-tree output width: 2*BPE + log2(atomic C) (projects.spec)."""
        return 2 * self.bpe + (self.atom_c.bit_length() - 1)

    @property
    def cbuf_bank_bytes(self) -> int:
        return self.cbuf_bank_width * self.cbuf_bank_depth

    def atom_channels(self, prec: Precision = INT8) -> int:
        """Channels in one memory atom at ``prec`` (MEMORY_ATOMIC_SIZE / element bytes)."""
        return self.mem_atom // prec.element_bytes

    def kernel_group(self, prec: Precision = INT8) -> int:
        """Kernels per weight group at ``prec``: atomic K counts INT8 kernels; a 16-bit
        MAC cell holds one kernel where it holds two INT8 ones (cmod csc
        KERNEL_PER_GROUP_INT8 = 32, _INT16 = _FP16 = 16 on nv_full).  The FP32 reference
        datapath keeps one kernel per cell (16 on nv_full)."""
        return self.atom_k // min(prec.element_bytes, 2)

    def mac_channels(self, prec: Precision = INT8) -> int:
        """Input channels of one atomic operation (a MAC cell's lanes) at ``prec``: atomic C
        for 8- and 16-bit elements (cmod cmac ``PARALLEL_CHANNEL_NUM`` = 64 for INT8,
        INT16 and FP16 on nv_full); the FP32 reference datapath fits half as many 4-byte
        elements in the same operand bytes (32 on nv_full)."""
        return self.atom_c * 2 // max(prec.element_bytes, 2)

    def channels_padded(self, channels: int, prec: Precision = INT8) -> int:
        """Channels rounded up to whole memory atoms (what readers/writers move)."""
        atom = self.atom_channels(prec)
        return -(-channels // atom) * atom

    def surfaces(self, channels: int, prec: Precision = INT8) -> int:
        return -(-channels // self.atom_channels(prec))

    @classmethod
    def from_dict(cls, data: dict) -> "HardwareConfig":
        """A config saved as a dict (program and result files); files written before
        precisions were data carry ``bpe`` instead of ``precision``."""
        data = dict(data)
        bpe = data.pop("bpe", None)
        if bpe is not None and "precision" not in data:
            data["precision"] = f"int{bpe}"
        return cls(**data)

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
    csb_layout="full", secondary_memory=True,
)
# nv_full (nvdla/hw branch nvdlav1, spec/defs/nv_full.spec, doc/hw/v1/hwarch.rst): the
# nv_large datapath with every optional unit and the INT16 and FP16 datapaths; INT8 sizes
# (atomic K doubles for INT8 relative to INT16, see HardwareConfig.kernel_group).  fp32
# is listed as the reference datapath it can run (not NVDLA hardware: precision.FP32).
NV_FULL = NV_LARGE.replace(name="nv_full", precisions=("int8", "int16", "fp16", "fp32"))

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
