"""Campaign and inference speed against naive re-inference, PyTorchFI and onnxruntime.

For each model a fixed campaign (uniform datapath single-bit upsets, seeded)
runs the optimized way (:class:`~nvdla_sim.campaign.runner.TransientCampaign`:
golden runs reused, masked faults stopped early, the rest propagated
incrementally and batched); a share of its injections also runs the naive way
(:class:`~nvdla_sim.faults.naive.NaiveInjector`: the whole network re-run from
its input per fault), and every outcome must be identical.  PyTorchFI's
batched single-bit neuron injection runs on the float model with the same
weights and images (:mod:`nvdla_sim.peers`).  The three run in one process in
interleaved repetitions (a slice of each per repetition), so a machine whose
speed drifts slows all alike; rates and ratios are medians over repetitions.
Golden inference: the simulator's images/s against onnxruntime on the same
INT8 model, both given the same images in the same batches, alternating batch
by batch.  Every tool runs with one thread and with glibc keeping the memory it
frees (:func:`steady_allocator`).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import platform
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from statistics import median

import numpy as np

from nvdla_sim.campaign.config import CampaignConfig
from nvdla_sim.campaign.outcomes import classify
from nvdla_sim.campaign.runner import TransientCampaign, Workload
from nvdla_sim.faults.naive import NaiveInjector
from nvdla_sim.peers import PytorchfiPeer, pytorchfi_missing
from nvdla_sim.batched import BATCH_IMAGES
from nvdla_sim.runner import ProgramRunner

REPETITIONS = 5
THREADS = 1  # per tool: see threads()


@dataclass(frozen=True)
class Setup:
    """How much each side runs for one model (split evenly over the repetitions)."""

    images: int
    injections: int  # the optimized campaign
    naive: int  # of those, re-run the naive way
    peer_batch: int  # PyTorchFI's batch (one injection per element)
    peer_batches: int
    golden_images: int
    chunk: int = 0  # injections batched together; 0: a campaign's default (auto_chunk)


# Sizes give every side's timed slice of a repetition 1-4 s on the 2-core development
# machine.  PyTorchFI's batches are its fastest measured here (steady allocator):
# LeNet-5 12,900 / 14,300 / 15,200 / 14,600 injections/s at 128 / 256 / 1,000 / 2,000,
# ResNet-18 1,560 / 1,840 / 2,000 / 2,070 / 2,080 at 32 / 64 / 128 / 256 / 512.
SETUPS = {
    "lenet5": Setup(20, 200000, 1000, 1000, 150, 20000),
    "resnet18": Setup(8, 40000, 250, 256, 60, 2000),
}


@dataclass(frozen=True)
class BenchModel:
    """A network as both sides see it: float graph (PyTorchFI, onnxruntime), int8 graph
    (the simulator), float images and their labels."""

    name: str
    float_graph: object
    int8_graph: object
    images: np.ndarray
    labels: np.ndarray

    def workload(self) -> Workload:
        from compiler.lower import lower
        program = lower(self.int8_graph)
        x = ProgramRunner(program, constant_weights=True).quantize_input(self.images)
        return Workload(f"zoo:{self.name}", program, x, self.labels)


def bench_model(model: str, images: int) -> BenchModel:
    """The trained zoo model (``zoo:NAME``: LeNet-5 on 1x28x28, ResNet-18 at width 0.125
    on 1x32x32) on MNIST test images at its input shape: trained weights mask more faults
    than random ones, so only they give a campaign's real speed."""
    from compiler import zoo
    from compiler.workloads import load_dataset
    x, labels = load_dataset("mnist", zoo.RECIPES[model].kwargs["input_shape"], images)
    return BenchModel(model, zoo.trained_float(model), zoo.trained_int8(model), x, labels)


@dataclass(frozen=True)
class CampaignBench:
    model: str
    images: int
    injections: int
    optimized_per_s: float  # medians over repetitions
    naive_injections: int
    naive_per_s: float
    ratio: float  # median over repetitions of optimized / naive
    identical: bool
    sdc_rate: float
    peer_injections: int
    peer_per_s: float | None  # PyTorchFI (None: not run)
    peer_ratio: float | None  # median over repetitions of optimized / PyTorchFI
    peer_sdc_rate: float | None
    repetitions: int
    ratio_spread: float  # (max - min) / median of the per-repetition ratio to naive
    peer_ratio_spread: float | None


def _spread(values: list[float]) -> float:
    return (max(values) - min(values)) / median(values)


