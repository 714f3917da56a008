"""Shared fixtures: where NVDLA's trace tests are."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def traces_root() -> Path:
    """``$NVDLA_TRACES`` or ``../shared/nvdla-traces`` next to the checkout."""
    return Path(os.environ.get("NVDLA_TRACES", REPO.parent / "shared" / "nvdla-traces"))


def nv_small_traces() -> list[Path]:
    root = traces_root() / "nv_small"
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir())


@pytest.fixture
def trace_dir():
    """Factory: path of one nv_small trace test, skipping when the suite is absent."""
    def get(name: str) -> Path:
        path = traces_root() / "nv_small" / name
        if not path.is_dir():
            pytest.skip(f"NVDLA trace {name} not found under {traces_root()} "
                        f"(set NVDLA_TRACES to the folder holding nv_small/)")
        return path
    return get
