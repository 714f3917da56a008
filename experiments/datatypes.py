"""Study datatypes (S1's data-type table, S4's FP32 vs INT8): one network at every precision.

The same trained network (LeNet-5 of the zoo, or ``--model``) is compiled at
each precision of :mod:`compiler.precisions` -- int8 (its QAT int8 graph),
int16 (its float weights quantized with the training calibration, on
nv_full's INT16 datapath), fp16 (NVDLA's FP16 datapath), fp32 (a reference
datapath, not an NVDLA precision) and int4 (4-bit weights packed in weight
memory, INT8 datapath) -- and measured three ways:

* accuracy on held-out MNIST, fault free;
* ``stored``: one bit flip per inference in a stored weight or activation
  (S1's fault model), stratified so weights and activations get half the
  injections each, every bit of a value equally likely: SDC (top-1 changed)
  and corrupted-output rates with Wilson intervals, per precision and per bit
  of the value (floats by sign / exponent / mantissa, :mod:`nvdla_sim.value_bits`);
* ``registers``: single-bit upsets in the datapath registers (S4's fault
  model), for the precisions whose datapath the register fault model covers
  (``make_campaign`` says which; the others are listed with its reason).

A precision that cannot be built here (a datapath this build lacks) is
reported as not available, with the reason.  ``--quick`` (default) takes a
few minutes on 2 cores; ``--full`` runs Leveugle sample sizes (0.1% margin).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from compiler.precisions import PRECISIONS, get_compile_precision
from experiments.registry import StudyOptions
from nvdla_sim.analysis import Rate, grouped, measures
from nvdla_sim.campaign.config import CampaignConfig
from nvdla_sim.campaign.runner import Workload, make_campaign
from nvdla_sim.campaign.setup import build_workload
from nvdla_sim.campaign.stats import sample_size
from nvdla_sim.campaign.tidy import Campaign
from nvdla_sim.errors import ConfigError, NvdlaError
from nvdla_sim.timing.registers import STORED_ACTIVATION, STORED_WEIGHT
from nvdla_sim.value_bits import NumberFormat, number_format

MODEL = "zoo:lenet5"
ORDER = ("int8", "int16", "fp16", "fp32", "int4")
KINDS = {STORED_WEIGHT: "weights", STORED_ACTIVATION: "activations"}
TOP = 3  # most vulnerable bits listed per precision


@dataclass(frozen=True)
class Scale:
    """Injections per campaign (``None``: the Leveugle size for ``margin``) and images."""

    stored: int | None
    registers: int | None
    images: int  # inputs the injections are spread over
    accuracy_images: int  # held-out images for the fault-free accuracy
    margin: float
    chunk: int = 0  # 0: the campaign's automatic chunk
    # (precision, share): precisions whose datapath model is slow run this share of the
    # injections (FP16: CMAC's atomic operation reproduced bit by bit, several times the
    # time of the other datapaths per fault); the tables give every rate's n
    reduced: tuple[tuple[str, float], ...] = ()

    def at(self, precision: str) -> "Scale":
        """The scale one precision runs at."""
        share = dict(self.reduced).get(precision, 1.0)
        if share == 1.0:
            return self

        def part(n: int | None) -> int | None:
            return None if n is None else max(1, int(n * share))
        return Scale(part(self.stored), part(self.registers), self.images,
                     self.accuracy_images, self.margin, self.chunk)


# LeNet-5's SDC rates are of the order of 0.01%: the quick scale sizes its intervals to
# that (about 2 minutes on one core)
QUICK = Scale(stored=60_000, registers=20_000, images=50, accuracy_images=1000, margin=0.01,
              reduced=(("fp16", 0.25),))
FULL = Scale(stored=None, registers=None, images=100, accuracy_images=1000, margin=0.001)
TEST = Scale(stored=400, registers=200, images=4, accuracy_images=60, margin=0.05, chunk=200)


@dataclass
class Result:
    """One precision: its workload's accuracy and campaign files, or why it is missing."""

    precision: str
    accuracy: float | None = None
    hardware: str = ""
    campaigns: dict[str, tuple[Path, float]] | None = None  # kind -> (file, seconds)
    missing: str = ""  # why the precision is not available
    no_registers: str = ""  # why its register campaign is not


