"""Study S4: reliability of structurally pruned INT8 networks on NVDLA.

For each criterion and pruning ratio: prune the trained float network's
channels (:mod:`compiler.zoo.prune`, global ranking, dependency groups),
quantize it to int8 (min/max calibration on the training images), compile it
for nv_small, and measure on the bit-exact simulator

* top-1 accuracy on the held-out test images (Wilson interval);
* the datapath SDC rate under single-bit upsets, uniform over register bits
  x cycles (a TransientCampaign per setting, its own HDF5 file), with the
  size of that fault-site space: a pruned network runs fewer cycles, so it
  is exposed to fewer upsets per inference, and ``SDC/inference`` (SDC rate
  x sites, relative to the unpruned network) says what that buys;
* the bit positions with the highest SDC rates.

Each pruned network (the unpruned one too, so all get the same extra
training) is fine-tuned with :func:`compiler.train.train` (float epochs, then
quantization-aware epochs) before it is compiled; the one-shot accuracy
(pruned, quantized, not fine-tuned; numpy int8 reference) is kept as well.
INT8 only: FP32 (a binary32 reference of the same dataflow) waits for the
precision work.

    nvdla-fi study pruning [--model zoo:lenet5] [--full] -o DIR
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from compiler.lower import lower
from compiler.quantize import int8_forward, quantize
from compiler.train import TrainConfig, train
from compiler.zoo.prune import parameter_count, prune
from experiments.qdnn import Rate, datapath_sdc, simulator_accuracy, total_cycles, \
    trained_network
from experiments.registry import StudyOptions
from nvdla_sim.campaign.store import ResultStore, read_rows

COLLAPSE_POINTS = 5.0  # accuracy this many points under the unpruned network: collapsed
QUICK_MODELS = ("zoo:lenet5",)
FULL_MODELS = ("zoo:lenet5", "zoo:resnet18", "zoo:resnet50")  # trained: nvdla-fi zoo train


@dataclass(frozen=True)
class Setting:
    criteria: tuple[str, ...]
    ratios: tuple[float, ...]
    injections: int
    campaign_images: int
    calibration: int  # training images for the activation criterion and one-shot int8
    finetune: tuple[int, int]  # (float epochs, quantization-aware epochs)


QUICK = Setting(("l1", "activation"), (0.0, 0.3, 0.5, 0.7, 0.8, 0.9), 50_000, 100, 1000,
                (1, 1))
FULL = Setting(("l1", "l2", "activation"), tuple(np.round(np.arange(0, 0.95, 0.1), 2)),
               200_000, 1000, 4000, (5, 2))

ROW = np.dtype([
    ("criterion", "S16"), ("ratio", "<f8"), ("removed", "<f8"), ("params", "<i8"),
    ("macs", "<i8"), ("cycles", "<i8"), ("one_shot", "<i8"), ("correct", "<i8"),
    ("tested", "<i8"),
    ("sdc", "<i8"), ("injections", "<i8"), ("sites", "<i8"), ("top_bits", "S128"),
])


def _row(criterion: str, ratio: float, graph, data, setting: Setting, out: Path,
         options: StudyOptions, name: str) -> np.ndarray:
    calibration = data.train_images[:setting.calibration]
    result = prune(graph, ratio, criterion, calibration=calibration)
    one_shot = int8_forward(quantize(result.graph, calibration), data.test_images)
    tuned = train(result.graph, data.train_images, data.train_labels,
                  TrainConfig(epochs=setting.finetune[0], qat_epochs=setting.finetune[1],
                              lr=1e-3, seed=options.seed), progress=options.progress)
    program = lower(tuned.int8_graph)
    accuracy = simulator_accuracy(program, data.test_images, data.test_labels)
    images = data.test_images[:setting.campaign_images]
    labels = data.test_labels[:setting.campaign_images]
    sdc = datapath_sdc(f"{name} pruned {criterion} {ratio:g}", program, images, labels,
                       setting.injections, options.seed,
                       out / "campaigns" / f"{criterion}_{ratio:.2f}.h5", options.resume,
                       options.progress, options.workers)
    top = [(bit, rate) for bit, rate in sdc.by_bit if rate.k][:3]
    row = np.zeros(1, ROW)
    row[0] = (criterion.encode(), ratio, result.removed_share,
              parameter_count(result.graph), sum(i.macs for i in program.info),
              total_cycles(program), int((one_shot.argmax(1) == data.test_labels).sum()),
              accuracy.k, accuracy.n, sdc.sdc.k, sdc.sdc.n, sdc.sites,
              json.dumps([[b, r.k, r.n] for b, r in top]).encode())
    return row


def run(options: StudyOptions) -> Path:
    """Each model (``--model``, else lenet5, and in --full the ResNets too) in its own
    folder ``<out>/<model>/``; one summary.md for all."""
    setting = FULL if options.full else QUICK
    models = [options.model] if options.model else list(FULL_MODELS if options.full
                                                           else QUICK_MODELS)
    sections = [_study_model(spec, setting, options) for spec in models]
    summary = Path(options.out) / "summary.md"
    summary.write_text("\n\n".join(sections))
    return summary


def _study_model(spec: str, setting: Setting, options: StudyOptions) -> str:
    name, graph, data = trained_network(spec)
    out = Path(options.out) / name
    (out / "campaigns").mkdir(parents=True, exist_ok=True)
    plan = [(c, r) for c in setting.criteria for r in setting.ratios]
    attrs = {"config": json.dumps({"study": "pruning", "model": name, "seed": options.seed,
                                   "setting": [list(setting.criteria), list(setting.ratios),
                                               setting.injections, setting.campaign_images,
                                               setting.calibration, list(setting.finetune)]}),
             "kind": "study pruning", "model": name, "data": data.note}
    store = ResultStore(out / "pruning.h5", "results", ROW, attrs, {}, 1, options.resume)
    for criterion, ratio in plan[store.done:]:
        done = _rows(out)
        unpruned = done[done["ratio"] == 0.0]
        if ratio == 0.0 and unpruned.size:  # the unpruned network is the same for every criterion
            row = unpruned[:1].copy()
            row["criterion"] = criterion.encode()
        else:
            row = _row(criterion, ratio, graph, data, setting, out, options, name)
        store.append(row)
    store.complete()
    return _summary(_rows(out), name, data.note, setting, out)


def _rows(out: Path) -> np.ndarray:
    rows, _, f = read_rows(out / "pruning.h5", "results")
    f.close()
    return rows


def _collapse(rows: np.ndarray) -> float | None:
    """The first ratio whose accuracy is COLLAPSE_POINTS under the unpruned network's."""
    base = rows[rows["ratio"] == 0]
    if not base.size:
        return None
    ref = base["correct"][0] / base["tested"][0] * 100
    for row in rows[np.argsort(rows["ratio"])]:
        if row["correct"] / row["tested"] * 100 < ref - COLLAPSE_POINTS:
            return float(row["ratio"])
    return None


