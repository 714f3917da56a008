"""Fault models on weight memory and on stored activations, and what decoding leaves.

Weight memory (a :class:`~nvdla_sim.ecc.layout.WeightMemory`, check bits
included): every bit flips independently with probability p (``flip``), or
is a cell stuck at 0 / 1 with probability p (``stuck0`` / ``stuck1``: an
error only where the stored bit differs), or one chosen bit flips
(:meth:`WeightMemory.position`, for sensitivity maps).  Faults are error
positions (flat memory bits); only the blocks they touch are read back and
decoded (a clean block's syndrome is zero), so a trial costs in proportion to
its faults, not to the memory.

Activations (:class:`ActivationFaults`, a :mod:`nvdla_sim.batched` store
hook): the same models on every tensor a layer writes to memory, per image;
stuck cells are fixed per memory location for the whole trial.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nvdla_sim.ecc.codes import CORRECTED, DETECTED
from nvdla_sim.ecc.layout import WeightMemory
from nvdla_sim.errors import ConfigError
from nvdla_sim.memory import Memory

KINDS = ("flip", "stuck0", "stuck1")


def _check(kind: str, rate: float) -> None:
    if kind not in KINDS:
        raise ConfigError(f"unknown fault model {kind!r}; expected one of {', '.join(KINDS)}")
    if not 0 <= rate <= 1:
        raise ConfigError(f"fault rate must be in [0, 1], got {rate}")


def _cells(total: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Distinct cells of ``total``, each chosen with probability ``rate`` (sorted)."""
    count = int(rng.binomial(total, rate))
    return np.sort(rng.choice(total, count, replace=False)) if count else np.zeros(0, np.int64)


def stored_bits(mem: WeightMemory, positions: np.ndarray) -> np.ndarray:
    """The stored (encoded) memory bits at flat ``positions``."""
    n = mem.prot.block_bits
    block, j = np.divmod(positions, n)
    return (mem.stored[block, j // 8] >> (j % 8)) & 1


def draw_errors(mem: WeightMemory, kind: str, rate: float,
                rng: np.random.Generator) -> np.ndarray:
    """Flat memory bits that read back wrong under the fault model (sorted, distinct)."""
    _check(kind, rate)
    cells = _cells(mem.blocks * mem.prot.block_bits, rate, rng)
    if kind == "flip":
        return cells
    return cells[stored_bits(mem, cells) != (kind == "stuck1")]


@dataclass(frozen=True)
class Outcome:
    """What one set of errors leaves after decoding."""

    errors: int  # memory bits read back wrong
    corrected: int  # blocks with errors, corrected by the decoder
    detected: int  # blocks flagged uncorrectable (left as read)
    silent: int  # blocks whose weights are wrong, not flagged
    wrong_bits: int  # weight bits the datapath gets wrong
    lanes: np.ndarray  # int8-lane addresses of the weights that changed
    values: np.ndarray  # and their values


def decode_errors(mem: WeightMemory, errors: np.ndarray) -> Outcome:
    """Read back the blocks ``errors`` touch with those bits inverted, decode them, and
    compare the weights the datapath gets with the original ones."""
    n = mem.prot.block_bits
    block, j = np.divmod(np.asarray(errors, np.int64), n)
    touched, row = np.unique(block, return_inverse=True)
    received = mem.stored[touched].copy()
    np.bitwise_xor.at(received, (row, j // 8), (1 << (j % 8)).astype(np.uint8))
    decoded, verdict = mem.decode(received)
    original, lanes = mem.values[touched], mem.lanes[touched]
    diff = ((decoded ^ original) & ((1 << mem.prot.bits) - 1)) * (lanes >= 0)
    wrong = np.unpackbits(diff.astype(np.uint8)[..., None], axis=-1).sum(axis=(1, 2))
    bad = wrong > 0
    changed = diff != 0
    return Outcome(errors=int(errors.size),
                   corrected=int(((verdict == CORRECTED) & ~bad).sum()),
                   detected=int((verdict == DETECTED).sum()),
                   silent=int((bad & (verdict != DETECTED)).sum()),
                   wrong_bits=int(wrong.sum()), lanes=lanes[changed],
                   values=decoded[changed].astype(np.int8))


def patch(memory: Memory, outcome: Outcome) -> None:
    """Write the weights an outcome changed into (a copy of) the program's memory."""
    if outcome.lanes.size == 0:
        return
    order = np.argsort(outcome.lanes)
    lanes, values = outcome.lanes[order], outcome.values[order]
    # one read-modify-write per run of nearby lanes (blobs are contiguous)
    cuts = np.flatnonzero(np.diff(lanes) > 4096) + 1
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, lanes.size]):
        base = int(lanes[lo])
        data = memory.read(base, int(lanes[hi - 1]) - base + 1)
        data[lanes[lo:hi] - base] = values[lo:hi].view(np.uint8)
        memory.write(base, data)


class ActivationFaults:
    """Faults in stored activations: a store hook for :class:`~nvdla_sim.batched.BatchRunner`.

    ``flip``: every stored bit of every image flips with probability ``rate``;
    ``stuck0`` / ``stuck1``: cells chosen once per written region (the same
    memory for every image) hold their value; ``targets``: (layer index,
    channel, y, x, bit) flipped in every image.  ``layers`` limits the faults to
    the outputs of those hardware layers (None: all)."""

    def __init__(self, kind: str, rate: float, rng: np.random.Generator,
                 targets: tuple[tuple[int, int, int, int, int], ...] = (),
                 layers: frozenset[int] | None = None) -> None:
        _check(kind, rate)
        self.kind, self.rate, self.rng = kind, rate, rng
        self.targets, self.layers = targets, layers
        self.stuck: dict[tuple[int, tuple[int, ...]], np.ndarray] = {}
        self.flipped = 0  # stored bits that read back wrong, over all images

    def __call__(self, layer: int, region: np.ndarray) -> None:
        bits = region.view(np.uint8)
        for t_layer, c, y, x, bit in self.targets:
            if t_layer == layer:
                bits[:, c, y, x] ^= np.uint8(1 << bit)
                self.flipped += len(bits)
        if self.rate == 0 or (self.layers is not None and layer not in self.layers):
            return
        per_image = bits[0].size * 8
        if self.kind == "flip":
            cells = _cells(bits.size * 8, self.rate, self.rng)
            image, cell = np.divmod(cells, per_image)
            index = np.unravel_index(cell // 8, bits.shape[1:])
            np.bitwise_xor.at(bits, (image, *index), (1 << (cell % 8)).astype(np.uint8))
            self.flipped += cells.size
            return
        key = (layer, bits.shape[1:])
        cells = self.stuck.get(key)
        if cells is None:
            cells = self.stuck[key] = _cells(per_image, self.rate, self.rng)
        cell_bytes, which = np.unique(cells // 8, return_inverse=True)
        mask = np.zeros(cell_bytes.size, np.uint8)
        np.bitwise_or.at(mask, which, (1 << (cells % 8)).astype(np.uint8))
        index = np.unravel_index(cell_bytes, bits.shape[1:])
        current = bits[(slice(None), *index)]
        target = current | mask if self.kind == "stuck1" else current & ~mask
        self.flipped += int(np.unpackbits((current ^ target).ravel()).sum())
        bits[(slice(None), *index)] = target
