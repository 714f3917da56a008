"""CSC: the convolution sequencer's view of the data (padding, stride, dilation).

The functional model needs only what CSC feeds the MAC array: for every
output pixel, the input values under each kernel position.  They are built
as one strided view (im2col), never element by element.  Spatial padding
takes the programmed pad value (sign-extended to the element width; on float data the
field's FP16 pattern, :func:`nvdla_sim.floatpath.pad_element`), not zero.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from nvdla_sim.arith import sx_int
from nvdla_sim.errors import LayerError
from nvdla_sim.floatpath import pad_element
from nvdla_sim.layers import ConvCore


def check_geometry(conv: ConvCore) -> None:
    """Refuse programs whose kernel and output channels contradict the input.

    Window positions outside the input are padding wherever they fall, so the
    output size may exceed what left/top padding alone would give.
    """
    if conv.conv_mode != 0:
        raise LayerError("CSC: only direct convolution is modelled (D_MISC_CFG.CONV_MODE = 0); "
                         "Winograd is not available on this configuration")
    if conv.kernel_channels != conv.in_channels:
        raise LayerError(f"CSC: weight channels ({conv.kernel_channels}) differ from input "
                         f"channels ({conv.in_channels})")
    if conv.out_channels != conv.kernels:
        raise LayerError(f"CSC: output channels ({conv.out_channels}) differ from kernels "
                         f"({conv.kernels})")


def padded_input(conv: ConvCore, cube: np.ndarray) -> np.ndarray:
    """Input [..., C, H', W'] surrounded by the pad value, as wide as the windows reach
    (leading axes, if any, are a batch); a view of the input where no window reaches
    the padding."""
    span_x = (conv.kernel_width - 1) * conv.dilation_x + 1
    span_y = (conv.kernel_height - 1) * conv.dilation_y + 1
    width = (conv.out_width - 1) * conv.stride_x + span_x
    height = (conv.out_height - 1) * conv.stride_y + span_y
    if (conv.pad_left == conv.pad_top == 0 and height <= cube.shape[-2]
            and width <= cube.shape[-1]):  # the windows lie inside the input: a view
        return cube[..., :height, :width]
    prec = conv.precision
    fill = pad_element(conv.pad_value, prec) if prec.is_float else sx_int(conv.pad_value,
                                                                          prec.bits)
    out = np.full((*cube.shape[:-2], height, width), fill, prec.dtype)
    # copy the part of the real input that lies inside the window extent
    x0, y0 = conv.pad_left, conv.pad_top
    w = max(0, min(conv.in_width, width - x0))
    h = max(0, min(conv.in_height, height - y0))
    out[..., y0:y0 + h, x0:x0 + w] = cube[..., :h, :w]
    return out


def windows(conv: ConvCore, cube: np.ndarray) -> np.ndarray:
    """Strided view [..., C, R, S, Ho, Wo]: input under kernel tap (y, x) for each output
    pixel."""
    return _windows(conv, padded_input(conv, cube))


def _windows(conv: ConvCore, padded: np.ndarray) -> np.ndarray:
    lead, (sc, sy, sx) = padded.shape[:-3], padded.strides[-3:]
    shape = (*lead, padded.shape[-3], conv.kernel_height, conv.kernel_width, conv.out_height,
             conv.out_width)
    strides = (*padded.strides[:-3], sc, sy * conv.dilation_y, sx * conv.dilation_x,
               sy * conv.stride_y, sx * conv.stride_x)
    return as_strided(padded, shape=shape, strides=strides, writeable=False)


def im2col(conv: ConvCore, cube: np.ndarray, dtype: type = np.int8
           ) -> tuple[np.ndarray, int]:
    """Patches [C*R*S, (B*)Ho*row] in (c, y, x) row order, matching weights [K, C, R, S],
    and ``row``, the columns per output row: ``out_width``, or, for the wide layout
    (:func:`_wide_row`), the input's row length, whose columns past ``out_width`` are
    not outputs.  A batch [B, C, H, W] puts its samples side by side.  Written once, as
    ``dtype``; a batch's single-pixel outputs (fully connected layers) as the transpose
    of its [B, C*R*S] rows, which BLAS reads as they are."""
    if (cube.ndim == 4 and conv.out_height == conv.out_width == 1
            and conv.dilation_x == conv.dilation_y == 1):
        rows = padded_input(conv, cube)[:, :conv.in_channels, :conv.kernel_height,
                                        :conv.kernel_width]
        return rows.reshape(len(rows), -1).astype(dtype).T, 1
    padded = padded_input(conv, cube)
    row = _wide_row(conv, padded)
    if row:
        return _wide(conv, padded, row, dtype), row
    win = _windows(conv, padded)
    if cube.ndim == 4:
        win = np.moveaxis(win, 0, 3)  # [C, R, S, B, Ho, Wo]
    out = np.empty(win.shape, dtype)
    out[...] = win
    return out.reshape(conv.in_channels * conv.kernel_height * conv.kernel_width,
                       -1), conv.out_width


def _wide_row(conv: ConvCore, padded: np.ndarray) -> int:
    """Row length of the padded input where the wide layout applies (stride 1, no
    dilation, rows of contiguous elements) and pays (rows at most 1.5x the output's
    width, which is under 64), else 0.  im2col then copies one run of about
    ``out_height * row`` elements per tap instead of ``out_height`` runs of
    ``out_width``: numpy copies short runs at a fraction of its speed on long ones
    (golden inference of a 256-image batch 1.08x faster on LeNet-5 and ResNet-18,
    though the GEMM grows by up to 1.5x)."""
    row = padded.strides[-2] // padded.itemsize
    useful = (conv.stride_x == conv.stride_y == conv.dilation_x == conv.dilation_y == 1
              and padded.strides[-1] == padded.itemsize and conv.out_width < 64
              and 2 * row <= 3 * conv.out_width)
    return row if useful else 0


def _wide(conv: ConvCore, padded: np.ndarray, row: int, dtype: type) -> np.ndarray:
    """Patches whose columns run over whole input rows: output (y, x) reads the flat
    input at ``y * row + x`` plus the tap's offset ``r * row + s``, so each tap's
    columns are one strided run of the input.  Columns with ``x >= out_width`` wrap
    into the next row (the last row's are zero); every read lies within the padded
    input, whose last element ends the last window."""
    lead, (sc, sy, sx) = padded.shape[:-3], padded.strides[-3:]
    run = (conv.out_height - 1) * row + conv.out_width
    view = as_strided(padded, shape=(conv.in_channels, conv.kernel_height, conv.kernel_width,
                                     *lead, run),
                      strides=(sc, sy, sx, *padded.strides[:-3], sx), writeable=False)
    out = np.empty((*view.shape[:-1], conv.out_height * row), dtype)
    out[..., :run] = view
    out[..., run:] = 0
    return out.reshape(conv.in_channels * conv.kernel_height * conv.kernel_width, -1)
