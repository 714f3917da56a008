"""Study S1 (bits-layers): single bit flips in INT8 CNNs, per bit, per layer, per region.

For each model (MobileNetV1 and ResNet-50 of the zoo, or ``--model``), two
campaigns on NVDLA (nv_small):

* ``registers``: single-bit upsets uniformly over the register-bit x cycle
  exposure of the datapath registers (CMAC, CACC, SDP, PDP, CDP);
* ``stored``: one bit flip per inference in a stored weight or activation
  (the framework-level view of the original study), stratified so weights
  and activations get half the injections each.

Then SDC (top-1 changed) and corrupted-output rates, with Wilson intervals,
per bit of the value a register holds (the INT8 table: bits 0-7, 7 = sign),
per model layer and per region (early / middle / late thirds), accuracy under
faults, and a comparison of the campaigns side by side.

Scale: ``--quick`` runs a fixed number of injections per campaign (fewer for
models above :data:`LARGE_MACS`), a few minutes on 2 cores; ``--full`` runs
the Leveugle et al. sample size for a 0.1% margin at 95% confidence (about
960,000 per campaign), resumable with ``--resume``, on ``--workers`` processes.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

from compiler.ir import CompileError
from experiments.registry import StudyOptions
from nvdla_sim.analysis import grouped, measures
from nvdla_sim.campaign.config import CampaignConfig
from nvdla_sim.campaign.runner import Workload, make_campaign
from nvdla_sim.campaign.setup import build_workload
from nvdla_sim.campaign.stats import sample_size
from nvdla_sim.campaign.tidy import REGIONS, Campaign
from nvdla_sim.report import report
from nvdla_sim.timing.registers import STORED_ACTIVATION, STORED_WEIGHT

MODELS = ("zoo:mobilenet_v1", "zoo:resnet50")
LARGE_MACS = 200_000_000  # models above this get the smaller quick scale


@dataclass(frozen=True)
class Scale:
    """Injections per campaign (``None``: the Leveugle size for ``margin``) and images."""

    registers: int | None
    stored: int | None
    images: int
    margin: float  # target margin of error, for the Leveugle size reported
    chunk: int = 0  # 0: the campaign's automatic chunk


QUICK = Scale(registers=15_000, stored=5_000, images=20, margin=0.01)
QUICK_LARGE = Scale(registers=4_000, stored=1_500, images=10, margin=0.01)
# full: Leveugle sizes; images bounded because a chunk holds the golden run of every
# image it draws (ResNet-50 at 32x32: tens of MB each)
FULL = Scale(registers=None, stored=None, images=100, margin=0.001)
FULL_LARGE = Scale(registers=None, stored=None, images=50, margin=0.001)
TEST = Scale(registers=300, stored=120, images=4, margin=0.05, chunk=100)  # tests only


def _workload(model: str, images: int, seed: int) -> tuple[Workload, str]:
    """The model on held-out MNIST when its input takes MNIST images, else on random
    inputs labelled with the golden top-1; and the dataset's name."""
    for dataset in ("mnist", "random"):
        try:
            return build_workload(CampaignConfig(model=model, dataset=dataset, images=images,
                                                 seed=seed)), dataset
        except CompileError:
            if dataset != "mnist":
                raise
    raise AssertionError("unreachable")


def _slug(model: str) -> str:
    return Path(model.removeprefix("zoo:")).stem.replace(":", "_")


def _run_campaign(config: CampaignConfig, workload: Workload, scale: Scale, count: int | None,
                  options: StudyOptions) -> tuple[Path, tuple[float, float]]:
    campaign = make_campaign(config, workload)
    # the count does not change the site space or the draws: set it once the space is known
    campaign.config = config.replace(
        injections=count or sample_size(campaign.space.size, scale.margin, config.confidence))
    out = Path(config.out)
    start, cpu = time.perf_counter(), time.process_time()
    campaign.run(out, resume=options.resume, progress=options.progress,
                 workers=options.workers)
    return out, (time.perf_counter() - start, time.process_time() - cpu)


def study(options: StudyOptions, scale: Scale | None = None) -> Path:
    """Run the study at ``scale`` (default: quick or full from the options)."""
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    models = (options.model,) if options.model else MODELS
    runs = []  # (model, kind, path, seconds)
    for model in models:
        small, large = (FULL, FULL_LARGE) if options.full else (QUICK, QUICK_LARGE)
        workload, dataset = _workload(model, (scale or small).images, options.seed)
        chosen = scale
        if chosen is None:
            macs = sum(info.macs for info in workload.program.info)
            chosen = large if macs > LARGE_MACS else small
            workload = replace(workload, inputs=workload.inputs[:chosen.images],
                               labels=workload.labels[:chosen.images])
        base = CampaignConfig(model=model, dataset=dataset, images=chosen.images,
                              seed=options.seed, chunk=chosen.chunk, margin=chosen.margin)
        for kind, config, count in (
                ("registers", base.replace(fault_model="flip"), chosen.registers),
                ("stored", base.replace(fault_model="stored-flip", sampling="stratified",
                                        stratify_by="register"), chosen.stored)):
            config = config.replace(out=str(out / f"{_slug(model)}_{kind}.h5"))
            path, seconds = _run_campaign(config, workload, chosen, count, options)
            report(path, out / f"{_slug(model)}_{kind}")
            runs.append((model, kind, path, seconds))
    report([path for _, _, path, _ in runs], out / "compare")
    summary = out / "summary.md"
    summary.write_text(_summary(runs, options))
    return summary


