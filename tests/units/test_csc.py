"""CSC's patch matrices: the wide layout (each tap's columns one run over whole input
rows) gives the accumulators of the plain window view, for every geometry, padding,
batch and channel-offset view it is used on."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from nvdla_sim.units import convcore, csc
from tests.faults.networks import small_net


def _conv(rng: np.random.Generator, stride: int):
    c, k = int(rng.integers(1, 7)), int(rng.integers(1, 9))
    r, s = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    h, w = r + int(rng.integers(0, 12)), s + int(rng.integers(0, 12))
    pads = [int(v) for v in rng.integers(0, 3, 4)]  # left, top, right, bottom
    return dataclasses.replace(
        small_net().layers[0].conv, in_width=w, in_height=h, in_channels=c,
        kernel_channels=c, kernels=k, out_channels=k, kernel_width=s, kernel_height=r,
        stride_x=stride, stride_y=stride, pad_left=pads[0], pad_top=pads[1],
        pad_right=pads[2], pad_bottom=pads[3], pad_value=int(rng.integers(-128, 128)),
        dilation_x=1, dilation_y=1,
        out_width=(w + pads[0] + pads[2] - s) // stride + 1,
        out_height=(h + pads[1] + pads[3] - r) // stride + 1)


@pytest.mark.parametrize("seed", range(40))
def test_patches_give_the_window_sums(seed):
    rng = np.random.default_rng(seed)
    conv = _conv(rng, stride=1 if seed % 4 else 2)
    weights = rng.integers(-128, 128, (conv.kernels, conv.in_channels, conv.kernel_height,
                                       conv.kernel_width)).astype(np.int8)
    # a batch stored in a wider root: a view with more channels and longer rows
    root = rng.integers(-128, 128, (3, conv.in_channels + 2, conv.in_height + 1,
                                    conv.in_width + int(rng.integers(0, 3)))).astype(np.int8)
    batch = root[:, 1:1 + conv.in_channels, 1:, :conv.in_width]
    matrix = weights.reshape(conv.kernels, -1).astype(np.float32)
    for data in (batch, batch[1]):
        got = convcore.gemm(conv, convcore.ConvOperands(data, weights, matrix, None))
        win = csc.windows(conv, data).astype(np.int64)  # [(B,) C, R, S, Ho, Wo]
        want = np.einsum("...crsyx,kcrs->k...yx", win, weights.astype(np.int64))
        assert np.array_equal(got.astype(np.int64), want.reshape(conv.kernels, -1))


def test_the_wide_layout_is_taken_where_it_pays():
    """Stride 1 with rows at most 1.5x the output's width: wide; else the plain view."""
    conv = dataclasses.replace(small_net().layers[0].conv, in_width=14, in_height=14,
                               in_channels=6, kernel_channels=6, kernel_width=5,
                               kernel_height=5, stride_x=1, stride_y=1, pad_left=0,
                               pad_top=0, pad_right=0, pad_bottom=0, dilation_x=1,
                               dilation_y=1, out_width=10, out_height=10)
    x = np.zeros((2, 6, 14, 14), np.int8)
    assert csc.im2col(conv, x, np.float32)[1] == 14  # LeNet-5's conv2: 1.4x
    wider = np.zeros((2, 6, 14, 16), np.int8)[..., :14]  # rows of 16: 1.6x
    assert csc.im2col(conv, wider, np.float32)[1] == 10
    strided = dataclasses.replace(conv, stride_x=2, stride_y=2, out_width=5, out_height=5)
    assert csc.im2col(strided, x, np.float32)[1] == 5
