"""``nvdla-fi bench``: campaign speed, optimized vs naive, and golden throughput."""

from __future__ import annotations

import argparse
import json

from nvdla_sim.bench import SETUPS


def register(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser(
        "bench", help="measure injection speed (optimized vs naive) and inference speed",
        description="Run a fixed campaign on each model two ways in this process -- full "
                    "re-inference per fault, and the optimized injector -- check that both "
                    "give identical outcomes, and print injections/s and their ratio; also "
                    "golden images/s of the simulator and of onnxruntime on the same INT8 "
                    "model (when onnxruntime is installed).")
    bench.add_argument("--models", nargs="+", choices=sorted(SETUPS), default=list(SETUPS))
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    bench.set_defaults(run=run_bench)


def run_bench(args: argparse.Namespace) -> int:
    from nvdla_sim.bench import format_report, run
    result = run(args.models)
    print(json.dumps(result, indent=2) if args.json else format_report(result))
    return 0 if all(c["identical"] for c in result["campaign"]) else 1
