"""Byte-addressed external memory (NVDLA's primary memory interface).

One dense ``uint8`` buffer covers the lowest to the highest address touched
so far and grows on demand, so surfaces can be read and written as strided
numpy views without per-byte work.  A parallel mask records which bytes were
ever written: the trace player uses it to refuse a CRC over memory that
nothing wrote.
"""

from __future__ import annotations

import zlib

import numpy as np
from numpy.lib.stride_tricks import as_strided

from nvdla_sim.errors import MemoryAccessError

_GRAIN = 1 << 16  # allocation granularity (bytes)
MAX_SPAN = 1 << 32  # a 32-bit address space: the widest span one buffer may cover


class Memory:
    """Sparse-looking, dense-backed byte memory."""

    def __init__(self) -> None:
        self.base = 0
        self.data = np.zeros(0, np.uint8)
        self.written = np.zeros(0, bool)

    # -- allocation ------------------------------------------------------------------
    def _ensure(self, lo: int, hi: int) -> None:
        """Make [lo, hi) addressable."""
        if lo < 0:
            raise MemoryAccessError(f"negative address {lo:#x}")
        if self.data.size and self.base <= lo and hi <= self.base + self.data.size:
            return
        new_lo = lo if not self.data.size else min(lo, self.base)
        new_hi = hi if not self.data.size else max(hi, self.base + self.data.size)
        new_lo -= new_lo % _GRAIN
        new_hi += -new_hi % _GRAIN
        if new_hi - new_lo > MAX_SPAN:
            raise MemoryAccessError(
                f"access [{lo:#x}, {hi:#x}) makes the memory span {new_hi - new_lo:#x} bytes, "
                f"over the {MAX_SPAN:#x}-byte limit")
        data = np.zeros(new_hi - new_lo, np.uint8)
        written = np.zeros(new_hi - new_lo, bool)
        if self.data.size:
            off = self.base - new_lo
            data[off:off + self.data.size] = self.data
            written[off:off + self.data.size] = self.written
        self.base, self.data, self.written = new_lo, data, written

    @property
    def end(self) -> int:
        return self.base + self.data.size

    # -- flat access -----------------------------------------------------------------
    def write(self, addr: int, payload: bytes | np.ndarray) -> None:
        buf = np.frombuffer(payload, np.uint8) if isinstance(payload, (bytes, bytearray)) \
            else np.asarray(payload).view(np.uint8).ravel()
        self._ensure(addr, addr + buf.size)
        off = addr - self.base
        self.data[off:off + buf.size] = buf
        self.written[off:off + buf.size] = True

    def fill(self, addr: int, size: int, value: int) -> None:
        self._ensure(addr, addr + size)
        off = addr - self.base
        self.data[off:off + size] = value
        self.written[off:off + size] = True

    def read(self, addr: int, size: int) -> np.ndarray:
        self._ensure(addr, addr + size)
        off = addr - self.base
        return self.data[off:off + size].copy()

    def is_written(self, addr: int, size: int) -> bool:
        self._ensure(addr, addr + size)
        off = addr - self.base
        return bool(self.written[off:off + size].all())

    def crc32(self, addr: int, size: int) -> int:
        """CRC-32 of [addr, addr+size) in ascending address order (NVDLA mem_core)."""
        self._ensure(addr, addr + size)
        off = addr - self.base
        return zlib.crc32(self.data[off:off + size].tobytes()) & 0xFFFFFFFF

    # -- strided views ---------------------------------------------------------------
    def view(self, addr: int, shape: tuple[int, ...], strides: tuple[int, ...],
             *, for_write: bool = False) -> np.ndarray:
        """A strided uint8 view of memory (allocating the covered range)."""
        if any(s <= 0 for s in shape):
            raise MemoryAccessError(f"empty surface shape {shape} at {addr:#x}")
        span = 1 + sum((n - 1) * s for n, s in zip(shape, strides))
        self._ensure(addr, addr + span)
        off = addr - self.base
        view = as_strided(self.data[off:], shape=shape, strides=strides, writeable=for_write)
        if for_write:
            as_strided(self.written[off:], shape=shape, strides=strides, writeable=True)[...] = True
        return view

    def copy(self) -> "Memory":
        other = Memory()
        other.base, other.data, other.written = self.base, self.data.copy(), self.written.copy()
        return other
