"""The incremental injector gives exactly the outputs of a full re-inference."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.lower import lower
from nvdla_sim.campaign.space import SiteSpace
from nvdla_sim.faults.injector import FaultInjector
from nvdla_sim.faults.naive import NaiveInjector
from compiler.examples import lrn_net, toy_net, wide_net


@pytest.mark.parametrize("make", [toy_net, wide_net, lrn_net])
def test_incremental_equals_full_reinference(make):
    program = lower(make())
    fast, naive = FaultInjector(program), NaiveInjector(program)
    rng = np.random.default_rng(7)
    x = rng.integers(-128, 128, program.inputs[0].shape, dtype=np.int8)
    golden = fast.golden(x)
    space = SiteSpace(fast.schedules)
    corrupted = 0
    for _ in range(150):
        site = space.site(int(space.sample(rng.random(1), rng.integers(0, 2**63, 1).astype(np.uint64))[0]))
        got = fast.run(site, golden).outputs
        want = naive.run(site, x)
        assert all(np.array_equal(a, b) for a, b in zip(got, want)), site
        corrupted += not all(np.array_equal(a, b) for a, b in zip(want, golden.outputs))
    assert corrupted > 0  # the comparison saw faults that reach the output


@pytest.mark.parametrize("block", [None, 1])
@pytest.mark.parametrize("make", [toy_net, wide_net])
def test_batched_injections_equal_one_at_a_time(make, block, monkeypatch):
    if block is not None:  # SDP on the batch one fault at a time (operands cut alike)
        monkeypatch.setattr("nvdla_sim.executor.BLOCK_ELEMENTS", block)
    program = lower(make())
    fast, naive = FaultInjector(program), NaiveInjector(program)
    rng = np.random.default_rng(11)
    xs = rng.integers(-128, 128, (3, *program.inputs[0].shape), dtype=np.int8)
    goldens = [fast.golden(x) for x in xs]
    space = SiteSpace(fast.schedules)
    items = [(space.site(int(space.sample(rng.random(1), rng.integers(0, 2**63, 1).astype(np.uint64))[0])), int(rng.integers(3))) for _ in range(120)]
    batched = fast.run_many([(site, goldens[i]) for site, i in items])
    for (site, i), result in zip(items, batched):
        want = naive.run(site, xs[i])
        assert all(np.array_equal(a, b) for a, b in zip(result.outputs, want)), site


def test_changed_boxes_bound_every_difference():
    from nvdla_sim.faults.propagate import changed_boxes
    rng = np.random.default_rng(3)
    old = rng.integers(-128, 128, (6, 5, 7, 9), dtype=np.int8)
    new = old.copy()
    new[1, 2, 3, 4] += 1
    new[3, 0, 6, 0] ^= 64
    new[3, 4, 1, 8] -= 3
    new[5] = -new[5] - 1
    boxes = changed_boxes(new, old)
    assert boxes[0] is None and boxes[2] is None and boxes[4] is None
    assert (boxes[1].c0, boxes[1].c1, boxes[1].y0, boxes[1].y1, boxes[1].x0, boxes[1].x1) == (
        2, 3, 3, 4, 4, 5)
    assert (boxes[3].c0, boxes[3].c1, boxes[3].y0, boxes[3].y1, boxes[3].x0, boxes[3].x1) == (
        0, 5, 1, 7, 0, 9)
    assert boxes[5].size == 5 * 7 * 9
