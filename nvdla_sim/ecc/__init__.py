"""Weight memory as NVDLA stores it, with SEC-DED protection and fault models.

:mod:`.codes` (extended Hamming codes), :mod:`.layout` (weights in CDMA read
order, blocks, in-place and extra check bits), :mod:`.faults` (flips,
stuck-at cells, targeted bits; decoding; activation-memory faults) and
:mod:`.trials` (whole-inference trials on a protected network).
"""
