"""NVDLA's own nv_small trace tests: every CRC must match, bit for bit."""

from __future__ import annotations

import pytest

from nvdla_sim.trace import run_trace
from tests.conftest import nv_small_traces, traces_root

TESTS = nv_small_traces()


@pytest.mark.skipif(not TESTS, reason=f"NVDLA traces not found at {traces_root()}/nv_small "
                                      f"(set NVDLA_TRACES to the folder holding nv_small/)")
@pytest.mark.parametrize("test_dir", TESTS, ids=[t.name for t in TESTS])
def test_trace_crc(test_dir):
    result = run_trace(test_dir)
    assert result.error is None, result.error
    assert result.checks, "trace checks no CRC"
    for check in result.checks:
        assert check.actual == check.expected, (
            f"line {check.line}: CRC of [{check.address:#x}, +{check.size:#x}) "
            f"expected {check.expected:#010x}, got {check.actual:#010x}")


def test_suite_is_complete():
    if not TESTS:
        pytest.skip("NVDLA traces not found")
    assert len(TESTS) == 74
