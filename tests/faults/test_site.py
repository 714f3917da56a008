"""Fault sites corrupt register values bit by bit (lanes: 8-bit fields of one register)."""

import numpy as np
import pytest

from nvdla_sim.faults.site import FaultSite


def _bits_reference(value: int, site: FaultSite, width: int) -> int:
    """Corrupt a two's-complement value bit by bit, as the hardware register would."""
    raw = value & ((1 << width) - 1)
    for b in range(site.bit, min(site.bit + site.bits, width)):
        if site.model == "flip":
            raw ^= 1 << b
        elif site.model == "stuck0":
            raw &= ~(1 << b)
        else:
            raw |= 1 << b
    return raw - (1 << width) if raw >> (width - 1) else raw


@pytest.mark.parametrize("model", ["flip", "stuck0", "stuck1"])
def test_lane_corruption_matches_bitwise_reference(model):
    rng = np.random.default_rng(2)
    lanes = rng.integers(-128, 128, (5, 8))
    for bit, bits in [(0, 1), (7, 1), (13, 1), (63, 1), (6, 3), (30, 5)]:  # (6, 3): two lanes
        site = FaultSite(0, "cmac.dat_actv", 0, bit, 0, model, bits)
        got = site.apply_lanes(lanes, 8)
        for row, out in zip(lanes, got):
            # the lanes side by side form one 64-bit register, lane 0 in the low bits
            word = sum((int(v) & 0xFF) << (8 * i) for i, v in enumerate(row))
            word = _bits_reference(word, site, 64) & ((1 << 64) - 1)
            want = [((word >> (8 * i)) & 0xFF) - (256 if (word >> (8 * i + 7)) & 1 else 0)
                    for i in range(8)]
            assert out.tolist() == want, (bit, bits)


def test_register_corruption_sign_extends():
    site = FaultSite(0, "cacc.abuf", 0, 33, 5)
    assert site.apply(0, 34) == -(1 << 33)
    assert site.apply(np.array([5, -1]), 34).tolist() == [5 - (1 << 33), (1 << 33) - 1]
    assert FaultSite(0, "cacc.abuf", 0, 2, 0, "stuck1", 2).apply(0, 34) == 12
