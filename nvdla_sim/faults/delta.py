"""A later convolution under a fault, from the golden accumulators and the input's change.

A fault's input to a later convolution differs from golden in scattered values:
a few percent of a feature map, on a fraction of its pixels.  Where no partial
sum can saturate, accumulation is plain integer addition, so the faulty
accumulators are the golden ones plus the convolution of the change:
``acc_f = acc_g + W * (x_f - x_g)``.  Only input pixels that changed take part:
per kernel tap, the changed pixels some output window holds there meet that
tap's weights in one GEMM for a whole batch of faults (a strided convolution
or a fully-connected layer computes no product it does not use); CACC rounding
and SDP then run only on the output pixels that received a change, SDP folded
into one affine map where the golden executor folds it (the faulty
accumulators are those of some int8 input, so the weights' bounds hold; see
:mod:`nvdla_sim.units.sdp_affine`).  All exact: the GEMM is float32 within its
proven bound (|x_f - x_g| <= 255).
"""

from __future__ import annotations

import numpy as np

from nvdla_sim.config import HardwareConfig
from nvdla_sim.layers import HardwareLayer
from nvdla_sim.precision import INT8
from nvdla_sim.units import cacc, cmac, convcore, sdp as sdp_unit, sdp_affine, sdp_rdma

DELTA_MAX = 255  # |x_f - x_g| for int8 values


def applies(layer: HardwareLayer) -> bool:
    """Whether a layer's faulty run is golden + change: an INT8 convolution (float sums
    are not associative; INT16 changes exceed the int8 bound) whose CACC cannot saturate
    (for any int8 input), no input conversion, no pooling on the fly, and SDP operands per
    kernel only (an element's output depends on its accumulator alone)."""
    conv, sdp = layer.conv, layer.sdp
    if (conv is None or sdp is None or layer.pdp is not None or conv.cvt_enable
            or conv.precision is not INT8):
        return False
    taps = conv.in_channels * conv.kernel_height * conv.kernel_width
    return cacc.accumulation_is_safe(taps) and all(
        stage.dma.disable or stage.dma.data_mode == sdp_rdma.MODE_PER_KERNEL
        for stage in (sdp.bs, sdp.bn, sdp.ew))