def run(options: StudyOptions) -> Path:
    return study(options)


# -- summary ---------------------------------------------------------------------------
def _cell(m) -> str:
    return f"{m['sdc'].pct()} / {m['corrupted'].pct()}"


def _summary(runs: list, options: StudyOptions) -> str:
    camps = [(model, kind, Campaign(path), seconds) for model, kind, path, seconds in runs]
    md = ["# Study bits-layers (S1): single bit flips per bit, per layer, per region", "",
          "Reproduces S1 of docs/studies.md on NVDLA nv_small: one bit flip per inference, "
          "(a) in the datapath registers (uniform over register bits x cycles) and (b) in a "
          "stored weight or activation (the framework-level fault model of the original "
          "study; weights and activations half the injections each).  Rates are SDC "
          "(top-1 changed) / output corrupted (any output bit differs), with 95% Wilson "
          "intervals.", "",
          f"Scale: {'full' if options.full else 'quick'}; seed {options.seed}.", "",
          "## Campaigns", "",
          "| model | faults in | data (images) | fault-free accuracy | injections | Leveugle n "
          "(margin) | SDC / corrupted | accuracy under fault | wall / CPU time (s) |",
          "|---|---|---|---|---|---|---|---|---|"]
    for model, kind, c, seconds in camps:
        m = measures(c.columns)
        cfg = c.config
        md.append(f"| {model} | {kind} | {c.attrs['dataset']} ({c.attrs['images']}) | "
                  f"{c.golden_accuracy * 100:.2f}% | {m['sdc'].n:,} | "
                  f"{c.attrs['leveugle_sample_size']:,} (±{cfg['margin'] * 100:g}%) | "
                  f"{_cell(m)} | {m['correct'].pct()} | {seconds[0]:.1f} / {seconds[1]:.1f} |")
    if any(c.attrs["dataset"] == "random" for _, _, c, _ in camps):
        md += ["", "Random data: the model's input does not take MNIST images; labels are the "
               "fault-free top-1 (accuracy 100% by construction)."]
    md += ["", "Stored-value rates pool weights and activations with equal shares "
           "(stratified); see the per-kind columns below.  CPU time is this process's (not "
           "that of --workers processes); wall time includes the golden runs and any wait "
           "for a shared machine.", ""]
    columns = []  # (title, campaign, selection)
    for model, kind, c, _ in camps:
        col = c.columns
        if kind == "registers":
            int8 = (col["value_width"] == c.hardware.bpe) & (
                (col["value"] == "activation") | (col["value"] == "weight"))
            columns.append((f"{model} INT8 registers", c, int8))
        else:
            columns.append((f"{model} stored weights", c, col["register"] == STORED_WEIGHT))
            columns.append((f"{model} stored activations", c,
                            col["register"] == STORED_ACTIVATION))
    md += ["## Per bit of the INT8 value (0 = LSB, 7 = sign): SDC / corrupted", "",
           "| bit | " + " | ".join(t for t, _, _ in columns) + " |",
           "|---|" + "---|" * len(columns)]
    tables = [dict(((k,), m) for (k,), m in grouped(c.columns, "value_bit", list(range(8)), s))
              for _, c, s in columns]
    for bit in range(8):
        cells = [f"{_cell(t[(bit,)])} (n={t[(bit,)]['sdc'].n})" if (bit,) in t else ""
                 for t in tables]
        md.append(f"| {bit} | " + " | ".join(cells) + " |")
    md += ["", "## Per region (thirds of the model's layers in execution order): SDC / "
           "corrupted", "", "| region | " + " | ".join(t for t, _, _ in columns) + " |",
           "|---|" + "---|" * len(columns)]
    regions = [dict(grouped(c.columns, "region", list(REGIONS), s)) for _, c, s in columns]
    all_regions = [dict(grouped(c.columns, "region", list(REGIONS))) for _, _, c, _ in camps]
    for region in REGIONS:
        cells = [f"{_cell(t[(region,)])} (n={t[(region,)]['sdc'].n})" if (region,) in t
                 else "" for t in regions]
        md.append(f"| {region} | " + " | ".join(cells) + " |")
    md += ["", "All registers / all stored values, per region: " + "; ".join(
        f"{model} {kind}: " + ", ".join(f"{r} {t[(r,)]['sdc'].pct()}" for r in REGIONS
                                        if (r,) in t)
        for (model, kind, _, _), t in zip(camps, all_regions)), ""]
    md += ["## Files", "",
           "* campaign results (HDF5, docs/hdf5-schema.md): " + ", ".join(
               f"[{c.path.name}]({c.path.name})" for _, _, c, _ in camps),
           "* per campaign, figures and every table (per model layer, per value kind and "
           "bit, per register): " + ", ".join(
               f"[{c.path.stem}/]({c.path.stem}/summary.md)" for _, _, c, _ in camps),
           "* all campaigns side by side: [compare/](compare/summary.md)", "",
           f"Settings: {json.dumps({c.path.stem: c.config['injections'] for _, _, c, _ in camps})}"
           " injections.", ""]
    return "\n".join(md)
