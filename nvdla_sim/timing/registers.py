"""The datapath registers the fault model targets, per unit.

Each register has a name (``unit.register``, the same name as in the RTL of
``rtl_bridge``), a width in bits and a number of physical instances, both at
the configuration's precision, and its width at every precision the hardware
implements (``widths``): the catalogue is built once per precision from the
:class:`~nvdla_sim.precision.Precision` widths, so no unit keeps a second
table.  Which value an instance holds at a given cycle is the schedule's
business (:mod:`nvdla_sim.timing.schedule`); what a flipped bit does to the
result is the fault model's (:mod:`nvdla_sim.faults`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from nvdla_sim.config import HardwareConfig
from nvdla_sim.precision import INT8, Precision, get_precision

CACC_ACC_BITS = INT8.acc_bits  # INT8 assembly buffer (RTL NV_NVDLA_CACC_CALC_int8.v)
CACC_SUM_BITS = INT8.acc_bits + 1  # adder output before saturation
CACC_OUT_BITS = 32  # delivery to SDP (cmod ACCU_DELIVERY_BIT_WIDTH)
SDP_IN_BITS = 32
SDP_ALU_BITS = 33  # X-stage ALU result (operand shifted to 32 bits, plus the carry)
SDP_MUL_BITS = 49  # X-stage multiplier result (33 x 16 bits)
CDP_BITS = {"icvt": 9, "sqsum": 22, "lut": 16, "mul": 25}  # the INT8 CDP pipeline


@dataclass(frozen=True)
class RegisterSpec:
    name: str  # e.g. "cmac.wt_actv"
    width: int  # at the configuration's precision
    instances: int
    doc: str
    widths: tuple[tuple[str, int], ...] = ()  # (precision, width) for every implemented one

    @property
    def unit(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def bits(self) -> int:
        return self.width * self.instances

    def width_at(self, precision: str) -> int:
        """Width of the register's value at ``precision`` (KeyError if not implemented)."""
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
    return tuple(RegisterSpec(r.name, r.width, r.instances, r.doc,
                              tuple((name, at[name][r.name]) for name in names))
                 for r in build(cfg, cfg.prec))


def _conv(cfg: HardwareConfig, prec: Precision) -> list[RegisterSpec]:
    atom_bits = cfg.atom_c * prec.bits
    cells = cfg.kernel_group(prec)  # MAC cells at this precision (one kernel each)
    mac_result = 2 * prec.bits + (cfg.atom_c.bit_length() - 1)  # projects.spec
    return [
        RegisterSpec("cmac.dat_in", atom_bits, 2, "input data atom, retimed, one per CMAC half "
                     "(feeds that half's cells)"),
        RegisterSpec("cmac.dat_actv", atom_bits, cells, "data atom of the current atomic "
                     "operation, one copy per MAC cell"),
        RegisterSpec("cmac.wt_sd", atom_bits, cells, "shadow weights of the next stripe, "
                     "one kernel slice per cell"),
        RegisterSpec("cmac.wt_actv", atom_bits, cells, "active weights used by every atomic "
                     "operation of the stripe"),
        RegisterSpec("cmac.sum_out", mac_result, cells, "adder-tree result: one "
                     "partial sum per cell"),
        RegisterSpec("cmac.mac_out", mac_result, cells, "CMAC output register "
                     "towards CACC"),
        RegisterSpec("cacc.sum", prec.acc_bits + 1, cells, "accumulator adder output, before "
                     "saturation"),
        RegisterSpec("cacc.abuf", prec.acc_bits, 2 * cfg.atom_k * cells, "assembly buffer: "
                     "running sums of the stripe's pixels (entry * atom_k + kernel)"),
        RegisterSpec("cacc.out", CACC_OUT_BITS, cells, "final rounded result towards SDP"),
    ]


def _sdp(cfg: HardwareConfig, prec: Precision) -> list[RegisterSpec]:
    regs = [RegisterSpec("sdp.in", SDP_IN_BITS, 1, "element entering SDP")]
    for stage, present in (("bs", cfg.sdp_bs), ("bn", cfg.sdp_bn)):
        if present:
            regs += [RegisterSpec(f"sdp.{stage}_alu", SDP_ALU_BITS, 1,
                                  f"{stage.upper()} ALU result"),
                     RegisterSpec(f"sdp.{stage}_mul", SDP_MUL_BITS, 1,
                                  f"{stage.upper()} multiplier result"),
                     RegisterSpec(f"sdp.{stage}_out", SDP_IN_BITS, 1, f"{stage.upper()} stage "
                                  f"output (truncated, ReLU)")]
    if cfg.sdp_ew:
        regs += [RegisterSpec("sdp.ew_out", SDP_IN_BITS, 1, "EW stage output")]
    regs.append(RegisterSpec("sdp.out", prec.bits, 1, f"converted {prec.name} output"))
    return regs


def _pdp(cfg: HardwareConfig, prec: Precision) -> list[RegisterSpec]:
    return [RegisterSpec("pdp.in", prec.bits, 1, "input element"),
            RegisterSpec("pdp.acc", prec.pdp_buffer_bits, 1, "window result before the "
                         "average division"),
            RegisterSpec("pdp.out", prec.bits, 1, "pooled output element")]


def _cdp(cfg: HardwareConfig, prec: Precision) -> list[RegisterSpec]:
    return [RegisterSpec("cdp.icvt", CDP_BITS["icvt"], 1, "converted input element"),
            RegisterSpec("cdp.sqsum", CDP_BITS["sqsum"], 1, "sum of squares over the window"),
            RegisterSpec("cdp.lut", CDP_BITS["lut"], 1, "lookup-table result"),
            RegisterSpec("cdp.mul", CDP_BITS["mul"], 1, "LUT result times the element"),
            RegisterSpec("cdp.out", prec.bits, 1, "converted int8 output")]


def conv_registers(cfg: HardwareConfig) -> list[RegisterSpec]:
    return _catalogue(cfg, _conv)


def sdp_registers(cfg: HardwareConfig) -> list[RegisterSpec]:
    return _catalogue(cfg, _sdp)


def pdp_registers(cfg: HardwareConfig) -> list[RegisterSpec]:
    return _catalogue(cfg, _pdp)


def cdp_registers(cfg: HardwareConfig) -> list[RegisterSpec]:
    """CDP is modelled at INT8 only (its INT16 LRN pipeline is not)."""
    return _catalogue(cfg, _cdp, precisions=(INT8.name,))
