"""NVIDIA's older trace-player format (nvdla/hw branch ``nvdlav1``, ``verif/traces``).

A test folder holds ``input.txn`` and ``.dat`` memory images.  Program grammar
(``verif/synth_tb/csb_master_seq.v`` and ``verif/verilator/input_txn_to_verilator.pl``):
one command per line, ``#`` starts a comment, numbers are hex::

    load_mem ADDR SIZE FILE         load the first SIZE bytes of FILE at ADDR
    write_reg ADDR VALUE            CSB write; ADDR = 0xffff0000 | (byte address >> 2)
    read_reg ADDR MASK EXPECTED     poll until (register & MASK) == (EXPECTED & MASK)
    wait                            wait for the next interrupt
    dump_mem ADDR SIZE FILE         write SIZE bytes at ADDR to FILE

Addresses whose top nibble is 0x5 lie in the CVSRAM (secondary memory), the
others in DRAM (``CVSRAM_ADDR_START`` / ``DLA_ADDR_MASK`` in
``verif/synth_tb/syn_tb_defines.vh``).  A ``dump_mem`` file that exists in the
test folder is the golden image: the test passes when memory equals it byte
for byte.  ``.dat`` files carry a header of ``key = value`` lines, then bytes
as ``0xNN`` tokens in address order.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nvdla_sim.config import HardwareConfig
from nvdla_sim.device import Nvdla
from nvdla_sim.errors import NvdlaError, TraceError
from nvdla_sim.memory import Memory
from nvdla_sim.registers import REGMAP, Register
from nvdla_sim.registers.regmap import csb_map
from nvdla_sim.trace.parser import dispatch, read_text

PROGRAM = "input.txn"
CSB_PREFIX = 0xFFFF0000  # write_reg / read_reg address: prefix | (byte address >> 2)
CVSRAM_START, ADDR_MASK = 0x5000_0000, 0xF000_0000
FULL_LAYOUT = "full"
ARITY = {"load_mem": 3, "write_reg": 2, "read_reg": 3, "wait": 0, "dump_mem": 3}
_BYTE = re.compile(r"0[xX][0-9a-fA-F]{1,2}")


@dataclass(frozen=True)
class TxnCommand:
    name: str
    args: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class DumpCheck:
    """A ``dump_mem`` region compared byte for byte with its golden image."""

    line: int
    address: int
    size: int
    mismatches: int  # bytes that differ
    first: int | None  # address of the first differing byte
    expected: int  # CRC-32 of the golden image (for the report line)
    actual: int  # CRC-32 of memory

    @property
    def passed(self) -> bool:
        return self.mismatches == 0

    @property
    def message(self) -> str:
        return (f"line {self.line}: dump_mem [{self.address:#x}, +{self.size:#x}): "
                f"{self.mismatches} bytes differ from the golden image, the first at "
                f"{self.first:#x}")


def is_txn_test(test_dir: Path) -> bool:
    return (test_dir / PROGRAM).is_file()


def parse_txn(path: Path) -> list[TxnCommand]:
    """Commands of an ``input.txn`` (errors name file and line)."""
    text = read_text(path, "trace program")
    commands = []
    for number, raw in enumerate(text.splitlines(), 1):
        tokens = raw.split("#", 1)[0].split()
        if not tokens:
            continue
        name, args = tokens[0], tuple(tokens[1:])
        if name not in ARITY:
            raise TraceError(f"unknown command {name!r}; known commands are "
                             f"{', '.join(ARITY)}", path, number)
        if len(args) != ARITY[name]:
            raise TraceError(f"{name} takes {ARITY[name]} arguments, got {len(args)}",
                             path, number)
        commands.append(TxnCommand(name, args, number))
    return commands


def load_dat(path: Path) -> np.ndarray:
    """The bytes of a ``.dat`` image (header lines skipped), uint8."""
    text = read_text(path, "memory file")
    data = bytearray()
    for number, line in enumerate(text.splitlines(), 1):
        tokens = line.split("#", 1)[0].split()
        if not tokens or not _BYTE.fullmatch(tokens[0]):
            continue  # a header line (key = value, "dumped memory ...", separators)
        bad = next((t for t in tokens if not _BYTE.fullmatch(t)), None)
        if bad is not None:
            raise TraceError(f"expected bytes '0xNN ...', got {bad!r}", path, number)
        data.extend(int(t, 16) for t in tokens)
    return np.frombuffer(bytes(data), np.uint8)


class TxnPlayer:
    def __init__(self, program: Path, config: HardwareConfig, keep: bool) -> None:
        self.program = program
        self.dir = program.parent
        self.config = config
        if config.csb_layout != FULL_LAYOUT:  # the format comes from the nvdlav1 testbench
            raise TraceError(f"{program}: NVIDIA's older trace-player format addresses the "
                             f"full NVDLA's registers; {config.name} has the "
                             f"{config.csb_layout!r} CSB layout (use --config nv_full)")
        self.csb = csb_map(config.csb_layout)
        self.nvdla = Nvdla(config, keep=keep, deferred=True)
        self.checks: list[DumpCheck] = []

    def fail(self, cmd: TxnCommand, message: str) -> TraceError:
        return TraceError(message, self.program, cmd.line)

    def number(self, cmd: TxnCommand, index: int, what: str, bits: int = 64) -> int:
        try:
            value = int(cmd.args[index], 16)
        except ValueError:
            raise self.fail(cmd, f"bad hex number {cmd.args[index]!r} for {what}") from None
        if not 0 <= value < 1 << bits:  # wider than its register: an error, not truncated
            raise self.fail(cmd, f"{what} {cmd.args[index]} does not fit {bits} bits")
        return value

    def memory(self, cmd: TxnCommand, address: int) -> Memory:
        """DRAM or, for CVSRAM addresses, the secondary memory."""
        if address & ADDR_MASK != CVSRAM_START:
            return self.nvdla.memory
        if self.nvdla.memory.secondary is None:
            raise self.fail(cmd, f"address {address:#x} lies in the CVSRAM, but {self.config.name} "
                                 f"has no secondary memory (use --config nv_full or nv_large)")
        return self.nvdla.memory.secondary

    def register(self, cmd: TxnCommand) -> Register:
        word = self.number(cmd, 0, "register address")
        if word & 0xFFFF0000 != CSB_PREFIX:
            raise self.fail(cmd, f"register address {word:#x} is not of the form 0xffffNNNN")
        try:
            reg = self.csb.at((word & 0xFFFF) << 2)
        except NvdlaError as exc:
            raise self.fail(cmd, f"{exc} (CSB layout {self.config.csb_layout!r} of "
                                 f"{self.config.name})") from None
        return REGMAP.get(reg.unit, reg.name)

    def file(self, cmd: TxnCommand) -> Path:
        return self.dir / cmd.args[2]

    def run(self, commands: list[TxnCommand]) -> None:
        dispatch(self, commands)

    # -- commands ----------------------------------------------------------------------
    def do_load_mem(self, cmd: TxnCommand) -> None:
        address, size = self.number(cmd, 0, "address"), self.number(cmd, 1, "size")
        image = load_dat(self.file(cmd))
        if image.size == 0:
            raise self.fail(cmd, f"{self.file(cmd)} holds no bytes")
        self.memory(cmd, address).write(address, image[:size])

    def do_write_reg(self, cmd: TxnCommand) -> None:
        self.nvdla.write(self.register(cmd), self.number(cmd, 1, "register value", 32))

    def do_read_reg(self, cmd: TxnCommand) -> None:
        reg = self.register(cmd)
        mask, expected = self.number(cmd, 1, "mask"), self.number(cmd, 2, "expected value")
        actual = self.nvdla.read(reg)
        if (actual ^ expected) & mask:  # poll again after background work (the CBUF flush)
            self.nvdla.let_time_pass()
            actual = self.nvdla.read(reg)
        if (actual ^ expected) & mask:
            raise self.fail(cmd, f"{reg.qualified} reads {actual:#x}; under mask {mask:#x} the "
                                 f"program polls until it equals {expected:#x}: it would wait "
                                 f"forever")

    def do_wait(self, cmd: TxnCommand) -> None:
        if self.nvdla.deliver_interrupt() is None:
            raise self.fail(cmd, "waits for an interrupt, but no launched layer has one left")

    def do_dump_mem(self, cmd: TxnCommand) -> None:
        address, size = self.number(cmd, 0, "address"), self.number(cmd, 1, "size")
        golden = load_dat(self.file(cmd))
        if golden.size != size:
            raise self.fail(cmd, f"golden image {self.file(cmd).name} holds {golden.size:#x} "
                                 f"bytes, the dump {size:#x}")
        mem = self.memory(cmd, address)
        if not mem.is_written(address, size):
            raise self.fail(cmd, f"dump region [{address:#x}, {address + size:#x}) includes "
                                 f"memory that was never written")
        actual = mem.read(address, size)
        diff = np.flatnonzero(actual != golden)
        self.checks.append(DumpCheck(
            cmd.line, address, size, int(diff.size),
            address + int(diff[0]) if diff.size else None,
            zlib.crc32(golden.tobytes()), zlib.crc32(actual.tobytes())))

