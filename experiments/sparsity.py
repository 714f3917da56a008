"""Study S2: faults in activation-sparse and sharpness-aware trained INT8 networks.

The trained network is fine-tuned four ways with the same epochs
(:func:`compiler.train.train`: float epochs, then quantization-aware ones):

* ``standard``: plain fine-tuning;
* ``sparse``: with an activation L1 penalty steered to a target share of zero
  activations (:class:`compiler.train.sparsity.SparsityPenalty`);
* ``saq``: sharpness-aware minimisation through training, the quantization-
  aware epochs included (SAQ, :func:`compiler.train.sharpness.sam_step`);
* ``sparse+saq``: both.

For each: int8 accuracy on the simulator, activation sparsity of the golden
runs (share of ReLU outputs at the zero point), sharpness S(rho) of the
fake-quantized network (:func:`compiler.train.sharpness.sharpness`), accuracy
under bit flips and stuck-at-0/1 cells in stored weights (weight memory) and
stored activations (every tensor a layer writes) at increasing rates
(``nvdla_sim.ecc.faults``, unprotected memory), and the datapath SDC rate under
single-bit upsets (a TransientCampaign).  Accuracy under faults pools all
trials' images into one Wilson interval.

    nvdla-fi study sparsity [--model zoo:lenet5] [--full] -o DIR
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from compiler.lower import lower
from compiler.zoo.storage import load_float_graph, load_info, load_int8_graph, save_graphs
from experiments.qdnn import Rate, datapath_sdc, simulator_accuracy, trained_network
from experiments.registry import StudyOptions
from nvdla_sim.campaign.store import ResultStore, read_rows

SCHEMES = ("standard", "sparse", "saq", "sparse+saq")
TARGETS = ("weights", "activations")
KINDS = ("flip", "stuck0", "stuck1")


@dataclass(frozen=True)
class Setting:
    epochs: tuple[int, int]   # (float, quantization-aware) fine-tuning epochs
    target_sparsity: float    # share of zero ReLU outputs the penalty steers to
    penalty: tuple[float, float, float]  # its (initial strength, gain, max strength)
    sam_rho: float
    rates: tuple[float, ...]  # stored-value fault rates (per bit / per cell)
    trials: int               # fault draws per (target, kind, rate)
    images: int               # test images per fault trial
    sharpness_rho: tuple[float, ...]
    sharpness_steps: int
    injections: int           # datapath upsets per scheme
    campaign_images: int


# LeNet-5 from its trained weights: target 0.75 gives ~72% zeros at ~96% accuracy in
# 3 epochs; 0.9 with a faster-growing strength killed most units (28% accuracy)
QUICK = Setting((2, 1), 0.75, (0.05, 1.05, 5.0), 0.05, (1e-4, 1e-3, 1e-2), 3, 300,
                (0.1, 0.5), 1, 10_000, 100)
FULL = Setting((10, 3), 0.75, (0.05, 1.02, 5.0), 0.05, (1e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2),
               10, 1000, (0.05, 0.1, 0.25, 0.5), 5, 100_000, 1000)

ROW = np.dtype([
    ("scheme", "S16"), ("target", "S16"), ("kind", "S8"), ("rate", "<f8"),
    ("correct", "<i8"), ("tested", "<i8"), ("wrong_bits", "<i8"),
])
MODEL_ROW = np.dtype([
    ("scheme", "S16"), ("correct", "<i8"), ("tested", "<i8"), ("zeros", "<i8"),
    ("activations", "<i8"), ("sharpness", "S256"), ("sdc", "<i8"), ("injections", "<i8"),
    ("train_seconds", "<f8"),
])


def _train(scheme: str, graph, data, setting: Setting, seed: int, progress: bool):
    from compiler.train import TrainConfig, train
    from compiler.train.sharpness import sam_step
    from compiler.train.sparsity import SparsityPenalty
    hooks = {}
    if "sparse" in scheme:
        strength, gain, most = setting.penalty
        hooks["extra_loss"] = SparsityPenalty(setting.target_sparsity, strength, gain, most)
    if "saq" in scheme:
        hooks["step"] = sam_step(setting.sam_rho)
    return train(graph, data.train_images, data.train_labels,
                 TrainConfig(epochs=setting.epochs[0], qat_epochs=setting.epochs[1], lr=2e-3,
                             seed=seed), progress=progress, **hooks)


def _model(scheme: str, graph, data, setting: Setting, options: StudyOptions, out: Path):
    """The fine-tuned network of ``scheme`` (trained once, then loaded from out/models)."""
    path = out / "models" / f"{scheme}.npz"
    if path.exists():
        return load_float_graph(path), load_int8_graph(path), \
            float(load_info(path)["train_seconds"])
    trained = _train(scheme, graph, data, setting, options.seed, options.progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_graphs(path, trained.float_graph, trained.int8_graph,
                {"scheme": scheme, **trained.info()})
    return trained.float_graph, trained.int8_graph, trained.seconds


def _relu_zeros(program, images: np.ndarray) -> tuple[int, int]:
    """Zero-point values and all values of the ReLU outputs over ``images`` (golden runs)."""
    from nvdla_sim.campaign.sparsity import golden_sparsity
    from nvdla_sim.runner import ProgramRunner
    runner = ProgramRunner(program, constant_weights=True)
    table, _ = golden_sparsity(runner, runner.quantize_input(images))
    # activations whose range starts at 0 (ReLU outputs and their pools), not the input
    relu = table[(table["zero_point"] == -128) & (table["layer"] >= 0)]
    return int(relu["zero"].sum()), int(relu["elements"].sum())


def _model_row(scheme, float_graph, int8, seconds, data, setting, options, out) -> np.ndarray:
    from compiler.train.sharpness import sharpness
    program = lower(int8)
    accuracy = simulator_accuracy(program, data.test_images, data.test_labels)
    zeros, values = _relu_zeros(program, data.test_images[:setting.campaign_images])
    calib = data.train_images[::4][:1000], data.train_labels[::4][:1000]
    sharp = {str(rho): sharpness(float_graph, *calib, rho, setting.sharpness_steps, int8)
             .increase for rho in setting.sharpness_rho}
    images = data.test_images[:setting.campaign_images]
    sdc = datapath_sdc(f"lenet5 {scheme}", program, images,
                       data.test_labels[:setting.campaign_images], setting.injections,
                       options.seed, out / "campaigns" / f"{scheme}.h5", options.resume,
                       options.progress, options.workers)
    row = np.zeros(1, MODEL_ROW)
    row[0] = (scheme.encode(), accuracy.k, accuracy.n, zeros, values,
              json.dumps(sharp).encode(), sdc.sdc.k, sdc.sdc.n, seconds)
    return row


def _fault_rows(scheme: str, int8, data, setting: Setting, seed: int) -> np.ndarray:
    """Accuracy under stored-value faults, every (target, kind, rate), pooled trials."""
    from nvdla_sim.ecc.faults import ActivationFaults
    from nvdla_sim.ecc.layout import protection
    from nvdla_sim.ecc.trials import ProtectedNetwork
    images, labels = data.test_images[:setting.images], data.test_labels[:setting.images]
    net = ProtectedNetwork(int8, protection("none", 8), images, labels)
    rows = np.zeros(len(TARGETS) * len(KINDS) * len(setting.rates), ROW)
    i = 0
    for t, target in enumerate(TARGETS):
        for k, kind in enumerate(KINDS):
            for r, rate in enumerate(setting.rates):
                correct = wrong = 0
                for trial in range(setting.trials):
                    rng = np.random.default_rng([seed, SCHEMES.index(scheme), t, k, r, trial])
                    if target == "weights":
                        result = net.trial(kind, rate, rng)
                        top1, bits = result.top1, result.outcome.wrong_bits
                    else:
                        hook = ActivationFaults(kind, rate, rng)
                        out = net.runner.run(net.x_q, net.memory, hook)
                        top1, bits = out.reshape(len(out), -1).argmax(1), hook.flipped
                    correct += int((top1 == labels).sum())
                    wrong += bits
                rows[i] = (scheme.encode(), target.encode(), kind.encode(), rate, correct,
                           setting.trials * len(labels), wrong)
                i += 1
    return rows


def run(options: StudyOptions) -> Path:
    setting = FULL if options.full else QUICK
    name, graph, data = trained_network(options.model)
    out = Path(options.out)
    attrs = {"config": json.dumps({"study": "sparsity", "model": name, "seed": options.seed,
                                   "setting": setting.__dict__}),
             "kind": "study sparsity", "model": name, "data": data.note}
    models = ResultStore(out / "sparsity.h5", "models", MODEL_ROW, attrs, {}, 1,
                         options.resume)
    faults = ResultStore(out / "sparsity_faults.h5", "faults", ROW, attrs, {}, 1,
                         options.resume)
    per_scheme = len(TARGETS) * len(KINDS) * len(setting.rates)
    for index, scheme in enumerate(SCHEMES):
        if models.done > index and faults.done >= (index + 1) * per_scheme:
            continue
        float_graph, int8, seconds = _model(scheme, graph, data, setting, options, out)
        if models.done == index:
            models.append(_model_row(scheme, float_graph, int8, seconds, data, setting,
                                     options, out))
        if faults.done == index * per_scheme:
            faults.append(_fault_rows(scheme, int8, data, setting, options.seed))
    models.complete()
    faults.complete()
    model_rows = _read(out / "sparsity.h5", "models")
    fault_rows = _read(out / "sparsity_faults.h5", "faults")
    return _summary(model_rows, fault_rows, name, data.note, setting, out)


def _read(path: Path, table: str) -> np.ndarray:
    rows, _, f = read_rows(path, table)
    f.close()
    return rows


def _figure(faults: np.ndarray, out: Path) -> str:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(len(TARGETS), len(KINDS), figsize=(12, 6.5), sharey=True)
    for t, target in enumerate(TARGETS):
        for k, kind in enumerate(KINDS):
            ax = axes[t, k]
            for scheme in SCHEMES:
                sel = faults[(faults["scheme"] == scheme.encode())
                             & (faults["target"] == target.encode())
                             & (faults["kind"] == kind.encode())]
                rates = [Rate(int(r["correct"]), int(r["tested"])) for r in sel]
                value = np.array([r.value for r in rates]) * 100
                low, high = (np.array(v) * 100 for v in zip(*(r.interval for r in rates)))
                err = np.clip([value - low, high - value], 0, None)  # float rounding
                ax.errorbar(sel["rate"], value, yerr=err, marker="o", capsize=3,
                            label=scheme)
            ax.set_xscale("log")
            ax.set_title(f"{kind} in stored {target}", fontsize=10)
            ax.grid(alpha=0.3)
            if t == len(TARGETS) - 1:
                ax.set_xlabel("fault rate (per bit / cell)")
            if k == 0:
                ax.set_ylabel("top-1 accuracy (%)")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "sparsity.png", dpi=120)
    plt.close(fig)
    return "sparsity.png"


def _summary(models: np.ndarray, faults: np.ndarray, name: str, note: str,
             setting: Setting, out: Path) -> Path:
    rhos = list(json.loads(models["sharpness"][0].decode()))
    md = [f"# Study S2: activation-sparse and sharpness-aware {name} (INT8, nv_small)", "",
          f"Data: {note}.  Each scheme fine-tunes the trained network for "
          f"{setting.epochs[0]} float + {setting.epochs[1]} quantization-aware epochs "
          f"(sparse: L1 activation penalty steered to {setting.target_sparsity:.0%} zeros; "
          f"SAQ: SAM with rho = {setting.sam_rho} in every epoch).  Sharpness: loss increase "
          f"of the fake-quantized network on 1000 training images under a "
          f"{setting.sharpness_steps}-step normalised-gradient ascent of radius rho.  "
          f"Intervals: 95% Wilson.", "",
          "| scheme | accuracy (simulator) | ReLU zeros | "
          + " | ".join(f"S(rho={r})" for r in rhos) + " | datapath SDC rate per upset |",
          "|---|---|---|" + "---|" * len(rhos) + "---|"]
    for row in models:
        sharp = json.loads(row["sharpness"].decode())
        md.append(f"| {row['scheme'].decode()} | "
                  f"{Rate(int(row['correct']), int(row['tested'])).percent()} | "
                  f"{row['zeros'] / max(row['activations'], 1) * 100:.1f}% | "
                  + " | ".join(f"{sharp[r]:.4f}" for r in rhos)
                  + f" | {Rate(int(row['sdc']), int(row['injections'])).percent(3)} |")
    md += ["", f"## Accuracy under stored-value faults ({setting.trials} trials x "
               f"{setting.images} test images per cell)", "",
           "| target | fault | rate | " + " | ".join(SCHEMES) + " |",
           "|---|---|---|" + "---|" * len(SCHEMES)]
    for target in TARGETS:
        for kind in KINDS:
            for rate in setting.rates:
                cells = []
                for scheme in SCHEMES:
                    sel = faults[(faults["scheme"] == scheme.encode())
                                 & (faults["target"] == target.encode())
                                 & (faults["kind"] == kind.encode()) & (faults["rate"] == rate)]
                    cells.append(Rate(int(sel["correct"][0]), int(sel["tested"][0])).percent(1)
                                 if sel.size else "-")
                md.append(f"| {target} | {kind} | {rate:g} | " + " | ".join(cells) + " |")
    md += ["", f"![faults]({_figure(faults, out)})", ""]
    summary = out / "summary.md"
    summary.write_text("\n".join(md))
    return summary
