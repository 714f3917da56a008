"""Compiled networks as one trace test per hardware layer, for the RTL.

Each layer of a compiled program becomes a trace test of its own (the
program's layer commands come from :func:`compiler.export.layer_program`, the
same writes ``nvdla-fi trace export`` emits): the memory nvdla_sim had just
before the layer is loaded, the layer is programmed and launched, and its
output surface is checked with ``check_crc`` against nvdla_sim's memory after
the layer.  One layer per program lets a fault run replay a single layer from
its own inputs, and gives each layer's launch-to-interrupt cycle count.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from compiler.export import layer_program, write_dat
from nvdla_sim.config import HardwareConfig
from nvdla_sim.layers import HardwareLayer
from nvdla_sim.memory import Memory
from nvdla_sim.program import Program
from nvdla_sim.runner import ProgramRunner
from nvdla_sim.surface import FeatureSurface
from nvdla_sim.units import cdp as cdp_unit
from nvdla_sim.units import pdp as pdp_unit
from nvdla_sim.units import sdp_rdma


@dataclass
class LayerTest:
    index: int
    name: str
    folder: Path
    surface: FeatureSurface  # the layer's output
    address: int  # checked region [address, address + size)
    size: int
    before: np.ndarray  # the region before the layer (nvdla_sim's memory)
    after: np.ndarray  # and after it


def output_surface(layer: HardwareLayer) -> FeatureSurface:
    """Where the layer writes its result."""
    if layer.cdp is not None:
        return cdp_unit.output_surface(layer.cdp)
    if layer.pdp is not None:
        return pdp_unit.output_surface(layer.pdp)
    return sdp_rdma.output_surface(layer.sdp)


def region(surface: FeatureSurface, cfg: HardwareConfig) -> tuple[int, int]:
    span = surface.span(cfg)
    return surface.address, span + -span % 4


def written_region(test: "LayerTest", cfg: HardwareConfig, cube: np.ndarray) -> np.ndarray:
    """The test's checked region once the layer writes ``cube`` over what was there."""
    scratch = Memory()
    scratch.write(test.address, test.before)
    test.surface.write(scratch, cfg, cube)
    return scratch.read(test.address, test.size)


def _memory_program(memory: Memory, folder: Path, name: str) -> list[str]:
    lines = []
    for k, (base, size) in enumerate(memory.segments):
        file = f"{name}_mem{k}.dat"
        write_dat(folder / file, memory.read(base, size))
        lines += [f"mem_init(pri_mem, 0x{base:x}, 0x{size:x}, ALL_ZERO);",
                  f'mem_load(pri_mem, 0x{base:x}, "{file}");']
    return lines


def export_layers(program: Program, x_q: np.ndarray, folder: Path,
                  layers: list[int] | None = None) -> list[LayerTest]:
    """Write one trace test per layer (``folder/L<index>_<name>/``); returns them with the
    output regions nvdla_sim computed."""
    cfg = program.config
    runner = ProgramRunner(program)
    (binding,) = program.inputs
    runner.write_tensor(binding, x_q)
    wanted = set(range(len(program.layers)) if layers is None else layers)
    tests = []
    for i, layer in enumerate(program.layers):
        if i in wanted:
            surface = output_surface(layer)
            address, size = region(surface, cfg)
            before_mem = runner.memory.copy()
        runner.executor.run(layer, runner.memory)
        if i not in wanted:
            continue
        name = f"L{i:02d}_{layer.name}".replace("/", "_")
        test_dir = Path(folder) / name
        test_dir.mkdir(parents=True, exist_ok=True)
        after = runner.memory.read(address, size)
        lines = [f"// {program.name} layer {i} ({layer.name}), exported by nvdla-fi for the RTL"]
        lines += _memory_program(before_mem, test_dir, name)
        lines += layer_program(layer, i)
        crc = runner.memory.crc32(address, size)
        lines.append(f"check_crc(layer{i}_done, pri_mem, 0x{address:x}, 0x{size:x}, "
                     f"0x{crc:08x});")
        (test_dir / f"{name}.cfg").write_text("\n".join(lines) + "\n")
        tests.append(LayerTest(i, layer.name, test_dir, surface, address, size,
                               before_mem.read(address, size), after))
    return tests
