"""SDP and CDP lookup-table interpolation (work in progress in this session)."""

from __future__ import annotations

import numpy as np

from nvdla_sim.layers import Lut


def sdp_lookup(y: np.ndarray, lut: Lut) -> np.ndarray:
    raise NotImplementedError


def cdp_lookup(x: np.ndarray, lut: Lut) -> np.ndarray:
    raise NotImplementedError
