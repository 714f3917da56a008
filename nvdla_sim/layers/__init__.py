"""Hardware-layer descriptors: what one NVDLA operation is programmed with.

A :class:`HardwareLayer` is one launch of a chain of units that stream into
each other: convolution core -> SDP (flying) [-> PDP (flying)], SDP from
memory [-> PDP], PDP from memory, or CDP.  The register file decodes such a
layer when its op-enables are written; the compiler builds the same objects
directly.  The executor only ever sees these descriptors and memory.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from nvdla_sim.layers.binding import Binding, Bits, bits
from nvdla_sim.layers.cdp import CDP_BINDING, Cdp
from nvdla_sim.layers.conv import CONV_BINDING, ConvCore
from nvdla_sim.layers.lut import Lut
from nvdla_sim.layers.pdp import PDP_BINDING, POOL_AVERAGE, POOL_MAX, POOL_MIN, Pdp
from nvdla_sim.layers.sdp import SDP_BINDING, OperandDma, Sdp, SdpX, SdpY
from nvdla_sim.registers.regfile import LutTables

__all__ = ["Binding", "Bits", "bits", "Cdp", "ConvCore", "HardwareLayer", "Lut", "OperandDma",
           "Pdp", "POOL_AVERAGE", "POOL_MAX", "POOL_MIN", "Sdp", "SdpX", "SdpY",
           "decode_layer", "encode_layer", "with_precision"]


@dataclass(frozen=True)
class HardwareLayer:
    """One launch: the units that take part, each with its programmed descriptor."""

    name: str
    conv: ConvCore | None = None
    sdp: Sdp | None = None
    pdp: Pdp | None = None
    cdp: Cdp | None = None

    @property
    def units(self) -> tuple[str, ...]:
        """Units that must be enabled, in the order their op-enables are written."""
        names: list[str] = []
        if self.cdp is not None:
            names += ["CDP_RDMA", "CDP"]
        if self.pdp is not None:
            names += ["PDP"] if not self.pdp.from_memory else ["PDP_RDMA", "PDP"]
        if self.sdp is not None:
            names += ["SDP"] + (["SDP_RDMA"] if sdp_needs_rdma(self.sdp) else [])
        if self.conv is not None:
            names += ["CACC", "CMAC_A", "CMAC_B", "CSC", "CDMA"]
        return tuple(names)

    @property
    def kind(self) -> str:
        return "conv" if self.conv else "sdp" if self.sdp else "pdp" if self.pdp else "cdp"


def sdp_needs_rdma(sdp: Sdp) -> bool:
    """SDP_RDMA runs when SDP reads its input or any operand from memory."""
    return (not sdp.flying) or any(not s.dma.disable for s in (sdp.bs, sdp.bn, sdp.ew))


def _with_tables(lut: Lut, tables: LutTables) -> Lut:
    return dataclasses.replace(lut, le_table=tables.le.copy(), lo_table=tables.lo.copy())


def decode_layer(units: set[str], read: Callable[[str, str], int],
                 luts: dict[str, LutTables], name: str = "") -> HardwareLayer:
    """Decode the descriptors of the armed ``units`` from register values."""
    conv = CONV_BINDING.decode(read) if "CDMA" in units else None
    sdp = pdp = cdp = None
    if "SDP" in units:
        sdp = SDP_BINDING.decode(read)
        sdp = dataclasses.replace(sdp, lut=_with_tables(sdp.lut, luts["SDP"]))
    if "PDP" in units:
        pdp = PDP_BINDING.decode(read)
    if "CDP" in units:
        cdp = CDP_BINDING.decode(read)
        cdp = dataclasses.replace(cdp, lut=_with_tables(cdp.lut, luts["CDP"]))
    return HardwareLayer(name, conv, sdp, pdp, cdp)


def with_precision(layer: HardwareLayer, code: int) -> HardwareLayer:
    """``layer`` with every precision field set to ``code``: what a configuration with a
    single datapath precision runs whatever the fields say (nv_small's RTL implements
    only INT8 and does not decode them; their reset values select INT16)."""
    rep = dataclasses.replace
    return rep(
        layer,
        conv=layer.conv and rep(layer.conv, in_precision=code, proc_precision=code),
        sdp=layer.sdp and rep(layer.sdp, proc_precision=code, out_precision=code,
                              rdma_in_precision=code, rdma_proc_precision=code,
                              rdma_out_precision=code),
        pdp=layer.pdp and rep(layer.pdp, input_data=code),
        cdp=layer.cdp and rep(layer.cdp, input_data=code))


def encode_layer(layer: HardwareLayer) -> dict[tuple[str, str], int]:
    """Register words (unit, register) -> value that program ``layer``."""
    words: dict[tuple[str, str], int] = {}
    for desc, binding in ((layer.conv, CONV_BINDING), (layer.sdp, SDP_BINDING),
                          (layer.pdp, PDP_BINDING), (layer.cdp, CDP_BINDING)):
        if desc is not None:
            binding.encode(desc, words)
    return words
