"""SEC-DED on the real weight-memory layout: every single flip corrected, every double
one detected, in blocks of every blob of LeNet-5, for each code and weight width."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nvdla_sim.ecc.codes import CLEAN, CORRECTED, DETECTED, SecDed
from nvdla_sim.ecc.layout import protection
from tests.ecc.networks import memory

CODES = [("secded64_57", 8), ("secded64_57", 4), ("secded32_26", 4), ("secded32_26", 8),
         ("secded72_64", 8), ("secded72_64", 4)]


def sample_blocks(mem) -> list[int]:
    """First and last block of every blob, and a few in between."""
    picks, start = [], 0
    for _, _, count in mem.blob_blocks:
        picks += [start, start + count // 2, start + count - 1]
        start += count
    return sorted(set(picks))


def flipped(word: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Copies of packed ``word`` with each row of bit ``positions`` inverted."""
    words = np.repeat(word[None], len(positions), axis=0)
    for col in range(positions.shape[1]):
        j = positions[:, col]
        words[np.arange(len(words)), j // 8] ^= (1 << (j % 8)).astype(np.uint8)
    return words


@pytest.mark.parametrize("strategy,bits", CODES)
def test_single_corrected_double_detected(strategy, bits):
    mem = memory(strategy, bits)
    n = mem.prot.block_bits
    singles = np.arange(n)[:, None]
    pairs = np.array(list(itertools.combinations(range(n), 2)))
    for block in sample_blocks(mem):
        clean, verdict = mem.decode(mem.stored[block:block + 1])
        assert verdict[0] == CLEAN and np.array_equal(clean[0], mem.values[block])
        decoded, verdict = mem.decode(flipped(mem.stored[block], singles))
        assert (verdict == CORRECTED).all()
        assert (decoded == mem.values[block]).all()
        _, verdict = mem.decode(flipped(mem.stored[block], pairs))
        assert (verdict == DETECTED).all()


@pytest.mark.parametrize("strategy,bits", [("secded64_57", 8), ("secded32_26", 4)])
def test_unprotected_reads_flips_as_they_are(strategy, bits):
    plain = memory("none", bits)
    decoded, verdict = plain.decode(flipped(plain.stored[0], np.array([[0]])))
    assert verdict[0] == CLEAN
    assert decoded[0, 0] != plain.values[0, 0]


@pytest.mark.parametrize("strategy,bits", CODES[:4])
def test_check_bits_sit_in_restricted_weights(strategy, bits):
    """In place: the stored block holds the weights' data bits unchanged and the check
    bits only in the top bits of the restricted weights; no extra memory."""
    mem = memory(strategy, bits)
    prot = mem.prot
    assert prot.block_bits == prot.weights * bits
    words = mem.unpack(mem.stored)
    raw = words.reshape(mem.blocks, prot.weights, bits)
    kept = bits - prot.free
    values = mem.values & ((1 << bits) - 1)
    expected = (values[..., None] >> np.arange(bits)) & 1
    assert np.array_equal(raw[:, :, :kept], expected[:, :, :kept])
    assert np.array_equal(raw[:, prot.restricted:], expected[:, prot.restricted:])
    low, high = prot.restricted_range
    assert low <= mem.values[:, :prot.restricted].min()
    assert mem.values[:, :prot.restricted].max() <= high


def test_packed_4bit_image_is_two_weights_per_byte():
    mem = memory("none", 4)
    byte = mem.stored[0, 0]
    assert byte & 0xF == mem.values[0, 0] & 0xF
    assert byte >> 4 == mem.values[0, 1] & 0xF
    assert mem.stored.shape[1] == 8  # 16 weights in a 64-bit word


@pytest.mark.parametrize("n,k", [(64, 57), (32, 26), (72, 64)])
def test_columns_distinct_and_syndrome_zero_after_encoding(n, k):
    code = SecDed(f"({n},{k})", n, k, tuple(range(n - (n - k), n)))
    assert len(set(code.columns.tolist())) == n
    data = np.random.default_rng(0).integers(0, 2, (50, n)).astype(np.uint8)
    assert (code.syndromes(code.encode(data)) == 0).all()


def test_protection_rejects_unknown():
    from nvdla_sim.errors import ConfigError
    with pytest.raises(ConfigError, match="unknown protection"):
        protection("hamming", 8)
    with pytest.raises(ConfigError, match="8-bit or packed 4-bit"):
        protection("none", 6)
