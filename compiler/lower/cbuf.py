"""CBUF allocation for one convolution (nvdla/sw ``ConvCoreNode`` bank rules).

Data must fit in its banks entirely; weights either fit entirely, or are
streamed one (or two, ping-pong) kernel groups at a time.  When even one
kernel group plus the data does not fit, the input is split into row tiles,
each its own hardware layer, as NVDLA's compiler does.
"""

from __future__ import annotations

from dataclasses import dataclass

from compiler.descriptors import entries_per_slice
from compiler.ir import CompileError
from nvdla_sim.config import HardwareConfig


@dataclass(frozen=True)
class CbufPlan:
    data_banks: int
    weight_banks: int
    max_input_rows: int  # rows of input one hardware layer may hold


def plan_cbuf(width: int, height: int, channels: int, kernels: int, kernel_taps: int,
              cfg: HardwareConfig, node: str) -> CbufPlan:
    depth = cfg.cbuf_bank_depth
    eps = entries_per_slice(width, channels, cfg)
    data_banks = -(-eps * height // depth)
    prec = cfg.prec
    weight_bytes = kernels * channels * kernel_taps * prec.element_bytes
    total_w = -(-weight_bytes // cfg.cbuf_bank_bytes)
    group = channels * kernel_taps * cfg.kernel_group(prec) * prec.element_bytes
    group_bytes = -(-group // cfg.cbuf_bank_width) * cfg.cbuf_bank_width
    min_w = -(-group_bytes // cfg.cbuf_bank_bytes)
    banks = cfg.cbuf_banks
    if min_w >= banks:
        raise CompileError(
            f"node {node}: one kernel group of weights ({group_bytes} bytes) needs {min_w} CBUF "
            f"banks, but {cfg.name} has {banks}; NVDLA cannot run this layer")
    for weight_banks in (total_w, 2 * min_w, min_w):
        if data_banks + weight_banks <= banks:
            return CbufPlan(data_banks, weight_banks, height)
    weight_banks = min_w
    data_banks = banks - weight_banks
    return CbufPlan(data_banks, weight_banks, data_banks * depth // eps)


def row_tiles(out_height: int, in_height: int, stride: int, span: int, max_rows: int,
              node: str) -> list[tuple[int, int]]:
    """Output-row ranges whose input rows fit ``max_rows`` (one range if the input fits)."""
    if max_rows >= in_height:
        return [(0, out_height)]
    per_tile = (max_rows - span) // stride + 1
    if per_tile < 1:
        raise CompileError(f"node {node}: the input rows of even one output row do not fit "
                           f"the CBUF ({max_rows} rows available, {span} needed)")
    return [(o, min(o + per_tile, out_height)) for o in range(0, out_height, per_tile)]
