"""SystemVerilog sources of the datapath slices (package data)."""
