"""RTL bridge: SystemVerilog datapath slices (CMAC, CACC, SDP) cross-checked against
nvdla_sim with cocotb and Verilator, fault-free and under injected faults.

See docs/rtl-bridge.md.  Entry point: :func:`rtl_bridge.crosscheck.rtl_check`.
"""

from rtl_bridge.sites import RTL_REGISTERS, rtl_path

__all__ = ["RTL_REGISTERS", "rtl_path", "rtl_check"]


def rtl_check(*args, **kwargs):
    """See :func:`rtl_bridge.crosscheck.rtl_check`."""
    from rtl_bridge.crosscheck import rtl_check as check  # noqa: PLC0415

    return check(*args, **kwargs)
