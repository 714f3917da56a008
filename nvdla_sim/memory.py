"""Byte-addressed external memory (NVDLA's primary memory interface).

Memory is a few dense ``uint8`` segments: each covers a contiguous range of
addresses that were touched, so surfaces are read and written as strided
numpy views without per-byte work, while far-apart regions (trace tests use
0x8000_0000, 0x9000_0000 and 0xa000_0000 side by side) cost nothing in
between.  A parallel mask records which bytes were ever written: the trace
player refuses a CRC over memory that nothing wrote.
"""

from __future__ import annotations

import bisect
import zlib
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided

from nvdla_sim.errors import MemoryAccessError

_GRAIN = 1 << 12  # segment alignment (bytes)
_MERGE_GAP = 1 << 20  # ranges closer than this share one segment
MAX_ADDRESS = 1 << 64
MAX_SEGMENT = 1 << 32  # refuse one access span larger than 4 GiB


@dataclass
class _Segment:
    base: int
    data: np.ndarray
    written: np.ndarray

    @property
    def end(self) -> int:
        return self.base + self.data.size


def available_bytes() -> int | None:
    """Memory the system can still give (``MemAvailable``), or None where unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_allocation(need: int, what: str) -> None:
    """Refuse to allocate ``need`` bytes for ``what`` beyond the memory available: a huge
    surface is an error naming it, not an out-of-memory kill."""
    free = available_bytes()
    if free is not None and need > free:
        raise MemoryAccessError(f"{what} needs {need / 2**30:.2f} GiB, only "
                                f"{free / 2**30:.2f} GiB is available")


def _allocate(new_lo: int, new_hi: int, lo: int, hi: int) -> _Segment:
    """A zeroed segment for [new_lo, new_hi) (bytes + written mask), checked first."""
    need = 2 * (new_hi - new_lo)
    check_allocation(need, f"access [{lo:#x}, {hi:#x}): its memory segment (bytes and "
                           f"written mask)")
    try:
        return _Segment(new_lo, np.zeros(new_hi - new_lo, np.uint8),
                        np.zeros(new_hi - new_lo, bool))
    except MemoryError:
        raise MemoryAccessError(f"access [{lo:#x}, {hi:#x}) needs a {need / 2**30:.2f} GiB "
                                f"memory segment: out of memory") from None


RAM_SECONDARY, RAM_PRIMARY = 0, 1  # the *_RAM_TYPE register enum: CV (CVSRAM), MC


class Memory:
    """Sparse byte memory made of dense segments.

    The memory NVDLA's primary interface (MC) reaches; on configurations with a
    secondary interface, ``secondary`` is the CVSRAM (a separate address space)
    that units reach when their ``*_RAM_TYPE`` is 0.
    """

    def __init__(self, secondary: "Memory | None" = None) -> None:
        self._segments: list[_Segment] = []  # sorted by base, disjoint, not touching
        self.secondary = secondary

    def port(self, ram_type: int) -> "Memory":
        """The memory a unit programmed with ``ram_type`` reads and writes (configurations
        without a secondary interface route every access to the primary one)."""
        if ram_type == RAM_SECONDARY and self.secondary is not None:
            return self.secondary
        return self

    # -- allocation ------------------------------------------------------------------
    def _segment(self, lo: int, hi: int) -> _Segment:
        """The segment that covers [lo, hi), merging or creating segments as needed."""
        if lo < 0 or hi > MAX_ADDRESS:
            raise MemoryAccessError(f"address range [{lo:#x}, {hi:#x}) is outside memory")
        if hi - lo > MAX_SEGMENT:
            raise MemoryAccessError(f"access of {hi - lo:#x} bytes at {lo:#x} is larger "
                                    f"than {MAX_SEGMENT:#x} bytes")
        bases = [s.base for s in self._segments]
        i = bisect.bisect_right(bases, hi + _MERGE_GAP)
        j = i
        while j > 0 and self._segments[j - 1].end + _MERGE_GAP >= lo:
            j -= 1
        touched = self._segments[j:i]
        if len(touched) == 1 and touched[0].base <= lo and hi <= touched[0].end:
            return touched[0]
        new_lo = min([lo] + [s.base for s in touched])
        new_hi = max([hi] + [s.end for s in touched])
        if len(touched) == 1:  # growing one segment: leave room to grow again cheaply
            seg = touched[0]
            if new_hi > seg.end:
                new_hi = max(new_hi, seg.end + seg.data.size)
            if new_lo < seg.base:
                new_lo = max(0, min(new_lo, seg.base - seg.data.size))
        new_lo -= new_lo % _GRAIN
        new_hi += -new_hi % _GRAIN
        # neighbours lie more than _MERGE_GAP away from [lo, hi): clamping keeps it covered
        if i < len(self._segments):
            new_hi = min(new_hi, self._segments[i].base)
        if j > 0:
            new_lo = max(new_lo, self._segments[j - 1].end)
        merged = _allocate(new_lo, new_hi, lo, hi)
        for s in touched:
            merged.data[s.base - new_lo:s.end - new_lo] = s.data
            merged.written[s.base - new_lo:s.end - new_lo] = s.written
        self._segments[j:i] = [merged]
        return merged

    def _slice(self, addr: int, size: int) -> tuple[_Segment, slice]:
        seg = self._segment(addr, addr + size)
        off = addr - seg.base
        return seg, slice(off, off + size)

    @property
    def segments(self) -> list[tuple[int, int]]:
        """(base, size) of every allocated segment."""
        return [(s.base, s.data.size) for s in self._segments]

    # -- flat access -----------------------------------------------------------------
    def write(self, addr: int, payload: bytes | np.ndarray) -> None:
        buf = np.frombuffer(payload, np.uint8) if isinstance(payload, (bytes, bytearray)) \
            else np.asarray(payload).view(np.uint8).ravel()
        seg, region = self._slice(addr, buf.size)
        seg.data[region] = buf
        seg.written[region] = True

    def write_masked(self, addr: int, payload: np.ndarray, mask: np.ndarray) -> None:
        """Write only the bytes of ``payload`` where ``mask`` is set."""
        seg, region = self._slice(addr, payload.size)
        seg.data[region] = np.where(mask, payload, seg.data[region])
        seg.written[region] |= mask

    def fill(self, addr: int, size: int, value: int) -> None:
        seg, region = self._slice(addr, size)
        seg.data[region] = value
        seg.written[region] = True

    def read(self, addr: int, size: int) -> np.ndarray:
        seg, region = self._slice(addr, size)
        return seg.data[region].copy()

    def is_written(self, addr: int, size: int) -> bool:
        seg, region = self._slice(addr, size)
        return bool(seg.written[region].all())

    def crc32(self, addr: int, size: int) -> int:
        """CRC-32 of [addr, addr+size) in ascending address order (NVDLA mem_core)."""
        seg, region = self._slice(addr, size)
        return zlib.crc32(seg.data[region].tobytes()) & 0xFFFFFFFF

    # -- strided views ---------------------------------------------------------------
    def view(self, addr: int, shape: tuple[int, ...], strides: tuple[int, ...],
             *, for_write: bool = False) -> np.ndarray:
        """A strided uint8 view of memory; writing through it marks the bytes written."""
        if any(n <= 0 for n in shape):
            raise MemoryAccessError(f"empty surface shape {shape} at {addr:#x}")
        if any(s < 0 for s in strides):
            raise MemoryAccessError(f"negative stride in {strides} at {addr:#x}")
        span = 1 + sum((n - 1) * s for n, s in zip(shape, strides))
        seg, region = self._slice(addr, span)
        view = as_strided(seg.data[region.start:], shape=shape, strides=strides,
                          writeable=for_write)
        if for_write:
            as_strided(seg.written[region.start:], shape=shape, strides=strides,
                       writeable=True)[...] = True
        return view

    def copy(self) -> "Memory":
        other = Memory(self.secondary.copy() if self.secondary is not None else None)
        other._segments = [_Segment(s.base, s.data.copy(), s.written.copy())
                           for s in self._segments]
        return other
