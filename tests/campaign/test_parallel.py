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
        campaign.rows(0, config.chunk)  # goldens and caches are built before measuring
        tracemalloc.start()
        campaign.run(tmp_path / name, progress=False)
        result = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return result

    small, large = peak(80, "small.h5"), peak(800, "large.h5")
    assert large < 1.5 * small + (1 << 20), (small, large)


def test_dask_worker_killed_mid_campaign_changes_nothing(workload, tmp_path):
    """SIGKILL a worker while it computes a shard: Dask re-runs the shard elsewhere and
    the file is still exactly the serial one (no lost or duplicated rows)."""
    import os
    import signal
    import threading
    import time

    distributed = pytest.importorskip("distributed", reason="needs the cluster extra")
    config = CONFIG.replace(injections=4000)
    TransientCampaign(config, workload).run(tmp_path / "serial.h5", progress=False)
    errors: list[BaseException] = []
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        def run() -> None:
            try:
                TransientCampaign(config, workload).run(
                    tmp_path / "dask.h5", progress=False, scheduler=cluster.scheduler_address)
            except BaseException as exc:  # reported by the assertion below
                errors.append(exc)
        thread = threading.Thread(target=run)
        thread.start()
        victim, deadline = None, time.monotonic() + 120
        while victim is None and time.monotonic() < deadline and thread.is_alive():
            busy = [w for w, tasks in client.processing().items()
                    if any("shard_rows" in str(t) for t in tasks)]
            victim = busy[0] if busy else None
            time.sleep(0.02)
        assert victim is not None, "no shard was ever seen running"
        pid = client.run(os.getpid, workers=[victim])[victim]
        os.kill(pid, signal.SIGKILL)
        killed_mid_run = thread.is_alive()
        thread.join(300)
    assert not errors, errors
    assert killed_mid_run
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
