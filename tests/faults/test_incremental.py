"""The incremental injector gives exactly the outputs of a full re-inference."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.lower import lower
from nvdla_sim.campaign.space import SiteSpace
from nvdla_sim.faults.injector import FaultInjector
from nvdla_sim.faults.naive import NaiveInjector
from compiler.examples import lrn_net, toy_net, wide_net


@pytest.mark.parametrize("delta,cones", [("always", "cost"), ("never", "cut"),
                                         ("never", "whole")])
@pytest.mark.parametrize("make", [toy_net, wide_net, lrn_net])
def test_incremental_equals_full_reinference(make, delta, cones, monkeypatch):
    if delta == "never":  # convolutions recompute the cone, as those golden + change cannot
        monkeypatch.setattr("nvdla_sim.faults.propagate.DELTA_SHARE", -1.0)
    if cones != "cost":  # every layer cut to its cones / run whole for every fault
        monkeypatch.setattr("nvdla_sim.faults.propagate.GROUP_ELEMENTS",
                            0 if cones == "cut" else 1 << 60)
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


def test_changed_bounds_bound_every_difference():
    from nvdla_sim.faults.propagate import changed_bounds
    rng = np.random.default_rng(3)
    old = rng.integers(-128, 128, (6, 5, 7, 9), dtype=np.int8)
    new = old.copy()
    new[1, 2, 3, 4] += 1
    new[3, 0, 6, 0] ^= 64
    new[3, 4, 1, 8] -= 3
    new[5] = -new[5] - 1
    hit, boxes = changed_bounds(new, old)
    assert hit.tolist() == [False, True, False, True, False, True]
    assert boxes[1].tolist() == [2, 3, 3, 4, 4, 5]
    assert boxes[3].tolist() == [0, 5, 1, 7, 0, 9]
    assert boxes[5].tolist() == [0, 5, 0, 7, 0, 9]


@pytest.mark.parametrize("float32_exact", [None, 1 << 14])
def test_golden_plus_change_equals_the_convolution_it_replaces(float32_exact, monkeypatch):
    """ConvDelta against the executor, on layers with padding, stride 2 and a 1x1 kernel,
    for changes from one value to a fifth of the input; with a low float32 limit, the
    products go in chunks and the per-pixel sums in float64."""
    from nvdla_sim.faults.delta import ConvDelta, applies
    if float32_exact is not None:
        monkeypatch.setattr("nvdla_sim.units.cmac.FLOAT32_EXACT", float32_exact)
    from nvdla_sim.runner import ProgramRunner
    from tests.faults.networks import small_net
    program = small_net()  # conv 3x3 pad 1; conv 3x3 stride 2, top/left pads, pad value 7
    runner = ProgramRunner(program, constant_weights=True)
    rng = np.random.default_rng(3)
    x = rng.integers(-128, 128, program.inputs[0].shape, dtype=np.int8)
    _, traces = runner.run(x, keep=True)
    checked = 0
    for index, layer in enumerate(program.layers):
        if not applies(layer):
            continue
        trace = traces[index]
        data = trace.conv_operands.data
        delta = ConvDelta(layer, trace.conv_operands.weights, program.config)
        assert (delta.grid_dtype == np.float64) == (float32_exact is not None)
        for density in (0.0, 0.001, 0.2):
            faulty = data.copy()
            hit = rng.random(faulty.shape) < density
            hit.flat[rng.integers(hit.size)] = True
            faulty[hit] = rng.integers(-128, 128, hit.sum())
            change = faulty.astype(np.int16) - data
            ys, xs = np.nonzero(change.any(axis=0))
            fault = np.zeros(ys.size, np.int64)
            f, oy, ox, values = delta.changed(fault, ys, xs, change[:, ys, xs].T,
                                              trace.accumulator[None], np.array([0]),
                                              trace.sdp_operands)
            assert (f == 0).all()
            got = trace.sdp_out.astype(np.int8)
            got[:values.shape[1], oy, ox] = values.T
            want = runner.executor.compute(layer, _Cube(faulty, runner))[0][0][1]
            assert np.array_equal(got, want), (layer.name, density)
            checked += 1
    assert checked >= 3


class _Cube:
    """Executor inputs: one convolution input cube, weights and operands from memory."""

    def __init__(self, cube: np.ndarray, runner) -> None:
        from nvdla_sim.executor import MemoryInputs
        self.cube, self.memory = cube, MemoryInputs(runner.memory, runner.config,
                                                    runner.executor.weight_cache)

    def feature(self, surface):
        return self.cube

    def operand_raw(self, dma, sdp):
        return self.memory.operand_raw(dma, sdp)

    def weights(self, conv):
        return self.memory.weights(conv)


def test_stored_pixels_copy_each_fault_once_and_bound_its_changes():
    """store_pixels gets a fault once per output pixel, in any order: each fault gets one
    copy of the tensor, its pixels written, its box the bound of the pixels that differ
    from golden (a pixel rewritten with its golden value adds nothing)."""
    from types import SimpleNamespace
    from nvdla_sim.faults.propagate import FaultBatch, Placement
    rng = np.random.default_rng(5)
    golden = rng.integers(-128, 128, (2, 6, 5, 7), dtype=np.int8)
    runs = [SimpleNamespace(cubes=[golden[0]]), SimpleNamespace(cubes=[golden[1]])]
    batch = FaultBatch(runs, np.array([0, 1, 1, 0]), np.zeros(4, np.int64))
    where = Placement(0, 1, 1, 2)  # the layer's output sits at channel 1, row 1, column 2
    fault = np.array([3, 1, 3, 1, 3])
    oy, ox = np.array([0, 2, 3, 0, 1]), np.array([4, 1, 0, 2, 2])
    values = golden[batch.image[fault], 1:5, 1 + oy, 2 + ox].copy()  # [5, 4]
    values[0, 2] += 1  # fault 3: channel 3 at (1, 6)
    values[4, 0] -= 1  # fault 3: channel 1 at (2, 4)
    values[3, 1] ^= 8  # fault 1: channel 2 at (1, 4); its pixel (3, 3) stays golden
    batch.store_pixels(where, fault, oy, ox, values)
    assert sorted(batch.ids[0].tolist()) == [1, 3]
    assert len(set(batch.row[0][[1, 3]].tolist())) == 2
    assert batch.boxes[0][batch.row[0][3]].tolist() == [1, 4, 1, 3, 4, 7]
    assert batch.boxes[0][batch.row[0][1]].tolist() == [2, 3, 1, 2, 4, 5]
    for f in (1, 3):
        want = golden[batch.image[f]].copy()
        mine = fault == f
        want[1:5, 1 + oy[mine], 2 + ox[mine]] = values[mine].T
        assert np.array_equal(batch.data[0][batch.row[0][f]], want)
    assert batch.changed().tolist() == [False, True, False, True]


def test_rows_any_reads_whole_words_where_it_can():
    from nvdla_sim.faults.propagate import _rows_any
    rng = np.random.default_rng(8)
    for k in (1, 6, 8, 16, 40, 64, 520):
        mask = rng.random((300, k)) < 0.02
        mask[:3] = False
        mask[3, -1] = mask[4, 0] = True
        assert np.array_equal(_rows_any(mask), mask.any(axis=1))
        assert np.array_equal(_rows_any(mask.T.copy().T), mask.any(axis=1))  # not C-order
