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

On the float datapaths (:mod:`nvdla_sim.floatpath`) registers hold float bit patterns
(``fmt`` names their :mod:`~nvdla_sim.value_bits` format): FP16 lanes, CMAC's FP44 partial
sums, CACC's FP48 assembly values, binary32 for what CACC delivers and every SDP
intermediate; the FP32 reference holds binary32 throughout.  The units tap them as
unsigned bit patterns, so a flipped bit is a bit of that format.

Widths depend on the precision (:class:`~nvdla_sim.precision.Precision`): a
spec's ``width`` and ``instances`` are those at the configuration's precision
and ``widths`` lists its width at every precision the hardware implements
(``width_at("int16")``), all from the same builder run once per precision, so
no unit keeps a second table.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from nvdla_sim.config import HardwareConfig
from nvdla_sim.errors import ConfigError
from nvdla_sim.precision import FP16, FP32, INT8, Precision, get_precision
from nvdla_sim.value_bits import NumberFormat, number_format

CACC_OUT_BITS = 32  # delivery to SDP (cmod ACCU_DELIVERY_BIT_WIDTH)
SDP_IN_BITS = 32
SDP_ALU_BITS = 33  # X-stage ALU result (operand shifted to 32 bits, plus the carry)
SDP_MUL_BITS = 49  # X-stage multiplier result (33 x 16 bits)
CDP_BITS = {"icvt": 9, "sqsum": 22, "lut": 16, "mul": 25}  # the INT8 CDP pipeline

VALUE_KINDS = ("activation", "weight", "partial sum", "accumulator", "sdp intermediate",
               "pdp intermediate", "cdp intermediate")
STORED_WEIGHT, STORED_ACTIVATION = "mem.weight", "mem.act"


@dataclass(frozen=True)
class RegisterSpec:
    name: str  # e.g. "cmac.wt_actv"
    width: int  # at the configuration's precision
    instances: int
    doc: str
    value: str  # the kind of value held (VALUE_KINDS)
    value_width: int = 0  # bits of one value; 0: the whole register is one value
    widths: tuple[tuple[str, int], ...] = ()  # (precision, width) for every implemented one
    fmt: str = ""  # number format of one value (value_bits) on a float datapath; "": int

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

    def value_bit(self, bit: int) -> tuple[int, int]:
        """(lane, bit within the value) of register bit ``bit``."""
        return divmod(bit, self.value_width)

    @property
    def value_group(self) -> str:
        """Kind and width of the value, e.g. ``activation (8-bit)``: bits compare within
        a group."""
        return f"{self.value} ({self.value_width}-bit)"

    def width_at(self, precision: str) -> int:
        """Width of the register at ``precision`` (KeyError if not implemented)."""
        return dict(self.widths)[precision]


Builder = Callable[[HardwareConfig, Precision], list[RegisterSpec]]


def _catalogue(cfg: HardwareConfig, build: Builder,
               precisions: tuple[str, ...] | None = None) -> list[RegisterSpec]:
    """``build`` at the configuration's precision, with each register's width at every
    precision in ``precisions`` (default: those the hardware implements)."""
    return list(_cached(cfg, build, precisions or cfg.precisions))


@lru_cache(maxsize=64)
def _cached(cfg: HardwareConfig, build: Builder, names: tuple[str, ...]
            ) -> tuple[RegisterSpec, ...]:
    at = {name: {r.name: r.width for r in build(cfg, get_precision(name))} for name in names}
    return tuple(dataclasses.replace(r, widths=tuple((name, at[name][r.name]) for name in names))
                 for r in build(cfg, cfg.prec))


FP44_BITS = 44  # CMAC FP16 partial sum: FP16_OEXP_BIT_WIDTH 6 + FP16_MUL_BIT_WIDTH 38


def _float_formats(prec: Precision) -> dict[str, tuple[int, str]]:
    """(width, format) of the float datapath's accumulation registers (cmac.h, cacc.h)."""
    if prec is FP16:
        mac, acc = (FP44_BITS, "fp44"), (prec.acc_bits, "fp48")
    else:
        mac = acc = (FP32.bits, FP32.name)
    return {"cmac.sum_out": mac, "cmac.mac_out": mac, "cacc.sum": acc, "cacc.abuf": acc,
            "cacc.out": (FP32.bits, FP32.name)}


