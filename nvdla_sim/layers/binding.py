"""Bind descriptor fields to register fields, in both directions.

A hardware-layer descriptor is a frozen dataclass of plain values.  Its
:class:`Binding` says in which register field(s) each value lives, so that
the same table decodes a descriptor from a register file (trace replay) and
encodes it back to register words (compiler export).  Nothing else in the
code base knows register names of layer parameters.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from nvdla_sim.errors import RegisterError
from nvdla_sim.registers.regmap import REGMAP

Location = tuple[str, str, str]  # (unit, register, field)
ReadFn = Callable[[str, str], int]  # (unit, register) -> 32-bit word


@dataclass(frozen=True)
class Bits:
    """One descriptor value: fields concatenated low part first.

    ``plus_one``: the register holds value - 1.  ``signed``: the concatenated
    field is two's complement.  ``copies``: further locations that hold the
    same value (NVDLA repeats sizes in CDMA, CSC and CACC); they are written
    on encode and ignored on decode.
    """

    parts: tuple[Location, ...]
    plus_one: bool = False
    signed: bool = False
    copies: tuple[tuple[Location, ...], ...] = ()

    def width(self, parts: tuple[Location, ...] | None = None) -> int:
        return sum(REGMAP.get(u, r).field(f).width for u, r, f in (parts or self.parts))

    def decode(self, read: ReadFn) -> int:
        value, shift = 0, 0
        for unit, reg, name in self.parts:
            field = REGMAP.get(unit, reg).field(name)
            value |= field.extract(read(unit, reg)) << shift
            shift += field.width
        if self.signed and value >> (shift - 1):
            value -= 1 << shift
        return value + 1 if self.plus_one else value

    def encode(self, value: int, words: dict[tuple[str, str], int]) -> None:
        raw = value - 1 if self.plus_one else value
        for parts in (self.parts, *self.copies):
            width = self.width(parts)
            lo = -(1 << (width - 1)) if self.signed else 0
            hi = (1 << (width - 1)) - 1 if self.signed else (1 << width) - 1
            if not lo <= raw <= hi:
                where = ", ".join(f"{u}.{r}.{f}" for u, r, f in parts)
                raise RegisterError(f"value {value} does not fit {where} ({width} bits"
                                    f"{', signed' if self.signed else ''}"
                                    f"{', stored minus one' if self.plus_one else ''})")
            bits = raw & ((1 << width) - 1)
            for unit, reg, name in parts:
                field = REGMAP.get(unit, reg).field(name)
                key = (unit, reg)
                words[key] = field.insert(words.get(key, 0), bits & ((1 << field.width) - 1))
                bits >>= field.width


def bits(*locations: str, plus_one: bool = False, signed: bool = False,
         copies: tuple[tuple[str, ...], ...] = ()) -> Bits:
    """Shorthand: ``bits("CDMA.D_DATAIN_SIZE_0.DATAIN_WIDTH", plus_one=True)``."""
    def split(loc: str) -> Location:
        unit, reg, field = loc.split(".")
        return unit, reg, field
    return Bits(tuple(split(loc) for loc in locations), plus_one, signed,
                tuple(tuple(split(loc) for loc in copy) for copy in copies))


class Binding:
    """The register location of every field of one descriptor class."""

    def __init__(self, cls: type, spec: Mapping[str, "Bits | Binding | None"]) -> None:
        """``None`` marks a field that lives outside the registers (e.g. LUT tables):
        :meth:`decode` takes it as a keyword argument and :meth:`encode` skips it."""
        names = {f.name for f in dataclasses.fields(cls)}
        missing = names - set(spec)
        extra = set(spec) - names
        if missing or extra:  # a programming error, caught at import time
            raise TypeError(f"binding for {cls.__name__}: missing {sorted(missing)}, "
                            f"extra {sorted(extra)}")
        self.cls = cls
        self.spec = dict(spec)
        self._flags = {f.name for f in dataclasses.fields(cls) if f.type in ("bool", bool)}
        for entry in self.spec.values():  # resolve every name now, not at first use
            if isinstance(entry, Bits):
                entry.width()
                for copy in entry.copies:
                    entry.width(copy)

    def decode(self, read: ReadFn, **unbound: Any) -> Any:
        values = {name: entry.decode(read) for name, entry in self.spec.items()
                  if entry is not None}
        values.update(unbound)
        for name in self._flags:
            values[name] = bool(values[name])
        return self.cls(**values)

    def encode(self, obj: Any, words: dict[tuple[str, str], int] | None = None
               ) -> dict[tuple[str, str], int]:
        words = {} if words is None else words
        for name, entry in self.spec.items():
            value = getattr(obj, name)
            if entry is None:
                continue
            if isinstance(entry, Bits):
                entry.encode(int(value), words)
            else:  # a nested Binding or another composite field
                entry.encode(value, words)
        return words
