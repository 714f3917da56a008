"""A compiled program: hardware layers, a memory image, and where tensors live.

This is the contract between the compiler and the simulator (and the trace
exporter): the simulator only needs the descriptors, the initial memory image
and the surfaces of the network's input and output tensors.  A program is
saved as one ``.npz`` file in which every layer is stored as the register
words that program it, so loading a file goes through the same register
decoding as trace replay.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nvdla_sim.config import HardwareConfig
from nvdla_sim.errors import NvdlaError
from nvdla_sim.layers import HardwareLayer, decode_layer, encode_layer
from nvdla_sim.memory import Memory
from nvdla_sim.precision import get_precision
from nvdla_sim.registers import REGMAP, LutTables
from nvdla_sim.surface import FeatureSurface

FORMAT_VERSION = 1


@dataclass(frozen=True)
class TensorBinding:
    """An activation tensor in memory with its quantization (real = scale * (q - zp)):
    int8 or int16, or binary16 / binary32 (scale 1, zero point 0: the values are real);
    the surface's precision says which."""

    name: str
    surface: FeatureSurface
    scale: float
    zero_point: int

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.surface.channels, self.surface.height, self.surface.width)

    def quantize(self, x: np.ndarray) -> np.ndarray:
        """Real values -> the surface's integers or floats (round half to even, saturate;
        floats: IEEE rounding to binary16 / binary32, NaN stays NaN)."""
        prec = self.surface.precision
        q = np.asarray(x, np.float64) / self.scale + self.zero_point
        if not prec.is_float:
            q = np.rint(q)
        return np.clip(q, prec.min, prec.max).astype(prec.dtype)


@dataclass(frozen=True)
class LayerInfo:
    """What a hardware layer is for: the source node and its cost figures."""

    name: str
    node: str
    op: str  # conv, fc, dwconv, add, requant, pool, lrn
    output: str  # tensor the layer writes (part of)
    macs: int = 0
    weight_bytes: int = 0
    data_banks: int = 0
    weight_banks: int = 0
    error_bound: int = 0  # max |int8 output - exact reference| in LSB (see compiler.requant)
    # d: max |value the hardware rounds - exact value| before the final rounding, in output
    # LSB; outputs equal the reference wherever the exact value is more than d from a
    # rounding boundary (compiler.verify)
    error: float = 0.0


@dataclass
class Program:
    config: HardwareConfig
    layers: list[HardwareLayer]
    info: list[LayerInfo]
    image: list[tuple[int, np.ndarray]]  # (address, bytes): weights and SDP operands
    inputs: list[TensorBinding]
    outputs: list[TensorBinding]
    tensors: dict[str, TensorBinding] = field(default_factory=dict)
    name: str = "program"
    # bits of a stored weight when narrower than the datapath's lanes (INT4: 4, packed two
    # per byte in weight memory, nvdla_sim.ecc.layout; each sign-extended into an int8
    # lane for CDMA); 0: weights are stored as the lanes hold them
    weight_bits: int = 0

    def memory(self) -> Memory:
        """A fresh memory holding the program's image."""
        mem = Memory()
        for address, data in self.image:
            mem.write(address, data)
        return mem

    # -- files -------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        arrays: dict[str, np.ndarray] = {}
        layers = []
        for i, layer in enumerate(self.layers):
            words = encode_layer(layer)
            arrays[f"layer{i}_words"] = np.array(
                [[REGMAP.get(u, r).address, v] for (u, r), v in sorted(words.items())], np.int64)
            for unit, desc in (("SDP", layer.sdp), ("CDP", layer.cdp)):
                if desc is not None:
                    arrays[f"layer{i}_{unit}_le"] = desc.lut.le_table
                    arrays[f"layer{i}_{unit}_lo"] = desc.lut.lo_table
            layers.append({"name": layer.name, "units": list(layer.units)})
        for j, (address, data) in enumerate(self.image):
            arrays[f"image{j}"] = data
        meta = {
            "format": FORMAT_VERSION, "name": self.name,
            "config": dataclasses.asdict(self.config), "layers": layers,
            "info": [dataclasses.asdict(i) for i in self.info],
            "image": [address for address, _ in self.image],
            "inputs": [_binding_json(b) for b in self.inputs],
            "outputs": [_binding_json(b) for b in self.outputs],
            "tensors": [_binding_json(b) for b in self.tensors.values()],
            "weight_bits": self.weight_bits,
        }
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
        with open(path, "wb") as fh:
            np.savez_compressed(fh, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> "Program":
        try:
            data = np.load(path)
            meta = json.loads(data["meta"].tobytes())
        except (OSError, KeyError, ValueError) as exc:
            raise NvdlaError(f"{path}: not an nvdla-fi program file ({exc})") from None
        if meta.get("format") != FORMAT_VERSION:
            raise NvdlaError(f"{path}: program format {meta.get('format')} is not supported "
                             f"(expected {FORMAT_VERSION})")
        config = HardwareConfig.from_dict(meta["config"])
        layers = []
        for i, entry in enumerate(meta["layers"]):
            words = {int(a): int(v) for a, v in data[f"layer{i}_words"]}
            luts = {}
            for unit in ("SDP", "CDP"):
                tables = LutTables()
                if f"layer{i}_{unit}_le" in data:
                    tables = LutTables(data[f"layer{i}_{unit}_le"], data[f"layer{i}_{unit}_lo"])
                luts[unit] = tables

            def read(unit: str, name: str, words=words) -> int:
                return words.get(REGMAP.get(unit, name).address, 0)
            layers.append(decode_layer(set(entry["units"]), read, luts, name=entry["name"]))
        return cls(
            config=config, layers=layers, info=[LayerInfo(**i) for i in meta["info"]],
            image=[(a, data[f"image{j}"]) for j, a in enumerate(meta["image"])],
            inputs=[_binding_from(b) for b in meta["inputs"]],
            outputs=[_binding_from(b) for b in meta["outputs"]],
            tensors={b["name"]: _binding_from(b) for b in meta["tensors"]},
            name=meta["name"], weight_bits=meta.get("weight_bits", 0))


def _binding_json(b: TensorBinding) -> dict:
    surface = dataclasses.asdict(b.surface) | {"precision": b.surface.precision.name}
    return {"name": b.name, "surface": surface, "scale": b.scale, "zero_point": b.zero_point}


def _binding_from(d: dict) -> TensorBinding:
    surface = d["surface"] | {"precision": get_precision(d["surface"].get("precision", "int8"))}
    return TensorBinding(d["name"], FeatureSurface(**surface), d["scale"], d["zero_point"])

