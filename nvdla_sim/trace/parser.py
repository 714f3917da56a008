"""Parser of NVDLA trace programs (``.cfg`` / ``.reg``).

Grammar (nvdla/hw ``verif/tools/nvdla_trace_parser.py``): one command per
line, ``name(arg, arg, ...);``, comments start with ``//`` (also after the
``;``), numbers are hex (``0x``) or decimal, file names are quoted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from nvdla_sim.errors import TraceError

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


def parse_program(path: Path) -> list[Command]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise TraceError(f"trace program {path} does not exist") from None
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


def parse_number(text: str, path: Path, line: int, what: str) -> int:
    t = text.strip()
    try:
        return int(t, 16) if t.lower().startswith("0x") else int(t, 10)
    except ValueError:
        raise TraceError(f"bad number {t!r} for {what}", path, line) from None


def parse_string(text: str, path: Path, line: int, what: str) -> str:
    t = text.strip()
    if len(t) < 2 or t[0] != '"' or t[-1] != '"':
        raise TraceError(f"expected a quoted {what}, got {t!r}", path, line)
    return t[1:-1]
