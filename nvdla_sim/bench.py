"""Campaign speed: the optimized injector against full re-inference, in one process.

For each model a fixed campaign (uniform datapath single-bit upsets, seeded)
runs two ways: the naive way re-runs the whole network from its input for
every fault (:class:`~nvdla_sim.faults.naive.NaiveInjector`); the optimized
way reuses golden runs, stops masked faults early and propagates the rest
incrementally and batched (:class:`~nvdla_sim.campaign.runner.TransientCampaign`).
Both classify every injection; the outcomes must be identical.  Also the
simulator's golden throughput against onnxruntime on the same INT8 model.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import asdict, dataclass

import numpy as np

from nvdla_sim.campaign.config import CampaignConfig
from nvdla_sim.campaign.outcomes import classify
from nvdla_sim.campaign.runner import TransientCampaign, Workload
from nvdla_sim.faults.naive import NaiveInjector
from nvdla_sim.runner import ProgramRunner

CHUNK = CampaignConfig.chunk  # injections batched together: a campaign's default chunk
SETUPS = {  # model -> (images, injections, naive injections timed)
    "lenet5": (20, 20000, 800),
    "resnet18": (8, 2400, 60),
}


@dataclass(frozen=True)
class CampaignBench:
    model: str
    images: int
    injections: int
    optimized_per_s: float
    naive_injections: int
    naive_per_s: float
    identical: bool
    sdc_rate: float

    @property
    def ratio(self) -> float:
        return self.optimized_per_s / self.naive_per_s


@dataclass(frozen=True)
class GoldenBench:
    model: str
    images: int
    simulator_per_s: float
    onnxruntime_optimized_per_s: float | None
    onnxruntime_exact_per_s: float | None


def workload(model: str, images: int, seed: int = 0) -> Workload:
    from compiler.lower import lower
    from compiler.workloads import load_model
    graph = load_model(f"zoo:{model}", (1, 28, 28) if model == "lenet5" else None, 10, seed)
    program = lower(graph)
    runner = ProgramRunner(program, constant_weights=True)  # weights are read, never written
    rng = np.random.default_rng(seed)
    x = runner.quantize_input(rng.random((images, *program.inputs[0].shape)))
    labels = runner.run_batch(x).reshape(images, -1).argmax(axis=1)
    return Workload(f"zoo:{model}", program, x, labels)


def campaign_speed(model: str, images: int, injections: int, naive_count: int,
                   seed: int = 0) -> CampaignBench:
    """Both ways on the same injections; their timed pieces alternate (one chunk of the
    optimized way, then its share of the naive injections) so that a machine whose speed
    drifts during the run slows both alike."""
    if not 0 < naive_count <= injections:
        raise ValueError("the naive way re-runs some of the campaign's injections: "
                         f"0 < {naive_count} <= {injections} needed")
    work = workload(model, images, seed)
    config = CampaignConfig(model=f"zoo:{model}", injections=injections, seed=seed, chunk=CHUNK)
    naive = NaiveInjector(work.program)
    starts = list(range(0, injections, CHUNK))
    share = np.array_split(np.arange(naive_count), len(starts))
    optimized_s = naive_s = 0.0
    identical = True
    start = time.perf_counter()
    campaign = TransientCampaign(config, work)  # goldens included: the optimized way pays
    optimized_s += time.perf_counter() - start
    parts = []
    for a, naive_ids in zip(starts, share):
        start = time.perf_counter()
        rows = campaign.rows(a, min(a + CHUNK, injections))
        optimized_s += time.perf_counter() - start
        parts.append(rows)
        start = time.perf_counter()
        for i in naive_ids.tolist():
            site_id, image = campaign.plan(i)
            outputs = naive.run(campaign.space.site(site_id), work.inputs[image])
            golden = campaign.image_logits(image)
            faulty = campaign.logits(outputs)
            outcome = classify(golden, faulty, int(work.labels[image]),
                               bool(np.array_equal(faulty, golden)))
            row = parts[i // CHUNK][i % CHUNK]
            identical &= (outcome.category, outcome.flags, outcome.faulty_top1) == (
                row["outcome"], row["flags"], row["faulty_top1"])
        naive_s += time.perf_counter() - start
    rows = np.concatenate(parts)
    sdc = float(np.mean(rows["outcome"] == 2))
    return CampaignBench(model, images, injections, injections / optimized_s, naive_count,
                         naive_count / naive_s, bool(identical), sdc)


def golden_speed(model: str, images: int = 32, seed: int = 0) -> GoldenBench:
    """Images/s of the simulator and onnxruntime on the same INT8 (QDQ) model."""
    have_ort = importlib.util.find_spec("onnxruntime") is not None
    from compiler.lower import lower
    from compiler.workloads import random_inputs
    from compiler.zoo import get_model, lenet5_mnist_float, to_onnx
    shape = (1, 28, 28) if model == "lenet5" else (3, 32, 32)
    x = random_inputs(shape, images, seed)
    float_graph = (lenet5_mnist_float() if model == "lenet5" else
                   get_model(model, input_shape=shape, num_classes=10,
                             rng=np.random.default_rng(seed)))
    if not have_ort:
        from compiler.workloads import load_model
        program = lower(load_model(f"zoo:{model}", shape, 10, seed))
        qdq = None
    else:
        from compiler.frontends import load_onnx
        from compiler.frontends.ort_quantize import ort_session, quantize_with_ort
        qdq = quantize_with_ort(to_onnx(float_graph), random_inputs(shape, 16, seed + 1))
        program = lower(load_onnx(qdq))
    runner = ProgramRunner(program, constant_weights=True)  # loaded once, as ORT's session
    q = runner.quantize_input(x)
    runner.run(q[0])
    start = time.perf_counter()
    runner.run_batch(q)
    sim = images / (time.perf_counter() - start)
    rates = []
    for optimized in (True, False) if have_ort else ():
        session = ort_session(qdq, optimized)
        name = session.get_inputs()[0].name
        session.run(None, {name: x[:1]})
        start = time.perf_counter()
        for image in x:
            session.run(None, {name: image[None]})
        rates.append(images / (time.perf_counter() - start))
    return GoldenBench(model, images, sim, *(rates or [None, None]))


def run(models: list[str]) -> dict:
    out = {"campaign": [], "golden": []}
    for model in models:
        images, injections, naive = SETUPS[model]
        bench = campaign_speed(model, images, injections, naive)
        out["campaign"].append({**asdict(bench), "ratio": bench.ratio})
        out["golden"].append(asdict(golden_speed(model)))
    return out


def format_report(result: dict) -> str:
    lines = ["campaign speed (uniform datapath single-bit upsets, same process):",
             f"  {'model':<10} {'optimized inj/s':>16} {'naive inj/s':>12} {'ratio':>7} "
             f"{'outcomes':>10}"]
    for c in result["campaign"]:
        lines.append(f"  {c['model']:<10} {c['optimized_per_s']:>16.1f} {c['naive_per_s']:>12.2f} "
                     f"{c['ratio']:>6.1f}x {'identical' if c['identical'] else 'DIFFER':>10}"
                     f"   ({c['injections']} injections over {c['images']} images; naive timed "
                     f"on {c['naive_injections']})")
    lines.append("golden inference, same INT8 model (images/s):")
    lines.append(f"  {'model':<10} {'simulator':>10} {'ORT optimized':>14} {'ORT exact':>10}")
    for g in result["golden"]:
        ort_opt = g["onnxruntime_optimized_per_s"]
        ort_exact = g["onnxruntime_exact_per_s"]
        lines.append(f"  {g['model']:<10} {g['simulator_per_s']:>10.1f} "
                     f"{'-' if ort_opt is None else f'{ort_opt:.1f}':>14} "
                     f"{'-' if ort_exact is None else f'{ort_exact:.1f}':>10}")
    lines.append("(ORT optimized uses fused int8 kernels that saturate on CPUs without VNNI; "
                 "ORT exact disables graph optimizations)")
    return "\n".join(lines)
