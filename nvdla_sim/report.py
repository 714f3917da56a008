"""Figures and a Markdown summary from a campaign's HDF5 file."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from nvdla_sim.campaign.store import read_rows  # noqa: E402
from nvdla_sim.campaign.sparsity import sparsity_lines  # noqa: E402
from nvdla_sim.campaign.summary import summarize  # noqa: E402


def _keys(table: np.ndarray) -> list[str]:
    return [k.decode() for k in table["key"]]


def _rate_plot(table: np.ndarray, title: str, xlabel: str, path: Path, rotate: bool = False
               ) -> None:
    keys = _keys(table)
    rate = table["sdc_rate"] * 100
    err = np.clip(np.vstack([rate - table["sdc_low"] * 100, table["sdc_high"] * 100 - rate]),
                  0, None)
    corrupted = (table["sdc"] + table["tolerable"]) / np.maximum(table["n"], 1) * 100
    x = np.arange(len(keys))
    fig, ax = plt.subplots(figsize=(max(6, 0.4 * len(keys) + 2), 4))
    ax.bar(x - 0.2, corrupted, width=0.4, color="#f39c12", label="output corrupted")
    ax.bar(x + 0.2, rate, width=0.4, yerr=err, capsize=2, color="#c0392b",
           label="SDC (top-1 changed), 95% Wilson interval")
    ax.set_xticks(x, keys, rotation=60 if rotate else 0,
                  ha="right" if rotate else "center", fontsize=8)
    ax.legend(fontsize=8)
    ax.set_ylabel("injections (%)")
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _outcome_plot(table: np.ndarray, path: Path) -> None:
    keys = _keys(table)
    n = np.maximum(table["n"], 1)
    fig, ax = plt.subplots(figsize=(max(6, 0.5 * len(keys) + 2), 4))
    bottom = np.zeros(len(keys))
    for field, color in (("masked", "#7f8c8d"), ("tolerable", "#f39c12"), ("sdc", "#c0392b")):
        share = table[field] / n * 100
        ax.bar(keys, share, bottom=bottom, label=field, color=color)
        bottom += share
    ax.set_ylabel("injections (%)")
    ax.set_title("Outcome by unit")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _md_table(table: np.ndarray, what: str) -> list[str]:
    lines = [f"| {what} | injections | masked | tolerable | SDC | SDC rate (95% CI) |",
             "|---|---|---|---|---|---|"]
    for key, row in zip(_keys(table), table):
        lines.append(f"| {key} | {row['n']} | {row['masked']} | {row['tolerable']} | "
                     f"{row['sdc']} | {row['sdc_rate'] * 100:.2f}% "
                     f"[{row['sdc_low'] * 100:.2f}, {row['sdc_high'] * 100:.2f}] |")
    return lines


def report(results: Path, out_dir: Path) -> list[Path]:
    """Write PNG figures and summary.md for a transient/stuck-at campaign; returns the files."""
    rows, attrs, f = read_rows(results)
    try:
        registers = [r.decode() if isinstance(r, bytes) else str(r) for r in f["registers"][...]]
        sparsity = f["golden/sparsity"][...] if "golden/sparsity" in f else None
    finally:
        f.close()
    config = json.loads(attrs["config"])
    tables = summarize(rows, registers, config.get("confidence", 0.95))
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "sdc_by_bit.png": lambda p: _rate_plot(tables["by_bit"], "SDC rate per bit position",
                                               "bit position", p),
        "sdc_by_layer.png": lambda p: _rate_plot(tables["by_layer"], "SDC rate per hardware "
                                                 "layer", "layer", p),
        "sdc_by_register.png": lambda p: _rate_plot(tables["by_register"], "SDC rate per "
                                                    "register", "register", p, rotate=True),
        "outcomes_by_unit.png": lambda p: _outcome_plot(tables["by_unit"], p),
    }
    written = []
    for name, draw in files.items():
        draw(out_dir / name)
        written.append(out_dir / name)
    overall = tables["overall"][0]
    layers = json.loads(attrs.get("layers", "[]"))
    md = [f"# Fault-injection campaign: {attrs.get('model')}", "",
          f"* kind: {attrs.get('kind')}, fault model: {config['fault_model']}"
          f"{' (' + str(config['bits']) + ' bits)' if config['bits'] > 1 else ''}",
          f"* hardware: {json.loads(attrs['hardware'])['name']}, dataset: {attrs['dataset']} "
          f"({attrs['images']} images), seed {attrs['seed']}",
          f"* sampling: {attrs['sampling']} over {attrs['site_space_size']:,} fault sites; "
          f"{overall['n']:,} injections (Leveugle et al.: "
          f"{attrs['leveugle_sample_size']:,} needed for ±{config['margin'] * 100:g}% "
          f"at {config['confidence'] * 100:g}% confidence)",
          "",
          f"**SDC rate: {overall['sdc_rate'] * 100:.3f}%** "
          f"[{overall['sdc_low'] * 100:.3f}, {overall['sdc_high'] * 100:.3f}] (95% Wilson); "
          f"masked {overall['masked'] / max(overall['n'], 1) * 100:.2f}%, tolerable "
          f"{overall['tolerable'] / max(overall['n'], 1) * 100:.2f}%; SDC-5 "
          f"{overall['sdc5']}, SDC-10% {overall['sdc10']}, SDC-20% {overall['sdc20']}.", "",
          "## By unit", "", *_md_table(tables["by_unit"], "unit"), "",
          "## By register", "", *_md_table(tables["by_register"], "register"), "",
          "## By hardware layer", "", *_md_table(tables["by_layer"], "layer"), ""]
    if layers:
        md += ["Layers: " + ", ".join(f"{i}={n}" for i, n in enumerate(layers)), ""]
    md += ["## By bit position", "", *_md_table(tables["by_bit"], "bit"), ""]
    if sparsity is not None:
        md += ["## Activation sparsity (golden runs)", "",
               "Shares of zero values per tensor over the campaign's images: real zeros "
               "(the zero point) and raw int8 zeros (the zero lanes CMAC multiplies).", "",
               *sparsity_lines(sparsity, layers), ""]
    md += ["Figures: " + ", ".join(f"[{p.name}]({p.name})" for p in written), ""]
    summary = out_dir / "summary.md"
    summary.write_text("\n".join(md))
    return written + [summary]


def report_ber(results: Path, out_dir: Path) -> list[Path]:
    """Accuracy vs weight-memory bit-error rate (figure and summary.md)."""
    from nvdla_sim.campaign.weight_ber import summarize_ber
    rows, attrs, f = read_rows(results, "trials")
    f.close()
    config = json.loads(attrs["config"])
    table = summarize_ber(rows, int(attrs["images"]), config.get("confidence", 0.95))
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
    md = [f"# Weight-memory BER campaign: {attrs.get('model')}", "",
          "| BER | trials | accuracy (95% CI) | drop (points) |", "|---|---|---|---|"]
    md += [f"| {r['ber']:.0e} | {r['trials']} | {r['accuracy'] * 100:.2f}% "
           f"[{r['accuracy_low'] * 100:.2f}, {r['accuracy_high'] * 100:.2f}] | "
           f"{r['drop'] * 100:.2f} |" for r in table]
    summary = out_dir / "summary.md"
    summary.write_text("\n".join(md) + "\n\n![accuracy](accuracy_vs_ber.png)\n")
    return [figure, summary]
