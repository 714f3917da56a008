"""Figures of rates with their intervals, readable at paper size.

Rates are points with Wilson intervals; a rate axis turns logarithmic when
every observed rate is below :data:`LOG_BELOW` (small rates would sit on the
floor of a linear axis).  A rate of zero (no event) is drawn as an open
downward triangle at its interval's upper bound.  Sizes fit a column or page
width (6.5-7 in) at 150 dpi with 8-9 pt text.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from nvdla_sim.analysis import Rate  # noqa: E402

LOG_BELOW = 0.25
NONE_SEEN = "▽ none seen: upper bound"
DPI = 150
COLORS = ("#c0392b", "#2471a3", "#f39c12", "#27ae60", "#8e44ad", "#7f8c8d", "#d35400",
          "#16a085")
plt.rcParams.update({"font.size": 8, "axes.titlesize": 9, "legend.fontsize": 7})


def draw_rates(ax, x: Sequence[float], rates: Sequence[Rate], label: str, color: str,
               marker: str = "o", line: bool = False) -> None:
    """Points (or a line) with Wilson intervals, in percent."""
    x = np.asarray(x, float)
    r = np.array([q.rate for q in rates]) * 100
    lo = np.array([q.low for q in rates]) * 100
    hi = np.array([q.high for q in rates]) * 100
    ax.errorbar(x, np.where(r > 0, r, np.nan), yerr=[np.clip(r - lo, 0, None),
                                                     np.clip(hi - r, 0, None)],
                fmt=marker + ("-" if line else ""), ms=3.5, lw=1, capsize=2, color=color,
                label=label)
    zero = (r == 0) & (np.array([q.n for q in rates]) > 0)
    if zero.any():  # no event: its upper bound
        first = not any(line.get_label() == NONE_SEEN for line in ax.lines)
        ax.plot(x[zero], hi[zero], "v", ms=4, color=color, mfc="none",
                label=NONE_SEEN if first else "_nolegend_")


def rate_axis(ax, rates: Sequence[Rate], ylabel: str = "injections (%)") -> None:
    """Log scale when every interval is small; labels and grid."""
    highs = [q.high for q in rates if q.n]
    seen = [q.low for q in rates if q.k] + [q.high for q in rates if q.n and not q.k]
    if any(q.k for q in rates) and max(q.rate for q in rates if q.n) < LOG_BELOW:
        ax.set_yscale("log")
        ax.set_ylim(bottom=min(seen) * 100 / 2, top=min(100.0, max(highs) * 100 * 2))
        ylabel += ", log scale"
    else:
        ax.set_ylim(bottom=0)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, lw=0.5)


def save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def category_plot(path: Path, title: str, keys: Sequence[str],
                  series: dict[str, Sequence[Rate]], xlabel: str, stacked: bool = False
                  ) -> Path:
    """Rates per category (x labels): side by side in one panel (campaigns), or
    ``stacked`` one panel per series (measures of different magnitude, each its scale)."""
    n = len(keys)
    panels = list(series.items()) if stacked else [(None, None)]
    fig, axes = plt.subplots(len(panels), 1, figsize=(min(14, max(6.5, 0.18 * n + 2.5)),
                                                      1.2 + 2.4 * len(panels)),
                             sharex=True, squeeze=False, layout="constrained")
    x = np.arange(n)
    for ax, (name, rates) in zip(axes[:, 0], panels):
        shown = {name: rates} if stacked else series
        width = 0.7 / max(1, len(shown))
        for s, (label, values) in enumerate(shown.items()):
            k = list(series).index(label)
            draw_rates(ax, x + (s - (len(shown) - 1) / 2) * width, values, label,
                       COLORS[k % len(COLORS)], "os^Dv<>p"[k % 8])
        rate_axis(ax, [q for values in shown.values() for q in values])
        ax.legend(loc="best")
    axes[-1, 0].set_xticks(x, keys, rotation=90 if n > 12 else 0, fontsize=6 if n > 40 else 8)
    axes[-1, 0].set_xlabel(xlabel)
    axes[0, 0].set_title(title)
    return save(fig, path)


def bit_panels(path: Path, title: str, panels: dict[str, dict[str, tuple[list, list[Rate]]]],
               xlabel: str) -> Path:
    """Small multiples: one panel per value group, x = bit, one line per measure."""
    names = list(panels)
    cols = min(3, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(7, 2.3 * rows + 0.4), squeeze=False,
                             layout="constrained")
    for ax, name in zip(axes.ravel(), names):
        for s, (measure, (x, rates)) in enumerate(panels[name].items()):
            draw_rates(ax, x, rates, measure, COLORS[s % len(COLORS)], "os^"[s % 3], True)
        ax.set_title(name)
        ax.set_xlabel(xlabel)
        rate_axis(ax, [q for _, rates in panels[name].values() for q in rates], "%")
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    axes.ravel()[0].legend(loc="best")
    fig.suptitle(title, fontsize=9)
    return save(fig, path)


def lines_plot(path: Path, title: str, lines: dict[str, tuple[list, list[Rate]]],
               xlabel: str, xticks: Sequence[int] | None = None) -> Path:
    """Overlaid lines with intervals (campaigns or value kinds) over a shared x."""
    fig, ax = plt.subplots(figsize=(6.5, 3.6), layout="constrained")
    for s, (name, (x, rates)) in enumerate(lines.items()):
        shift = (s - (len(lines) - 1) / 2) * 0.08
        draw_rates(ax, np.asarray(x, float) + shift, rates, name, COLORS[s % len(COLORS)],
                   "os^Dv<>p"[s % 8], True)
    if xticks is not None:
        ax.set_xticks(list(xticks))
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    rate_axis(ax, [q for _, rates in lines.values() for q in rates])
    ax.legend(loc="best")
    return save(fig, path)
