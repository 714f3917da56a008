"""Replays an NVDLA trace test on the model and checks its CRCs.

The program runs command by command against :class:`nvdla_sim.device.Nvdla`:
memory commands fill memory, ``reg_write`` goes through the register file
(launching layers when their op-enables complete a unit chain),
``intr_notify`` waits for a done interrupt and ``check_crc`` compares the
CRC-32 of a memory region with the golden value.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nvdla_sim.config import DEFAULT_CONFIG, HardwareConfig
from nvdla_sim.device import Nvdla
from nvdla_sim.errors import NvdlaError, TraceError
from nvdla_sim.memory import Memory
from nvdla_sim.registers import REGMAP
from nvdla_sim.trace.datfile import load_image
from nvdla_sim.trace.parser import (Command, dispatch, parse_number, parse_program,
                                    parse_string)
from nvdla_sim.trace.txn import DumpCheck, TxnPlayer, is_txn_test, parse_txn

PRIMARY_MEMORY = {"pri_mem", "1"}
SECONDARY_MEMORY = "sec_mem"
_PATTERNS = {"ALL_ZERO": 0x00, "ONES": 0xFF, "AFIVE": 0xA5, "FIVEA": 0x5A, "X": 0x00}


@dataclass(frozen=True)
class CrcCheck:
    line: int
    address: int
    size: int
    expected: int
    actual: int

    @property
    def passed(self) -> bool:
        return self.expected == self.actual

    @property
    def message(self) -> str:
        return (f"line {self.line}: CRC of [{self.address:#x}, +{self.size:#x}) expected "
                f"{self.expected:#010x}, got {self.actual:#010x}")


@dataclass
class TraceResult:
    name: str
    checks: list[CrcCheck | DumpCheck] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    nvdla: Nvdla | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and bool(self.checks) and all(c.passed for c in self.checks)


def program_file(test_dir: Path) -> Path:
    """The ``.cfg`` of a test folder: ``<folder>.cfg``, else its only ``.cfg``."""
    named = test_dir / f"{test_dir.name}.cfg"
    if named.is_file():
        return named
    cfgs = sorted(test_dir.glob("*.cfg"))
    if len(cfgs) == 1:
        return cfgs[0]
    raise TraceError(f"{test_dir}: expected one trace program <name>.cfg, found "
                     f"{len(cfgs)} .cfg files")


def find_tests(paths: list[Path]) -> list[Path]:
    """Test folders among ``paths``: each is a test folder or a folder of them."""
    tests: list[Path] = []
    for path in paths:
        if not path.is_dir():
            raise TraceError(f"{path}: not a directory")
        if any(path.glob("*.cfg")) or is_txn_test(path):
            tests.append(path)
            continue
        found = sorted(p for p in path.iterdir()
                       if p.is_dir() and (any(p.glob("*.cfg")) or is_txn_test(p)))
        if not found:
            raise TraceError(f"{path}: no trace tests (folders with a .cfg program) found")
        tests.extend(found)
    return tests


class _Player:
    def __init__(self, program: Path, config: HardwareConfig, keep: bool) -> None:
        self.program = program
        self.dir = program.parent
        self.nvdla = Nvdla(config, keep=keep)
        self.fired: Counter[str] = Counter()  # sync ids signalled, not yet checked
        self.checks: list[CrcCheck] = []

    def fail(self, cmd: Command, message: str) -> TraceError:
        return TraceError(message, self.program, cmd.line)

    def number(self, cmd: Command, index: int, what: str, bits: int = 64) -> int:
        return parse_number(cmd.args[index], self.program, cmd.line, what, bits)

    def memory(self, cmd: Command, index: int) -> Memory:
        """The memory a command names: the primary one, or the secondary (CVSRAM)."""
        name = cmd.args[index]
        if name in PRIMARY_MEMORY:
            return self.nvdla.memory
        if name == SECONDARY_MEMORY and self.nvdla.memory.secondary is not None:
            return self.nvdla.memory.secondary
        if name == SECONDARY_MEMORY:
            raise self.fail(cmd, f"{name}: {self.nvdla.config.name} has no secondary memory "
                                 f"(CVSRAM); nv_full and nv_large have one")
        raise self.fail(cmd, f"unknown memory {name!r}; expected pri_mem (or 1) or sec_mem")

    def register(self, cmd: Command):
        try:
            return REGMAP.lookup(cmd.args[0])
        except NvdlaError as exc:
            raise self.fail(cmd, str(exc)) from None

    def run(self, commands: list[Command]) -> None:
        dispatch(self, commands)

    # -- commands ----------------------------------------------------------------------
    def do_mem_init(self, cmd: Command) -> None:
        mem = self.memory(cmd, 0)
        base = self.number(cmd, 1, "base address")
        pattern = cmd.args[3]
        if cmd.args[2].startswith('"'):  # fill the extent of a file with the pattern
            image = load_image(self.dir / parse_string(cmd.args[2], self.program, cmd.line, "file"))
            size = image.data.size
        else:
            size = self.number(cmd, 2, "size")
        if pattern in _PATTERNS:
            mem.fill(base, size, _PATTERNS[pattern])
        elif pattern == "ADDR":
            mem.write(base, (np.arange(base, base + size) & 0xFF).astype(np.uint8))
        elif pattern == "RANDOM":
            rng = np.random.default_rng(base)
            mem.write(base, rng.integers(0, 256, size, dtype=np.uint8))
        else:
            raise self.fail(cmd, f"unknown fill pattern {pattern!r}; expected one of "
                                 f"{', '.join([*_PATTERNS, 'ADDR', 'RANDOM'])}")

    def do_mem_load(self, cmd: Command) -> None:
        mem = self.memory(cmd, 0)
        base = self.number(cmd, 1, "base address")
        path = self.dir / parse_string(cmd.args[2], self.program, cmd.line, "file name")
        if not path.is_file():
            raise self.fail(cmd, f"memory file {path} does not exist")
        image = load_image(path)
        mem.write_masked(base, image.data, image.mask)

    def do_reg_write(self, cmd: Command) -> None:
        self.nvdla.write(self.register(cmd), self.number(cmd, 1, "register value", 32))

    def do_reg_read(self, cmd: Command) -> None:
        self.nvdla.read(self.register(cmd))

    def do_reg_read_check(self, cmd: Command) -> None:
        expected = self.number(cmd, 1, "expected value", 32)
        actual = self.nvdla.read(self.register(cmd))
        if actual != expected:
            raise self.fail(cmd, f"{cmd.args[0]} reads {actual:#x}, expected {expected:#x}")

    def do_poll_reg_equal(self, cmd: Command) -> None:
        expected = self.number(cmd, 1, "expected value", 32)
        actual = self.nvdla.read(self.register(cmd))
        if actual != expected:  # poll again after background work (the CBUF flush) ran
            self.nvdla.let_time_pass()
            actual = self.nvdla.read(self.register(cmd))
        if actual != expected:
            raise self.fail(cmd, f"{cmd.args[0]} reads {actual:#x} and would never equal "
                                 f"{expected:#x}: the program waits forever")

    def do_intr_notify(self, cmd: Command) -> None:
        source = cmd.args[0]
        if self.nvdla.events[source] <= 0:
            raise self.fail(cmd, f"waits for interrupt {source} that no finished layer raised "
                                 f"(raised and not yet waited for: "
                                 f"{', '.join(k for k, v in self.nvdla.events.items() if v) or 'none'})")
        self.nvdla.events[source] -= 1
        self.fired[cmd.args[1]] += 1

    def do_sync_notify(self, cmd: Command) -> None:
        self.fired[cmd.args[1]] += 1

    def do_sync_wait(self, cmd: Command) -> None:
        self._consume(cmd, cmd.args[1])

    def _consume(self, cmd: Command, sync_id: str) -> None:
        if self.fired[sync_id] <= 0:
            raise self.fail(cmd, f"event {sync_id!r} was never signalled")
        self.fired[sync_id] -= 1

    def do_check_nothing(self, cmd: Command) -> None:
        self._consume(cmd, cmd.args[0])

    def do_check_crc(self, cmd: Command) -> None:
        self._consume(cmd, cmd.args[0])
        mem = self.memory(cmd, 1)
        base = self.number(cmd, 2, "base address")
        size = self.number(cmd, 3, "size")
        expected = self.number(cmd, 4, "CRC", 32)
        if base % 4 or size % 4:
            raise self.fail(cmd, f"CRC region [{base:#x}, +{size:#x}) must be 4-byte aligned")
        if not mem.is_written(base, size):
            raise self.fail(cmd, f"CRC region [{base:#x}, {base + size:#x}) includes memory "
                                 f"that was never written (no mem_init/mem_load/layer output)")
        self.checks.append(CrcCheck(cmd.line, base, size, expected, mem.crc32(base, size)))


def run_trace(test_dir: Path, config: HardwareConfig = DEFAULT_CONFIG,
              keep: bool = False) -> TraceResult:
    """Run one trace test (a ``.cfg`` program, or NVIDIA's older ``input.txn`` format);
    user-facing problems end up in ``result.error``."""
    start = time.perf_counter()
    result = TraceResult(test_dir.name)
    player: _Player | TxnPlayer | None = None
    try:
        if is_txn_test(test_dir) and not any(test_dir.glob("*.cfg")):
            player = TxnPlayer(test_dir / "input.txn", config, keep)
            player.run(parse_txn(player.program))
        else:
            player = _Player(program_file(test_dir), config, keep)
            player.run(parse_program(player.program))
        if not player.checks:
            result.error = f"{player.program}: the program checks no CRC and dumps no memory"
    except NvdlaError as exc:
        result.error = str(exc)
    if player is not None:
        result.checks = player.checks
        result.nvdla = player.nvdla if keep else None
    result.seconds = time.perf_counter() - start
    return result
