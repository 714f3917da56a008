"""The ``nvdla-fi`` command line.  Parser building lives apart from the commands."""

import sys

try:
    from nvdla_sim.cli.main import main
except KeyboardInterrupt:  # Ctrl-C while the modules load: nothing has run yet
    sys.stderr.write("nvdla-fi: interrupted\n")
    raise SystemExit(130) from None

__all__ = ["main"]