def _figures(rows: np.ndarray, out: Path) -> list[str]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for criterion in dict.fromkeys(rows["criterion"]):
        sel = rows[rows["criterion"] == criterion]
        label = criterion.decode()
        for ax, (k, n) in zip(axes, (("correct", "tested"), ("sdc", "injections"))):
            rates = [Rate(int(r[k]), int(r[n])) for r in sel]
            value = np.array([r.value for r in rates]) * 100
            low, high = (np.array(v) * 100 for v in zip(*(r.interval for r in rates)))
            err = np.clip([value - low, high - value], 0, None)  # float rounding
            ax.errorbar(sel["ratio"] * 100, value, yerr=err, marker="o", capsize=3,
                        label=label)
    axes[0].set(xlabel="channels pruned (%)", ylabel="top-1 accuracy (%)",
                title="Accuracy (simulator, int8)")
    axes[1].set(xlabel="channels pruned (%)", ylabel="SDC rate per upset (%)",
                title="Datapath single-bit upsets")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(title="criterion")
    fig.tight_layout()
    fig.savefig(out / "pruning.png", dpi=120)
    plt.close(fig)
    return ["pruning.png"]


def _summary(rows: np.ndarray, name: str, note: str, setting: Setting, out: Path) -> str:
    """The model's section of summary.md (figures in its folder)."""
    base = rows[(rows["ratio"] == 0)]
    exposure0 = (base["sdc"][0] / max(base["injections"][0], 1) * base["sites"][0]
                 if base.size else 0.0)
    md = [f"# Study S4: structural pruning of {name} (INT8, nv_small)", "",
          f"Results: {out.name}/pruning.h5 (one row per setting), {out.name}/campaigns/.", "",
          f"Data: {note}.  Global ranking of the channel groups, then fine-tuning "
          f"({setting.finetune[0]} float + {setting.finetune[1]} quantization-aware epochs, "
          f"compiler.train); accuracy on {rows['tested'][0]} test images on the simulator "
          f"(one-shot: pruned and quantized without fine-tuning, numpy int8 reference); "
          f"{setting.injections:,} single-bit datapath upsets per setting over "
          f"{setting.campaign_images} test images.  Intervals: 95% Wilson.", "",
          "| criterion | pruned | params | MACs | cycles | one-shot acc. | accuracy "
          "| SDC rate per upset | fault sites | SDC/inference (rel.) "
          "| most vulnerable bits: bit/width of the value held (SDC rate) |",
          "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        sdc = Rate(int(row["sdc"]), int(row["injections"]))
        per_inference = sdc.value * row["sites"] / exposure0 if exposure0 else float("nan")
        bits = ", ".join(f"{b} ({k / n * 100:.1f}%)"
                         for b, k, n in json.loads(row["top_bits"].decode())) or "-"
        md.append(f"| {row['criterion'].decode()} | {row['ratio'] * 100:.0f}% | "
                  f"{row['params']:,} | {row['macs']:,} | {row['cycles']:,} | "
                  f"{row['one_shot'] / row['tested'] * 100:.1f}% | "
                  f"{Rate(int(row['correct']), int(row['tested'])).percent()} | "
                  f"{sdc.percent(3)} | {row['sites']:,} | {per_inference:.2f} | {bits} |")
    md += ["", "`pruned`: share of the prunable channel groups removed (a residual "
               "stream's channel counts once).  `SDC/inference (rel.)`: SDC rate x fault "
               "sites, relative to the unpruned network (upsets arrive per bit and cycle).",
           ""]
    for criterion in dict.fromkeys(rows["criterion"]):
        collapse = _collapse(rows[rows["criterion"] == criterion])
        md.append(f"* {criterion.decode()}: accuracy collapses (more than "
                  f"{COLLAPSE_POINTS:g} points under unpruned) at "
                  f"{'no ratio tried' if collapse is None else f'{collapse * 100:.0f}%'}")
    md += ["", *(f"![{f}]({out.name}/{f})" for f in _figures(rows, out)), ""]
    return "\n".join(md)