def campaign_speed(model: str, setup: Setup, repetitions: int = REPETITIONS, seed: int = 0,
                   peer: bool = True) -> CampaignBench:
    """All ways on the same network and images; the setup (golden runs, PyTorchFI's
    profiling) is charged evenly to every repetition."""
    if not 0 < setup.naive <= setup.injections:
        raise ValueError("the naive way re-runs some of the campaign's injections: "
                         f"0 < {setup.naive} <= {setup.injections} needed")
    m = bench_model(model, setup.images)
    work = m.workload()
    config = CampaignConfig(model=work.name, injections=setup.injections, seed=seed,
                            chunk=setup.chunk)
    naive = NaiveInjector(work.program)
    start = time.perf_counter()
    campaign = TransientCampaign(config, work)
    chunk = campaign.config.chunk
    chunks = list(range(0, setup.injections, chunk))
    if repetitions > min(len(chunks), setup.naive):
        raise ValueError(f"{repetitions} repetitions need at least as many chunks of "
                         f"{chunk} injections and naive injections")
    for image in range(setup.images):  # the optimized way pays its golden runs
        campaign.golden(image)
        campaign.image_logits(image)
    optimized_setup = time.perf_counter() - start
    pfi = None
    if peer and pytorchfi_missing() is None and setup.peer_batches >= repetitions:
        start = time.perf_counter()
        pfi = PytorchfiPeer(m.float_graph, m.images, setup.peer_batch, seed)
        peer_setup = time.perf_counter() - start
    rows_by_chunk: dict[int, np.ndarray] = {}
    identical, rates = True, {"optimized": [], "naive": [], "peer": []}
    peer_changed = 0
    for part, naive_count, batches in zip(
            np.array_split(np.array(chunks), repetitions),
            map(len, np.array_split(np.arange(setup.naive), repetitions)),
            np.array_split(np.arange(setup.peer_batches), repetitions)):
        stop = min(part[-1] + chunk, setup.injections)  # naive ids spread over this part
        naive_ids = np.linspace(part[0], stop - 1, naive_count).astype(np.int64)
        start = time.perf_counter()
        done = 0
        for a in part.tolist():
            rows_by_chunk[a] = campaign.rows(a, min(a + chunk, setup.injections))
            done += rows_by_chunk[a].size
        seconds = time.perf_counter() - start + optimized_setup / repetitions
        rates["optimized"].append(done / seconds)
        start = time.perf_counter()
        for i in naive_ids.tolist():
            identical &= _naive_agrees(campaign, naive, work, i,
                                       rows_by_chunk[i - i % chunk][i % chunk])
        rates["naive"].append(naive_ids.size / (time.perf_counter() - start))
        if pfi is not None:
            start = time.perf_counter()
            injected, changed = pfi.run(batches.size)
            peer_changed += changed
            rates["peer"].append(injected / (time.perf_counter() - start
                                             + peer_setup / repetitions))
    rows = np.concatenate([rows_by_chunk[a] for a in chunks])
    to_naive = [o / n for o, n in zip(rates["optimized"], rates["naive"])]
    to_peer = [o / p for o, p in zip(rates["optimized"], rates["peer"])]
    peer_injections = setup.peer_batch * setup.peer_batches if pfi is not None else 0
    return CampaignBench(
        model, setup.images, setup.injections, median(rates["optimized"]), setup.naive,
        median(rates["naive"]), median(to_naive), bool(identical),
        float(np.mean(rows["outcome"] == 2)), peer_injections,
        median(rates["peer"]) if pfi else None, median(to_peer) if pfi else None,
        peer_changed / peer_injections if pfi else None, repetitions, _spread(to_naive),
        _spread(to_peer) if pfi else None)


def _naive_agrees(campaign: TransientCampaign, naive: NaiveInjector, work: Workload, i: int,
                  row: np.void) -> bool:
    """Injection ``i`` re-run the naive way gives the optimized way's ``row``."""
    site_id, image = campaign.plan(i)
    outputs = naive.run(campaign.space.site(site_id), work.inputs[image])
    golden = campaign.image_logits(image)
    faulty = campaign.logits(outputs)
    outcome = classify(golden, faulty, int(work.labels[image]),
                       bool(np.array_equal(faulty, golden)))
    return (outcome.category, outcome.flags, outcome.faulty_top1) == (
        row["outcome"], row["flags"], row["faulty_top1"])


@dataclass(frozen=True)
class GoldenBench:
    model: str
    images: int
    batch: int  # images per call, on both sides
    simulator_per_s: float  # medians over repetitions
    onnxruntime_optimized_per_s: float | None
    onnxruntime_exact_per_s: float | None
    exact_ratio: float | None  # median over repetitions of simulator / ORT exact
    exact_ratio_spread: float | None  # (max - min) / median of the per-repetition ratio
    repetitions: int


GOLDEN_BATCH = BATCH_IMAGES  # the simulator's pass: every side gets the same batches


