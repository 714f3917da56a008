"""Simulation harness (SystemVerilog) and the cocotb testbench."""
