"""PDP (work in progress in this session)."""

from __future__ import annotations

import numpy as np

from nvdla_sim.config import HardwareConfig
from nvdla_sim.layers import Pdp
from nvdla_sim.surface import FeatureSurface


def input_surface(pdp: Pdp) -> FeatureSurface:
    return FeatureSurface(pdp.src_address, pdp.in_width, pdp.in_height, pdp.in_channels,
                          pdp.src_line_stride, pdp.src_surface_stride)


def output_surface(pdp: Pdp) -> FeatureSurface:
    return FeatureSurface(pdp.dst_address, pdp.out_width, pdp.out_height, pdp.out_channels,
                          pdp.dst_line_stride, pdp.dst_surface_stride)


def process(cube: np.ndarray, pdp: Pdp, cfg: HardwareConfig) -> np.ndarray:
    raise NotImplementedError