def _conv(cfg: HardwareConfig, prec: Precision) -> list[RegisterSpec]:
    atom_bits, lane = cfg.mac_channels(prec) * prec.bits, prec.bits
    cells = cfg.kernel_group(prec)  # MAC cells at this precision (one kernel each)
    mac_result = 2 * prec.bits + (cfg.atom_c.bit_length() - 1)  # projects.spec
    regs = [
        RegisterSpec("cmac.dat_in", atom_bits, 2, "input data atom, retimed, one per CMAC half "
                     "(feeds that half's cells)", "activation", lane),
        RegisterSpec("cmac.dat_actv", atom_bits, cells, "data atom of the current atomic "
                     "operation, one copy per MAC cell", "activation", lane),
        RegisterSpec("cmac.wt_sd", atom_bits, cells, "shadow weights of the next stripe, "
                     "one kernel slice per cell", "weight", lane),
        RegisterSpec("cmac.wt_actv", atom_bits, cells, "active weights used by every atomic "
                     "operation of the stripe", "weight", lane),
        RegisterSpec("cmac.sum_out", mac_result, cells, "adder-tree result: one "
                     "partial sum per cell", "partial sum"),
        RegisterSpec("cmac.mac_out", mac_result, cells, "CMAC output register "
                     "towards CACC", "partial sum"),
        RegisterSpec("cacc.sum", prec.acc_bits + 1, cells, "accumulator adder output, before "
                     "saturation", "accumulator"),
        RegisterSpec("cacc.abuf", prec.acc_bits, 2 * cfg.atom_k * cells, "assembly buffer: "
                     "running sums of the stripe's pixels (entry * cells + cell)",
                     "accumulator"),
        RegisterSpec("cacc.out", CACC_OUT_BITS, cells, "final rounded result towards SDP",
                     "accumulator"),
    ]
    if prec.is_float:
        lanes_fmt, wide = prec.name, _float_formats(prec)
        regs = [dataclasses.replace(r, width=wide[r.name][0], value_width=0, fmt=wide[r.name][1])
                if r.name in wide else dataclasses.replace(r, fmt=lanes_fmt) for r in regs]
    return regs


def _sdp(cfg: HardwareConfig, prec: Precision) -> list[RegisterSpec]:
    """Float processing keeps every intermediate in binary32 (sdp_x.cpp ``xDataType``)."""
    sdp = "sdp intermediate"
    alu_bits, mul_bits = (FP32.bits, FP32.bits) if prec.is_float else (SDP_ALU_BITS,
                                                                         SDP_MUL_BITS)
    regs = [RegisterSpec("sdp.in", SDP_IN_BITS, 1, "element entering SDP", sdp)]
    for stage, present in (("bs", cfg.sdp_bs), ("bn", cfg.sdp_bn)):
        if present:
            regs += [RegisterSpec(f"sdp.{stage}_alu", alu_bits, 1,
                                  f"{stage.upper()} ALU result", sdp),
                     RegisterSpec(f"sdp.{stage}_mul", mul_bits, 1,
                                  f"{stage.upper()} multiplier result", sdp),
                     RegisterSpec(f"sdp.{stage}_out", SDP_IN_BITS, 1, f"{stage.upper()} stage "
                                  f"output (truncated, ReLU)", sdp)]
    if cfg.sdp_ew:
        regs += [RegisterSpec("sdp.ew_out", SDP_IN_BITS, 1, "EW stage output", sdp)]
    regs.append(RegisterSpec("sdp.out", prec.bits, 1, f"converted {prec.name} output",
                             "activation"))
    if prec.is_float:
        regs = [dataclasses.replace(r, fmt=prec.name if r.name == "sdp.out" else FP32.name)
                for r in regs]
    return regs


