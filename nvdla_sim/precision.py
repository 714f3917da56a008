"""Datapath precisions of NVDLA, as data: every width that depends on INT8 vs INT16.

The units never spell an 8 or a 16 for a value width: they ask the
:class:`Precision` of the layer (decoded from its ``*_PRECISION`` /
``INPUT_DATA`` register fields, or chosen by the compiler).  The numbers come
from NVDLA's C model on branch ``nvdlav1`` (``cmod/cacc/NV_NVDLA_cacc.h``,
``cmod/pdp/NV_NVDLA_pdp.cpp``, ``cmod/csc/NV_NVDLA_csc.h``,
``cmod/hls/sdp/sdp_c.cpp``) and, for INT8 on nv_small, from its RTL
(``NV_NVDLA_CACC_CALC_int8.v``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nvdla_sim.errors import ConfigError, LayerError


@dataclass(frozen=True)
class Precision:
    """One integer datapath precision (the register enum value is ``code``)."""

    name: str
    code: int  # D_MISC_CFG.PROC_PRECISION / D_DATA_FORMAT.*_PRECISION enum value
    bits: int  # width of one feature / weight element
    acc_bits: int  # CACC assembly-buffer width (saturating accumulation)
    pdp_buffer_bits: int  # PDP line (operation) buffer element width
    pdp_pad_sign_bits: tuple[int, ...]  # sign bit of PAD_VALUE_1X..7X (cmod int_sign_extend)

    @property
    def element_bytes(self) -> int:
        return self.bits // 8

    @property
    def dtype(self) -> np.dtype:
        """numpy dtype of a stored element (little-endian, as in memory)."""
        return np.dtype(f"<i{self.element_bytes}")

    @property
    def min(self) -> int:
        return -(1 << (self.bits - 1))

    @property
    def max(self) -> int:
        return (1 << (self.bits - 1)) - 1

    @property
    def product_max(self) -> int:
        """Largest |data x weight| product: (2**(bits-1))**2."""
        return 1 << (2 * (self.bits - 1))


INT8 = Precision("int8", 0, 8, acc_bits=34, pdp_buffer_bits=16,
                 pdp_pad_sign_bits=(7, 8, 9, 9, 10, 10, 10))
# CACC: ACCU_ASSEMBLY_BIT_WIDTH_INT16 = 48 (saturating, MAX_INT_48BITS); PDP: int32_t
# line buffers "for INT16 to keep precision", pad values sign-extended from bit 15..18.
INT16 = Precision("int16", 1, 16, acc_bits=48, pdp_buffer_bits=32,
                  pdp_pad_sign_bits=(15, 16, 17, 17, 18, 18, 18))

PRECISIONS: dict[str, Precision] = {p.name: p for p in (INT8, INT16)}
_BY_CODE = {p.code: p for p in PRECISIONS.values()}
FP16_CODE = 2


def from_code(code: int, where: str) -> Precision:
    """The precision a register field selects; ``where`` names the field for errors."""
    try:
        return _BY_CODE[code]
    except KeyError:
        what = "FP16" if code == FP16_CODE else f"value {code}"
        raise LayerError(f"{where}: {what} is not modelled; supported precisions are "
                         f"{', '.join(f'{p.code} ({p.name})' for p in _BY_CODE.values())}"
                         ) from None


def get_precision(name: str | Precision) -> Precision:
    if isinstance(name, Precision):
        return name
    try:
        return PRECISIONS[name]
    except KeyError:
        raise ConfigError(f"unknown precision {name!r}; expected one of "
                          f"{', '.join(PRECISIONS)}") from None
