"""Figures and a Markdown summary from campaign result files (one, or several side by side).

One campaign: rates overall, per value kind and bit within the value (the
INT8 table: bits 0-7, 7 = sign), per bit from the value's top (values of
different widths compared), per register, per model layer and per region
(early / middle / late), accuracy under faults, FIT; figures of the same.
Several: one comparison table and overlaid figures.  Grouping and rates:
:mod:`nvdla_sim.campaign.tidy`, :mod:`nvdla_sim.analysis`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nvdla_sim.analysis import RAW_FIT_PER_BIT, Rate, fit_estimate, grouped, measures
from nvdla_sim.campaign.sparsity import sparsity_lines
from nvdla_sim.campaign.store import incomplete, read_rows
from nvdla_sim.campaign.tidy import REGIONS, Campaign
from nvdla_sim import figures
from nvdla_sim.figures import plt
from nvdla_sim.value_bits import number_format

TOP_BITS = 8  # bits from the top compared across value kinds
MAX_LAYER_ROWS = 60  # hardware-layer table in summary.md up to this many layers
SHOWN = {"sdc": "SDC (top-1 changed)", "corrupted": "output corrupted"}


def _rates_table(groups: list, header: Sequence[str], keys: Sequence[str] = ("sdc", "corrupted"),
                 digits: int = 2) -> list[str]:
    cols = [SHOWN.get(k, k) + " (95% CI)" for k in keys]
    lines = ["| " + " | ".join([*header, "injections", *cols]) + " |",
             "|" + "---|" * (len(header) + 1 + len(cols))]
    for key, m in groups:
        cells = [str(k) for k in key] + [f"{m['sdc'].n:,}"] + [m[k].pct(digits) for k in keys]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _int8_select(c: Campaign) -> np.ndarray:
    """Rows whose register holds feature-width (cfg.bpe, e.g. INT8) values."""
    col = c.columns
    return (col["value_width"] == c.hardware.bpe) & np.isin(col["value"],
                                                             ["activation", "weight"])


def _fit(c: Campaign, sdc: Rate, raw_fit: float) -> tuple[str, object]:
    bits = int(c.attrs.get("physical_bits", 0))
    if not bits:
        return "n/a (file lacks physical_bits)", None
    if c.attrs.get("sampling") != "uniform":
        return "n/a (stratified sampling: rates are not exposure-weighted)", None
    f = fit_estimate(sdc, bits, raw_fit)
    return (f"{f.fit:.3g} [{f.low:.3g}, {f.high:.3g}] FIT (raw {raw_fit:g} FIT/bit x "
            f"{bits:,} bits x SDC rate)", f)


def _headline(c: Campaign, raw_fit: float) -> list[str]:
    m = measures(c.columns, confidence=c.config.get("confidence", 0.95))
    fit_text, _ = _fit(c, m["sdc"], raw_fit)
    return [f"* **SDC (top-1 changed): {m['sdc'].pct(3)}**",
            f"* output corrupted: {m['corrupted'].pct(3)}",
            f"* SDC-5: {m['sdc5'].pct(3)}; SDC-10%: {m['sdc10'].pct(3)}; "
            f"SDC-20%: {m['sdc20'].pct(3)}",
            f"* accuracy under one fault: {m['correct'].pct(2)} (fault-free on the same "
            f"draws: {m['golden_correct'].pct(2)}; on all {c.attrs.get('images')} images: "
            f"{c.golden_accuracy * 100:.2f}%)",
            f"* FIT of SDC: {fit_text}"] + (
        [] if c.attrs.get("sampling") == "uniform" else
        [f"* {c.attrs.get('sampling')}: pooled rates weight the strata equally, not by "
         f"exposure; compare rates within a stratum"])


def _bit_groups(c: Campaign) -> dict[str, list]:
    """Per value group: [(value bit,), measures] over its bits."""
    col, out = c.columns, {}
    for group in sorted(set(col["value_group"].tolist())):
        sel = col["value_group"] == group
        width = int(col["value_width"][sel][0])
        out[group] = grouped(col, "value_bit", list(range(width)), sel)
    return out


def _write_value_bits_csv(path: Path, groups: dict[str, list]) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["value_group", "value_bit", "n", "sdc", "sdc_low", "sdc_high", "corrupted",
                    "corrupted_low", "corrupted_high"])
        for group, rows in groups.items():
            for (bit,), m in rows:
                w.writerow([group, bit, m["sdc"].n, m["sdc"].rate, m["sdc"].low, m["sdc"].high,
                            m["corrupted"].rate, m["corrupted"].low, m["corrupted"].high])
    return path


def _single(c: Campaign, out: Path, raw_fit: float) -> list[Path]:
    col, cfg = c.columns, c.config
    bpe = c.hardware.bpe
    files: list[Path] = []
    groups = _bit_groups(c)
    files.append(figures.bit_panels(
        out / "value_bits.png", f"{c.label}: rate per bit of the value held (bit 0 = LSB)",
        {g: {SHOWN[k]: ([b for (b,), _ in rows], [m[k] for _, m in rows])
             for k in SHOWN} for g, rows in groups.items()}, "bit of the value"))
    files.append(_write_value_bits_csv(out / "value_bits.csv", groups))
    top = {g: grouped(col, "bit_from_top", list(range(TOP_BITS)), col["value_group"] == g)
           for g in groups}
    files.append(figures.lines_plot(
        out / "bits_from_top.png", f"{c.label}: SDC rate by bit from the value's top",
        {g: ([b for (b,), _ in rows], [m["sdc"] for _, m in rows]) for g, rows in top.items()},
        "bit from the top of the value (0 = sign / MSB)", range(TOP_BITS)))
    int8 = _int8_select(c)
    int8_rows = grouped(col, "value_bit", list(range(bpe)), int8)
    fmt = number_format(c.hardware.precision)  # bits named by field (sign, exponent ...)
    order = c.model_layer_order()
    layer_rows = grouped(col, "model_layer", ["input", *order, "every layer"])
    region_rows = grouped(col, "region", [*REGIONS, "every layer"])
    files.append(figures.category_plot(
        out / "model_layers.png", f"{c.label}: rates per model layer",
        [k for (k,), _ in layer_rows], {SHOWN[k]: [m[k] for _, m in layer_rows] for k in SHOWN},
        "model layer (execution order)", stacked=True))
    files.append(figures.category_plot(
        out / "regions.png", f"{c.label}: rates per region of the model",
        [k for (k,), _ in region_rows], {SHOWN[k]: [m[k] for _, m in region_rows]
                                         for k in SHOWN}, "region", stacked=True))
    reg_rows = grouped(col, "register")
    files.append(figures.category_plot(
        out / "registers.png", f"{c.label}: rates per register", [k for (k,), _ in reg_rows],
        {SHOWN[k]: [m[k] for _, m in reg_rows] for k in SHOWN}, "register", stacked=True))
    hw = json.loads(c.attrs["hardware"])
    md = [f"# Fault-injection campaign: {c.attrs.get('model')}", "",
          *([f"**{c.incomplete[0].upper()}{c.incomplete[1:]}.**", ""] if c.incomplete else []),
          f"* kind: {c.kind}, fault model: {cfg['fault_model']}"
          f"{' (' + str(cfg['bits']) + ' bits)' if cfg.get('bits', 1) > 1 else ''}",
          f"* hardware: {hw['name']} ({bpe}-bit features), dataset: {c.attrs['dataset']} "
          f"({c.attrs['images']} images), seed {c.attrs['seed']}",
          f"* sampling: {c.attrs['sampling']} over {c.attrs['site_space_size']:,} fault sites; "
          f"{col['id'].size:,} injections (Leveugle et al.: "
          f"{c.attrs['leveugle_sample_size']:,} needed for ±{cfg['margin'] * 100:g}% "
          f"at {cfg['confidence'] * 100:g}% confidence)", "", "## Outcomes", "",
          *_headline(c, raw_fit), "",
          f"## {fmt.name.upper()} values (activation and weight lanes, {fmt.name} outputs): "
          f"per bit", "",
          f"Bit 0 is the LSB, bit {bpe - 1} the sign"
          f"{'; then exponent, then mantissa bits' if fmt.is_float else ''}.", "",
          *_rates_table([((fmt.label(b),), m) for (b,), m in int8_rows], ["bit"]), "",
          "## Per kind of value", "",
          *_rates_table(grouped(col, "value_group"), ["value held"]), "",
          f"## Bits from the top of the value (SDC rate, injections), top {TOP_BITS} bits", "",
          "| bit from top | " + " | ".join(top) + " |", "|---|" + "---|" * len(top)]
    for b in range(TOP_BITS):
        cells = []
        for rows in top.values():
            hit = [m for (k,), m in rows if k == b]
            cells.append(f"{hit[0]['sdc'].pct()} ({hit[0]['sdc'].n})" if hit else "")
        md.append(f"| {b} | " + " | ".join(cells) + " |")
    md += ["", "Every bit of every value kind: [value_bits.csv](value_bits.csv).", "",
           "## Per region (thirds of the model's layers in execution order)", "",
           *_rates_table(region_rows, ["region"]), "",
           "## Per model layer", "", *_rates_table(layer_rows, ["model layer"]), "",
           "## Per unit", "", *_rates_table(grouped(col, "unit"), ["unit"]), "",
           "## Per register", "", *_rates_table(reg_rows, ["register"]), ""]
    if len(c.layers) <= MAX_LAYER_ROWS:
        hw_rows = grouped(col, ("layer", "layer_name"))
        md += ["## Per hardware layer", "", *_rates_table(hw_rows, ["layer", "name"]), ""]
    if c.sparsity is not None:
        md += ["## Activation sparsity (golden runs)", "",
               "Shares of zero values per tensor over the campaign's images: real zeros "
               "(the zero point) and raw int8 zeros (the zero lanes CMAC multiplies).", "",
               *sparsity_lines(c.sparsity, c.layers), ""]
    md += ["Figures: " + ", ".join(f"[{p.name}]({p.name})" for p in files
                                    if p.suffix == ".png"), ""]
    summary = out / "summary.md"
    summary.write_text("\n".join(md))
    return files + [summary]


def _compare(campaigns: list[Campaign], out: Path, raw_fit: float) -> list[Path]:
    labels = [f"{c.path.stem}: {c.label}{' (incomplete)' if c.incomplete else ''}"
              for c in campaigns]
    md = ["# Campaigns compared", "",
          "| campaign | injections | SDC (95% CI) | corrupted | SDC-5 | SDC-10% | SDC-20% | "
          "accuracy under fault | fault-free (same draws) | FIT of SDC |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    for label, c in zip(labels, campaigns):
        m = measures(c.columns, confidence=c.config.get("confidence", 0.95))
        _, f = _fit(c, m["sdc"], raw_fit)
        fit = f"{f.fit:.3g} [{f.low:.3g}, {f.high:.3g}]" if f else "n/a"
        md.append(f"| {label} | {m['sdc'].n:,} | {m['sdc'].pct(3)} | {m['corrupted'].pct(2)} "
                  f"| {m['sdc5'].pct(2)} | {m['sdc10'].pct(2)} | {m['sdc20'].pct(2)} | "
                  f"{m['correct'].pct(2)} | {m['golden_correct'].pct(2)} | {fit} |")
    md += ["", f"FIT: raw {raw_fit:g} FIT per bit (assumed) x exposed bits x SDC rate; "
           "uniformly sampled campaigns only.", ""]
    files = []
    int8 = {label: grouped(c.columns, "value_bit", list(range(c.hardware.bpe)),
                           _int8_select(c)) for label, c in zip(labels, campaigns)}
    files.append(figures.lines_plot(
        out / "compare_int8_bits.png", "SDC rate per bit of INT8 values (7 = sign)",
        {k: ([b for (b,), _ in rows], [m["sdc"] for _, m in rows])
         for k, rows in int8.items() if rows}, "bit of the value", range(8)))
    tops = {label: grouped(c.columns, "bit_from_top", list(range(TOP_BITS)))
            for label, c in zip(labels, campaigns)}
    files.append(figures.lines_plot(
        out / "compare_bits_from_top.png", "SDC rate by bit from the value's top (all values)",
        {k: ([b for (b,), _ in rows], [m["sdc"] for _, m in rows]) for k, rows in tops.items()},
        "bit from the top of the value (0 = sign / MSB)", range(TOP_BITS)))
    regions = {label: dict((k, m["sdc"]) for (k,), m in grouped(c.columns, "region"))
               for label, c in zip(labels, campaigns)}
    keys = [r for r in (*REGIONS, "every layer") if any(r in v for v in regions.values())]
    empty = Rate(0, 0, 0.0, 1.0)
    files.append(figures.category_plot(
        out / "compare_regions.png", "SDC rate per region", keys,
        {k: [v.get(r, empty) for r in keys] for k, v in regions.items()}, "region"))
    md += [f"## INT8 values per bit: SDC rate (95% CI)", "",
           "| bit | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    for b in range(8):
        cells = [next((m["sdc"].pct() for (k,), m in rows if k == b), "")
                 for rows in int8.values()]
        md.append(f"| {b} | " + " | ".join(cells) + " |")
    md += ["", "## Per region: SDC rate (95% CI)", "",
           "| region | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    for r in keys:
        md.append(f"| {r} | " + " | ".join(v[r].pct() if r in v else "" for v in
                                           regions.values()) + " |")
    md += ["", "Figures: " + ", ".join(f"[{p.name}]({p.name})" for p in files), ""]
    summary = out / "summary.md"
    summary.write_text("\n".join(md))
    return files + [summary]


def report(results: Path | Sequence[Path], out_dir: Path, raw_fit: float = RAW_FIT_PER_BIT
           ) -> list[Path]:
    """Figures and summary.md for one campaign, or a comparison of several; returns the
    files written."""
    paths = [results] if isinstance(results, (str, Path)) else list(results)
    campaigns = [Campaign(Path(p)) for p in paths]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if len(campaigns) == 1:
        return _single(campaigns[0], out_dir, raw_fit)
    return _compare(campaigns, out_dir, raw_fit)


def report_ber(results: Path, out_dir: Path) -> list[Path]:
    """Accuracy vs weight-memory bit-error rate (figure and summary.md)."""
    from nvdla_sim.campaign.weight_ber import summarize_ber
    rows, attrs, f = read_rows(results, "trials")
    f.close()
    config = json.loads(attrs["config"])
    table = summarize_ber(rows, config.get("confidence", 0.95))
    out_dir.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 4))
    acc = table["accuracy"] * 100
    err = np.clip(np.vstack([acc - table["accuracy_low"] * 100,
                             table["accuracy_high"] * 100 - acc]), 0, None)
    ax.errorbar(table["ber"], acc, yerr=err, marker="o", capsize=3)
    ax.axhline(rows["golden_accuracy"][0] * 100, color="gray", ls="--", label="fault-free")
    ax.set_xscale("log")
    ax.set_xlabel("weight-memory bit-error rate")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title(f"{attrs.get('model')}: accuracy under weight bit errors")
    ax.legend()
    fig.tight_layout()
    figure = out_dir / "accuracy_vs_ber.png"
    fig.savefig(figure, dpi=120)
    plt.close(fig)
    note = incomplete(results, rows.size, attrs)
    md = [f"# Weight-memory BER campaign: {attrs.get('model')}", "",
          *([f"**{note[0].upper()}{note[1:]}.**", ""] if note else []),
          "| BER | trials | accuracy (95% CI) | drop (points) |", "|---|---|---|---|"]
    md += [f"| {r['ber']:.0e} | {r['trials']} | {r['accuracy'] * 100:.2f}% "
           f"[{r['accuracy_low'] * 100:.2f}, {r['accuracy_high'] * 100:.2f}] | "
           f"{r['drop'] * 100:.2f} |" for r in table]
    summary = out_dir / "summary.md"
    summary.write_text("\n".join(md) + "\n\n![accuracy](accuracy_vs_ber.png)\n")
    return [figure, summary]
