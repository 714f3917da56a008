"""Datapath precisions of NVDLA, as data: every width that depends on the precision.

The units never spell an 8 or a 16 for a value width: they ask the
:class:`Precision` of the layer (decoded from its ``*_PRECISION`` /
``INPUT_DATA`` register fields, or chosen by the compiler).  The numbers come
from NVDLA's C model on branch ``nvdlav1`` (``cmod/cacc/NV_NVDLA_cacc.h``,
``cmod/pdp/NV_NVDLA_pdp.cpp``, ``cmod/csc/NV_NVDLA_csc.h``,
``cmod/hls/sdp/sdp_c.cpp``) and, for INT8 on nv_small, from its RTL
(``NV_NVDLA_CACC_CALC_int8.v``).

Float precisions are described here too (FP16: register code 2, 1 sign, 5 exponent and
10 mantissa bits, ``cmod/cmac/NV_NVDLA_cmac.h`` ``FP16_*_BIT_WIDTH``; its CACC assembly
value is FP48 = 8 exponent + 40 mantissa bits, ``cmod/cacc/NV_NVDLA_cacc.h``
``FP16_ALEN/ELEN/MLEN``, delivered to SDP as FP32 by ``cacc_fp48_to_fp32``), and FP32,
which is *not* an NVDLA precision: a reference datapath (IEEE binary32, same dataflow)
that takes the value 3 the 2-bit precision fields leave unused.  The float datapaths are
:mod:`nvdla_sim.floatpath`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nvdla_sim.errors import ConfigError, LayerError


@dataclass(frozen=True)
class Precision:
    """One datapath precision (the register enum value is ``code``; None: no NVDLA code).

    Integer precisions have ``exp_bits == 0``; a float one is sign, ``exp_bits`` exponent
    and ``mant_bits`` mantissa bits (IEEE layout, most significant first).  Derived widths
    are plain attributes (set once): units read them per layer."""

    name: str
    code: int | None  # D_MISC_CFG.PROC_PRECISION / D_DATA_FORMAT.*_PRECISION enum value
    bits: int  # width of one feature / weight element
    acc_bits: int  # CACC assembly-buffer width (integers: saturating accumulation)
    pdp_buffer_bits: int = 0  # PDP line (operation) buffer element width (integers)
    pdp_pad_sign_bits: tuple[int, ...] = ()  # sign bit of PAD_VALUE_1X..7X (cmod int_sign_extend)
    exp_bits: int = 0  # float exponent field width; 0 for an integer precision
    acc_exp_bits: int = 0  # float CACC assembly value's exponent field width
    reference_only: bool = False  # not a precision NVDLA implements (FP32)
    element_bytes: int = field(init=False)
    dtype: np.dtype = field(init=False)  # a stored element (little-endian, as in memory)
    is_float: bool = field(init=False)
    mant_bits: int = field(init=False)  # float mantissa field width (no implied 1); 0 for ints
    min: int | float = field(init=False)  # most negative finite value
    max: int | float = field(init=False)  # largest finite value
    product_max: int | float = field(init=False)  # largest |data x weight|: min**2

    def __post_init__(self) -> None:
        nbytes = self.bits // 8
        is_float = self.exp_bits > 0
        mant = self.bits - 1 - self.exp_bits if is_float else 0
        if is_float:
            bias = (1 << (self.exp_bits - 1)) - 1
            top = float((2 - 2.0 ** -mant) * 2.0 ** bias)  # exponent all-ones is inf/NaN
            lo, hi = -top, top
        else:
            lo, hi = -(1 << (self.bits - 1)), (1 << (self.bits - 1)) - 1
        derived = {"element_bytes": nbytes, "is_float": is_float, "mant_bits": mant,
                   "dtype": np.dtype(f"<{'f' if is_float else 'i'}{nbytes}"),
                   "min": lo, "max": hi, "product_max": lo * lo}
        for name, value in derived.items():
            object.__setattr__(self, name, value)

    def __reduce__(self) -> tuple:
        """Unpickle to the one instance per precision (units compare with ``is``)."""
        return get_precision, (self.name,)


INT8 = Precision("int8", 0, 8, acc_bits=34, pdp_buffer_bits=16,
                 pdp_pad_sign_bits=(7, 8, 9, 9, 10, 10, 10))
# CACC: ACCU_ASSEMBLY_BIT_WIDTH_INT16 = 48 (saturating, MAX_INT_48BITS); PDP: int32_t
# line buffers "for INT16 to keep precision", pad values sign-extended from bit 15..18.
INT16 = Precision("int16", 1, 16, acc_bits=48, pdp_buffer_bits=32,
                  pdp_pad_sign_bits=(15, 16, 17, 17, 18, 18, 18))

# FP16: code 2 (arnvdla.h *_PRECISION_FP16); CACC accumulates FP16 products in FP48
# (FP16_ALEN 48 = FP16_ELEN 8 + FP16_MLEN 40, cmod/cacc/NV_NVDLA_cacc.h) and hands SDP FP32.
FP16 = Precision("fp16", 2, 16, acc_bits=48, exp_bits=5, acc_exp_bits=8)
# FP32: IEEE binary32 reference datapath, not an NVDLA precision.  Its code 3 is the value
# NVIDIA's 2-bit *_PRECISION / INPUT_DATA fields leave reserved (arnvdla.h defines 0..2);
# layers programmed with it run only on a configuration whose precision is fp32
# (nvdla_sim.floatpath.check_layer).  Accumulates in binary32.
FP32 = Precision("fp32", 3, 32, acc_bits=32, exp_bits=8, acc_exp_bits=8,
                 reference_only=True)

PRECISIONS: dict[str, Precision] = {p.name: p for p in (INT8, INT16, FP16, FP32)}
_BY_CODE = {p.code: p for p in PRECISIONS.values() if p.code is not None}


def from_code(code: int, where: str) -> Precision:
    """The precision a register field selects; ``where`` names the field for errors
    (3 selects the FP32 reference datapath, see :data:`FP32`)."""
    prec = _BY_CODE.get(code)
    if prec is None:
        raise LayerError(f"{where}: value {code} is not a precision; expected "
                         f"{', '.join(f'{p.code} ({p.name})' for p in _BY_CODE.values())}")
    return prec


def get_precision(name: str | Precision) -> Precision:
    if isinstance(name, Precision):
        return name
    try:
        return PRECISIONS[name]
    except KeyError:
        raise ConfigError(f"unknown precision {name!r}; expected one of "
                          f"{', '.join(PRECISIONS)}") from None
