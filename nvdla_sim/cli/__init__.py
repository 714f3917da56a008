"""The ``nvdla-fi`` command line.  Parser building lives apart from the commands."""

from nvdla_sim.cli.main import main

__all__ = ["main"]
