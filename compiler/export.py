"""Export a compiled program as an NVDLA trace test (``.cfg`` + memory files).

The program is written the way NVIDIA's trace tests are: memory images are
loaded with ``mem_load``, every layer programs its units' registers (group 0)
and LUTs, waits for the CBUF flush before a convolution (as NVIDIA's ``dc_``
tests and kmd do), enables the units consumer first (the convolution's CDMA
last), waits for its done interrupt, and the output tensor is checked with ``check_crc``
against the CRC the simulator computed.  ``nvdla-fi trace run`` on the
folder replays it to the same output.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nvdla_sim.layers import HardwareLayer, encode_layer
from nvdla_sim.program import Program
from nvdla_sim.registers import REGMAP
from nvdla_sim.runner import ProgramRunner

_RECORD_BYTES = 32
_HEX = np.array([f"0x{b:02x}" for b in range(256)])


def write_dat(path: Path, data: np.ndarray) -> None:
    """A memory file: one ``{offset, size, payload}`` record per 32 bytes."""
    hexes = _HEX[np.ascontiguousarray(data, np.uint8)]
    lines = ["{"]
    for off in range(0, data.size, _RECORD_BYTES):
        chunk = hexes[off:off + _RECORD_BYTES]
        lines.append(f"{{offset:0x{off:x}, size:{chunk.size}, payload:{' '.join(chunk)}}},")
    lines.append("}")
    path.write_text("\n".join(lines) + "\n")


def _reg_name(unit: str, reg: str) -> str:
    return f"NVDLA_{unit}.{reg}_0"


def _done_interrupt(layer: HardwareLayer) -> str:
    if layer.cdp is not None:
        return "CDP_0"
    if layer.pdp is not None:
        return "PDP_0"
    return "SDP_0"


def _lut_writes(unit: str, le: np.ndarray, lo: np.ndarray) -> list[str]:
    lines = []
    for table_id, table in ((0, le), (1, lo)):
        cfg = (1 << 17) | (table_id << 16)  # write access, from address 0
        lines.append(f"reg_write({_reg_name(unit, 'S_LUT_ACCESS_CFG')}, 0x{cfg:x});")
        lines += [f"reg_write({_reg_name(unit, 'S_LUT_ACCESS_DATA')}, 0x{int(v) & 0xFFFF:x});"
                  for v in table]
    return lines


def layer_program(layer: HardwareLayer, index: int) -> list[str]:
    lines = [f"// layer {index}: {layer.name}"]
    units = layer.units
    for unit in units:
        lines.append(f"reg_write({_reg_name(unit, 'S_POINTER')}, 0x0);")
    if layer.sdp is not None and not layer.sdp.ew.bypass and not layer.sdp.ew.lut_bypass:
        lines += _lut_writes("SDP", layer.sdp.lut.le_table, layer.sdp.lut.lo_table)
    if layer.cdp is not None:
        lines += _lut_writes("CDP", layer.cdp.lut.le_table, layer.cdp.lut.lo_table)
    for (unit, reg), value in sorted(encode_layer(layer).items(),
                                     key=lambda kv: REGMAP.get(*kv[0]).address):
        lines.append(f"reg_write({_reg_name(unit, reg)}, 0x{value:x});")
    if "CDMA" in units:
        # The CBUF is flushed after reset; CDMA enabled before that ends has its data
        # overwritten (the RTL then hands SDP zeros).  kmd waits as NVIDIA's dc_ traces
        # do (nvdla/sw kmd/firmware/conv.c dla_conv_enable).
        lines.append(f"poll_reg_equal({_reg_name('CDMA', 'S_CBUF_FLUSH_STATUS')}, 0x1);")
    for unit in units:
        lines.append(f"reg_write({_reg_name(unit, 'D_OP_ENABLE')}, 0x1);")
    lines.append(f"intr_notify({_done_interrupt(layer)}, layer{index}_done);")
    return lines


def export_trace(program: Program, x_q: np.ndarray, folder: str | Path) -> int:
    """Write ``folder/<name>.cfg`` and its memory files for one int8 input; returns the CRC."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    name = folder.name
    runner = ProgramRunner(program)
    runner.run(x_q)
    (out,) = program.outputs
    span = out.surface.span(program.config)
    span += -span % 4
    crc = runner.memory.crc32(out.surface.address, span)

    lines = [f"// {program.name} compiled by nvdla-fi for {program.config.name}"]
    if program.image:  # weights and operands, as one contiguous file
        lo = min(a for a, _ in program.image)
        blob = np.zeros(max(a + d.size for a, d in program.image) - lo, np.uint8)
        for address, data in program.image:
            blob[address - lo:address - lo + data.size] = data
        write_dat(folder / f"{name}_weights.dat", blob)
        lines += [f"mem_init(pri_mem, 0x{lo:x}, 0x{blob.size:x}, ALL_ZERO);",
                  f'mem_load(pri_mem, 0x{lo:x}, "{name}_weights.dat");']
    (inp,) = program.inputs
    staging = ProgramRunner(program)
    staging.write_tensor(inp, x_q)
    in_span = inp.surface.span(program.config)
    write_dat(folder / f"{name}_input.dat", staging.memory.read(inp.surface.address, in_span))
    lines += [f"mem_init(pri_mem, 0x{inp.surface.address:x}, 0x{in_span:x}, ALL_ZERO);",
              f'mem_load(pri_mem, 0x{inp.surface.address:x}, "{name}_input.dat");',
              f"mem_init(pri_mem, 0x{out.surface.address:x}, 0x{span:x}, ALL_ZERO);"]
    for i, layer in enumerate(program.layers):
        lines += layer_program(layer, i)
    last = len(program.layers) - 1
    for i in range(last):
        lines.append(f"check_nothing(layer{i}_done);")
    lines.append(f"check_crc(layer{last}_done, pri_mem, 0x{out.surface.address:x}, 0x{span:x}, "
                 f"0x{crc:08x});")
    (folder / f"{name}.cfg").write_text("\n".join(lines) + "\n")
    return crc
