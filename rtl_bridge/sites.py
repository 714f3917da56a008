"""One-to-one map between nvdla_sim's fault-site registers and the RTL's registers.

nvdla_sim names a register ``unit.register`` with an instance number
(:mod:`nvdla_sim.timing.registers`); the RTL of ``rtl_bridge/rtl`` has one
SystemVerilog variable per instance.  Paths are relative to the harness
top (``nvfi_tb_top``); ``u_dp`` is the datapath (``nvfi_datapath``).
"""

from __future__ import annotations

from dataclasses import dataclass

from nvdla_sim.config import HardwareConfig
from nvdla_sim.timing.registers import RegisterSpec, conv_registers, sdp_registers

DP = "u_dp"

# nvdla_sim register -> (path template, module holding the variable, variable name)
# {i}: instance; for cacc.abuf {e} = instance // atom_k (entry), {k} = instance % atom_k (lane)
RTL_REGISTERS: dict[str, tuple[str, str, str]] = {
    "cmac.dat_in": (f"{DP}.u_cmac.g_half[{{i}}].dat_in", "nvfi_cmac", "dat_in"),
    "cmac.dat_actv": (f"{DP}.u_cmac.g_cell[{{i}}].u_cell.dat_actv", "nvfi_mac_cell", "dat_actv"),
    "cmac.wt_sd": (f"{DP}.u_cmac.g_cell[{{i}}].u_cell.wt_sd", "nvfi_mac_cell", "wt_sd"),
    "cmac.wt_actv": (f"{DP}.u_cmac.g_cell[{{i}}].u_cell.wt_actv", "nvfi_mac_cell", "wt_actv"),
    "cmac.sum_out": (f"{DP}.u_cmac.g_cell[{{i}}].u_cell.sum_out", "nvfi_mac_cell", "sum_out"),
    "cmac.mac_out": (f"{DP}.u_cmac.g_cell[{{i}}].u_cell.mac_out", "nvfi_mac_cell", "mac_out"),
    "cacc.sum": (f"{DP}.u_cacc.g_lane[{{i}}].u_lane.sum", "nvfi_cacc_lane", "sum"),
    "cacc.abuf": (f"{DP}.u_cacc.g_lane[{{k}}].u_lane.g_ent[{{e}}].abuf", "nvfi_cacc_lane", "abuf"),
    "cacc.out": (f"{DP}.u_cacc.g_lane[{{i}}].u_lane.out", "nvfi_cacc_lane", "out"),
    "sdp.in": (f"{DP}.u_sdp.in", "nvfi_sdp", "in"),
    "sdp.bs_alu": (f"{DP}.u_sdp.g_bs.u_bs.alu", "nvfi_sdp_x", "alu"),
    "sdp.bs_mul": (f"{DP}.u_sdp.g_bs.u_bs.mul", "nvfi_sdp_x", "mul"),
    "sdp.bs_out": (f"{DP}.u_sdp.g_bs.u_bs.out", "nvfi_sdp_x", "out"),
    "sdp.bn_alu": (f"{DP}.u_sdp.g_bn.u_bn.alu", "nvfi_sdp_x", "alu"),
    "sdp.bn_mul": (f"{DP}.u_sdp.g_bn.u_bn.mul", "nvfi_sdp_x", "mul"),
    "sdp.bn_out": (f"{DP}.u_sdp.g_bn.u_bn.out", "nvfi_sdp_x", "out"),
    "sdp.out": (f"{DP}.u_sdp.out", "nvfi_sdp", "out"),
}


def modelled_registers(cfg: HardwareConfig) -> list[RegisterSpec]:
    """nvdla_sim's registers of the slices this RTL implements (for ``cfg``)."""
    regs = conv_registers(cfg) + sdp_registers(cfg)
    return [r for r in regs if r.name in RTL_REGISTERS]


def unmodelled_registers(cfg: HardwareConfig) -> list[str]:
    """Registers of nvdla_sim's CMAC/CACC/SDP catalog that the RTL lacks (e.g. EW)."""
    regs = conv_registers(cfg) + sdp_registers(cfg)
    return [r.name for r in regs if r.name not in RTL_REGISTERS]


def rtl_path(register: str, instance: int, atom_k: int) -> str:
    """Hierarchical path (below the harness top) of one register instance."""
    try:
        template = RTL_REGISTERS[register][0]
    except KeyError:
        raise KeyError(f"register {register} has no RTL counterpart in rtl_bridge") from None
    e, k = divmod(instance, atom_k)
    return template.format(i=instance, e=e, k=k)


# harness signals the cocotb testbench reads or writes
HARNESS_PUBLIC = ("clk", "rst", "start", "load", "dump", "n_rows", "layer_id", "running", "cyc",
                  "n_fin", "n_out", "overflow")


def forceable_vlt() -> str:
    """Verilator control file: every fault-site register is public (read and deposited
    through VPI) and forceable bit by bit (``<var>__VforceEn`` / ``<var>__VforceVal``,
    which stuck-at faults use).  Nothing else needs to be public, which keeps the model
    fast (cocotb's default ``--public-flat-rw`` makes it several times slower)."""
    lines = ["`verilator_config"]
    for var in HARNESS_PUBLIC:
        lines.append(f'public_flat_rw -module "nvfi_tb_top" -var "{var}"')
    seen = set()
    for _, module, var in RTL_REGISTERS.values():
        if (module, var) not in seen:
            seen.add((module, var))
            lines.append(f'public_flat_rw -module "{module}" -var "{var}"')
            lines.append(f'forceable -module "{module}" -var "{var}"')
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class RtlTarget:
    """Where and how one fault acts in the RTL."""

    path: str
    width: int
    mask: int  # affected bits of the register
    model: str  # flip, stuck0, stuck1
    cycle: int  # flips: layer cycle whose starting edge is followed by the upset


def rtl_target(site, spec: RegisterSpec, atom_k: int) -> RtlTarget:
    """The RTL view of an nvdla_sim :class:`~nvdla_sim.faults.site.FaultSite`.

    Register bit ``b`` is RTL bit ``b`` of the variable: atom-wide registers are
    packed lane 0 in bits 7..0, so bit ``b`` is bit ``b % 8`` of lane ``b // 8`` as
    the fault model numbers them.
    """
    return RtlTarget(rtl_path(site.register, site.instance, atom_k), spec.width,
                     site.mask(spec.width), site.model, site.cycle)
