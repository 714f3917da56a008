"""Memory image files (``.dat`` / ``.mem``) of NVDLA trace tests.

Grammar (nvdla/hw ``verif/vip/mem_model/mem_core.svh``): one record per
line, ``{offset:V, size:V, payload:0xB0 0xB1 ...}``, lines starting with
``#`` skipped, braces and commas around records ignored.  ``V`` is hex
(``0x``), octal (leading ``0``) or decimal; payload bytes are hex; bytes
missing at the end of a short payload are zero.  A file cut short is refused,
not zero-filled: every record must close with its ``}`` and a file that opens
with a lone ``{`` must end with the matching ``}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nvdla_sim.errors import MemoryAccessError, TraceError
from nvdla_sim.memory import MAX_SEGMENT, check_allocation
from nvdla_sim.trace.parser import read_text

_RECORD = re.compile(r"offset\s*:\s*(\w+)\s*,\s*size\s*:\s*(\w+)\s*,\s*payload\s*:([^}]*)(\}?)")


def parse_int(text: str) -> int:
    """Hex (0x), octal (leading 0) or decimal, as the NVDLA verification tools accept."""
    t = text.strip()
    if t.lower().startswith("0x"):
        return int(t, 16)
    if len(t) > 1 and t.startswith("0"):
        return int(t, 8)
    return int(t, 10)


@dataclass(frozen=True)
class MemoryImage:
    """Bytes relative to the load base; ``mask`` marks bytes some record wrote."""

    data: np.ndarray
    mask: np.ndarray


def _payload(text: str) -> bytes:
    try:
        return bytes.fromhex(text.replace("0x", "").replace("0X", ""))
    except ValueError:  # a token with one digit, or junk: parse token by token
        return bytes(int(tok, 16) for tok in text.split())


def load_image(path: Path) -> MemoryImage:
    """Parse a memory file into one contiguous image (errors name file and line)."""
    lines = read_text(path, "memory file").splitlines()
    records: list[tuple[int, bytes]] = []
    end = 0
    for number, line in enumerate(lines, 1):
        stripped = line.strip().strip("{},").strip()
        if not stripped or stripped.startswith("#"):
            continue
        m = _RECORD.search(line)
        if m is None:
            raise TraceError("expected a record '{offset:V, size:V, payload:B ...}'", path, number)
        if not m.group(4):
            raise TraceError("record does not close with '}' (file cut short?)", path, number)
        try:
            offset, size = parse_int(m.group(1)), parse_int(m.group(2))
            payload = _payload(m.group(3))
        except ValueError:
            raise TraceError(f"bad number in record: {line.strip()!r}", path, number) from None
        if len(payload) > size:
            raise TraceError(f"payload has {len(payload)} bytes but size is {size}", path, number)
        if offset + size > MAX_SEGMENT:
            raise TraceError(f"record ends at {offset + size:#x}, beyond the {MAX_SEGMENT:#x} "
                             f"bytes one memory file may span", path, number)
        records.append((offset, payload.ljust(size, b"\0")))
        end = max(end, offset + size)
    content = [(n, l.strip()) for n, l in enumerate(lines, 1)
               if l.strip() and not l.strip().startswith("#")]
    if content and content[0][1] == "{" and content[-1][1] not in ("}", "},"):
        raise TraceError(f"ends at line {content[-1][0]} without the '}}' that closes the "
                         f"'{{' of line {content[0][0]} (file cut short?)", path)
    try:
        check_allocation(2 * end, f"memory file of {end:#x} bytes (bytes and written mask)")
    except MemoryAccessError as exc:
        raise TraceError(str(exc), path) from None
    data = np.zeros(end, np.uint8)
    mask = np.zeros(end, bool)
    for offset, payload in records:
        data[offset:offset + len(payload)] = np.frombuffer(payload, np.uint8)
        mask[offset:offset + len(payload)] = True
    return MemoryImage(data, mask)
