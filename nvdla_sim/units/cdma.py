"""CDMA: fetches the input feature cube and the weights of a direct convolution."""

from __future__ import annotations

import numpy as np

from nvdla_sim.arith import rnd_shr_sat, sat
from nvdla_sim.config import HardwareConfig
from nvdla_sim.errors import LayerError
from nvdla_sim.layers import ConvCore
from nvdla_sim.memory import Memory
from nvdla_sim.surface import FeatureSurface, read_weights

CVT_BITS = 17  # the converter's rounded product before saturation (vInt17Type)


def feature_surface(conv: ConvCore) -> FeatureSurface:
    return FeatureSurface(conv.in_address, conv.in_width, conv.in_height, conv.in_channels,
                          conv.in_line_stride, conv.in_surface_stride,
                          precision=conv.precision, ram_type=conv.data_ram_type)


def convert(cube: np.ndarray, conv: ConvCore) -> np.ndarray:
    """CDMA input converter (cmod ``hls/cdma_libs/cdma_cvt.cpp``):
    ``sat_P(sat17(rnd((x - off) * scale >> t)))`` with P the processing precision.

    (16+1)-bit difference times 16-bit scale: |product| < 2**34, no int64 risk.  Float
    input passes through (``cfg_in_precision == ENUM_FP16``: ``o_data = i_data``).
    """
    if not conv.cvt_enable or conv.precision.is_float:
        return cube
    prec = conv.precision
    x = cube.astype(np.int64) - conv.cvt_offset
    t = rnd_shr_sat(x * conv.cvt_scale, conv.cvt_truncate, CVT_BITS)
    return sat(t, prec.bits).astype(prec.dtype)


def feature(conv: ConvCore, surface_cube: np.ndarray) -> np.ndarray:
    """The input cube [(B,) C, H, W] (real channels only), converted if CVT is on,
    from the whole atoms read from the input surface."""
    if conv.datain_format != 0:
        raise LayerError("CDMA: pixel (image) input format is not supported; "
                         "D_DATAIN_FORMAT.DATAIN_FORMAT must be 0 (feature)")
    return convert(surface_cube[..., : conv.in_channels, :, :], conv)


def fetch_weights(conv: ConvCore, mem: Memory, cfg: HardwareConfig) -> np.ndarray:
    """Weights [K, C, R, S] (int8 or int16) from the direct-convolution weight layout."""
    prec = conv.precision
    expected = (conv.kernels * conv.kernel_channels * conv.kernel_height * conv.kernel_width
                * prec.element_bytes)
    if conv.weight_bytes < expected:
        raise LayerError(f"CDMA: D_WEIGHT_BYTES is {conv.weight_bytes}, but {conv.kernels} "
                         f"{prec.name} kernels of {conv.kernel_width}x{conv.kernel_height}x"
                         f"{conv.kernel_channels} need {expected} bytes")
    return read_weights(mem.port(conv.weight_ram_type), conv.weight_address, conv.kernels,
                        conv.kernel_channels, conv.kernel_height, conv.kernel_width, cfg, prec)
