"""Weight memory as NVDLA stores it, blocked and protected.

Every distinct convolution weight blob of a program is a stream of weights in
the order CDMA reads it (byte offsets of ``surface.weight_offsets``).  With
b-bit weights (8, or 4 packed two per byte, low nibble first) the stream is
cut into blocks of ``Protection.weights`` weights from the start of each blob
(the blob's last block padded with zero weights).  Block w is memory word w;
its bit j is bit ``j % b`` of the block's weight ``j // b`` for the weight
bits, and check bit ``j - weights * b`` of a code with extra check bits.

In-place protection (zero-space, Guan et al. 2019) restricts the first
``restricted`` weights of each block to ``b - free`` bits, so their ``free``
top bits only repeat the sign; encoding writes the check bits there, and
decoding restores those weights by sign extension from the kept bits.  The
datapath always sees the decoded weights in int8 lanes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from compiler import ir
from nvdla_sim.config import HardwareConfig
from nvdla_sim.ecc.codes import SecDed
from nvdla_sim.errors import ConfigError
from nvdla_sim.program import Program
from nvdla_sim.surface import weight_offsets


@dataclass(frozen=True)
class Protection:
    """How b-bit weights are blocked and protected in memory."""

    name: str
    bits: int  # weight bits in memory: 8, or 4 (packed)
    weights: int  # weights per block
    restricted: int = 0  # the first ones of a block give their top ``free`` bits to checks
    free: int = 0
    code: SecDed | None = None

    @property
    def block_bits(self) -> int:
        return self.code.n if self.code else self.weights * self.bits

    @property
    def in_place(self) -> bool:
        return self.restricted > 0

    @property
    def restricted_range(self) -> tuple[int, int]:
        """Values a restricted weight may take (two's complement in ``bits - free`` bits)."""
        kept = self.bits - self.free
        return -(1 << (kept - 1)), (1 << (kept - 1)) - 1

    def restricted_slots(self, offsets: np.ndarray) -> np.ndarray:
        """Which weights at stream ``offsets`` (within their blob) are restricted."""
        return offsets % self.weights < self.restricted


STRATEGIES = ("none", "secded64_57", "secded32_26", "secded72_64")
LABELS = {"none": "unprotected", "secded64_57": "(64,57) in place",
          "secded32_26": "(32,26) in place", "secded72_64": "(72,64) extra bits"}


def protection(strategy: str, bits: int) -> Protection:
    """The block layout of ``strategy`` for ``bits``-bit weights.

    (64,57): 8 weights of 8 bits (7 restricted to 7 bits) or 16 of 4 bits (7
    restricted to 3 bits); (32,26): 8 weights of 4 bits (6 restricted to 3 bits)
    or 4 of 8 bits (3 restricted to 6 bits, two check bits each); (72,64): 64
    data bits and 8 check bits stored beside them (plain memory ECC)."""
    if bits not in (4, 8):
        raise ConfigError(f"weight memory holds 8-bit or packed 4-bit weights, not {bits}-bit")
    per64 = 64 // bits
    if strategy == "none":
        return Protection(strategy, bits, per64)
    if strategy == "secded72_64":
        return Protection(strategy, bits, per64, code=SecDed("(72,64)", 72, 64,
                                                              tuple(range(64, 72))))
    if strategy == "secded64_57":
        n, k, weights, restricted, free = 64, 57, per64, 7, 1
    elif strategy == "secded32_26":
        n, k, weights = 32, 26, 32 // bits
        restricted, free = (6, 1) if bits == 4 else (3, 2)
    else:
        raise ConfigError(f"unknown protection {strategy!r}; expected one of "
                          f"{', '.join(STRATEGIES)}")
    checks = tuple(i * bits + bits - 1 - f for i in range(restricted) for f in range(free))
    return Protection(strategy, bits, weights, restricted, free, SecDed(f"({n},{k})", n, k, checks))


def restricted_mask(node: ir.Conv, prot: Protection, config: HardwareConfig) -> np.ndarray:
    """Which weights of ``node`` (its weight's shape) sit in restricted slots of their
    memory blocks: the one place that decides it (clamp, WOT training, memory)."""
    if node.groups != 1:
        raise ConfigError(f"node {node.name}: in-place ECC layouts are implemented for "
                          f"ungrouped convolutions only (groups={node.groups})")
    return prot.restricted_slots(weight_offsets(*node.weight.shape, config))


def restricted_masks(graph: ir.Graph, prot: Protection, config: HardwareConfig
                     ) -> dict[str, np.ndarray]:
    """:func:`restricted_mask` of every convolution of ``graph`` by node name (none for
    codes that are not in place)."""
    if not prot.in_place:
        return {}
    return {node.name: restricted_mask(node, prot, config) for node in graph.nodes
            if isinstance(node, ir.Conv)}


def restrict_graph(graph: ir.Graph, prot: Protection, config: HardwareConfig) -> ir.Graph:
    """``graph`` with every restricted weight clamped to the restricted range (the hard
    clamp that ends weight-distribution oriented training; alone, its accuracy cost)."""
    if not prot.in_place:
        return graph
    low, high = prot.restricted_range
    masks = restricted_masks(graph, prot, config)
    nodes = []
    for node in graph.nodes:
        if isinstance(node, ir.Conv):
            weight = np.where(masks[node.name], np.clip(node.weight, low, high), node.weight)
            node = dataclasses.replace(node, weight=weight.astype(np.int8))
        nodes.append(node)
    return ir.Graph(graph.name, dict(graph.tensors), nodes, list(graph.inputs),
                    list(graph.outputs))


def _sign_extend(value: np.ndarray, bits: int) -> np.ndarray:
    value = value & ((1 << bits) - 1)
    return np.where(value >= 1 << (bits - 1), value - (1 << bits), value)


class WeightMemory:
    """The encoded weight memory of a program: blocks of codeword bits, the weights they
    hold, and where each weight's int8 lane lies in the program's memory."""

    def __init__(self, program: Program, prot: Protection) -> None:
        self.program, self.prot = program, prot
        image = dict((address, data) for address, data in program.image)
        blobs = sorted({(l.conv.weight_address, l.conv.weight_bytes, l.name)
                        for l in program.layers if l.conv}, key=lambda b: b[0])
        values, lanes, self.blob_blocks = [], [], []
        wpb = prot.weights
        seen = set()
        for address, size, layer in blobs:
            if address in seen:  # row tiles share their blob
                continue
            seen.add(address)
            data = self._blob(image, address, size).view(np.int8).astype(np.int64)
            lo, hi = -(1 << (prot.bits - 1)), (1 << (prot.bits - 1)) - 1
            if data.min() < lo or data.max() > hi:
                raise ConfigError(f"layer {layer}: weights span [{data.min()}, {data.max()}], "
                                  f"which does not fit {prot.bits} bits [{lo}, {hi}]")
            pad = -size % wpb
            values.append(np.concatenate([data, np.zeros(pad, np.int64)]))
            lanes.append(np.concatenate([address + np.arange(size), np.full(pad, -1)]))
            self.blob_blocks.append((layer, address, (size + pad) // wpb))
        self.values = np.concatenate(values).reshape(-1, wpb)  # [blocks, weights]
        self.lanes = np.concatenate(lanes).reshape(-1, wpb)  # int8 lane address, -1 padding
        if prot.in_place:
            low, high = prot.restricted_range
            r = self.values[:, :prot.restricted]
            if r.min() < low or r.max() > high:
                block = int(np.flatnonzero(((r < low) | (r > high)).any(axis=1))[0])
                raise ConfigError(f"weight block {block} ({self.layer_of(block)}): restricted "
                                  f"weights must lie in [{low}, {high}] for "
                                  f"{prot.code.name} in place; clamp them first "
                                  f"(restrict_graph, or WOT training)")
        self.stored = self._encode()

    @staticmethod
    def _blob(image: dict, address: int, size: int) -> np.ndarray:
        for base, data in image.items():
            if base <= address and address + size <= base + data.size:
                return data[address - base:address - base + size]
        raise ConfigError(f"weights at {address:#x} ({size} bytes) are not in the program image")

    def layer_of(self, block: int) -> str:
        """The (first) hardware layer whose weights block ``block`` holds."""
        for layer, _, count in self.blob_blocks:
            if block < count:
                return layer
            block -= count
        raise IndexError(block)

    @property
    def blocks(self) -> int:
        return len(self.values)

    @cached_property
    def weight_bits(self) -> int:
        """Weight bits that the datapath reads (padding excluded)."""
        return int((self.lanes >= 0).sum()) * self.prot.bits

    def _bits(self, values: np.ndarray) -> np.ndarray:
        """0/1 block words [B, block_bits] of weight values [B, weights] (checks zero)."""
        b, n = self.prot.bits, self.prot.block_bits
        raw = (values[..., None] >> np.arange(b)) & 1
        words = np.zeros((len(values), n), np.uint8)
        words[:, :values.shape[1] * b] = raw.reshape(len(values), -1)
        return words

    def _encode(self) -> np.ndarray:
        """The memory image: packed block words [blocks, ceil(block_bits / 8)] (bit j of a
        word is bit j % 8 of its byte j // 8)."""
        words = self._bits(self.values)
        if self.prot.code is not None:
            words = self.prot.code.encode(words)
        return np.packbits(words, axis=1, bitorder="little")

    def unpack(self, packed: np.ndarray) -> np.ndarray:
        return np.unpackbits(packed, axis=1, count=self.prot.block_bits, bitorder="little")

    def decode(self, packed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Received block words (packed) -> (weights [B, weights] as the datapath gets them,
        decoder verdict per block); unprotected memory is read as it is."""
        words = self.unpack(packed)
        verdict = np.zeros(len(words), np.int8)
        if self.prot.code is not None:
            words, verdict = self.prot.code.decode(words)
        p, b = self.prot, self.prot.bits
        raw = words[:, :p.weights * b].reshape(len(words), p.weights, b).astype(np.int64)
        value = (raw << np.arange(b)).sum(axis=2)
        out = _sign_extend(value, b)
        if p.in_place:
            kept = b - p.free
            out[:, :p.restricted] = _sign_extend(value[:, :p.restricted], kept)
        return out, verdict

    def position(self, layer: str, index: tuple[int, int, int, int], bit: int) -> int:
        """Flat memory bit (word * block_bits + bit in word) of bit ``bit`` of weight
        ``index`` (k, c, r, s) of hardware layer ``layer``."""
        conv = next((l.conv for l in self.program.layers if l.name == layer and l.conv), None)
        if conv is None:
            raise ConfigError(f"layer {layer!r}: no convolution of that name in the program")
        shape = (conv.kernels, conv.kernel_channels, conv.kernel_height, conv.kernel_width)
        if not all(0 <= i < n for i, n in zip(index, shape)) or len(index) != 4:
            raise ConfigError(f"layer {layer}: weight {index} is outside its shape {shape}")
        if not 0 <= bit < self.prot.bits:
            raise ConfigError(f"bit {bit} is outside a {self.prot.bits}-bit weight")
        offset = int(weight_offsets(*shape, self.program.config)[index])
        slot = int(np.flatnonzero(self.lanes.ravel() == conv.weight_address + offset)[0])
        block, i = divmod(slot, self.prot.weights)
        return block * self.prot.block_bits + i * self.prot.bits + bit
