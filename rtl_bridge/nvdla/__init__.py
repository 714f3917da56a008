"""NVIDIA's own NVDLA RTL (``NV_nvdla``, nv_small) under cocotb + Verilator.

:mod:`.build` finds the RTL and builds it once per configuration; :mod:`.bench`
is the cocotb side (CSB driver, AXI memory, trace player, fault injection)
that runs inside the simulator; :mod:`.run` launches it from Python.
See docs/rtl-bridge.md.
"""