def golden_speed(model: str, images: int, repetitions: int = REPETITIONS, seed: int = 0,
                 threads: int | None = None, batch: int = GOLDEN_BATCH) -> GoldenBench:
    """Images/s of the simulator and onnxruntime on the same INT8 (QDQ) model: ORT's own
    quantization of the float model, which the simulator loads from ONNX.  Both sides get
    the same images in the same batches (each at its best: ORT's exact session runs a
    batch of 256 MNIST images 1.2x (ResNet-18) to 2.4x (LeNet-5) faster than one image at
    a time), alternating batch by batch within each repetition; the test set repeats when
    ``images`` exceeds it.  Both take float images and give float logits."""
    if not 0 < repetitions <= images:
        raise ValueError(f"{repetitions} repetitions need at least as many images "
                         f"(got {images})")
    have_ort = importlib.util.find_spec("onnxruntime") is not None
    from compiler.lower import lower
    from compiler.workloads import random_inputs
    from compiler.zoo import to_onnx
    m = bench_model(model, images)
    if have_ort:
        from compiler.frontends import load_onnx
        from compiler.frontends.ort_quantize import ort_session, quantize_with_ort
        qdq = quantize_with_ort(to_onnx(m.float_graph),
                                random_inputs(m.images.shape[1:], 16, seed + 1))
        program = lower(load_onnx(qdq))
        sessions = [ort_session(qdq, optimized, threads) for optimized in (True, False)]
    else:
        program, sessions = lower(m.int8_graph), []
    runner = ProgramRunner(program, constant_weights=True)  # loaded once, as ORT's session
    x = m.images.astype(np.float32)

    def simulate(images: np.ndarray) -> np.ndarray:
        """Float images in, float logits out, as ORT's QDQ session: the simulator pays
        its input quantization and output dequantization too."""
        return runner.dequantize_output(runner.run_batch(runner.quantize_input(images)))
    sides = [simulate] + [_ort_run(session) for session in sessions]
    for side in sides:  # warmed up: caches, tables, first-call costs
        side(x[:batch])
    order = np.arange(images) % len(x)
    rates: list[list[float]] = [[] for _ in range(1 + len(sessions))]
    for part in np.array_split(order, repetitions):
        seconds = [0.0] * len(rates)
        for turn, start in enumerate(range(0, part.size, batch)):
            xb = x[part[start:start + batch]]
            turns = range(len(sides))
            for i in (turns if turn % 2 == 0 else reversed(turns)):  # none always first
                t = time.perf_counter()
                sides[i](xb)
                seconds[i] += time.perf_counter() - t
        for rate, s in zip(rates, seconds):
            rate.append(part.size / s)
    ratios = [s / e for s, e in zip(rates[0], rates[2])] if sessions else None
    sim, *ort = (median(r) for r in rates)
    return GoldenBench(model, images, batch, sim, *(ort or [None, None]),
                       median(ratios) if ratios else None,
                       _spread(ratios) if ratios else None, repetitions)


def _ort_run(session) -> Callable[[np.ndarray], list]:
    """A session as a function of the input batch."""
    name = session.get_inputs()[0].name
    return lambda images: session.run(None, {name: images})


@contextlib.contextmanager
def threads(n: int | None) -> Iterator[str]:
    """Every tool limited to ``n`` threads (numpy's BLAS, torch; onnxruntime sessions are
    made with ``n``); None: their defaults.  Yields a note for the report.  On a machine
    shared with other processes, multi-threaded BLAS spins against them: measured at load
    17 on 2 cores, a (120x400)x(400x149) float32 GEMM took 44 ms with 2 OpenBLAS threads
    and 0.15 ms with one."""
    if n is None:
        yield "each tool's default threads"
        return
    torch = None
    if importlib.util.find_spec("torch") is not None:
        import torch
    before = torch.get_num_threads() if torch is not None else None
    from threadpoolctl import threadpool_limits
    with threadpool_limits(n):
        if torch is not None:
            torch.set_num_threads(n)
        try:
            yield f"{n} thread(s) per tool"
        finally:
            if torch is not None:
                torch.set_num_threads(before)


# glibc's malloc options (malloc.h) and the values the bench sets: above any tool's
# buffer (32 MiB, glibc's adaptive maximum, still mapped PyTorchFI's 50 MB one per batch)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD = 1 << 30
_TRIM_THRESHOLD = 1 << 30


