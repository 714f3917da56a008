"""Extended Hamming (SEC-DED) codes: parity-check columns, encoding and syndrome decoding.

A code of length N with m Hamming check bits and one overall parity bit
gives every codeword position a column of m + 1 bits: bits 0..m-1 the
Hamming syndrome, bit m the overall parity (set in every column).  Check
positions get the unit columns e_0..e_{m-1}, the parity position the column
with only bit m, and data positions distinct non-unit m-bit vectors (in
increasing order: (64,57) and (32,26) use them all, (72,64) is shortened).

Decoding looks only at the syndrome of the received word, as hardware does:
zero is clean; odd overall parity is taken for one flip and corrected at the
position whose column equals the syndrome (a syndrome no position has is
detected-uncorrectable); even parity with a non-zero syndrome is two flips,
detected.  Three or more flips may be miscorrected or pass unseen.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

CLEAN, CORRECTED, DETECTED = 0, 1, 2  # decoder verdicts per block


@dataclass(frozen=True)
class SecDed:
    """An (n, k) extended Hamming code; ``checks``: the n - k check positions of a
    codeword (the last one holds the overall parity)."""

    name: str
    n: int
    k: int
    checks: tuple[int, ...]

    def __post_init__(self) -> None:
        m = self.n - self.k - 1
        if len(self.checks) != m + 1 or len(set(self.checks)) != m + 1 or \
                not all(0 <= c < self.n for c in self.checks):
            raise ValueError(f"{self.name}: needs {m + 1} distinct check positions in "
                             f"0..{self.n - 1}, got {self.checks}")
        if self.k > (1 << m) - 1 - m:
            raise ValueError(f"{self.name}: {self.k} data bits need more than {m} Hamming checks")

    @property
    def m(self) -> int:
        return self.n - self.k - 1

    @cached_property
    def data_positions(self) -> np.ndarray:
        taken = set(self.checks)
        return np.array([j for j in range(self.n) if j not in taken], np.int64)

    @cached_property
    def columns(self) -> np.ndarray:
        """int64 [n]: the parity-check column of every codeword position."""
        m = self.m
        parity = 1 << m
        cols = np.zeros(self.n, np.int64)
        for i, pos in enumerate(self.checks[:-1]):
            cols[pos] = (1 << i) | parity
        cols[self.checks[-1]] = parity
        vectors = [v for v in range(3, 1 << m) if v & (v - 1)][: self.k]
        cols[self.data_positions] = np.array(vectors, np.int64) | parity
        return cols

    @cached_property
    def matrix(self) -> np.ndarray:
        """float32 [n, m + 1] 0/1: column bits, for syndromes as one exact matmul."""
        return ((self.columns[:, None] >> np.arange(self.m + 1)) & 1).astype(np.float32)

    @cached_property
    def locate(self) -> np.ndarray:
        """int64 [2^(m+1)]: the position whose column is the syndrome, else -1."""
        table = np.full(1 << (self.m + 1), -1, np.int64)
        table[self.columns] = np.arange(self.n)
        return table

    def syndromes(self, bits: np.ndarray) -> np.ndarray:
        """int64 [B]: syndromes of codewords given as 0/1 bits [B, n] (XOR of the columns
        of their set bits)."""
        counts = np.asarray(bits, np.float32) @ self.matrix  # exact: sums <= n
        odd = counts.astype(np.int64) & 1
        return odd @ (1 << np.arange(self.m + 1, dtype=np.int64))

    def encode(self, bits: np.ndarray) -> np.ndarray:
        """Set the check positions of 0/1 words [B, n] (data in place, checks ignored)
        so that every syndrome is zero; returns the codewords as a new array."""
        words = np.array(bits, np.uint8)
        words[:, list(self.checks)] = 0
        s = self.syndromes(words)
        for i, pos in enumerate(self.checks[:-1]):
            words[:, pos] = (s >> i) & 1
        words[:, self.checks[-1]] = words.sum(axis=1, dtype=np.int64) & 1
        return words

    def decode(self, bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Hardware decoding of received 0/1 words [B, n]: (corrected words, verdict per
        word: CLEAN, CORRECTED or DETECTED).  Detected words are left as received."""
        words = np.array(bits, np.uint8)
        s = self.syndromes(words)
        odd = (s >> self.m) & 1 == 1
        where = self.locate[s]
        fix = odd & (where >= 0)
        verdict = np.full(len(words), CLEAN, np.int8)
        verdict[fix] = CORRECTED
        verdict[(s != 0) & ~fix] = DETECTED
        rows = np.flatnonzero(fix)
        words[rows, where[rows]] ^= 1
        return words, verdict
