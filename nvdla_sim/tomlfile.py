"""Reading the TOML files users write (hardware and campaign configs)."""

from __future__ import annotations

from pathlib import Path

from nvdla_sim.errors import ConfigError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]


def read_toml(path: Path, kind: str) -> dict:
    """The parsed file; a missing file or a syntax error (with its line) is a ConfigError
    naming the file and ``kind`` (e.g. "campaign")."""
    try:
        return tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such {kind} file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text {kind} file (TOML is UTF-8 text)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the {kind} file ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
