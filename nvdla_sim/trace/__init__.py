"""NVDLA trace tests: the ``.cfg`` program grammar, memory files and the player."""

from nvdla_sim.trace.parser import Command, parse_program
from nvdla_sim.trace.player import TraceResult, find_tests, run_trace

__all__ = ["Command", "TraceResult", "find_tests", "parse_program", "run_trace"]
