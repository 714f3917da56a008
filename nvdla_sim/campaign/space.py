"""The fault-site space of a program: every (layer, register, instance, bit, cycle).

Sites are numbered by one integer, in blocks of ``instances * width * cycles``
per (layer, register), so a uniform integer in ``[0, size)`` is a site drawn
uniformly over register-bit x cycle exposure: a layer that runs longer, or a
register that is wider or has more instances, is hit proportionally more
often.  Stuck-at sites ignore the cycle: their space is (register, instance,
bit) per layer, or per register for faults that hold over the whole run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nvdla_sim.faults.site import FaultSite
from nvdla_sim.timing.registers import RegisterSpec
from nvdla_sim.timing.schedule import LayerSchedule


@dataclass(frozen=True)
class Block:
    layer: int
    register: RegisterSpec
    cycles: int  # 1 for stuck-at spaces

    @property
    def size(self) -> int:
        return self.register.instances * self.register.width * self.cycles


class SiteSpace:
    """Enumerates fault sites; ``model`` is "flip" (transient) or "stuck0"/"stuck1"."""

    def __init__(self, schedules: list[LayerSchedule], model: str = "flip", bits: int = 1,
                 run_level: bool = False) -> None:
        self.model, self.bits, self.run_level = model, bits, run_level
        if run_level:  # one block per register name: the fault holds in every layer
            seen: dict[str, RegisterSpec] = {}
            for sched in schedules:
                for reg in sched.registers:
                    seen.setdefault(reg.name, reg)
            self.blocks = [Block(-1, reg, 1) for reg in seen.values()]
        else:
            cycles = (lambda s: s.cycles) if model == "flip" else (lambda s: 1)
            self.blocks = [Block(i, reg, cycles(s)) for i, s in enumerate(schedules)
                           for reg in s.registers]
        self.offsets = np.concatenate([[0], np.cumsum([b.size for b in self.blocks])])

    @classmethod
    def of_blocks(cls, blocks: list[Block], model: str = "flip", bits: int = 1) -> "SiteSpace":
        """A space over given blocks (stored values: :mod:`nvdla_sim.campaign.stored`)."""
        space = cls([], model, bits)
        space.blocks = list(blocks)
        space.offsets = np.concatenate([[0], np.cumsum([b.size for b in blocks])]).astype(
            np.int64)
        return space

    @property
    def size(self) -> int:
        return int(self.offsets[-1])

    def site(self, site_id: int) -> FaultSite:
        return self.sites(np.array([site_id]))[0]

    def decode(self, site_ids: np.ndarray) -> dict[str, np.ndarray]:
        """The fields of many sites as arrays: ``block`` (index into ``blocks``),
        ``instance``, ``bit``, ``cycle`` and ``bits``."""
        ids = np.asarray(site_ids, np.int64)
        bad = ids[(ids < 0) | (ids >= self.size)]
        if bad.size:
            raise IndexError(f"site id {int(bad[0])} outside [0, {self.size})")
        block = np.searchsorted(self.offsets, ids, side="right") - 1
        width = np.array([b.register.width for b in self.blocks], np.int64)[block]
        cycles = np.array([b.cycles for b in self.blocks], np.int64)[block]
        instance, rest = np.divmod(ids - self.offsets[block], width * cycles)
        bit, cycle = np.divmod(rest, cycles)
        bits = np.minimum(self.bits, width - bit)
        if self.model != "flip":
            cycle = np.zeros_like(cycle)
        return {"block": block, "instance": instance, "bit": bit, "cycle": cycle, "bits": bits}

    def sites(self, site_ids: np.ndarray) -> list[FaultSite]:
        """The sites of many ids (decoded together: a chunk of a campaign at once)."""
        f = self.decode(site_ids)
        return [FaultSite(self.blocks[b].layer, self.blocks[b].register.name, n, i, c,
                          self.model, k)
                for b, n, i, c, k in zip(*(f[name].tolist() for name in (
                    "block", "instance", "bit", "cycle", "bits")))]

    def site_id(self, site: FaultSite) -> int:
        for i, block in enumerate(self.blocks):
            if block.layer == site.layer and block.register.name == site.register:
                cycle = site.cycle if self.model == "flip" else 0
                return int(self.offsets[i]) + (
                    site.instance * block.register.width + site.bit) * block.cycles + cycle
        raise KeyError(f"site {site} is not in this space")

    def strata(self, by: str) -> dict[str, list[int]]:
        """Block indices grouped by ``layer``, ``unit``, ``register`` or ``value`` (the kind
        of value held: every bit of a value kind equally exposed within its stratum)."""
        groups: dict[str, list[int]] = {}
        for i, block in enumerate(self.blocks):
            key = {"layer": str(block.layer), "unit": block.register.unit,
                   "register": block.register.name, "value": block.register.value}[by]
            groups.setdefault(key, []).append(i)
        return groups

    def sample(self, pick: np.ndarray, offset: np.ndarray,
               stratum: list[int] | None = None) -> np.ndarray:
        """Site ids uniform over the exposure of the whole space or of some blocks, from
        uniform numbers: ``pick`` in [0, 1) chooses a block in proportion to its size,
        ``offset`` (uint64 bits) the site within it."""
        blocks = np.arange(len(self.blocks)) if stratum is None else np.asarray(stratum)
        sizes = np.array([self.blocks[b].size for b in blocks], np.int64)
        return self._draw(blocks, sizes, pick, offset, lambda block, within: within)

    def sample_bit(self, pick: np.ndarray, offset: np.ndarray, bit: int) -> np.ndarray:
        """Site ids uniform over the exposure of one bit position (registers that wide)."""
        blocks = np.array([i for i, b in enumerate(self.blocks) if b.register.width > bit])
        sizes = np.array([self.blocks[i].register.instances * self.blocks[i].cycles
                          for i in blocks], np.int64)

        def place(block: int, within: np.ndarray) -> np.ndarray:
            b = self.blocks[block]
            instance, cycle = np.divmod(within, b.cycles)
            return (instance * b.register.width + bit) * b.cycles + cycle
        return self._draw(blocks, sizes, pick, offset, place)

    def _draw(self, blocks: np.ndarray, sizes: np.ndarray, pick: np.ndarray,
              offset: np.ndarray, place) -> np.ndarray:
        cumulative = np.cumsum(sizes)
        chosen = np.minimum(np.searchsorted(cumulative, pick * cumulative[-1], side="right"),
                            len(blocks) - 1)
        ids = np.empty(pick.shape, np.int64)
        for k in np.unique(chosen):  # one pass per block drawn
            sel = chosen == k
            within = (offset[sel] % np.uint64(sizes[k])).astype(np.int64)
            ids[sel] = int(self.offsets[blocks[k]]) + place(int(blocks[k]), within)
        return ids
