"""``nvdla-fi trace run``: replay NVDLA trace tests and check their CRCs."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from nvdla_sim.config import CONFIGS, get_config
from nvdla_sim.trace import find_tests, run_trace


def register(sub: argparse._SubParsersAction) -> None:
    trace = sub.add_parser("trace", help="NVDLA trace tests (register-level programs)",
                           description="Work with NVDLA trace tests (.cfg programs).")
    trace_sub = trace.add_subparsers(dest="trace_command", metavar="ACTION", required=True)
    run = trace_sub.add_parser(
        "run", help="replay trace tests and check every CRC",
        description="Replay NVDLA trace tests on the simulator. Each PATH is a test folder "
                    "(holding <name>.cfg, or NVIDIA's older input.txn format) or a folder of "
                    "test folders. Prints one line per test and a summary; exits 1 if a CRC "
                    "check failed, 2 if a program or memory file cannot be run (its file:line "
                    "and what was expected on stderr).")
    run.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    run.add_argument("--config", default="nv_small", metavar="NAME",
                     help=f"hardware config: {', '.join(CONFIGS)} or a .toml file "
                          f"(default: nv_small)")
    run.set_defaults(run=run_command)


def run_command(args: argparse.Namespace) -> int:
    config = get_config(args.config)
    tests = find_tests(args.paths)
    passed = failed = errors = 0
    start = time.perf_counter()
    width = max(len(t.name) for t in tests)
    for test in tests:
        result = run_trace(test, config)
        if result.passed:
            passed += 1
            print(f"{result.name:<{width}}  PASS  ({result.seconds:.2f} s)", flush=True)
            continue
        if result.error:  # a program or file it cannot run: the user's input, not a CRC
            errors += 1
            print(f"nvdla-fi: error: {result.error}", file=sys.stderr, flush=True)
            continue
        failed += 1
        for check in result.checks:
            if not check.passed:
                print(f"{result.name:<{width}}  FAIL  {check.message}", flush=True)
    print(f"{passed} passed, {failed} failed"
          f"{f', {errors} not runnable' if errors else ''}  "
          f"({time.perf_counter() - start:.1f} s)")
    return 2 if errors else 1 if failed else 0