class ConvDelta:
    """One convolution layer's delta evaluation (see the module docstring)."""

    def __init__(self, layer: HardwareLayer, weights: np.ndarray, config: HardwareConfig
                 ) -> None:
        """``weights``: int8 [K, C, R, S] as CDMA fetched them."""
        self.layer, self.conv, self.config = layer, layer.conv, config
        k, c, r, s = weights.shape
        taps = weights.transpose(2, 3, 0, 1).reshape(r * s * k, c)  # rows (tap y, tap x, k)
        self.matrix = np.ascontiguousarray(taps.T.astype(np.float32))  # [C, R*S*K]
        self.splits = cmac.exact_splits(taps, DELTA_MAX)
        # the sum of a pixel's changes over taps is exact in float32 when every kernel's
        # whole change is bounded below 2**24; else it is summed in float64
        whole = DELTA_MAX * np.abs(weights.astype(np.int64)).reshape(k, -1).sum(axis=1).max()
        self.grid_dtype = np.float32 if whole < cmac.FLOAT32_EXACT else np.float64
        self.bounds = convcore.accumulator_bounds(self.conv, weights)
        self._plan: tuple[sdp_affine.AffinePlan | None] | None = None  # made on first use

    def sdp(self, acc: np.ndarray, operands: list[sdp_rdma.Operands]) -> np.ndarray:
        """The layer's SDP output [E, K] of exact accumulators [E, K] (before CACC's
        rounding): one affine map where the fold is proven exact, else stage by stage.
        ``operands`` are per kernel (see :func:`applies`): the plan is made once."""
        k = self.conv.kernels
        if self._plan is None:
            plan = None
            if not self.conv.clip_truncate:
                plan = sdp_affine.plan(self.layer.sdp, operands, self.bounds,
                                       lambda: np.empty(0, self.layer.sdp.out_prec.dtype))
            self._plan = (plan,)
        plan, = self._plan
        if plan is not None:
            return sdp_affine.apply_rows(plan, acc)
        per_kernel = [sdp_rdma.Operands(*(None if a is None else a[:k, 0, 0][None, :]
                                          for a in (o.alu, o.mul))) for o in operands]
        return sdp_unit.process(cacc.truncate(acc, self.conv.clip_truncate), self.layer.sdp,
                                *per_kernel)

    def changed(self, fault: np.ndarray, ys: np.ndarray, xs: np.ndarray, change: np.ndarray,
                accumulators: np.ndarray, image: np.ndarray, operands: list[sdp_rdma.Operands]
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The outputs of F faults where the input change reaches: (fault, oy, ox,
        values [E, K]), one row per output pixel some changed input pixel feeds
        (its other pixels are golden).

        Input pixel n of fault ``fault[n]`` at (``ys[n]``, ``xs[n]``) changed by
        ``change[n]`` [C] (int16); ``accumulators``: golden accumulators [G, K, Ho, Wo]
        of the inputs involved, ``image`` [F] saying whose each fault is;
        ``operands``: the layer's decoded SDP operands."""
        conv = self.conv
        k = conv.kernels
        change = change.astype(np.float32)  # exact: |change| <= DELTA_MAX
        ho, wo = conv.out_height, conv.out_width
        rows = []  # per kernel row: whether the pixel meets it, its output row's first pixel
        for r in range(conv.kernel_height):
            oy, ry = np.divmod(ys + conv.pad_top - r * conv.dilation_y, conv.stride_y)
            rows.append(((ry == 0) & (oy >= 0) & (oy < ho), (fault * ho + oy) * wo))
        cols = []  # per kernel column: whether the pixel meets it, its output column
        for s in range(conv.kernel_width):
            ox, rx = np.divmod(xs + conv.pad_left - s * conv.dilation_x, conv.stride_x)
            cols.append(((rx == 0) & (ox >= 0) & (ox < wo), ox))
        taps = []  # (matrix columns, changed pixels, their output pixel) per kernel tap
        for r, (on_row, first) in enumerate(rows):
            for s, (on_col, ox) in enumerate(cols):
                hit = np.flatnonzero(on_row & on_col)
                if hit.size:
                    taps.append(((r * conv.kernel_width + s) * k, hit, first[hit] + ox[hit]))
        if not taps:  # no output window reads a changed pixel
            empty = np.empty(0, np.int64)
            return empty, empty, empty, np.empty((0, k), np.int8)
        at, slot = _slots(np.concatenate([t[2] for t in taps]), image.size * ho * wo)
        grid = np.zeros((at.size, k), self.grid_dtype)  # the accumulators' change per pixel
        start = 0
        for tap, hit, _ in taps:  # a tap's pixels reach distinct output pixels
            grid[slot[start:start + hit.size]] += cmac.exact_product(
                change[hit], self.matrix[:, tap:tap + k], self.splits)
            start += hit.size
        f, pixel = np.divmod(at, ho * wo)
        oy, ox = np.divmod(pixel, wo)
        total = accumulators[image[f], :, oy, ox]
        total += grid.astype(np.int64)
        return f, oy, ox, self.sdp(total, operands)


def _slots(targets: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(targets, return_inverse=True)`` for values in [0, size): by a table of
    every value when it is not much larger than ``targets`` (no sort)."""
    if size > 4 * targets.size + (1 << 16):
        at, slot = np.unique(targets, return_inverse=True)
        return at, slot.ravel()
    seen = np.zeros(size, bool)
    seen[targets] = True
    at = np.flatnonzero(seen)
    index = np.empty(size, np.int64)
    index[at] = np.arange(at.size)
    return at, index[targets]
