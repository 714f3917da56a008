"""Lowering of LRN (local response normalization) to CDP.

ONNX LRN is ``y = x / (bias + alpha / size * sum(x^2 over size channels))^beta``.
On CDP with int8 data ``x = s_x (q - z_x)``:

* the input converter subtracts the zero point: ``v = q - z_x`` (9 bits, exact);
* the square sum ``s = sum v^2`` runs over ``size`` channels (NORMALZ_LEN);
* the lookup table holds ``L * f(s)``, ``f(s) = (bias + alpha / size * s_x^2 * s)^-beta``,
  sampled on a linear grid over every reachable ``s`` (LO: 256 intervals; LE
  the same span in 64, so both tables hit or miss together and LO wins);
* ``p = LUT(s) * v``; the output converter multiplies by ``s_x / (L s_y)``,
  adds the output zero point and saturates.

The bound comes from evaluating the table (with CDP's own interpolation) at
every reachable square sum.
"""

from __future__ import annotations

import numpy as np

from compiler import descriptors
from compiler.ir import CompileError, Lrn
from compiler.lower.context import LowerContext
from compiler.lower.sdp_stages import bound_lsb
from compiler.requant import INT16_MAX, fit_scale
from nvdla_sim.layers import HardwareLayer, Lut
from nvdla_sim.program import LayerInfo
from nvdla_sim.units.lut import cdp_lookup

LINEAR = 1
PRIORITY_LO = 1
WINDOWS = {3: 0, 5: 1, 7: 2, 9: 3}  # LRN size -> NORMALZ_LEN


def lrn_table(node: Lrn, x_scale: float) -> tuple[Lut, float, int]:
    """The CDP LUT for ``node``, its value scale L, and the largest square sum."""
    s_max = node.size * 255 ** 2
    sel = max(0, int(np.ceil(np.log2(s_max / 256))))
    end = 256 << sel
    a = node.alpha / node.size * x_scale ** 2

    def f(s: np.ndarray) -> np.ndarray:
        return (node.bias + a * s) ** (-node.beta)

    grid = np.arange(end + 1, dtype=np.float64)
    peak = float(np.max(f(grid[:: 1 << sel])))
    scale = INT16_MAX / peak
    lo = np.clip(np.rint(scale * f(np.arange(257.0) * (1 << sel))), -INT16_MAX - 1, INT16_MAX)
    le = np.clip(np.rint(scale * f(np.arange(65.0) * (4 << sel))), -INT16_MAX - 1, INT16_MAX)
    lut = Lut(le_function=LINEAR, uflow_priority=PRIORITY_LO, oflow_priority=PRIORITY_LO,
              hybrid_priority=PRIORITY_LO, le_index_offset=0, le_index_select=sel + 2,
              lo_index_select=sel, le_start=0, le_end=end, lo_start=0, lo_end=end,
              le_uflow_scale=0, le_oflow_scale=0, le_uflow_shift=0, le_oflow_shift=0,
              lo_uflow_scale=0, lo_oflow_scale=0, lo_uflow_shift=0, lo_oflow_shift=0,
              le_table=le.astype(np.int16), lo_table=lo.astype(np.int16))
    return lut, scale, s_max


def lower_lrn(ctx: LowerContext, node: Lrn) -> None:
    x, y = ctx.graph.tensor(node.inputs[0]), ctx.graph.tensor(node.output)
    if ctx.graph.precision != "int8":
        raise CompileError(f"node {node.name} (LRN): CDP is modelled at int8 only, the graph "
                           f"is {ctx.graph.precision}")
    if node.size not in WINDOWS:
        raise CompileError(f"node {node.name} (LRN): size {node.size} is not supported; CDP "
                           f"normalizes over {', '.join(map(str, WINDOWS))} channels")
    if node.bias <= 0:
        raise CompileError(f"node {node.name} (LRN): bias must be positive, got {node.bias}")
    lut, scale, s_max = lrn_table(node, x.quant.scale)
    ratio = x.quant.scale / (scale * y.quant.scale)
    out_scale, out_shift = fit_scale(ratio, f"node {node.name}")
    offset_real = -y.quant.zero_point * 2.0 ** out_shift / out_scale
    offset = int(np.rint(offset_real))
    if not -(1 << 24) <= offset < 1 << 24:
        raise CompileError(f"node {node.name} (LRN): output zero point needs an offset beyond "
                           f"CDP's 25 bits")
    # error: the table against the exact function at every reachable sum, times |v| <= 255
    s = np.arange(s_max + 1, dtype=np.int64)
    exact = scale * (node.bias + node.alpha / node.size * x.quant.scale ** 2 * s) ** (-node.beta)
    table_error = float(np.max(np.abs(cdp_lookup(s, lut) - exact)))
    effective = out_scale / 2.0 ** out_shift
    p_max = 255 * float(np.max(np.abs(exact)))
    error = (table_error * 255 * effective + p_max * abs(effective - ratio)
             + abs(offset - offset_real) * effective)
    layer = descriptors.cdp(src=ctx.plan.surface(x.name), dst=ctx.plan.surface(y.name),
                            normalz_len=WINDOWS[node.size], datin_offset=x.quant.zero_point,
                            datout_offset=offset, datout_scale=out_scale,
                            datout_shifter=out_shift, lut=lut)
    ctx.emit(HardwareLayer(node.name, cdp=layer),
             LayerInfo(node.name, node.name, "lrn", node.output, error_bound=bound_lsb(error),
                       error=error))
