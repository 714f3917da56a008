"""Parser of NVDLA trace programs (``.cfg`` / ``.reg``).

Grammar (nvdla/hw ``verif/tools/nvdla_trace_parser.py``): one command per
line, ``name(arg, arg, ...);``, comments start with ``//`` (also after the
``;``), numbers are hex (``0x``) or decimal, file names are quoted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from nvdla_sim.errors import NvdlaError, TraceError

_COMMAND = re.compile(r"^\s*(\w+)\s*\((.*)\)\s*;\s*$")

# command -> number of arguments it takes
ARITY = {
    "mem_init": 4, "mem_load": 3, "reg_write": 2, "reg_read": 1, "reg_read_check": 2,
    "poll_reg_equal": 2, "intr_notify": 2, "check_crc": 5, "check_nothing": 1,
    "sync_notify": 2, "sync_wait": 2,
}


@dataclass(frozen=True)
class Command:
    name: str
    args: tuple[str, ...]
    line: int


def _strip_comment(line: str) -> str:
    in_string = False
    for i, ch in enumerate(line):
        if ch == '"':
            in_string = not in_string
        elif not in_string and line.startswith("//", i):
            return line[:i]
    return line


def _split_args(text: str) -> tuple[str, ...]:
    if not text.strip():
        return ()
    return tuple(a.strip() for a in text.split(","))


def read_text(path: Path, what: str) -> str:
    """A trace file's text; a missing or binary file is a TraceError naming it (and the line
    of the first byte that is not text)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise TraceError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise TraceError(f"cannot read {what} ({exc.strerror})", path) from None
    try:
        return raw.decode()
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise TraceError(f"not a text {what}: byte {raw[exc.start]:#04x} is not UTF-8 text",
                         path, line) from None


def parse_program(path: Path) -> list[Command]:
    text = read_text(path, "trace program")
    commands = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = _strip_comment(raw).strip()
        if not line:
            continue
        m = _COMMAND.match(line)
        if m is None:
            raise TraceError(f"expected 'command(arguments);', got {line!r}", path, number)
        name, args = m.group(1), _split_args(m.group(2))
        if name not in ARITY:
            raise TraceError(f"unknown command {name!r}; known commands are "
                             f"{', '.join(sorted(ARITY))}", path, number)
        if len(args) != ARITY[name]:
            raise TraceError(f"{name} takes {ARITY[name]} arguments, got {len(args)}", path, number)
        commands.append(Command(name, args, number))
    return commands


def parse_number(text: str, path: Path, line: int, what: str, bits: int = 64) -> int:
    """A non-negative number that fits ``bits`` bits (a 32-bit register value, a 64-bit
    address): a wider value is an error, never truncated."""
    t = text.strip()
    try:
        value = int(t, 16) if t.lower().startswith("0x") else int(t, 10)
    except ValueError:
        raise TraceError(f"bad number {t!r} for {what}", path, line) from None
    if not 0 <= value < 1 << bits:
        raise TraceError(f"{what} {t} does not fit {bits} bits (expected 0 to "
                         f"{(1 << bits) - 1:#x})", path, line)
    return value


def parse_string(text: str, path: Path, line: int, what: str) -> str:
    t = text.strip()
    if len(t) < 2 or t[0] != '"' or t[-1] != '"':
        raise TraceError(f"expected a quoted {what}, got {t!r}", path, line)
    return t[1:-1]


def dispatch(player, commands) -> None:
    """Run each command by ``player.do_<name>``; a user error inside one becomes a
    TraceError naming the command's file and line (``player.fail``).  Shared by the
    ``.cfg`` player and the older ``input.txn`` player."""
    for cmd in commands:
        try:
            getattr(player, f"do_{cmd.name}")(cmd)
        except TraceError:
            raise
        except NvdlaError as exc:
            raise player.fail(cmd, f"{cmd.name}: {exc}") from None

