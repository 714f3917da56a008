"""The S3 tables and figure, regenerated from an ``ecc`` study's HDF5 file.

    python -m experiments.ecc_report results/ecc/ecc.h5 [-o DIR]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np

from nvdla_sim.campaign.stats import mean_interval, wilson
from nvdla_sim.ecc.faults import KINDS
from nvdla_sim.ecc.layout import LABELS
from nvdla_sim.errors import ConfigError

CONFIDENCE = 0.95


def _points(values: np.ndarray) -> tuple[float, float, float]:
    return tuple(100 * v for v in mean_interval(values, CONFIDENCE))  # type: ignore[return-value]


def _interval(mean: float, low: float, high: float, digits: int = 2) -> str:
    if not np.isfinite(low):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def _rate(rate: float) -> str:
    return f"{rate:.0e}".replace("e-0", "e-")


def read(path: Path) -> tuple[np.ndarray, np.ndarray, dict]:
    if not Path(path).is_file():
        raise ConfigError(f"{path}: no such ecc study file")
    with h5py.File(path, "r") as f:
        if f.attrs.get("kind") != "ecc" or "trials" not in f:
            raise ConfigError(f"{path}: not an ecc study file")
        return f["trials"][...], f["variants"][...], dict(f.attrs)


def _strategy_table(rows: np.ndarray, bits: int, kind: int, strategies: list[str],
                    cell: Callable[[np.ndarray], str]) -> list[str]:
    """One row per rate, one column per strategy that ran; ``cell`` formats the trials of
    one (rate, strategy)."""
    sel = rows[(rows["bits"] == bits) & (rows["kind"] == kind)]
    used = [s for s in range(len(strategies)) if (sel["strategy"] == s).any()]
    head = "| rate | " + " | ".join(LABELS[strategies[s]] for s in used) + " |"
    lines = [head, "|---" * (len(used) + 1) + "|"]
    for rate in np.unique(sel["rate"]):
        cells = [cell(sel[(sel["rate"] == rate) & (sel["strategy"] == s)]) for s in used]
        lines.append(f"| {_rate(rate)} | " + " | ".join(cells) + " |")
    return lines


def _drop_cell(r: np.ndarray) -> str:
    return _interval(*_points(r["golden_accuracy"] - r["accuracy"]))


def _wrong_cell(r: np.ndarray) -> str:
    frac = mean_interval(r["wrong_bits"] / r["weight_bits"], CONFIDENCE)
    hit = int((r["wrong_bits"] > 0).sum())
    lo, hi = wilson(hit, r.size, CONFIDENCE)
    return f"{frac[0]:.2e} ({hit}/{r.size} trials; {100 * lo:.0f}-{100 * hi:.0f}%)"


def drop_table(rows: np.ndarray, bits: int, kind: int, strategies: list[str]) -> list[str]:
    return _strategy_table(rows, bits, kind, strategies, _drop_cell)


def wrong_table(rows: np.ndarray, bits: int, kind: int, strategies: list[str]) -> list[str]:
    return _strategy_table(rows, bits, kind, strategies, _wrong_cell)


def block_table(rows: np.ndarray, bits: int, kind: int, strategies: list[str]) -> list[str]:
    sel = rows[(rows["bits"] == bits) & (rows["kind"] == kind)]
    lines = ["| strategy | rate | bits read wrong | corrected | detected (DUE) | silent |",
             "|---|---|---|---|---|---|"]
    for s in range(len(strategies)):
        for rate in np.unique(sel["rate"]):
            r = sel[(sel["rate"] == rate) & (sel["strategy"] == s)]
            if r.size:
                lines.append(f"| {LABELS[strategies[s]]} | {_rate(rate)} | "
                             f"{r['errors'].mean():.2f} | {r['corrected'].mean():.2f} | "
                             f"{r['detected'].mean():.2f} | {r['silent'].mean():.2f} |")
    return lines


def width_table(rows: np.ndarray, kind: int, strategies: list[str]) -> list[str]:
    """Drop at the lowest and highest rate, 8-bit vs 4-bit."""
    sel = rows[rows["kind"] == kind]
    low, high = sel["rate"].min(), sel["rate"].max()
    lines = [f"| strategy | bits | drop at {_rate(low)} | drop at {_rate(high)} | "
             f"increase |", "|---|---|---|---|---|"]
    for s in range(len(strategies)):
        for bits in sorted(np.unique(sel["bits"]), reverse=True):
            r = sel[(sel["bits"] == bits) & (sel["strategy"] == s)]
            if not r.size:
                continue
            a = 100 * (r["golden_accuracy"] - r["accuracy"])
            d_low, d_high = a[r["rate"] == low], a[r["rate"] == high]
            lines.append(f"| {LABELS[strategies[s]]} | {bits} | "
                         f"{_interval(*mean_interval(d_low))} | "
                         f"{_interval(*mean_interval(d_high))} | "
                         f"{d_high.mean() - d_low.mean():.2f} |")
    return lines


def variant_table(variants: np.ndarray, strategies: list[str]) -> list[str]:
    lines = ["| bits | strategy | accuracy, hard clamp alone | accuracy, WOT + clamp | "
             "weights moved by the final clamp | memory bits / weight bit |",
             "|---|---|---|---|---|---|"]
    for v in variants:
        lines.append(f"| {v['bits']} | {LABELS[strategies[v['strategy']]]} | "
                     f"{100 * v['clamp_accuracy']:.1f}% | {100 * v['accuracy']:.1f}% | "
                     f"{v['clamped']} | {v['memory_bits'] / v['weight_bits']:.3f} |")
    return lines


def figure(rows: np.ndarray, strategies: list[str], kind: int, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    widths = sorted(np.unique(rows["bits"]), reverse=True)
    fig, axes = plt.subplots(1, len(widths), figsize=(3.4 * len(widths), 2.8), sharey=True,
                             squeeze=False)
    for ax, bits in zip(axes[0], widths):
        sel = rows[(rows["bits"] == bits) & (rows["kind"] == kind)]
        for s, name in enumerate(strategies):
            rates = np.unique(sel["rate"][sel["strategy"] == s])
            if not rates.size:
                continue
            stats = [_points(sel[(sel["rate"] == r) & (sel["strategy"] == s)]["golden_accuracy"]
                             - sel[(sel["rate"] == r) & (sel["strategy"] == s)]["accuracy"])
                     for r in rates]
            mean = np.array([m for m, _, _ in stats])
            err = np.array([[m - lo, hi - m] for m, lo, hi in stats]).T
            ax.errorbar(rates, mean, yerr=np.nan_to_num(err), marker="o", ms=3, capsize=2,
                        label=LABELS[name])
        ax.set_xscale("log")
        ax.set_title(f"{bits}-bit weights", fontsize=9)
        ax.set_xlabel("bit error rate", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("accuracy drop (points)", fontsize=8)
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=200)
    plt.close(fig)


def write_report(path: Path, out: Path) -> Path:
    rows, variants, attrs = read(path)
    strategies = json.loads(attrs["strategies"])
    kinds = json.loads(attrs["kinds"])
    config = json.loads(attrs["config"])
    lines = [f"# Study ecc (S3): in-place SEC-DED for quantized weights -- {attrs['model']}",
             "", attrs["note"] + ".", "",
             f"{config['trials']} trials per rate and strategy, each a fault draw over the "
             f"whole encoded weight memory (check bits included) evaluated on "
             f"{config['images']} test images; drops are in accuracy points against the same "
             f"network without faults, mean over trials with a {100 * CONFIDENCE:.0f}% "
             f"Student-t interval.  Seed {attrs['seed']}.", "",
             "## Fault-free networks", "", *variant_table(variants, strategies), "",
             "In-place variants: the network as quantized, hard-clamped (restricted weights "
             "moved into their smaller range), and the network after weight-distribution "
             f"oriented training ({config.get('wot_epochs', 0)} fake-quantized epochs from "
             f"learning rate {config.get('wot_lr', 1e-4):g}, restricted weights projected "
             "after every step) and the same hard clamp; the "
             "fault injection runs on the latter.  Not in place: both columns are the plain "
             "network.", ""]
    for kind in kinds:
        k = KINDS.index(kind)
        for bits in sorted(np.unique(rows["bits"]), reverse=True):
            lines += [f"## {bits}-bit weights, {kind}: accuracy drop (points)", "",
                      *drop_table(rows, bits, k, strategies), "",
                      f"## {bits}-bit weights, {kind}: weight bits wrong after correction", "",
                      "Fraction of the weight bits the datapath reads wrong (mean over "
                      "trials), and the trials with any wrong bit (Wilson 95%).", "",
                      *wrong_table(rows, bits, k, strategies), "",
                      f"## {bits}-bit weights, {kind}: blocks per trial", "",
                      *block_table(rows, bits, k, strategies), ""]
        lines += [f"## {kind}: 4-bit vs 8-bit", "", *width_table(rows, k, strategies), ""]
    zero = rows[rows["wrong_bits"] == 0]
    lines += ["## Invariant", "",
              f"{zero.size} of {rows.size} trials left no weight bit wrong after decoding; "
              f"their drop is exactly 0 (largest: "
              f"{0 if not zero.size else float(np.abs(zero['golden_accuracy'] - zero['accuracy']).max())})"
              f": the datapath then reads the fault-free weights, so the outputs are "
              f"bit-identical (tests/ecc/test_invariant.py runs such trials).", "",
              "## Run", "",
              f"{rows.size} trials, {int(rows['inferred'].sum())} of them ran the test set; "
              f"{float(rows['seconds'].sum()):.0f} s in trials "
              f"({rows.size / max(float(rows['seconds'].sum()), 1e-9):.1f} trials/s, "
              f"{int(rows['inferred'].sum()) / max(float(rows['seconds'][rows['inferred']].sum()), 1e-9):.2f} "
              f"inferred trials/s).", ""]
    figure(rows, strategies, KINDS.index(kinds[0]), out / "ecc_drop.png")
    lines += ["![accuracy drop per rate](ecc_drop.png)", ""]
    summary = out / "summary.md"
    summary.write_text("\n".join(lines))
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("-o", "--out", type=Path)
    args = parser.parse_args(argv)
    print(write_report(args.results, args.out or args.results.parent))


if __name__ == "__main__":
    main()
