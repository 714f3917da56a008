"""``nvdla-fi bench``: campaign speed against naive re-inference and PyTorchFI, and golden
throughput against onnxruntime."""

from __future__ import annotations

import argparse
import json

from nvdla_sim.bench import REPETITIONS, SETUPS, THREADS


def register(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser(
        "bench", help="measure injection and inference speed against naive re-inference, "
                      "PyTorchFI and onnxruntime",
        description="Run a fixed campaign on each model in this process, in interleaved "
                    "repetitions: the optimized injector, full re-inference per fault on a "
                    "share of the same injections (every outcome must be identical), and "
                    "PyTorchFI's batched single-bit neuron injection on the float model with "
                    "the same weights (extra 'bench'; skipped with a note when missing). "
                    "Prints median injections/s and ratios, and golden images/s of the "
                    "simulator and of onnxruntime on the same INT8 model. Exit status 1 "
                    "when outcomes differ.")
    bench.add_argument("--models", nargs="+", choices=sorted(SETUPS), default=list(SETUPS))
    bench.add_argument("--repetitions", type=int, default=REPETITIONS, metavar="N",
                       help=f"interleaved repetitions the medians are taken over "
                            f"(default {REPETITIONS})")
    bench.add_argument("--threads", type=int, default=THREADS, metavar="N",
                       help=f"threads each tool may use: numpy's BLAS, torch, onnxruntime "
                            f"(default {THREADS}: on a shared machine multi-threaded BLAS "
                            f"spins against other processes; 0: each tool's default)")
    bench.add_argument("--no-peer", action="store_true", help="skip PyTorchFI")
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    bench.set_defaults(run=run_bench)


def run_bench(args: argparse.Namespace) -> int:
    from nvdla_sim.bench import format_report, run
    result = run(args.models, args.repetitions, peer=not args.no_peer,
                 threads_per_tool=args.threads or None)
    print(json.dumps(result, indent=2) if args.json else format_report(result))
    return 0 if all(c["identical"] for c in result["campaign"]) else 1