def _pdp(cfg: HardwareConfig, prec: Precision) -> list[RegisterSpec]:
    """FP16 windows pool into a 17-bit line buffer: FP17 sums for averages, FP16 values in
    its low 16 bits for max / min (``pdp_hls_wrapper.cpp``); the FP32 reference in
    binary32."""
    fmt, acc_bits = (prec.name, prec.bits) if prec.is_float else ("", prec.pdp_buffer_bits)
    acc_fmt, acc_bits = ("fp17", 17) if prec is FP16 else (fmt, acc_bits)
    return [RegisterSpec("pdp.in", prec.bits, 1, "input element", "activation", fmt=fmt),
            RegisterSpec("pdp.acc", acc_bits, 1, "window result before the "
                         "average division", "pdp intermediate", fmt=acc_fmt),
            RegisterSpec("pdp.out", prec.bits, 1, "pooled output element", "activation",
                         fmt=fmt)]


def _cdp(cfg: HardwareConfig, prec: Precision) -> list[RegisterSpec]:
    cdp = "cdp intermediate"
    return [RegisterSpec("cdp.icvt", CDP_BITS["icvt"], 1, "converted input element", cdp),
            RegisterSpec("cdp.sqsum", CDP_BITS["sqsum"], 1, "sum of squares over the window",
                         cdp),
            RegisterSpec("cdp.lut", CDP_BITS["lut"], 1, "lookup-table result", cdp),
            RegisterSpec("cdp.mul", CDP_BITS["mul"], 1, "LUT result times the element", cdp),
            RegisterSpec("cdp.out", prec.bits, 1, "converted int8 output", "activation")]


def conv_registers(cfg: HardwareConfig) -> list[RegisterSpec]:
    return _catalogue(cfg, _conv)


def sdp_registers(cfg: HardwareConfig) -> list[RegisterSpec]:
    return _catalogue(cfg, _sdp)


def pdp_registers(cfg: HardwareConfig) -> list[RegisterSpec]:
    return _catalogue(cfg, _pdp)


def cdp_registers(cfg: HardwareConfig) -> list[RegisterSpec]:
    """CDP is modelled at INT8 only (its INT16 LRN pipeline is not)."""
    return _catalogue(cfg, _cdp, precisions=(INT8.name,))


def stored_register(name: str, values: int, cfg: HardwareConfig, width: int = 0
                    ) -> RegisterSpec:
    """``values`` stored weights (``mem.weight``) or activations (``mem.act``), as one
    register of ``values`` one-value instances of ``width`` bits (default the
    configuration's element: INT4 weights are stored in 4)."""
    kinds = {STORED_WEIGHT: ("weight", "stored weight values of a convolution"),
             STORED_ACTIVATION: ("activation", "stored elements of an activation tensor")}
    value, doc = kinds[name]
    return RegisterSpec(name, width or cfg.bpe, values, doc, value)


def value_format(spec: RegisterSpec, precision: str) -> NumberFormat:
    """The number format of one value of ``spec`` (as the catalogue of a configuration
    computing ``precision`` builds it; bits named by :mod:`nvdla_sim.value_bits`): on the
    integer datapaths every register holds two's-complement integers of its value width;
    on a float datapath, the format the register declares (``fmt``), and stored values
    (``mem.*``) the precision's own format."""
    fmt = number_format(precision)
    if not fmt.is_float:
        return number_format(f"int{spec.value_width}")
    if spec.fmt:
        return number_format(spec.fmt)
    if spec.value in ("activation", "weight") and spec.value_width == fmt.bits:
        return fmt
    raise ConfigError(f"register {spec.name}: its {precision} value format is not declared")


def catalogue(cfg: HardwareConfig, weight_bits: int = 0) -> dict[str, RegisterSpec]:
    """Every register name of a configuration (all optional units, stored values with one
    instance; stored weights ``weight_bits`` wide when a program packs them narrower than
    its lanes, INT4), to look up what a name holds."""
    full = cfg.replace(sdp_bs=True, sdp_bn=True, sdp_ew=True)
    regs = (conv_registers(full) + sdp_registers(full) + pdp_registers(full)
            + cdp_registers(full) + [stored_register(STORED_WEIGHT, 1, cfg, weight_bits),
                                     stored_register(STORED_ACTIVATION, 1, cfg)])
    return {r.name: r for r in regs}
