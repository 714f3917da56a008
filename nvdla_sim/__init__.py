"""nvdla_sim: a bit-exact, cycle-approximate model of the NVDLA datapath for fault injection."""

from nvdla_sim.config import CONFIGS, DEFAULT_CONFIG, HardwareConfig, get_config
from nvdla_sim.device import Nvdla
from nvdla_sim.executor import Executor
from nvdla_sim.memory import Memory

__version__ = "0.1.0"
__all__ = ["CONFIGS", "DEFAULT_CONFIG", "Executor", "HardwareConfig", "Memory", "Nvdla",
           "get_config", "__version__"]
