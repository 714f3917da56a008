import zlib

import numpy as np
import pytest

from nvdla_sim.errors import MemoryAccessError
from nvdla_sim.memory import Memory


def test_far_apart_regions_stay_separate_segments():
    mem = Memory()
    mem.write(0x8000_0000, b"\x01\x02")
    mem.write(0x9000_0000, b"\x03")
    mem.write(0xA000_0000, b"\x04")
    assert len(mem.segments) == 3
    assert sum(size for _, size in mem.segments) < 1 << 16
    assert mem.read(0x8000_0000, 3).tolist() == [1, 2, 0]


def test_nearby_writes_merge_and_keep_contents():
    mem = Memory()
    mem.write(0x1000, b"\xaa" * 16)
    mem.write(0x1000 + 200_000, b"\xbb")
    assert len(mem.segments) == 1
    assert mem.read(0x1000, 2).tolist() == [0xAA, 0xAA]
    assert mem.read(0x1000 + 200_000, 1).tolist() == [0xBB]


def test_written_mask_and_crc():
    mem = Memory()
    mem.fill(0x100, 8, 0)
    mem.write(0x100, b"\x12\x34")
    assert mem.is_written(0x100, 8)
    assert not mem.is_written(0x100, 12)
    assert mem.crc32(0x100, 8) == zlib.crc32(b"\x12\x34" + b"\0" * 6)


def test_masked_write_leaves_unmasked_bytes():
    mem = Memory()
    mem.fill(0, 4, 0x55)
    mem.write_masked(0, np.array([1, 2, 3, 4], np.uint8), np.array([1, 0, 1, 0], bool))
    assert mem.read(0, 4).tolist() == [1, 0x55, 3, 0x55]


def test_strided_view_write_marks_written():
    mem = Memory()
    view = mem.view(0x40, (2, 2), (16, 1), for_write=True)
    view[...] = np.array([[1, 2], [3, 4]], np.uint8)
    assert mem.read(0x40, 18).tolist() == [1, 2] + [0] * 14 + [3, 4]
    assert mem.is_written(0x50, 2) and not mem.is_written(0x42, 2)


def test_refuses_huge_access():
    with pytest.raises(MemoryAccessError):
        Memory().read(0, 1 << 33)


def test_a_surface_larger_than_free_memory_is_an_error_before_allocating(monkeypatch):
    from nvdla_sim import memory
    monkeypatch.setattr(memory, "available_bytes", lambda: 1 << 30)
    mem = Memory()
    with pytest.raises(MemoryAccessError) as info:
        mem.fill(0x8000_0000, 1 << 30, 0)
    assert str(info.value) == ("access [0x80000000, 0xc0000000): its memory segment (bytes "
                               "and written mask) needs 2.00 GiB, only 1.00 GiB is available")
    assert mem.segments == []
    mem.fill(0x8000_0000, 1 << 20, 0)  # what fits is still allocated
    assert mem.segments == [(0x8000_0000, 1 << 20)]