def steady_allocator() -> str:
    """Keep freed memory in the process (glibc: fixed mmap and trim thresholds), for every
    tool alike; returns a note for the report.  By default glibc maps a large block afresh
    and returns it on free once its adaptive thresholds say so, so each batch of a tool
    pays page faults and zeroing that depend on the process's allocation history: measured
    here, PyTorchFI's LeNet-5 batch of 1,000 took 10,000-21,000 page faults and a third of
    its time in the kernel, and its rate moved between 6,900 and 9,700 injections/s from
    one process to the next; with the thresholds fixed, 0 faults and 14,500-15,600 in
    every process."""
    if platform.libc_ver()[0] != "glibc":
        return "the C library's default allocator (not glibc)"
    libc = ctypes.CDLL(None)
    if not (libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
            and libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)):
        return "glibc's default allocator (mallopt refused the thresholds)"
    return (f"glibc malloc keeps freed memory (mmap threshold {_MMAP_THRESHOLD >> 20} MiB, "
            f"trim threshold {_TRIM_THRESHOLD >> 20} MiB)")


def run(models: list[str], repetitions: int = REPETITIONS, peer: bool = True,
        threads_per_tool: int | None = THREADS) -> dict:
    out: dict = {"campaign": [], "golden": [], "load": _load(),
                 "pytorchfi": pytorchfi_missing() if peer else "not asked for (--no-peer)",
                 "allocator": steady_allocator()}
    with threads(threads_per_tool) as note:
        out["threads"] = note
        for model in models:
            setup = SETUPS[model]
            out["campaign"].append(asdict(campaign_speed(model, setup, repetitions, peer=peer)))
            golden = golden_speed(model, setup.golden_images, repetitions,
                                  threads=threads_per_tool)
            out["golden"].append(asdict(golden))
    out["load_after"] = _load()
    return out


def _load() -> list[float] | None:
    """The machine's 1, 5 and 15-minute load averages (the figures depend on it)."""
    try:
        import os
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def _f(value: float | None, digits: int = 1, suffix: str = "") -> str:
    return "-" if value is None else f"{value:.{digits}f}{suffix}"


def format_report(result: dict) -> str:
    lines = ["campaign speed (uniform datapath single-bit upsets; medians of interleaved "
             "repetitions in one process):",
             f"  {'model':<10} {'nvdla-fi inj/s':>15} {'naive inj/s':>12} {'vs naive':>9} "
             f"{'PyTorchFI inj/s':>16} {'vs PyTorchFI':>13} {'outcomes':>10}"]
    for c in result["campaign"]:
        lines.append(
            f"  {c['model']:<10} {c['optimized_per_s']:>15.1f} {c['naive_per_s']:>12.2f} "
            f"{_f(c['ratio'], 1, 'x'):>9} {_f(c['peer_per_s']):>16} "
            f"{_f(c['peer_ratio'], 2, 'x'):>13} "
            f"{'identical' if c['identical'] else 'DIFFER':>10}")
        lines.append(
            f"  {'':<10} ({c['injections']} injections over {c['images']} images, "
            f"{c['naive_injections']} of them also naive; PyTorchFI {c['peer_injections']}; "
            f"{c['repetitions']} repetitions, ratio spread {c['ratio_spread']:.0%} vs naive, "
            f"{_f(None if c['peer_ratio_spread'] is None else 100 * c['peer_ratio_spread'], 0, '%')}"
            f" vs PyTorchFI; SDC {c['sdc_rate']:.2%}, PyTorchFI top-1 changes "
            f"{_f(None if c['peer_sdc_rate'] is None else 100 * c['peer_sdc_rate'], 2, '%')})")
    if result["pytorchfi"]:
        lines.append(f"  PyTorchFI peer skipped: {result['pytorchfi']}")
    lines.append("golden inference, same INT8 model, same images in the same batches "
                 "(images/s):")
    lines.append(f"  {'model':<10} {'simulator':>10} {'ORT optimized':>14} {'ORT exact':>10} "
                 f"{'vs exact':>9} {'spread':>7}")
    for g in result["golden"]:
        spread = g["exact_ratio_spread"]
        lines.append(f"  {g['model']:<10} {g['simulator_per_s']:>10.1f} "
                     f"{_f(g['onnxruntime_optimized_per_s']):>14} "
                     f"{_f(g['onnxruntime_exact_per_s']):>10} {_f(g['exact_ratio'], 2, 'x'):>9} "
                     f"{_f(None if spread is None else 100 * spread, 0, '%'):>7}")
        lines.append(f"  {'':<10} ({g['images']} images in batches of {g['batch']}, "
                     f"{g['repetitions']} repetitions)")
    lines.append("(ORT optimized uses fused int8 kernels that saturate on CPUs without VNNI; "
                 "ORT exact disables graph optimizations)")
    lines.append(f"machine load (1/5/15 min): before {result['load']}, after "
                 f"{result['load_after']}; {result['threads']}; {result['allocator']}")
    return "\n".join(lines)
