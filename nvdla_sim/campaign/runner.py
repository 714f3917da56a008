"""Running transient and stuck-at fault-injection campaigns.

Injection ``i`` is a pure function of the campaign seed and ``i``: its
random generator is seeded with ``(seed, i)``, which picks the input image
and the fault site.  So any injection replays alone, rows can be computed in
any order or on any worker, and a resumed campaign produces exactly the rows
an uninterrupted one would have.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from nvdla_sim import __version__
from nvdla_sim.campaign.config import CampaignConfig, auto_chunk
from nvdla_sim.campaign import draws, parallel
from nvdla_sim.campaign.outcomes import classify_corrupted
from nvdla_sim.campaign.space import SiteSpace
from nvdla_sim.campaign.sparsity import golden_sparsity
from nvdla_sim.campaign.stats import sample_size
from nvdla_sim.campaign.store import INJECTION_DTYPE, ResultStore
from nvdla_sim.faults.golden import GoldenRun
from nvdla_sim.faults.injector import FaultInjector, InjectionResult
from nvdla_sim.faults.site import MODELS
from nvdla_sim.program import Program

KINDS = {"flip": "transient", "stored-flip": "stored"}  # result file kind per fault model
GOLDEN_BUDGET = 1 << 30  # bytes of golden runs kept in memory (least recently used go)
@contextlib.contextmanager
def _cycle_collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while a chunk runs.  A chunk makes tens of
    thousands of small objects (sites, effects, results), and each collection they
    trigger walks every object the campaign keeps (golden runs, restricted layer
    descriptors): LeNet-5 ran 1.5x faster with it paused (67,600 -> 100,800 injections/s,
    one thread; ResNet-18 unchanged).  Reference counting still frees the chunk's
    objects; any cycle waits for the next collection after the chunk."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass
class Workload:
    """What a campaign runs on: a compiled program and quantized inputs with labels."""

    name: str
    program: Program
    inputs: np.ndarray  # quantized (N, C, H, W), the program's input precision
    labels: np.ndarray  # int (N,); for unlabeled data, the golden top-1

    def digest(self) -> str:
        """A hash of the program (descriptors and memory image) and the inputs."""
        h = hashlib.sha256()
        for layer in self.program.layers:
            h.update(repr(layer).encode())
        for address, data in self.program.image:
            h.update(address.to_bytes(8, "little"))
            h.update(np.ascontiguousarray(data).tobytes())
        h.update(self.inputs.tobytes())
        return h.hexdigest()


class TransientCampaign:
    """Transient (flip, multi-bit) and stuck-at campaigns over datapath registers."""

    def __init__(self, config: CampaignConfig, workload: Workload) -> None:
        self.workload = workload
        self.injector = FaultInjector(workload.program)
        flow = self.injector.propagator.flow
        self._auto_chunk = auto_chunk(sum(root.span(flow.config) for root in flow.roots))
        self.config = config
        self.space = self._space()
        self.register_names = [b.register.name for b in self.space.blocks]
        self.register_index = {n: i for i, n in enumerate(dict.fromkeys(self.register_names))}
        self._block_layer = np.array([b.layer for b in self.space.blocks], np.int64)
        self._block_register = np.array([self.register_index[n] for n in self.register_names],
                                        np.int64)
        self.strata = self._strata()
        self._golden: OrderedDict[int, GoldenRun] = OrderedDict()
        self._logits: dict[int, np.ndarray] = {}  # golden logits per image, kept for good

    @property
    def config(self) -> CampaignConfig:
        """The configuration, its chunk resolved (0 set: the network's automatic chunk)."""
        return self._config

    @config.setter
    def config(self, config: CampaignConfig) -> None:
        self._config = config if config.chunk else config.replace(chunk=self._auto_chunk)

    def _space(self) -> SiteSpace:
        cfg = self.config
        return SiteSpace(self.injector.schedules, cfg.fault_model, cfg.bits, cfg.run_level)

    def run_many(self, items: list) -> list[InjectionResult]:
        """Inject (site, golden run) pairs."""
        return self.injector.run_many(items)

    @property
    def physical_bits(self) -> int:
        """Distinct bits the faults can hit (a register counts once, whatever the layers
        using it): the exposure of a FIT estimate."""
        regs = {b.register.name: b.register for b in self.space.blocks}
        return sum(r.bits for r in regs.values())

    def _strata(self) -> list | None:
        if self.config.sampling == "uniform":
            return None
        if self.config.stratify_by == "bit":
            width = max(b.register.width for b in self.space.blocks)
            return [("bit", b) for b in range(width)]
        return [("blocks", v) for v in self.space.strata(self.config.stratify_by).values()]

    # -- golden --------------------------------------------------------------------------
    def golden(self, image: int) -> GoldenRun:
        run = self._golden.get(image)
        if run is None:
            run = self.injector.golden(self.workload.inputs[image])
            self._golden[image] = run
            self._evict()
        else:
            self._golden.move_to_end(image)
        return run

    def _evict(self) -> None:
        """Drop the least recently used golden runs beyond GOLDEN_BUDGET (never the last)."""
        while (len(self._golden) > 1
               and sum(run.nbytes for run in self._golden.values()) > GOLDEN_BUDGET):
            self._golden.popitem(last=False)

    def logits(self, outputs: list[np.ndarray]) -> np.ndarray:
        return self.injector.runner.dequantize_output(outputs[0]).ravel()

    def image_logits(self, image: int) -> np.ndarray:
        """Golden logits of one image: from its golden run when one is kept (no extra
        inference), else from a plain run."""
        logits = self._logits.get(image)
        if logits is None:
            run = self._golden.get(image)
            outputs = (run.outputs if run is not None
                       else self.injector.runner.run(self.workload.inputs[image])[0])
            logits = self._logits[image] = self.logits(outputs)
        return logits

    @property
    def golden_logits(self) -> np.ndarray:
        return np.stack([self.image_logits(i) for i in range(self.workload.inputs.shape[0])])

    # -- injections ----------------------------------------------------------------------
    def plan_many(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(site ids, image indices) of injections ``ids``: hashes of (seed, id)."""
        seed = self.config.seed
        ids = np.asarray(ids, np.int64)
        images = draws.integers(seed, ids, 0, self.workload.inputs.shape[0])
        pick, offset = draws.uniform(seed, ids, 1), draws.hash64(seed, ids, 2)
        if self.strata is None:
            return self.space.sample(pick, offset), images
        sites = np.empty(ids.size, np.int64)
        stratum = ids % len(self.strata)
        for k in np.unique(stratum):  # equal allocation: injection i goes to stratum i mod n
            sel = stratum == k
            kind, value = self.strata[k]
            sites[sel] = (self.space.sample_bit(pick[sel], offset[sel], value) if kind == "bit"
                          else self.space.sample(pick[sel], offset[sel], value))
        return sites, images

    def plan(self, i: int) -> tuple[int, int]:
        """(site id, image index) of injection ``i``."""
        sites, images = self.plan_many(np.array([i]))
        return int(sites[0]), int(images[0])

    def inject(self, i: int) -> tuple[InjectionResult, int, int]:
        site_id, image = self.plan(i)
        site = self.space.site(site_id)
        return self.run_many([(site, self.golden(image))])[0], site_id, image

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Rows of injections [start, stop), injected together (their downstream runs are
        batched), returned by id."""
        with _cycle_collector_paused():
            return self._rows(start, stop)

    def _rows(self, start: int, stop: int) -> np.ndarray:
        site_ids, images = self.plan_many(np.arange(start, stop))
        # every input's golden run captured once, in order (kept here even if evicted later)
        goldens = {image: self.golden(image) for image in sorted(set(images.tolist()))}
        sites = self.space.sites(site_ids)
        results = self.run_many([(site, goldens[image])
                                          for site, image in zip(sites, images.tolist())])
        self._evict()  # injection grew the runs' fault-model state
        rows = np.zeros(len(sites), INJECTION_DTYPE)
        rows["id"], rows["site"], rows["image"] = np.arange(start, stop), site_ids, images
        fields = self.space.decode(site_ids)
        for name in ("instance", "bit", "bits", "cycle"):
            rows[name] = fields[name]
        rows["layer"] = self._block_layer[fields["block"]]
        rows["register"] = self._block_register[fields["block"]]
        rows["model"] = MODELS.index(self.space.model)
        rows["label"] = self.workload.labels[images]
        effects = [r.effect for r in results]
        rows["live"] = [e is not None for e in effects]
        rows["changed"] = [0 if e is None else e.changed for e in effects]
        top1 = {image: int(self.image_logits(image).argmax()) for image in goldens}
        rows["golden_top1"] = [top1[image] for image in images.tolist()]
        rows["faulty_top1"] = rows["golden_top1"]  # masked unless corrupted below
        corrupted = self._corrupted(results, [goldens[image] for image in images.tolist()])
        if corrupted.size:
            out = classify_corrupted(
                np.stack([self.image_logits(int(images[n])) for n in corrupted]),
                self.injector.runner.dequantize_output(  # elementwise: all at once
                    np.stack([results[n].outputs[0] for n in corrupted])).reshape(
                        len(corrupted), -1),
                rows["label"][corrupted])
            for name, values in (("outcome", out.category), ("flags", out.flags),
                                 ("faulty_top1", out.faulty_top1),
                                 ("deviation", out.deviation)):
                rows[name][corrupted] = values
        return rows

    @staticmethod
    def _corrupted(results: list[InjectionResult], goldens: list[GoldenRun]) -> np.ndarray:
        """Positions of the results whose outputs differ from their golden run's: those
        that ran past their layer compared at once, output by output."""
        ran = [n for n, (result, golden) in enumerate(zip(results, goldens))
               if result.outputs is not golden.outputs]
        differ = np.zeros(len(ran), bool)
        for j in range(len(results[ran[0]].outputs) if ran else 0):
            faulty = np.stack([results[n].outputs[j] for n in ran])
            golden = np.stack([goldens[n].outputs[j] for n in ran])
            differ |= (faulty != golden).reshape(len(ran), -1).any(axis=1)
        return np.array(ran, np.int64)[differ]

    # -- files ---------------------------------------------------------------------------
    def attrs(self) -> dict:
        cfg, prog = self.config, self.workload.program
        return {
            "tool": "nvdla-fi", "tool_version": __version__,
            "kind": KINDS.get(cfg.fault_model, "stuck-at"),
            "config": cfg.to_json(),
            "hardware": json.dumps(prog.config.__dict__, sort_keys=True),
            "model": self.workload.name, "model_sha256": self.workload.digest(),
            "dataset": cfg.dataset, "images": self.workload.inputs.shape[0],
            "seed": cfg.seed, "site_space_size": self.space.size,
            "sampling": cfg.sampling if cfg.sampling == "uniform"
            else f"stratified by {cfg.stratify_by}",
            "leveugle_sample_size": sample_size(max(self.space.size, 1), cfg.margin,
                                                cfg.confidence),
            "layers": json.dumps([layer.name for layer in prog.layers]),
            "nodes": json.dumps([info.node for info in prog.info]),
            "physical_bits": self.physical_bits,
            "weight_bits": prog.weight_bits,  # 4: INT4 weights packed in weight memory
        }

    def fixed_datasets(self) -> dict[str, np.ndarray]:
        names = list(self.register_index)
        sparsity, outputs = golden_sparsity(self.injector.runner, self.workload.inputs)
        for image, out in enumerate(outputs):  # the same runs give the golden logits
            self._logits.setdefault(image, self.logits(out))
        return {
            "golden/sparsity": sparsity,
            "registers": np.array(names, dtype=h5py.string_dtype()),
            "golden/logits": self.golden_logits.astype(np.float32),
            "golden/labels": self.workload.labels.astype(np.int16),
            "golden/top1": self.golden_logits.argmax(axis=1).astype(np.int16),
        }

    def run(self, out: Path, resume: bool = False, progress: bool = True, workers: int = 1,
            scheduler: str | None = None) -> Path:
        """Run (or resume) the campaign into ``out``: in this process, on ``workers``
        processes, or on the Dask cluster at ``scheduler``; the rows are the same."""
        store = ResultStore(out, "injections", INJECTION_DTYPE, self.attrs(),
                            self.fixed_datasets(), self.config.chunk, resume)
        try:
            start = store.done
            if scheduler is not None:
                chunks = parallel.dask_rows(self.config, self.workload, start, scheduler)
            elif workers > 1:
                chunks = parallel.process_pool_rows(self.config, self.workload, start, workers)
            else:
                chunks = (self.rows(a, b) for a, b in
                          parallel.shards(start, self.config.injections, self.config.chunk))
            bar = _progress(self.config.injections, start, progress)
            for rows in chunks:
                store.append(rows)
                bar.update(rows.size)
            bar.close()
            store.complete()
        finally:
            store.close()
        return Path(out)


class StoredCampaign(TransientCampaign):
    """One bit flip per inference in a stored weight or activation
    (:mod:`nvdla_sim.campaign.stored`)."""

    def _space(self) -> SiteSpace:
        from nvdla_sim.campaign.stored import StoredFaults
        self.stored = StoredFaults(self.injector)
        return self.stored.space(self.config.bits)

    def run_many(self, items: list) -> list[InjectionResult]:
        return self.stored.run_many(items)

    @property
    def physical_bits(self) -> int:
        return self.space.size  # every stored bit, once


def make_campaign(config: CampaignConfig, workload: Workload) -> TransientCampaign:
    """The campaign of a transient, stuck-at or stored-value configuration."""
    if config.fault_model == "stored-flip":
        return StoredCampaign(config, workload)
    return TransientCampaign(config, workload)


def _progress(total: int, done: int, enabled: bool) -> tqdm:
    return tqdm(total=total, initial=done, disable=not enabled, unit="inj",
                desc="injections", dynamic_ncols=True)
