"""Exceptions for user mistakes: the CLI prints them without a traceback."""


class NvdlaError(Exception):
    """Base of all errors caused by bad input (files, configs, programs)."""


class ConfigError(NvdlaError):
    """A hardware or campaign configuration is invalid."""


class TraceError(NvdlaError):
    """A trace program is malformed; the message names the file and line."""

    def __init__(self, message: str, path: object = None, line: int | None = None) -> None:
        where = f"{path}:{line}: " if path is not None and line is not None else (
            f"{path}: " if path is not None else "")
        super().__init__(f"{where}{message}")
        self.path = path
        self.line = line


class RegisterError(NvdlaError):
    """An unknown register or field, or a value that does not fit."""


class LayerError(NvdlaError):
    """A hardware layer is programmed with values the hardware cannot run."""


class MemoryAccessError(NvdlaError):
    """A read from memory that was never written, or an address out of range."""


class StorageError(NvdlaError):
    """Results cannot be written or resumed (disk full, read-only folder, a file the tool
    did not write, another campaign writing it); nothing written so far is lost."""