def _accuracy(workload: Workload, images: int, seed: int) -> float:
    from compiler.workloads import load_dataset
    from nvdla_sim.runner import ProgramRunner
    program = workload.program
    runner = ProgramRunner(program, constant_weights=True)
    x, y = load_dataset("mnist", program.inputs[0].shape, images, seed)
    top1 = runner.run_batch(runner.quantize_input(x)).reshape(len(x), -1).argmax(axis=1)
    return float((top1 == y).mean())


def _campaign(config: CampaignConfig, workload: Workload, count: int | None, margin: float,
              options: StudyOptions) -> tuple[Path, float]:
    campaign = make_campaign(config, workload)
    campaign.config = config.replace(
        injections=count or sample_size(campaign.space.size, margin, config.confidence))
    start = time.perf_counter()
    campaign.run(Path(config.out), resume=options.resume, progress=options.progress,
                 workers=options.workers)
    return Path(config.out), time.perf_counter() - start


def measure(precision: str, options: StudyOptions, scale: Scale) -> Result:
    """Accuracy and campaigns of the model at ``precision`` (``missing`` says what failed)."""
    prec = get_compile_precision(precision)
    model = options.model or MODEL
    base = CampaignConfig(model=model, precision=precision, hardware=prec.default_config,
                          dataset="mnist", images=scale.images, seed=options.seed,
                          chunk=scale.chunk, margin=scale.margin)
    result = Result(precision, hardware=prec.default_config, campaigns={})
    try:
        workload = build_workload(base)
    except NvdlaError as exc:  # CompileError / ConfigError: the precision is not built here
        result.missing = str(exc)
        return result
    result.accuracy = _accuracy(workload, scale.accuracy_images, options.seed)
    runs = [("stored", base.replace(fault_model="stored-flip", sampling="stratified",
                                    stratify_by="register"), scale.stored),
            ("registers", base.replace(fault_model="flip"), scale.registers)]
    for kind, config, count in runs:
        config = config.replace(out=str(Path(options.out) / f"{precision}_{kind}.h5"))
        try:
            result.campaigns[kind] = _campaign(config, workload, count, scale.margin, options)
        except ConfigError as exc:  # make_campaign: the fault model does not cover it
            if kind != "registers":
                raise
            result.no_registers = f"{exc}"
    return result


def study(options: StudyOptions, scale: Scale | None = None) -> Path:
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    scale = scale or (FULL if options.full else QUICK)
    results = [measure(p, options, scale.at(p)) for p in ORDER]
    figures = _figures(results, out)
    summary = out / "summary.md"
    summary.write_text(_summary(results, scale, options, figures))
    return summary


def run(options: StudyOptions) -> Path:
    return study(options)


# -- analysis ---------------------------------------------------------------------------
def value_format(precision: str, register: str) -> NumberFormat:
    """The number format of a stored weight or activation at ``precision``."""
    prec = PRECISIONS[precision]
    return number_format(prec.weights if register == STORED_WEIGHT else prec.activations)


def per_bit(c: Campaign, precision: str, register: str) -> list[tuple[int, dict[str, Rate]]]:
    """(bit, measures) for every bit of the stored ``register``'s values."""
    fmt = value_format(precision, register)
    rows = grouped(c.columns, "value_bit", list(range(fmt.bits)),
                   c.columns["register"] == register)
    return [(b, m) for (b,), m in rows]


def per_field(c: Campaign, precision: str, register: str) -> list[tuple[str, dict[str, Rate]]]:
    """Rates per field of the value (sign / exponent / mantissa, or sign / magnitude)."""
    fmt = value_format(precision, register)
    col = c.columns
    names = np.array([fmt.field(b) if b < fmt.bits else "" for b in range(32)], object)
    field = names[np.minimum(col["value_bit"], 31)]
    kinds = [f for f in ("sign", "exponent", "mantissa", "magnitude") if fmt.field_bits(f)]
    return [(k, m) for (k,), m in grouped({**col, "field": field}, "field", kinds,
                                          col["register"] == register)]


