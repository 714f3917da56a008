"""CDP (work in progress in this session)."""

from __future__ import annotations

import numpy as np

from nvdla_sim.config import HardwareConfig
from nvdla_sim.layers import Cdp
from nvdla_sim.surface import FeatureSurface


def input_surface(cdp: Cdp) -> FeatureSurface:
    return FeatureSurface(cdp.src_address, cdp.width, cdp.height, cdp.channels,
                          cdp.src_line_stride, cdp.src_surface_stride)


def output_surface(cdp: Cdp) -> FeatureSurface:
    return FeatureSurface(cdp.dst_address, cdp.width, cdp.height, cdp.channels,
                          cdp.dst_line_stride, cdp.dst_surface_stride)


def process(cube: np.ndarray, cdp: Cdp, cfg: HardwareConfig) -> np.ndarray:
    raise NotImplementedError
