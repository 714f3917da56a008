"""NVDLA surface layouts in memory: feature cubes, conv weights, SDP operands.

All packing and unpacking is vectorized (strided views or one fancy index);
cubes are numpy arrays indexed ``[channel, y, x]``.  Layouts follow NVDLA's
``doc/hw/format.rst`` scaled by the hardware config's memory atom and atomic
C/K sizes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from nvdla_sim.config import HardwareConfig
from nvdla_sim.errors import LayerError
from nvdla_sim.memory import RAM_PRIMARY, Memory
from nvdla_sim.precision import INT8, Precision


@dataclass(frozen=True)
class FeatureSurface:
    """A W x H x C feature cube: surfaces of ``A`` channels, line and surface strides.

    ``addr(x, y, c) = base + (c // A) * surface_stride + y * line_stride + (x * A + c % A) * E``
    with ``A`` the channels of one memory atom at the surface's precision
    (``mem_atom`` bytes / element bytes) and ``E`` the bytes of one element.
    ``element_bytes`` > 1 describes SDP operand streams: ``A`` channels per
    atom of int8 features, each carrying ``element_bytes`` bytes.  ``ram_type``
    picks the memory (0 = secondary / CVSRAM, 1 = primary / MC).
    """

    address: int
    width: int
    height: int
    channels: int
    line_stride: int
    surface_stride: int
    element_bytes: int = 1
    precision: Precision = INT8
    ram_type: int = RAM_PRIMARY

    def _shape(self, cfg: HardwareConfig
               ) -> tuple[tuple[int, ...], tuple[int, ...], int, int]:
        """(shape, strides) of the atoms in memory, channels per atom, bytes per channel."""
        eb = self.element_bytes * self.precision.element_bytes
        atom = cfg.mem_atom // self.precision.element_bytes
        for name, value in (("address", self.address), ("line_stride", self.line_stride),
                            ("surface_stride", self.surface_stride)):
            if value % cfg.mem_atom:
                raise LayerError(f"feature surface {name} {value:#x} is not a multiple of the "
                                 f"{cfg.mem_atom}-byte memory atom")
        shape = (-(-self.channels // atom), self.height, self.width, atom * eb)
        strides = (self.surface_stride, self.line_stride, atom * eb, 1)
        return shape, strides, atom, eb

    def read_bytes(self, mem: Memory, cfg: HardwareConfig) -> np.ndarray:
        """Raw element bytes, shape (ceil(C/A)*A, H, W, bytes per channel), uint8."""
        shape, strides, atom, eb = self._shape(cfg)
        raw = mem.port(self.ram_type).view(self.address, shape, strides)  # (S, H, W, A*eb)
        cube = raw.reshape(shape[0], self.height, self.width, atom, eb)
        return cube.transpose(0, 3, 1, 2, 4).reshape(-1, self.height, self.width, eb).copy()

    def read(self, mem: Memory, cfg: HardwareConfig) -> np.ndarray:
        """The cube (int8 or int16, by precision) with channels padded to whole atoms,
        shape (ceil(C/A)*A, H, W)."""
        if self.element_bytes != 1:
            raise LayerError("read() is for feature surfaces; use read_bytes()")
        return self.read_bytes(mem, cfg).view(self.precision.dtype)[..., 0]

    def write(self, mem: Memory, cfg: HardwareConfig, cube: np.ndarray) -> None:
        """Write a (ceil(C/A)*A, H, W) cube of whole atoms at the surface's precision."""
        shape, strides, atom, _ = self._shape(cfg)
        expected = (shape[0] * atom, self.height, self.width)
        if cube.shape != expected:
            raise LayerError(f"cube of shape {cube.shape} written to a surface of {expected}")
        if self.element_bytes != 1:
            raise LayerError("only feature surfaces are written")
        atoms = np.ascontiguousarray(cube.astype(self.precision.dtype).reshape(
            shape[0], atom, self.height, self.width).transpose(0, 2, 3, 1))
        view = mem.port(self.ram_type).view(self.address, shape, strides, for_write=True)
        view[...] = atoms.view(np.uint8).reshape(shape)

    def span(self, cfg: HardwareConfig) -> int:
        shape, strides, _, _ = self._shape(cfg)
        return 1 + sum((n - 1) * s for n, s in zip(shape, strides))

    @staticmethod
    def packed(address: int, width: int, height: int, channels: int,
               cfg: HardwareConfig, element_bytes: int = 1,
               precision: Precision = INT8) -> "FeatureSurface":
        line = width * cfg.mem_atom * element_bytes
        return FeatureSurface(address, width, height, channels, line, line * height, element_bytes,
                              precision)


@lru_cache(maxsize=256)
def weight_offsets(kernels: int, channels: int, height: int, width: int,
                   cfg: HardwareConfig, prec: Precision = INT8) -> np.ndarray:
    """Element offset of every weight ``w[k, c, y, x]`` for direct convolution (shape K,C,R,S).

    Kernels come in groups (:meth:`HardwareConfig.kernel_group` at ``prec``); inside a
    group the scan is C' (<= :meth:`HardwareConfig.mac_channels` channels) -> kernel -> x -> y -> channel block;
    a group starts at ``g * group * R*S*C`` even when the previous group is short.
    """
    ak, ac = cfg.kernel_group(prec), cfg.mac_channels(prec)
    k = np.arange(kernels)[:, None, None, None]
    c = np.arange(channels)[None, :, None, None]
    y = np.arange(height)[None, None, :, None]
    x = np.arange(width)[None, None, None, :]
    groups = -(-kernels // ak)
    blocks = -(-channels // ac)
    g, kk = k // ak, k % ak
    kpg = np.where(g < groups - 1, ak, kernels - ak * (groups - 1))
    b, cc = c // ac, c % ac
    cb = np.where(b < blocks - 1, ac, channels - ac * (blocks - 1))
    rs = y * width + x
    off = (g * (ak * height * width * channels) + b * (ac * height * width * kpg)
           + rs * (cb * kpg) + kk * cb + cc)
    off.setflags(write=False)  # cached: shared by every caller
    return off


def read_weights(mem: Memory, address: int, kernels: int, channels: int, height: int,
                 width: int, cfg: HardwareConfig, prec: Precision = INT8) -> np.ndarray:
    """Direct-convolution weights as an array [K, C, R, S] of ``prec``'s dtype."""
    off = weight_offsets(kernels, channels, height, width, cfg, prec)
    flat = mem.read(address, kernels * channels * height * width * prec.element_bytes)
    return flat.view(prec.dtype)[off]


WEIGHT_ALIGN = 128  # CDMA fetches D_WEIGHT_BYTES in whole 128-byte units (all NVIDIA traces)


def weight_bytes(kernels: int, channels: int, height: int, width: int,
                 prec: Precision = INT8) -> int:
    """D_WEIGHT_BYTES of a direct-convolution weight image: its size rounded up to
    :data:`WEIGHT_ALIGN` (NVIDIA's RTL misreads or hangs on other sizes)."""
    size = kernels * channels * height * width * prec.element_bytes
    return size + -size % WEIGHT_ALIGN


def pack_weights(weights: np.ndarray, cfg: HardwareConfig, prec: Precision = INT8
                 ) -> np.ndarray:
    """Inverse of :func:`read_weights`: the byte image of weights [K, C, R, S], zero
    padded to :func:`weight_bytes`."""
    off = weight_offsets(*weights.shape, cfg, prec)
    image = np.zeros(weight_bytes(*weights.shape, prec) // prec.element_bytes, prec.dtype)
    image[off] = weights
    return image.view(np.uint8)
