"""Entry point: builds the parser from each command module and dispatches.

User mistakes (:class:`nvdla_sim.errors.NvdlaError`) and refusals of the system
(disk full, permissions) print one line on stderr and exit with status 2; no
traceback.  Ctrl-C exits 130, a closed output pipe (``| head``) 141, quietly.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from nvdla_sim import __version__
from nvdla_sim.cli import (bench_cmd, campaign_cmd, compile_cmd, prune_cmd, rtl_cmd, study_cmd,
                           trace_cmd, zoo_cmd)
from nvdla_sim.errors import NvdlaError

COMMANDS = (compile_cmd, campaign_cmd, study_cmd, bench_cmd, rtl_cmd, trace_cmd, zoo_cmd,
            prune_cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nvdla-fi",
        description="Bit-exact NVDLA datapath simulation and fault-injection campaigns.")
    parser.add_argument("--version", action="version", version=f"nvdla-fi {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return int(args.run(args) or 0)
    except NvdlaError as exc:
        print(f"nvdla-fi: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nvdla-fi: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (``| head``): stop quietly, as on SIGPIPE
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as exc:  # the system refused (disk full, permissions): not a bug
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"nvdla-fi: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
