"""``nvdla-fi campaign`` and ``nvdla-fi report``."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from nvdla_sim.campaign.config import (
    CHUNK_MAX, CHUNK_STEP, FAULT_MODELS, SAMPLINGS, STRATA, CampaignConfig, load_campaign_toml)
from nvdla_sim.cli.common import add_precision_argument, positive
from nvdla_sim.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    camp = sub.add_parser(
        "campaign", help="run a fault-injection campaign (default: INT8 LeNet-5 on MNIST)",
        description="Inject faults into the NVDLA datapath while a quantized CNN runs and "
                    "record every outcome in HDF5 (docs/hdf5-schema.md), then write figures "
                    "and a Markdown summary. With no arguments: 10,000 single-bit upsets "
                    "into the bundled INT8 LeNet-5 on 100 held-out MNIST images.")
    camp.add_argument("config_file", nargs="?", type=Path, metavar="CONFIG.toml",
                      help="campaign settings ([campaign] table); options below override it")
    camp.add_argument("--model", help="zoo:<name> or a quantized .onnx file")
    camp.add_argument("--hardware", metavar="NAME",
                      help="hardware config (default nv_small; the precision's own for "
                           "--precision: nv_full for int16 and fp16)")
    add_precision_argument(camp)
    camp.add_argument("--dataset", metavar="NAME|PATH.npz",
                      help="mnist (held-out digits, default), random, or a labelled .npz "
                           "(arrays x: float N x C x H x W, y: int labels)")
    camp.add_argument("--images", type=positive, metavar="N", help="inputs to spread over")
    camp.add_argument("--injections", type=positive, metavar="N")
    camp.add_argument("--fault-model", choices=FAULT_MODELS)
    camp.add_argument("--bits", type=positive, metavar="N", help="adjacent bits per upset")
    camp.add_argument("--run-level", action="store_true", default=None,
                      help="stuck-at faults hold in every layer (not one layer)")
    camp.add_argument("--sampling", choices=SAMPLINGS)
    camp.add_argument("--stratify-by", choices=STRATA)
    camp.add_argument("--ber", type=float, nargs="+", metavar="P",
                      help="weight-ber: bit-error rates")
    camp.add_argument("--trials", type=positive, metavar="N", help="weight-ber: trials per rate")
    camp.add_argument("--seed", type=int)
    camp.add_argument("--out", type=Path, metavar="FILE", help="HDF5 results file")
    camp.add_argument("--resume", action="store_true", help="continue an interrupted campaign")
    camp.add_argument("--chunk", type=positive, metavar="N",
                      help="injections run together and flushed together (default: "
                           f"chosen from the network's size, {CHUNK_STEP} to {CHUNK_MAX}; "
                           "results do not depend on it)")
    camp.add_argument("--workers", type=positive, default=1, metavar="N",
                      help="processes to run shards on (results do not depend on it)")
    camp.add_argument("--scheduler", metavar="ADDRESS",
                      help="run shards on the Dask cluster at ADDRESS (the cluster extra)")
    camp.add_argument("--replay", type=int, metavar="ID",
                      help="re-run one injection and print what it corrupted")
    camp.add_argument("--no-report", action="store_true", help="skip figures and summary.md")
    camp.add_argument("--quiet", action="store_true", help="no progress bar")
    camp.set_defaults(run=run_campaign)

    rep = sub.add_parser("report", help="figures and a summary from campaign results",
                         description="Write PNG figures and summary.md for a results file: "
                                     "rates per bit of the value each register holds, per bit "
                                     "from the value's top, per register, model layer and "
                                     "region, accuracy under faults and FIT, each with its "
                                     "95%% Wilson interval.  Several files: one comparison "
                                     "table and overlaid figures.")
    rep.add_argument("results", type=Path, nargs="+", metavar="RESULTS.h5")
    rep.add_argument("-o", "--out", type=Path, required=True, metavar="DIR")
    rep.add_argument("--raw-fit", type=float, default=None, metavar="FIT",
                     help="raw upset rate per bit in FIT (failures per 1e9 h) for the SDC "
                          "FIT estimate (default: an assumed 1e-4)")
    rep.set_defaults(run=run_report)

    exp = sub.add_parser("export", help="a campaign's rows as a tidy CSV or Parquet table",
                         description="Write one row per injection with decoded columns "
                                     "(register, unit, value kind and bit, layer and model "
                                     "layer, region, outcome; docs/hdf5-schema.md) to a .csv "
                                     "or .parquet file (Parquet needs pyarrow: the export "
                                     "extra).")
    exp.add_argument("results", type=Path, metavar="RESULTS.h5")
    exp.add_argument("-o", "--out", type=Path, required=True, metavar="FILE")
    exp.set_defaults(run=run_export)


def _config(args: argparse.Namespace) -> CampaignConfig:
    base = load_campaign_toml(args.config_file) if args.config_file else CampaignConfig(
        out="results/lenet5_campaign.h5")
    hardware = args.hardware
    if hardware is None and args.precision and base.hardware == CampaignConfig.hardware:
        from compiler.precisions import get_compile_precision
        hardware = get_compile_precision(args.precision).default_config
    return base.replace(model=args.model, hardware=hardware, precision=args.precision,
                        dataset=args.dataset,
                        images=args.images, injections=args.injections,
                        fault_model=args.fault_model, bits=args.bits, run_level=args.run_level,
                        sampling=args.sampling, stratify_by=args.stratify_by, ber=args.ber,
                        trials=args.trials, seed=args.seed, chunk=args.chunk,
                        out=str(args.out) if args.out else None)


def run_campaign(args: argparse.Namespace) -> int:
    from nvdla_sim.campaign.setup import build_workload
    from nvdla_sim.campaign.runner import make_campaign
    config = _config(args)
    workload = build_workload(config)
    if config.fault_model == "weight-ber":
        return _run_ber(config, workload, args)
    campaign = make_campaign(config, workload)
    if args.replay is not None:
        if not 0 <= args.replay < config.injections:
            raise ConfigError(f"--replay {args.replay}: this campaign's injection ids are 0 to "
                              f"{config.injections - 1}")
        print(replay_text(campaign, args.replay))
        return 0
    out = Path(config.out)
    print(f"campaign: {config.injections:,} x {config.fault_model}"
          f"{f' ({config.bits} bits)' if config.bits > 1 else ''} on {workload.name} "
          f"({len(workload.program.layers)} hardware layers, {campaign.space.size:,} fault sites, "
          f"{len(workload.inputs)} {config.dataset} images) -> {out}")
    start = time.perf_counter()
    campaign.run(out, resume=args.resume, progress=not args.quiet, workers=args.workers,
                 scheduler=args.scheduler)
    seconds = time.perf_counter() - start
    from nvdla_sim.campaign.finish import finish_transient
    print(finish_transient(out, config, seconds, report=not args.no_report))
    return 0


def _run_ber(config: CampaignConfig, workload, args) -> int:
    from tqdm import tqdm

    from nvdla_sim.campaign.finish import finish_ber
    from nvdla_sim.campaign.weight_ber import WeightBerCampaign
    campaign = WeightBerCampaign(config, workload)
    out = Path(config.out)
    attrs = {"tool": "nvdla-fi", "kind": "weight-ber", "config": config.to_json(),
             "hardware": json.dumps(workload.program.config.__dict__, sort_keys=True),
             "model": workload.name, "model_sha256": workload.digest(),
             "dataset": config.dataset, "images": len(workload.inputs), "seed": config.seed}
    bar = tqdm(total=campaign.total, unit="trial", disable=args.quiet, desc="trials")
    start = time.perf_counter()
    campaign.run(out, attrs, args.resume, bar)
    bar.close()
    print(finish_ber(out, config, time.perf_counter() - start,
                     report=not args.no_report))
    return 0


def replay_text(campaign, injection: int) -> str:
    """What injection ``injection`` of the campaign does, re-run alone."""
    result, site_id, image = campaign.inject(injection)
    golden = campaign.golden(image)
    g, f = campaign.logits(golden.outputs), campaign.logits(result.outputs)
    site = result.site
    lines = [f"injection {injection}: site {site_id} = {site.describe()}",
             f"input image {image} (label {int(campaign.workload.labels[image])})"]
    if result.effect is None:
        lines.append("the register held no live value then: masked at once")
    else:
        where = (campaign.workload.program.layers[site.layer].name if site.layer >= 0
                 else "first affected layer")
        lines.append(f"{where}: corrupted {result.effect.detail}; {result.effect.changed} "
                     f"output element(s) of the layer changed")
    lines.append(f"golden top-1 {int(np.argmax(g))}, faulty top-1 {int(np.argmax(f))}; "
                 f"max output deviation {float(np.max(np.abs(f - g))):.4g}")
    return "\n".join(lines)


def run_report(args: argparse.Namespace) -> int:
    from nvdla_sim.analysis import RAW_FIT_PER_BIT
    from nvdla_sim.report import report, report_ber
    from nvdla_sim.campaign.store import result_kind
    raw_fit = RAW_FIT_PER_BIT if args.raw_fit is None else args.raw_fit
    if raw_fit < 0:
        raise ConfigError(f"--raw-fit must be non-negative, got {raw_fit}")
    if args.out.exists() and not args.out.is_dir():
        raise ConfigError(f"-o {args.out}: exists and is not a folder (the report is a "
                          f"folder of figures and summary.md)")
    kinds = {path: result_kind(path) for path in args.results}
    ber = [path for path, (kind, _) in kinds.items() if kind == "weight-ber"]
    if ber and len(args.results) > 1:
        raise ConfigError(f"{ber[0]}: a weight-ber campaign is reported alone, not compared "
                          f"with others")
    for path, (_, note) in kinds.items():
        if note:
            print(f"note: {path}: {note}")
    files = (report_ber(ber[0], args.out) if ber else report(args.results, args.out, raw_fit))
    print("wrote " + ", ".join(str(p) for p in files))
    return 0


def run_export(args: argparse.Namespace) -> int:
    from nvdla_sim.campaign.tidy import export
    n = export(args.results, args.out)
    print(f"wrote {n:,} rows to {args.out}")
    return 0
