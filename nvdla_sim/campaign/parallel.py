"""Running a campaign's shards on several processes or a Dask cluster.

A shard is a range of injection ids; its rows are a pure function of the
campaign configuration, the workload and the ids (see ``runner``), so any
worker may compute it, a lost worker's shard is simply computed again, and
the result never depends on the number of workers.  The parent writes shards
in id order, so the file is the same as a serial run's; at most a few
shards per worker are in flight, so memory does not grow with the campaign.
"""

from __future__ import annotations

import collections
import os
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from nvdla_sim.campaign.config import CampaignConfig
from nvdla_sim.errors import ConfigError

IN_FLIGHT_PER_WORKER = 2

_worker_campaigns: dict[str, object] = {}  # per worker process: campaign by config


def _campaign(config: CampaignConfig, workload):
    """The worker's campaign for this configuration (built once, reused for every shard)."""
    from nvdla_sim.campaign.runner import make_campaign
    key = config.to_json() + workload.name
    if key not in _worker_campaigns:
        _worker_campaigns.clear()
        _worker_campaigns[key] = make_campaign(config, workload)
    return _worker_campaigns[key]


def shard_rows(config: CampaignConfig, workload, start: int, stop: int) -> np.ndarray:
    return _campaign(config, workload).rows(start, stop)


def shards(start: int, total: int, size: int) -> Iterator[tuple[int, int]]:
    for first in range(start, total, size):
        yield first, min(first + size, total)


def _in_order(submit: Callable[[int, int], object], result: Callable[[object], np.ndarray],
              ranges: Iterator[tuple[int, int]], window: int) -> Iterator[np.ndarray]:
    """Results of ``ranges`` in order, keeping at most ``window`` submitted."""
    pending: collections.deque = collections.deque()
    for first, stop in ranges:
        pending.append(submit(first, stop))
        if len(pending) >= window:
            yield result(pending.popleft())
    while pending:
        yield result(pending.popleft())


def _share_cores(threads: int) -> None:
    """Worker initializer: BLAS threads per worker, so that workers x threads does not
    exceed the cores (oversubscribed BLAS threads spin against each other: two workers
    on two cores were slower than one).  Workers ignore Ctrl-C: the terminal sends it to
    the whole process group, and the parent alone stops the campaign (rows written stay)."""
    from threadpoolctl import threadpool_limits
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threadpool_limits(threads)


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """``workers`` processes sharing the machine's cores between their BLAS threads."""
    threads = max(1, (os.cpu_count() or 1) // workers)
    return ProcessPoolExecutor(max_workers=workers, initializer=_share_cores,
                               initargs=(threads,))


def process_pool_rows(config: CampaignConfig, workload, start: int, workers: int
                      ) -> Iterator[np.ndarray]:
    with worker_pool(workers) as pool:
        yield from _in_order(
            lambda a, b: pool.submit(shard_rows, config, workload, a, b),
            lambda future: future.result(),
            shards(start, config.injections, config.chunk), workers * IN_FLIGHT_PER_WORKER)


def dask_rows(config: CampaignConfig, workload, start: int, scheduler: str
              ) -> Iterator[np.ndarray]:
    """Shards on a Dask distributed cluster (``scheduler``: its address, e.g.
    ``tcp://10.0.0.5:8786``); tasks of a lost worker are retried by Dask."""
    try:
        from distributed import Client
    except ImportError:
        raise ConfigError("--scheduler needs Dask distributed: pip install -e '.[cluster]'") \
            from None
    try:
        client = Client(scheduler, timeout="30s")
    except OSError as exc:
        raise ConfigError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    try:
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        shared = client.scatter(workload, broadcast=True)
        yield from _in_order(
            lambda a, b: client.submit(shard_rows, config, shared, a, b, pure=False,
                                       retries=3),
            lambda future: future.result(),
            shards(start, config.injections, config.chunk), workers * IN_FLIGHT_PER_WORKER)
    finally:
        client.close()
