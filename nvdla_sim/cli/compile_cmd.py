"""``nvdla-fi compile`` and ``nvdla-fi infer``."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from nvdla_sim.cli.common import add_model_arguments
from nvdla_sim.errors import ConfigError
from nvdla_sim.timing.schedule import LayerSchedule


def register(sub: argparse._SubParsersAction) -> None:
    comp = sub.add_parser(
        "compile", help="compile a quantized CNN to an NVDLA register program",
        description="Lower a quantized CNN to NVDLA hardware layers (CONV, SDP, PDP, CDP) and "
                    "save the program; prints one row per hardware layer.")
    add_model_arguments(comp)
    comp.add_argument("-o", "--out", type=Path, required=True, metavar="OUT",
                      help="program file to write (.npz)")
    comp.add_argument("--export-trace", type=Path, metavar="DIR",
                      help="also write an NVDLA trace test (.cfg + memory files) for one "
                           "random input; replay it with `nvdla-fi trace run DIR`")
    comp.set_defaults(run=run_compile)

    infer = sub.add_parser(
        "infer", help="run a quantized CNN on the simulator",
        description="Run a model on the bit-exact simulator. With --data, print top-1 accuracy "
                    "and agreement with a plain numpy evaluation of the same quantized graph; "
                    "with --input/--output, run a float NCHW batch and save dequantized outputs.")
    add_model_arguments(infer)
    infer.add_argument("--data", "--dataset", dest="data", metavar="NAME|PATH.npz",
                       help="evaluate on mnist (held-out digits), random, or a labelled .npz "
                            "(arrays x: float N x C x H x W, y: int labels; the model's input "
                            "quantization is applied: at fp16 / fp32, rounding to the format)")
    infer.add_argument("--limit", type=int, metavar="N", help="use the first N images")
    infer.add_argument("--input", type=Path, metavar="X.npy", help="float NCHW batch to run")
    infer.add_argument("--output", type=Path, metavar="Y.npy", help="where to save outputs")
    infer.set_defaults(run=run_infer)


def _load(args):
    from compiler.precisions import compile_model
    return compile_model(args.model, args.precision or "int8", args.config, args.input_size,
                         args.classes, args.seed)


def run_compile(args: argparse.Namespace) -> int:
    graph, program = _load(args)
    program.save(args.out)
    cfg = program.config
    print(f"{program.name}: {len(graph.nodes)} nodes -> {len(program.layers)} hardware layers "
          f"on {cfg.name} ({cfg.cbuf_banks} CBUF banks of {cfg.cbuf_bank_bytes} B)")
    header = (f"{'layer':<24} {'op':<8} {'output':>14} {'MACs':>12} {'weights':>9} "
              f"{'CBUF d/w':>9} {'cycles':>10} {'LSB':>4}")
    print(header)
    print("-" * len(header))
    total_macs = total_cycles = 0
    for layer, info in zip(program.layers, program.info):
        shape = program.tensors[info.output].shape
        cycles = LayerSchedule(layer, cfg).cycles
        total_macs += info.macs
        total_cycles += cycles
        banks = f"{info.data_banks}/{info.weight_banks}" if layer.conv else "-"
        print(f"{info.name[:24]:<24} {info.op:<8} {'x'.join(map(str, shape)):>14} "
              f"{info.macs:>12,} {info.weight_bytes:>9,} {banks:>9} {cycles:>10,} "
              f"{'-' if graph.is_float else info.error_bound:>4}")
    print("-" * len(header))
    print(f"{'total':<24} {'':<8} {'':>14} {total_macs:>12,} "
          f"{sum(i.weight_bytes for i in program.info):>9,} {'':>9} {total_cycles:>10,}")
    if program.weight_bits:
        from compiler.precisions import packed_weights
        packed = packed_weights(program)
        print(f"weight memory: {packed.stored.nbytes:,} bytes of packed {program.weight_bits}-bit "
              f"weights (CDMA reads them sign-extended in int8 lanes)")
    print(f"wrote {args.out}")
    if args.export_trace:
        from compiler.export import export_trace
        rng = np.random.default_rng(args.seed)
        x = rng.integers(-128, 128, program.inputs[0].shape, dtype=np.int8)
        crc = export_trace(program, x, args.export_trace)
        print(f"wrote trace test {args.export_trace} (output CRC {crc:#010x})")
    return 0


def run_infer(args: argparse.Namespace) -> int:
    from compiler.reference import evaluate
    from compiler.workloads import load_dataset
    from nvdla_sim.runner import ProgramRunner
    if (args.data is None) == (args.input is None):
        raise ConfigError("give either --data NAME|PATH.npz or --input X.npy")
    graph, program = _load(args)
    runner = ProgramRunner(program, constant_weights=True)  # weights are read, never written
    shape = program.inputs[0].shape
    if args.input is not None:
        try:
            x = np.load(args.input)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{args.input}: cannot read a .npy array ({exc})") from None
        if x.ndim != 4 or tuple(x.shape[1:]) != shape:
            raise ConfigError(f"{args.input}: expected a float batch of shape (N, "
                              f"{', '.join(map(str, shape))}), got {x.shape}")
        y = np.stack([runner.dequantize_output(o) for o in runner.run_batch(
            runner.quantize_input(x))])
        out = args.output or args.input.with_name(args.input.stem + "_out.npy")
        np.save(out, y)
        print(f"ran {len(x)} inputs; wrote {out} with shape {y.shape}")
        return 0
    images, labels = load_dataset(args.data, shape, args.limit, args.seed,
                                  classes=int(np.prod(program.outputs[0].shape)))
    q = runner.quantize_input(images)
    start = time.perf_counter()
    sim = runner.run_batch(q).reshape(len(q), -1)
    seconds = time.perf_counter() - start
    ref = evaluate(graph, q)[graph.outputs[0]].reshape(len(q), -1)
    agree = float((sim.argmax(1) == ref.argmax(1)).mean())
    print(f"{len(q)} images in {seconds:.1f} s ({len(q) / seconds:.0f} images/s)")
    if labels is not None:
        print(f"top-1 accuracy (simulator): {(sim.argmax(1) == labels).mean() * 100:.2f}%")
        print(f"top-1 accuracy (numpy reference): {(ref.argmax(1) == labels).mean() * 100:.2f}%")
    print(f"top-1 agreement with the numpy reference: {agree * 100:.2f}%")
    if not graph.is_float:
        print(f"int{graph.bits} outputs identical: {(sim == ref).all(axis=1).mean() * 100:.2f}% "
              f"of images; max difference {int(np.abs(sim.astype(int) - ref).max())} LSB")
    else:  # the reference rounds each node once to the format (compiler.verify: tolerance)
        diff = np.abs(sim.astype(np.float64) - ref.astype(np.float64))
        print(f"{graph.precision} outputs identical: {(sim == ref).all(axis=1).mean() * 100:.2f}% "
              f"of images; max |output - numpy {graph.precision} reference| "
              f"{float(diff.max()):.3g}")
    return 0
