"""Workers and Dask give exactly the serial rows."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from nvdla_sim.campaign.config import CampaignConfig
from nvdla_sim.campaign.runner import TransientCampaign
from tests.campaign.workloads import toy_workload


@pytest.fixture(scope="module")
def workload():
    return toy_workload(4, seed=1)


def rows(path):
    with h5py.File(path, "r") as f:
        return f["injections"][...]


CONFIG = CampaignConfig(model="toy", injections=240, chunk=40, seed=9)


def test_process_pool_equals_serial(workload, tmp_path):
    TransientCampaign(CONFIG, workload).run(tmp_path / "serial.h5", progress=False)
    TransientCampaign(CONFIG, workload).run(tmp_path / "pool.h5", progress=False, workers=2)
    assert np.array_equal(rows(tmp_path / "serial.h5"), rows(tmp_path / "pool.h5"))


def test_dask_local_cluster_with_two_workers_equals_serial(workload, tmp_path):
    distributed = pytest.importorskip("distributed", reason="needs the cluster extra")
    TransientCampaign(CONFIG, workload).run(tmp_path / "serial.h5", progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        TransientCampaign(CONFIG, workload).run(tmp_path / "dask.h5", progress=False,
                                                scheduler=cluster.scheduler_address)
    assert np.array_equal(rows(tmp_path / "serial.h5"), rows(tmp_path / "dask.h5"))


def test_peak_memory_does_not_grow_with_injections(workload, tmp_path):
    import tracemalloc

    def peak(injections: int, name: str) -> int:
        config = CONFIG.replace(injections=injections)
        campaign = TransientCampaign(config, workload)
        campaign.rows(0, campaign.config.chunk)  # goldens and caches are built before measuring
        tracemalloc.start()
        campaign.run(tmp_path / name, progress=False)
        result = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return result

    small, large = peak(80, "small.h5"), peak(800, "large.h5")
    assert large < 1.5 * small + (1 << 20), (small, large)


def _die_on_next_shard(marker: str) -> None:
    """In a Dask worker: SIGKILL this process as soon as it starts its next shard."""
    import os
    import signal
    from pathlib import Path
    from nvdla_sim.campaign import parallel

    def shard_rows(*args, **kwargs):
        Path(marker).write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    parallel.shard_rows = shard_rows


def test_dask_worker_killed_mid_campaign_changes_nothing(workload, tmp_path):
    """A worker SIGKILLs itself as it starts a shard: Dask re-runs the shard elsewhere
    and the file is still exactly the serial one (no lost or duplicated rows).  The kill
    happens inside the campaign whatever the machine's speed."""
    distributed = pytest.importorskip("distributed", reason="needs the cluster extra")
    config = CONFIG.replace(injections=400)
    TransientCampaign(config, workload).run(tmp_path / "serial.h5", progress=False)
    marker = tmp_path / "killed"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        victim = sorted(client.scheduler_info()["workers"])[0]
        client.run(_die_on_next_shard, str(marker), workers=[victim])
        TransientCampaign(config, workload).run(tmp_path / "dask.h5", progress=False,
                                                scheduler=cluster.scheduler_address)
    assert marker.exists(), "the victim never started a shard"
    assert np.array_equal(rows(tmp_path / "serial.h5"), rows(tmp_path / "dask.h5"))


def _blas_threads() -> int:
    from threadpoolctl import threadpool_info
    return max(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas")


def test_pool_workers_share_the_cores_between_their_blas_threads():
    """Workers x BLAS threads never exceeds the cores (oversubscribed BLAS made two
    workers slower than one on two cores)."""
    import os
    from nvdla_sim.campaign.parallel import worker_pool
    cores = os.cpu_count() or 1
    for workers in (1, 2, cores + 1):
        with worker_pool(workers) as pool:
            threads = pool.submit(_blas_threads).result()
        assert threads == max(1, cores // workers)


def test_rows_do_not_depend_on_the_chunk(workload, tmp_path):
    """The automatic chunk and a set one give the same rows, and a campaign resumes with
    another chunk than it began with."""
    from nvdla_sim.campaign.store import INJECTION_DTYPE, ResultStore
    TransientCampaign(CONFIG, workload).run(tmp_path / "serial.h5", progress=False)
    auto = TransientCampaign(CONFIG.replace(chunk=0), workload)
    assert auto.config.chunk == 8000  # the toy network's tensors are tiny
    auto.config = CONFIG.replace(chunk=0, injections=240)  # as the studies set their counts
    assert auto.config.chunk == 8000
    auto.run(tmp_path / "auto.h5", progress=False)
    assert np.array_equal(rows(tmp_path / "serial.h5"), rows(tmp_path / "auto.h5"))
    first = TransientCampaign(CONFIG, workload)
    store = ResultStore(tmp_path / "part.h5", "injections", INJECTION_DTYPE, first.attrs(),
                        first.fixed_datasets(), CONFIG.chunk, False)
    store.append(first.rows(0, CONFIG.chunk))
    store.close()  # interrupted after its first chunk
    TransientCampaign(CONFIG.replace(chunk=100), workload).run(
        tmp_path / "part.h5", resume=True, progress=False)
    assert np.array_equal(rows(tmp_path / "serial.h5"), rows(tmp_path / "part.h5"))


def test_automatic_chunk_bounds_the_fault_copies():
    from nvdla_sim.campaign.config import CHUNK_BUDGET, auto_chunk
    assert auto_chunk(42_720) == 8000  # LeNet-5: at most 8000
    assert auto_chunk(362_720) == 2000  # ResNet-18 at width 0.125
    assert auto_chunk(5_000_000) == 1000  # at least 1000
    assert all(auto_chunk(b) * b <= CHUNK_BUDGET for b in (200_000, 362_720, 1_000_000))
