"""``nvdla-fi prune``: a trained zoo model with channels removed, as a model file."""

from __future__ import annotations

import argparse
from pathlib import Path

from nvdla_sim.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    prune = sub.add_parser(
        "prune", help="remove channels from a trained zoo model (structural pruning)",
        description="Prune whole channels of a trained zoo model (dependency groups: residual "
                    "streams, depthwise pairs, concatenations prune together; docs/compiler.md),"
                    " optionally fine-tune it, quantize it on the MNIST training digits and "
                    "write float weights + INT8 graph to OUT.npz, which `nvdla-fi compile`, "
                    "`infer` and `campaign` take as MODEL.")
    prune.add_argument("model", metavar="MODEL", help="zoo:<name> (trained, `nvdla-fi zoo list`)")
    prune.add_argument("--ratio", type=float, required=True, metavar="R",
                       help="share of the prunable channel groups to remove (0 .. 0.95)")
    prune.add_argument("--criterion", choices=("l1", "l2", "activation"), default="l1",
                       help="filter norm after batchnorm folding, or mean activation on the "
                            "training digits (default l1)")
    prune.add_argument("--scope", choices=("global", "layer"), default="global",
                       help="rank all groups together, or remove R of each layer's")
    prune.add_argument("--epochs", type=int, default=0, metavar="N",
                       help="fine-tuning float epochs (default 0: no fine-tuning)")
    prune.add_argument("--qat-epochs", type=int, default=0, metavar="N",
                       help="fine-tuning quantization-aware epochs (default 0)")
    prune.add_argument("-o", "--out", type=Path, required=True, metavar="OUT.npz")
    prune.add_argument("--onnx", type=Path, metavar="FILE.onnx",
                       help="also export the pruned float model to ONNX")
    prune.set_defaults(run=run_prune)


def run_prune(args: argparse.Namespace) -> int:
    from compiler.quantize import quantize
    from compiler.zoo.prune import parameter_count, prune
    from compiler.zoo.storage import save_graphs
    from experiments.qdnn import trained_network
    if args.out.exists():
        raise ConfigError(f"{args.out} exists; choose another -o")
    name, graph, data = trained_network(args.model)
    calibration = data.train_images[:1000]
    result = prune(graph, args.ratio, args.criterion, args.scope, calibration)
    info = {"pruned_from": args.model, "ratio": args.ratio, "criterion": args.criterion,
            "scope": args.scope, "channels": result.channels}
    if args.epochs or args.qat_epochs:
        from compiler.train import TrainConfig, train
        tuned = train(result.graph, data.train_images, data.train_labels,
                      TrainConfig(epochs=args.epochs, qat_epochs=args.qat_epochs, lr=1e-3))
        pruned, int8 = tuned.float_graph, tuned.int8_graph
        info.update(tuned.info())
    else:
        pruned, int8 = result.graph, quantize(result.graph, calibration)
    save_graphs(args.out, pruned, int8, info)
    print(f"{name}: removed {len(result.removed)} of {result.prunable} channel groups; "
          f"parameters {parameter_count(graph):,} -> {parameter_count(pruned):,}")
    for layer, (before, after) in result.channels.items():
        print(f"  {layer:<28} {before:>5} -> {after:>5} channels")
    print(f"wrote {args.out}")
    if args.onnx:
        import onnx
        from compiler.zoo import to_onnx
        onnx.save(to_onnx(pruned), args.onnx)
        print(f"wrote {args.onnx}")
    return 0
