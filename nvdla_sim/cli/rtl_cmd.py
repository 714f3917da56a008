"""``nvdla-fi rtl check``: cross-check the fault model against RTL (cocotb + Verilator)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from nvdla_sim.cli.common import positive
from nvdla_sim.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    rtl = sub.add_parser("rtl", help="RTL cross-check of the datapath and fault model",
                         description="Run SystemVerilog of the datapath slices under cocotb and "
                                     "Verilator (the rtl extra).")
    rtl_sub = rtl.add_subparsers(dest="rtl_command", metavar="ACTION", required=True)
    check = rtl_sub.add_parser(
        "check", help="fault-free equivalence, then random faults in RTL vs nvdla_sim",
        description="Drive the RTL cycle by cycle from nvdla_sim's schedule for the layers of "
                    "a compiled network, check fault-free equivalence, inject N random faults "
                    "spread over every register kind into RTL registers and into nvdla_sim, "
                    "and compare the corrupted values. Prints the agreement, disagreeing "
                    "sites and RTL vs nvdla_sim time per injection; exits 1 on any "
                    "disagreement.")
    check.add_argument("--network", default="lenet5",
                       help="lenet5 (the bundled model), toy, shapes, rounding, prelu or bypass")
    check.add_argument("--layers", type=int, nargs="+", metavar="I",
                       help="hardware layers to use (default: every CONV+SDP and SDP layer; "
                            "--rtl nvdla: every layer)")
    check.add_argument("--injections", type=positive, default=2000, metavar="N")
    check.add_argument("--seed", type=int, default=0)
    check.add_argument("--config", metavar="NAME", help="hardware config (default nv_small)")
    check.add_argument("--workers", type=positive, metavar="N",
                       help="simulator processes (default: one per core, at most two)")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.add_argument("--rtl", choices=("slices", "nvdla"), default="slices",
                       help="slices: the project's SystemVerilog datapath slices (default); "
                            "nvdla: NVIDIA's own NV_nvdla RTL (nv_small), whole layers played "
                            "as trace programs, faults in NVIDIA's registers")
    check.add_argument("--rtl-dir", type=Path, metavar="DIR",
                       help="--rtl nvdla: NVIDIA's nv_small vmod/ folder (default: $NVDLA_RTL "
                            "or shared/nvdla-rtl/nv_small/vmod above the checkout)")
    check.add_argument("--traces", type=Path, nargs="+", metavar="DIR",
                       help="--rtl nvdla: NVIDIA trace tests (test folders or folders of them) "
                            "to play on the RTL first, checking their CRCs")
    check.add_argument("--report", type=Path, metavar="FILE",
                       help="--rtl nvdla: JSON report (default rtl-check-<network>.json; an "
                            "existing file is not overwritten)")
    check.add_argument("--workdir", type=Path, metavar="DIR",
                       help="--rtl nvdla: keep the exported layer programs and simulation logs "
                            "here (default: a temporary folder)")
    check.set_defaults(run=run_check)


def run_check(args: argparse.Namespace) -> int:
    if args.rtl == "nvdla":
        return _run_nvdla(args)
    from rtl_bridge.crosscheck import rtl_check
    report = rtl_check(args.layers, args.injections, args.seed, network=args.network,
                       config=args.config, workers=args.workers)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report)
    return 0 if report.ok else 1


def _run_nvdla(args: argparse.Namespace) -> int:
    from nvdla_sim.trace.player import find_tests
    from rtl_bridge.nvdla.check import rtl_nvdla_check

    report_path = args.report or Path(f"rtl-check-{args.network}.json")
    if report_path.exists():
        raise ConfigError(f"--report {report_path}: exists; give another path")
    traces = find_tests(args.traces) if args.traces else None
    report = rtl_nvdla_check(args.network, args.injections, args.seed, traces=traces,
                             vmod=args.rtl_dir, workdir=args.workdir, layers=args.layers)
    report.write_json(report_path)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report)
    print(f"report written to {report_path}")
    return 0 if report.ok else 1
