"""``nvdla-fi study``: the published studies as commands (experiments/)."""

from __future__ import annotations

import argparse
from pathlib import Path

from nvdla_sim.cli.common import positive
from nvdla_sim.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    study = sub.add_parser(
        "study", help="run a study (nvdla-fi study list)",
        description="Run one of the studies nvdla-fi reproduces (docs/studies.md): it writes "
                    "HDF5 results, PNG figures and summary.md into -o DIR.  'nvdla-fi study "
                    "list' names them.")
    study.add_argument("name", metavar="NAME", help="a study name, or 'list'")
    study.add_argument("--model", metavar="M",
                       help="zoo:<name> or a quantized .onnx file (default: the study's models)")
    scale = study.add_mutually_exclusive_group()
    scale.add_argument("--quick", dest="full", action="store_false", default=False,
                       help="minutes on 2 cores (default)")
    scale.add_argument("--full", dest="full", action="store_true",
                       help="paper scale: long; resumable with --resume")
    study.add_argument("-o", "--out", type=Path, metavar="DIR",
                       help="output folder (default results/<name>)")
    study.add_argument("--seed", type=int, default=0)
    study.add_argument("--workers", type=positive, default=1, metavar="N",
                       help="local processes for campaigns (results do not depend on it)")
    study.add_argument("--resume", action="store_true",
                       help="continue an interrupted study in DIR")
    study.add_argument("--quiet", action="store_true", help="no progress bars")
    study.set_defaults(run=run_study, full=False)  # --quick is the default


def run_study(args: argparse.Namespace) -> int:
    from experiments.registry import STUDIES, StudyOptions, study
    if args.name == "list":
        width = max((len(n) for n in STUDIES), default=0)
        for name, entry in sorted(STUDIES.items()):
            print(f"{name:<{width}}  {entry.summary}  [{entry.reproduces}]")
        return 0
    entry = study(args.name)
    out = args.out or Path("results") / entry.name
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not args.resume:
        raise ConfigError(f"{out}: folder is not empty; pass --resume to continue the study "
                          f"there or choose another -o")
    out.mkdir(parents=True, exist_ok=True)
    summary = entry.run(StudyOptions(out=out, model=args.model, full=args.full,
                                     seed=args.seed, workers=args.workers,
                                     resume=args.resume, progress=not args.quiet))
    print(f"wrote {summary}")
    return 0
