"""The datapath registers the fault model targets, per unit.

Each register has a name (``unit.register``, the same name as in the RTL of
``rtl_bridge``), a width in bits and a number of physical instances.  Which
value an instance holds at a given cycle is the schedule's business
(:mod:`nvdla_sim.timing.schedule`); what a flipped bit does to the result is
the fault model's (:mod:`nvdla_sim.faults`).

Each register also says what it holds, for analyses that compare bits by
their place in a value rather than in the register: ``value`` is the kind of
value (one of :data:`VALUE_KINDS`) and ``value_width`` its width in bits.  A
register of several lanes (a data atom, a weight slice: ``cfg.bpe``-bit
values side by side, lane 0 in the low bits) has ``value_width < width``;
register bit ``b`` is bit ``b % value_width`` of lane ``b // value_width``,
and a value's top bit is its sign.  ``mem.weight`` and ``mem.act`` stand for
values stored in memory (a weight, an activation tensor element) for faults
injected there (:mod:`nvdla_sim.campaign.stored`).
"""

from __future__ import annotations

from dataclasses import dataclass

from nvdla_sim.config import HardwareConfig

CACC_ACC_BITS = 34  # assembly buffer (RTL NV_NVDLA_CACC_CALC_int8.v)
CACC_SUM_BITS = 35  # adder output before saturation

VALUE_KINDS = ("activation", "weight", "partial sum", "accumulator", "sdp intermediate",
               "pdp intermediate", "cdp intermediate")
STORED_WEIGHT, STORED_ACTIVATION = "mem.weight", "mem.act"


@dataclass(frozen=True)
class RegisterSpec:
    name: str  # e.g. "cmac.wt_actv"
    width: int
    instances: int
    doc: str
    value: str  # the kind of value held (VALUE_KINDS)
    value_width: int = 0  # bits of one value; 0: the whole register is one value

    def __post_init__(self) -> None:
        if self.value not in VALUE_KINDS:
            raise ValueError(f"{self.name}: value kind {self.value!r} not in {VALUE_KINDS}")
        if self.value_width == 0:
            object.__setattr__(self, "value_width", self.width)
        if self.width % self.value_width:
            raise ValueError(f"{self.name}: {self.width} bits are not whole "
                             f"{self.value_width}-bit values")

    @property
    def unit(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def bits(self) -> int:
        return self.width * self.instances

    @property
    def lanes(self) -> int:
        """Values side by side in one instance."""
        return self.width // self.value_width

    @property
    def value_group(self) -> str:
        """Kind and width of the value, e.g. ``activation (8-bit)``: bits compare within
        a group."""
        return f"{self.value} ({self.value_width}-bit)"


def conv_registers(cfg: HardwareConfig) -> list[RegisterSpec]:
    atom_bits = cfg.atom_c * cfg.bpe
    cells = cfg.atom_k
    return [
        RegisterSpec("cmac.dat_in", atom_bits, 2, "input data atom, retimed, one per CMAC half "
                     "(feeds that half's cells)", "activation", cfg.bpe),
        RegisterSpec("cmac.dat_actv", atom_bits, cells, "data atom of the current atomic "
                     "operation, one copy per MAC cell", "activation", cfg.bpe),
        RegisterSpec("cmac.wt_sd", atom_bits, cells, "shadow weights of the next stripe, "
                     "one kernel slice per cell", "weight", cfg.bpe),
        RegisterSpec("cmac.wt_actv", atom_bits, cells, "active weights used by every atomic "
                     "operation of the stripe", "weight", cfg.bpe),
        RegisterSpec("cmac.sum_out", cfg.mac_result_width, cells, "adder-tree result: one "
                     "partial sum per cell", "partial sum"),
        RegisterSpec("cmac.mac_out", cfg.mac_result_width, cells, "CMAC output register "
                     "towards CACC", "partial sum"),
        RegisterSpec("cacc.sum", CACC_SUM_BITS, cells, "accumulator adder output, before "
                     "saturation", "accumulator"),
        RegisterSpec("cacc.abuf", CACC_ACC_BITS, 2 * cfg.atom_k * cells, "assembly buffer: "
                     "running sums of the stripe's pixels (entry * atom_k + kernel)", "accumulator"),
        RegisterSpec("cacc.out", 32, cells, "final rounded result towards SDP", "accumulator"),
    ]


def sdp_registers(cfg: HardwareConfig) -> list[RegisterSpec]:
    sdp = "sdp intermediate"
    regs = [RegisterSpec("sdp.in", 32, 1, "element entering SDP", sdp)]
    for stage, present in (("bs", cfg.sdp_bs), ("bn", cfg.sdp_bn)):
        if present:
            regs += [RegisterSpec(f"sdp.{stage}_alu", 33, 1, f"{stage.upper()} ALU result", sdp),
                     RegisterSpec(f"sdp.{stage}_mul", 49, 1, f"{stage.upper()} multiplier "
                                  f"result", sdp),
                     RegisterSpec(f"sdp.{stage}_out", 32, 1, f"{stage.upper()} stage output "
                                  f"(truncated, ReLU)", sdp)]
    if cfg.sdp_ew:
        regs += [RegisterSpec("sdp.ew_out", 32, 1, "EW stage output", sdp)]
    regs.append(RegisterSpec("sdp.out", cfg.bpe, 1, "converted int8 output", "activation"))
    return regs


def pdp_registers(cfg: HardwareConfig) -> list[RegisterSpec]:
    return [RegisterSpec("pdp.in", cfg.bpe, 1, "input element", "activation"),
            RegisterSpec("pdp.acc", 16, 1, "window result before the average division",
                        "pdp intermediate"),
            RegisterSpec("pdp.out", cfg.bpe, 1, "pooled output element", "activation")]


def cdp_registers(cfg: HardwareConfig) -> list[RegisterSpec]:
    cdp = "cdp intermediate"
    return [RegisterSpec("cdp.icvt", 9, 1, "converted input element", cdp),
            RegisterSpec("cdp.sqsum", 22, 1, "sum of squares over the window", cdp),
            RegisterSpec("cdp.lut", 16, 1, "lookup-table result", cdp),
            RegisterSpec("cdp.mul", 25, 1, "LUT result times the element", cdp),
            RegisterSpec("cdp.out", cfg.bpe, 1, "converted int8 output", "activation")]


def stored_register(name: str, values: int, cfg: HardwareConfig) -> RegisterSpec:
    """``values`` stored weights (``mem.weight``) or activations (``mem.act``), as one
    register of ``values`` one-value instances."""
    kinds = {STORED_WEIGHT: ("weight", "stored weight values of a convolution"),
             STORED_ACTIVATION: ("activation", "stored elements of an activation tensor")}
    value, doc = kinds[name]
    return RegisterSpec(name, cfg.bpe, values, doc, value)


def catalogue(cfg: HardwareConfig) -> dict[str, RegisterSpec]:
    """Every register name of a configuration (all optional units, stored values with one
    instance), to look up what a name holds."""
    full = cfg.replace(sdp_bs=True, sdp_bn=True, sdp_ew=True)
    regs = (conv_registers(full) + sdp_registers(full) + pdp_registers(full)
            + cdp_registers(full) + [stored_register(n, 1, cfg)
                                     for n in (STORED_WEIGHT, STORED_ACTIVATION)])
    return {r.name: r for r in regs}