def most_vulnerable(c: Campaign, precision: str, top: int = TOP
                    ) -> list[tuple[str, int, Rate]]:
    """(stored register, bit, SDC rate) of the bits with the highest SDC rate over both
    kinds of stored values (bits that caused no SDC are not ranked)."""
    ranked = [(reg, b, m["sdc"]) for reg in KINDS for b, m in per_bit(c, precision, reg)
              if m["sdc"].k]
    return sorted(ranked, key=lambda r: -r[2].rate)[:top]


def _cell(m: dict[str, Rate]) -> str:
    return f"{m['sdc'].pct(3)} / {m['corrupted'].pct(2)}"


def _register_section(precision: str, c: Campaign) -> list[str]:
    """A register campaign's rates per register (with the value it holds) and per bit of
    the datapath's activation and weight lanes (bits named by :mod:`nvdla_sim.value_bits`)."""
    col = c.columns
    fmt = number_format(c.hardware.precision)
    held = dict(zip(col["register"].tolist(), col["value_group"].tolist()))
    md = ["", f"## {precision}: datapath registers ({c.hardware.name}, SDC / corrupted, n)", "",
          "| register | value held | SDC / corrupted (n) |", "|---|---|---|"]
    md += [f"| {name} | {held[name]} | {_cell(m)} ({m['sdc'].n:,}) |"
           for (name,), m in grouped(col, "register")]
    lanes = np.isin(col["value"], ["activation", "weight"]) & (col["value_width"] == fmt.bits)
    rows = grouped(col, "value_bit", list(range(fmt.bits)), lanes)
    md += ["", f"Per bit of the {fmt.name} activation and weight lanes (SDC, n): " + ", ".join(
        f"{fmt.label(b)} {m['sdc'].pct(3)} ({m['sdc'].n})" for (b,), m in reversed(rows))]
    return md


def _figures(results: list[Result], out: Path) -> list[Path]:
    from nvdla_sim import figures
    done = [r for r in results if r.campaigns and "stored" in r.campaigns]
    if not done:
        return []
    camps = {r.precision: Campaign(r.campaigns["stored"][0]) for r in done}
    paths = [figures.category_plot(
        out / "sdc_per_precision.png", "Stored-value bit flips: rates per precision",
        [r.precision for r in done],
        {"SDC (top-1 changed)": [measures(camps[r.precision].columns)["sdc"] for r in done],
         "output corrupted": [measures(camps[r.precision].columns)["corrupted"]
                              for r in done]}, "precision", stacked=True)]
    panels = {}
    for r in done:
        for reg, kind in KINDS.items():
            fmt = value_format(r.precision, reg)
            rows = per_bit(camps[r.precision], r.precision, reg)
            panels[f"{r.precision} {kind} ({fmt.name})"] = {
                "SDC": ([b for b, _ in rows], [m["sdc"] for _, m in rows])}
    paths.append(figures.bit_panels(
        out / "sdc_per_bit.png", "SDC rate per bit of the stored value (0 = LSB; floats: "
        "sign = top bit, then exponent, then mantissa)", panels, "bit of the value"))
    return paths


