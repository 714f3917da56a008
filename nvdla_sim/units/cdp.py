"""CDP: the cross-channel data processor (local response normalization), INT8.

Per element, following cmod ``cdp/NV_NVDLA_cdp.cpp::lookup_lut_int8`` with
``hls/cdp_libs/cdp_icvt.cpp`` and ``cdp_ocvt.cpp``::

    v   = icvt(x)        = sat9(rnd((x - sx8(DATIN_OFFSET)) * DATIN_SCALE >> DATIN_SHIFTER))
    s   = v              (SQSUM_BYPASS)   or  sum of v**2 over channels c-n..c+n
    l   = LUT(s)         (int16, units/lut.py)
    p   = l              (MUL_BYPASS)     or  l * v                          (25-bit)
    out = ocvt(p)        = sat8(rnd((p - sx25(DATOUT_OFFSET)) * DATOUT_SCALE >> DATOUT_SHIFTER))

``CdpDataPathSequence`` replaces the padded lanes of the last surface and the
channels beyond the cube (both sides) by the DATIN_OFFSET byte, so those are
computed from it; padded lanes are written like real ones.
"""

from __future__ import annotations

import numpy as np

from nvdla_sim.arith import rnd_shr_sat, sx, sx_int
from nvdla_sim.config import HardwareConfig
from nvdla_sim.errors import LayerError
from nvdla_sim.layers import Cdp
from nvdla_sim.precision import INT8, from_code
from nvdla_sim.surface import FeatureSurface
from nvdla_sim.units import lut as lut_unit
from nvdla_sim.units.tap import Tap, no_tap


def input_surface(cdp: Cdp) -> FeatureSurface:
    return FeatureSurface(cdp.src_address, cdp.width, cdp.height, cdp.channels,
                          cdp.src_line_stride, cdp.src_surface_stride, ram_type=cdp.src_ram_type)


def output_surface(cdp: Cdp) -> FeatureSurface:
    return FeatureSurface(cdp.dst_address, cdp.width, cdp.height, cdp.channels,
                          cdp.dst_line_stride, cdp.dst_surface_stride, ram_type=cdp.dst_ram_type)


def convert_in(x: np.ndarray, cdp: Cdp) -> np.ndarray:
    """Input converter (``HLS_cdp_icvt`` INT8): 9-bit sub, 25-bit product, 9-bit result."""
    v = (x - sx_int(cdp.datin_offset, INT8.bits)) * sx_int(cdp.datin_scale, 16)
    return rnd_shr_sat(v, cdp.datin_shifter, 9)


def square_sum(v: np.ndarray, normalz_len: int) -> np.ndarray:
    """Sum of ``v**2`` over the ``2 * normalz_len + 3`` channels centred on each one.

    ``v`` is [(B,) C, H, W].  Channels outside the cube hold the offset byte, which
    the input converter maps to 0.  At most 9 * 256**2 < 2**20 (the 22-bit
    ``square_sum``).
    """
    half = normalz_len + 1
    pad = [(0, 0)] * (v.ndim - 3) + [(half, half), (0, 0), (0, 0)]
    sq = np.pad(v * v, pad)
    c = v.shape[-3]
    return sum(sq[..., j:j + c, :, :] for j in range(2 * half + 1))


def convert_out(p: np.ndarray, cdp: Cdp) -> np.ndarray:
    """Output converter (``HLS_cdp_ocvt`` INT8): 26-bit sub, 42-bit product, int8."""
    v = (p - sx(cdp.datout_offset, 25)) * sx_int(cdp.datout_scale, 16)
    return rnd_shr_sat(v, cdp.datout_shifter, INT8.bits)


def process(cube: np.ndarray, cdp: Cdp, cfg: HardwareConfig, tap: Tap = no_tap) -> np.ndarray:
    """LRN over an int8 cube [(B,) Cpad, H, W] (whole memory atoms) -> int8, same shape.

    ``tap`` sees the registers ``icvt``, ``sqsum``, ``lut``, ``mul`` and ``out``.
    """
    if from_code(cdp.input_data, "CDP D_DATA_FORMAT.INPUT_DATA_TYPE") is not INT8:
        raise LayerError(f"CDP: only INT8 is modelled (D_DATA_FORMAT INPUT_DATA_TYPE="
                         f"{cdp.input_data})")
    offset = sx_int(cdp.datin_offset, INT8.bits)
    x = cube.astype(np.int64)
    x[..., cdp.channels:, :, :] = offset
    v = tap("icvt", convert_in(x, cdp))
    s = tap("sqsum", v if cdp.sqsum_bypass else square_sum(v, cdp.normalz_len))
    lut = tap("lut", lut_unit.cdp_lookup(s, cdp.lut))
    p = tap("mul", lut if cdp.mul_bypass else lut * v)  # |p| <= 2**15 * 2**8: 25 bits
    return tap("out", convert_out(p, cdp)).astype(INT8.dtype)
