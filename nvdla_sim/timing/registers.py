"""The datapath registers the fault model targets, per unit.

Each register has a name (``unit.register``, the same name as in the RTL of
``rtl_bridge``), a width in bits and a number of physical instances.  Which
value an instance holds at a given cycle is the schedule's business
(:mod:`nvdla_sim.timing.schedule`); what a flipped bit does to the result is
the fault model's (:mod:`nvdla_sim.faults`).
"""

from __future__ import annotations

from dataclasses import dataclass

from nvdla_sim.config import HardwareConfig

CACC_ACC_BITS = 34  # assembly buffer (RTL NV_NVDLA_CACC_CALC_int8.v)
CACC_SUM_BITS = 35  # adder output before saturation


@dataclass(frozen=True)
class RegisterSpec:
    name: str  # e.g. "cmac.wt_actv"
    width: int
    instances: int
    doc: str

    @property
    def unit(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def bits(self) -> int:
        return self.width * self.instances


def conv_registers(cfg: HardwareConfig) -> list[RegisterSpec]:
    atom_bits = cfg.atom_c * cfg.bpe
    cells = cfg.atom_k
    return [
        RegisterSpec("cmac.dat_in", atom_bits, 2, "input data atom, retimed, one per CMAC half "
                     "(feeds that half's cells)"),
        RegisterSpec("cmac.dat_actv", atom_bits, cells, "data atom of the current atomic "
                     "operation, one copy per MAC cell"),
        RegisterSpec("cmac.wt_sd", atom_bits, cells, "shadow weights of the next stripe, "
                     "one kernel slice per cell"),
        RegisterSpec("cmac.wt_actv", atom_bits, cells, "active weights used by every atomic "
                     "operation of the stripe"),
        RegisterSpec("cmac.sum_out", cfg.mac_result_width, cells, "adder-tree result: one "
                     "partial sum per cell"),
        RegisterSpec("cmac.mac_out", cfg.mac_result_width, cells, "CMAC output register "
                     "towards CACC"),
        RegisterSpec("cacc.sum", CACC_SUM_BITS, cells, "accumulator adder output, before "
                     "saturation"),
        RegisterSpec("cacc.abuf", CACC_ACC_BITS, 2 * cfg.atom_k * cells, "assembly buffer: "
                     "running sums of the stripe's pixels (entry * atom_k + kernel)"),
        RegisterSpec("cacc.out", 32, cells, "final rounded result towards SDP"),
    ]


def sdp_registers(cfg: HardwareConfig) -> list[RegisterSpec]:
    regs = [RegisterSpec("sdp.in", 32, 1, "element entering SDP")]
    for stage, present in (("bs", cfg.sdp_bs), ("bn", cfg.sdp_bn)):
        if present:
            regs += [RegisterSpec(f"sdp.{stage}_alu", 33, 1, f"{stage.upper()} ALU result"),
                     RegisterSpec(f"sdp.{stage}_mul", 49, 1, f"{stage.upper()} multiplier "
                                  f"result"),
                     RegisterSpec(f"sdp.{stage}_out", 32, 1, f"{stage.upper()} stage output "
                                  f"(truncated, ReLU)")]
    if cfg.sdp_ew:
        regs += [RegisterSpec("sdp.ew_out", 32, 1, "EW stage output")]
    regs.append(RegisterSpec("sdp.out", 8, 1, "converted int8 output"))
    return regs


def pdp_registers(cfg: HardwareConfig) -> list[RegisterSpec]:
    return [RegisterSpec("pdp.in", cfg.bpe, 1, "input element"),
            RegisterSpec("pdp.acc", 16, 1, "window result before the average division"),
            RegisterSpec("pdp.out", cfg.bpe, 1, "pooled output element")]


def cdp_registers(cfg: HardwareConfig) -> list[RegisterSpec]:
    return [RegisterSpec("cdp.icvt", 9, 1, "converted input element"),
            RegisterSpec("cdp.sqsum", 22, 1, "sum of squares over the window"),
            RegisterSpec("cdp.lut", 16, 1, "lookup-table result"),
            RegisterSpec("cdp.mul", 25, 1, "LUT result times the element"),
            RegisterSpec("cdp.out", cfg.bpe, 1, "converted int8 output")]
