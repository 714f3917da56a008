"""NVDLA's INT16 trace-player tests on nv_full: every dumped byte must match NVDLA's."""

from __future__ import annotations

import pytest

from nvdla_sim.config import NV_FULL
from nvdla_sim.trace import run_trace
from tests.conftest import traces_root

ROOT = traces_root() / "nv_full_int16"
TESTS = sorted(p for p in ROOT.iterdir() if p.is_dir()) if ROOT.is_dir() else []


@pytest.mark.skipif(not TESTS, reason=f"NVDLA traces not found at {ROOT} "
                                      f"(set NVDLA_TRACES to the folder holding nv_full_int16/)")
@pytest.mark.parametrize("test_dir", TESTS, ids=[t.name for t in TESTS])
def test_trace_dump_matches(test_dir):
    result = run_trace(test_dir, NV_FULL)
    assert result.error is None, result.error
    assert result.checks, "trace dumps no memory"
    for check in result.checks:
        assert check.passed, check.message


def test_suite_is_complete():
    if not TESTS:
        pytest.skip("NVDLA traces not found")
    assert len(TESTS) == 5


def test_cvsram_needs_a_secondary_memory():
    """googlenet_conv2_3x3_int16 lives in the CVSRAM: nv_small has none, and says so."""
    if not TESTS:
        pytest.skip("NVDLA traces not found")
    result = run_trace(ROOT / "googlenet_conv2_3x3_int16", NV_FULL.replace(
        name="no_cvsram", secondary_memory=False))
    assert result.error is not None and "has no secondary memory" in result.error
    assert "input.txn:" in result.error

