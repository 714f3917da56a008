"""The float datapaths: NVDLA's FP16 (bit-exact with its C model) and the FP32 reference.

Units dispatch here when a layer's :class:`~nvdla_sim.precision.Precision` is a float
one; everything float lives in this package (:mod:`.conv` for CDMA/CSC/CMAC/CACC,
:mod:`.sdp`, :mod:`.pdp`; NVDLA's float arithmetic in :mod:`.nvfloat`, :mod:`.cmac16`
and :mod:`nvdla_sim.fp16`).  Values travel between the units, and through the
fault-model taps, as **bit patterns** in integer arrays (int64 holding the unsigned
pattern), so a fault flips a real bit of a binary16, binary32, FP44 or FP48 value.

The register contract (what a compiler programs; :mod:`compiler.lower` for floats):

* **FP16** (code 2 in every precision field, nv_full): features and weights are
  little-endian binary16, 16 channels per 32-byte atom; weights in kernel groups of 16
  and channel blocks of 64 (``surface.pack_weights(w, cfg, FP16)``).  ``PAD_VALUE`` is the
  FP16 bit pattern.  The CDMA converter passes FP16 through (``cdma_cvt.cpp``:
  ``cfg_in_precision == ENUM_FP16``); ``CLIP_TRUNCATE`` plays no part.  SDP's X stages take
  FP16 operands (the 16-bit ``*_ALU_OPERAND`` / ``*_MUL_OPERAND`` registers, or 2-byte
  per-kernel memory streams) widened to FP32; shift values are ignored; the output
  converter ignores ``CVT_*`` and rounds FP32 to FP16 (or to INT16 when
  ``OUT_PRECISION`` = 1) (``sdp_x.cpp``, ``sdp_c.cpp``).  PDP pools FP16 (max / min) and
  averages in FP17 with ``RECIP_KERNEL_*`` as FP17 patterns.
* **FP32 reference** (code 3, only where ``HardwareConfig.precision`` is ``fp32``):
  binary32 elements, 8 channels per 32-byte atom, kernel groups of 16 and channel blocks
  of 32 (:meth:`HardwareConfig.mac_channels`).  Register operands and ``PAD_VALUE`` are
  FP16 patterns widened exactly (the fields are 16 bits); memory operand components are
  4-byte binary32 (``DATA_SIZE`` = 1).  Arithmetic is IEEE binary32 with round to
  nearest even (numpy float32), in the orders documented in :mod:`.conv` and :mod:`.pdp`;
  average pooling ignores ``RECIP_KERNEL_*`` and needs ``PAD_VALUE_*`` = 0.

Both: a per-element SDP operand stream (residual Add) is one component per element
(``DATA_USE`` ALU or MUL, ``DATA_SIZE`` 1) laid out as a feature surface of the
processing precision (:func:`nvdla_sim.units.sdp_rdma.float_operand_surface`); the EW
stage and the LUT are not modelled on float data, nor is CDP.
"""

from __future__ import annotations

import numpy as np

from nvdla_sim.config import HardwareConfig
from nvdla_sim.errors import LayerError
from nvdla_sim.fp16 import fp16_to_fp32
from nvdla_sim.precision import FP16, FP32, Precision

MASK16, MASK32 = 0xFFFF, 0xFFFFFFFF


def to_bits(cube: np.ndarray, prec: Precision) -> np.ndarray:
    """Stored float elements (``prec.dtype``) -> their bit patterns as int64."""
    unsigned = np.dtype(f"<u{prec.element_bytes}")
    return np.ascontiguousarray(cube).view(unsigned).astype(np.int64)


def from_bits(bits: np.ndarray, prec: Precision) -> np.ndarray:
    """Bit patterns (any integer array) -> stored elements of ``prec.dtype``."""
    unsigned = np.dtype(f"<u{prec.element_bytes}")
    return (np.asarray(bits, np.int64) & ((1 << prec.bits) - 1)).astype(unsigned).view(
        prec.dtype)


def f32(bits: np.ndarray) -> np.ndarray:
    """binary32 bit patterns -> float32 values (bit-exact view)."""
    return (np.asarray(bits, np.int64) & MASK32).astype(np.uint32).view(np.float32)


def f32_bits(values: np.ndarray) -> np.ndarray:
    """float32 values -> their bit patterns as int64."""
    return np.asarray(values, np.float32).view(np.uint32).astype(np.int64)


def widen_fp16(bits: np.ndarray | int, prec: Precision) -> np.ndarray:
    """A 16-bit FP16 pattern (register field or FP16 operand) as the binary32 pattern the
    datapath computes with: NVDLA's ``Fp16ToFp32`` for FP16 (``nvdla_float.h``: an
    infinity widens to FLT_MAX), IEEE widening (exact, infinities kept) for the FP32
    reference."""
    b = np.asarray(bits, np.int64) & MASK16
    if prec is FP16:
        return fp16_to_fp32(b)
    return f32_bits(b.astype(np.uint16).view(np.float16).astype(np.float32))


def pad_element(pad_value: int, prec: Precision) -> np.ndarray:
    """The element CSC feeds for a padded position: the ``PAD_VALUE`` field's 16 bits as
    FP16 (``NV_NVDLA_csc.cpp``: ``data = pad_value`` for FP16), widened for FP32."""
    if prec is FP16:
        return from_bits(np.int64(pad_value & MASK16), FP16)
    return from_bits(widen_fp16(pad_value, FP32), FP32)


def check_layer(precisions: list[Precision], cfg: HardwareConfig) -> None:
    """Refuse a float layer the configuration does not run: FP16 needs a configuration
    that implements it; FP32 (code 3) only runs where the configuration's precision is
    the fp32 reference."""
    for prec in precisions:
        if prec is FP32 and cfg.precision != FP32.name:
            raise LayerError(f"precision field value 3 (the fp32 reference datapath) needs a "
                             f"configuration whose precision is fp32; {cfg.name} computes "
                             f"{cfg.precision}")
        if prec.is_float and prec.name not in cfg.precisions:
            raise LayerError(f"{prec.name.upper()} layer on {cfg.name}, which implements "
                             f"{', '.join(cfg.precisions)}")
