"""Functional models of NVDLA's units: pure, vectorized functions over whole cubes.

Cubes are numpy arrays indexed ``[channel, y, x]``.  No unit knows about
registers, timing or faults; the executor wires them together.
"""
