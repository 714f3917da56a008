"""nvdla_sim: a bit-exact, cycle-approximate model of the NVDLA datapath for fault injection.

The names below load on first use, so that ``import nvdla_sim`` is instant and the
``nvdla-fi`` command can take a Ctrl-C while its modules load (nvdla_sim.cli).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"
_WHERE = {"CONFIGS": "config", "DEFAULT_CONFIG": "config", "HardwareConfig": "config",
          "get_config": "config", "Nvdla": "device", "Executor": "executor",
          "Memory": "memory"}
__all__ = [*_WHERE, "__version__"]


def __getattr__(name: str) -> object:
    if name in _WHERE:
        return getattr(importlib.import_module(f"nvdla_sim.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'nvdla_sim' has no attribute {name!r}")
