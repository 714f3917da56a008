"""The speed benchmark runs every way on the same injections and checks their outcomes."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from nvdla_sim import bench
from nvdla_sim.peers import pytorchfi_missing

SMALL = bench.Setup(images=2, injections=2000, naive=10, peer_batch=40, peer_batches=2,
                    golden_images=4, chunk=1000)
TINY = bench.Setup(images=1, injections=1000, naive=5, peer_batch=8, peer_batches=1,
                   golden_images=3, chunk=1000)


def test_campaign_speed_checks_outcomes_of_every_way():
    result = bench.campaign_speed("lenet5", SMALL, repetitions=2)
    assert result.identical
    assert result.injections == 2000 and result.naive_injections == 10
    assert result.optimized_per_s > 0 and result.naive_per_s > 0 and result.ratio > 0
    assert 0.0 <= result.sdc_rate < 0.05
    if pytorchfi_missing() is None:
        assert result.peer_injections == 80 and result.peer_per_s > 0
        assert 0.0 <= result.peer_sdc_rate <= 1.0
    else:
        assert result.peer_per_s is None and result.peer_injections == 0


def test_naive_share_must_come_from_the_campaign():
    with pytest.raises(ValueError, match="0 < 50 <= 40"):
        bench.campaign_speed("lenet5", bench.Setup(1, 40, 50, 8, 2, 4))


def test_repetitions_need_enough_work():
    with pytest.raises(ValueError, match="3 repetitions need"):
        bench.campaign_speed("lenet5", SMALL, repetitions=3)


def test_a_naive_way_that_disagrees_is_reported(monkeypatch):
    real = bench.NaiveInjector.run

    def off_by_one(self, site, x):
        outputs = [o.copy() for o in real(self, site, x)]
        outputs[0].reshape(-1)[0] ^= 1
        return outputs
    monkeypatch.setattr(bench.NaiveInjector, "run", off_by_one)
    result = bench.campaign_speed("lenet5", TINY, repetitions=1, peer=False)
    assert not result.identical


def test_report_says_why_the_peer_was_skipped(monkeypatch):
    monkeypatch.setattr(bench, "pytorchfi_missing", lambda: "pytorchfi is not installed (x)")
    monkeypatch.setitem(bench.SETUPS, "lenet5", TINY)
    result = bench.run(["lenet5"], repetitions=1)
    assert result["campaign"][0]["peer_per_s"] is None
    text = bench.format_report(result)
    assert "PyTorchFI peer skipped: pytorchfi is not installed (x)" in text
    assert "identical" in text and "machine load" in text
    golden = result["golden"][0]
    assert golden["images"] == 3 and golden["simulator_per_s"] > 0


def test_threads_are_limited_and_restored():
    from threadpoolctl import threadpool_info
    before = [i["num_threads"] for i in threadpool_info()]
    with bench.threads(1) as note:
        assert note == "1 thread(s) per tool"
        assert all(i["num_threads"] == 1 for i in threadpool_info())
    assert [i["num_threads"] for i in threadpool_info()] == before
    with bench.threads(None) as note:
        assert note == "each tool's default threads"


def test_golden_speed_repeats_the_test_set_past_its_size():
    """MNIST's test split holds 1,000 images: more are the same ones again (was IndexError)."""
    result = bench.golden_speed("lenet5", 1003, repetitions=2, threads=1)
    assert result.images == 1003 and result.batch == bench.GOLDEN_BATCH
    assert result.simulator_per_s > 0
    if result.onnxruntime_exact_per_s is not None:
        assert result.exact_ratio > 0 and result.exact_ratio_spread >= 0


def test_golden_repetitions_need_images():
    with pytest.raises(ValueError, match="3 repetitions need at least as many images"):
        bench.golden_speed("lenet5", 2, repetitions=3)


STEADY = """
import resource, sys
import numpy as np
from nvdla_sim import bench
note = bench.steady_allocator() if sys.argv[1] == "steady" else ""
faults = []
for _ in range(3):  # a 96 MiB block, written then freed, as a framework's batch buffer
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    np.ones(12 << 20)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(faults[-1], note)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")
def test_steady_allocator_keeps_freed_memory():
    """Without it each large block is mapped afresh: every page faulted again (at least
    one fault per 2 MiB where the kernel gives transparent huge pages)."""
    def faults(mode: str) -> tuple[int, str]:
        out = subprocess.run([sys.executable, "-c", STEADY, mode], capture_output=True,
                             text=True, check=True).stdout.split(maxsplit=1)
        return int(out[0]), out[1].strip() if len(out) > 1 else ""
    default, _ = faults("default")
    steady, note = faults("steady")
    assert steady < 10 and default >= 48, (default, steady)
    assert note.startswith("glibc malloc keeps freed memory")