def _summary(results: list[Result], scale: Scale, options: StudyOptions,
             figures: list[Path]) -> str:
    model = options.model or MODEL
    md = ["# Study datatypes: the same network at int8, int16, fp16, fp32 and int4", "",
          f"Model {model}; every precision compiled from the same trained weights "
          "(int8: the model's QAT int8 graph; int16 and int4: its float weights quantized "
          "with the training calibration; fp16 / fp32: the float weights).  Faults: (a) "
          "`stored`, one bit flip per inference in a stored weight or activation, half the "
          "injections each, every bit of a value equally likely; (b) `registers`, single-bit "
          "upsets in the datapath registers, where the register fault model covers the "
          "datapath.  Rates are SDC (top-1 changed) / output corrupted (any output bit "
          "differs) with 95% Wilson intervals.", "",
          f"Scale: {'full' if options.full else 'quick'}; seed {options.seed}"
          + "".join(f"; {p} runs {share:.0%} of the injections (its datapath model is "
                    f"slow)" for p, share in scale.reduced) + ".", "",
          "## Accuracy and rates per precision", "",
          "| precision | datapath (config) | accuracy (held-out MNIST) | stored: SDC / "
          "corrupted (n) | stored weights: SDC | stored activations: SDC | registers: SDC "
          "/ corrupted (n) |", "|---|---|---|---|---|---|---|"]
    camps: dict[str, dict[str, Campaign]] = {}
    for r in results:
        prec = PRECISIONS[r.precision]
        what = f"{prec.datapath} ({r.hardware})" + ("" if prec.nvdla else ", not NVDLA")
        if r.accuracy is None:
            md.append(f"| {r.precision} | {what} | not available | | | | |")
            continue
        camps[r.precision] = {k: Campaign(p) for k, (p, _) in r.campaigns.items()}
        s = camps[r.precision]["stored"]
        m = measures(s.columns)
        w = measures(s.columns, s.columns["register"] == STORED_WEIGHT)
        a = measures(s.columns, s.columns["register"] == STORED_ACTIVATION)
        reg = camps[r.precision].get("registers")
        rm = measures(reg.columns) if reg else None
        md.append(f"| {r.precision} | {what} | {r.accuracy * 100:.2f}% "
                  f"({scale.accuracy_images}) | {_cell(m)} ({m['sdc'].n:,}) | "
                  f"{w['sdc'].pct(3)} | {a['sdc'].pct(3)} | "
                  + (f"{_cell(rm)} ({rm['sdc'].n:,}) |" if rm else "not modelled |"))
    missing = [r for r in results if r.missing]
    if missing:
        md += ["", "Not available in this build:", ""]
        md += [f"* {r.precision}: {r.missing}" for r in missing]
    if any(r.no_registers for r in results):
        md += ["", "Register campaigns not run: " + "; ".join(
            f"{r.precision} ({r.no_registers})" for r in results if r.no_registers) + "."]
    md += ["", "## Most vulnerable bits (stored values, highest SDC rate)", "",
           "| precision | " + " | ".join(f"#{i + 1}" for i in range(TOP)) + " |",
           "|---|" + "---|" * TOP]
    for p, cs in camps.items():
        top = most_vulnerable(cs["stored"], p)
        cells = [f"{KINDS[reg]} bit {value_format(p, reg).label(b)}: {rate.pct(2)}"
                 for reg, b, rate in top] + ["none seen"] * (TOP - len(top))
        md.append(f"| {p} | " + " | ".join(cells) + " |")
    for p, cs in camps.items():
        if "registers" in cs:
            md += _register_section(p, cs["registers"])
    for p, cs in camps.items():
        s = cs["stored"]
        md += ["", f"## {p}: per bit of the stored value (SDC / corrupted, n)", ""]
        fields = {KINDS[reg]: per_field(s, p, reg) for reg in KINDS}
        md += ["Per field: " + "; ".join(
            f"{kind} " + ", ".join(f"{f} {m['sdc'].pct(3)}" for f, m in rows)
            for kind, rows in fields.items()), ""]
        tables = {KINDS[reg]: dict(per_bit(s, p, reg)) for reg in KINDS}
        fmts = {KINDS[reg]: value_format(p, reg) for reg in KINDS}
        width = max(f.bits for f in fmts.values())
        md += ["| bit | " + " | ".join(f"{k} ({fmts[k].name})" for k in tables) + " |",
               "|---|" + "---|" * len(tables)]
        for b in reversed(range(width)):
            cells = [f"{fmts[k].field(b)}: {_cell(t[b])} ({t[b]['sdc'].n})" if b in t
                     and b < fmts[k].bits else "" for k, t in tables.items()]
            md.append(f"| {b} | " + " | ".join(cells) + " |")
    files = [p.name for r in results for p, _ in (r.campaigns or {}).values()]
    md += ["", "## Files", "",
           "* campaign results (HDF5, docs/hdf5-schema.md; `nvdla-fi report FILE -o DIR` "
           "for every table of one): " + ", ".join(f"[{f}]({f})" for f in files),
           "* figures: " + ", ".join(f"[{p.name}]({p.name})" for p in figures), "",
           "Settings: " + json.dumps({"stored": scale.stored, "registers": scale.registers,
                                      "images": scale.images, "margin": scale.margin,
                                      "seconds": {r.precision: {k: round(t, 1) for k, (_, t)
                                                                in (r.campaigns or {}).items()}
                                                  for r in results}}), ""]
    return "\n".join(md)
