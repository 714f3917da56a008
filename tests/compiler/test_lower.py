"""Lowering: compiled programs agree with the reference layer by layer, within bounds."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from compiler.ir import CompileError, Conv, Pool
from compiler.lower import lower
from compiler.reference import evaluate
from compiler.verify import check_layers
from nvdla_sim.config import NV_SMALL
from nvdla_sim.program import Program
from nvdla_sim.runner import ProgramRunner
from compiler.examples import Builder, lrn_net, toy_net, wide_net


def inputs(graph, n, seed=0):
    shape = graph.tensor(graph.inputs[0]).shape
    return np.random.default_rng(seed).integers(-128, 128, (n, *shape), dtype=np.int8)


@pytest.mark.parametrize("make", [toy_net, wide_net, lrn_net,
                                  lambda: lrn_net(size=9), lambda: lrn_net(size=3)])
def test_every_layer_within_its_bound(make):
    graph = make()
    program = lower(graph)
    checks = check_layers(graph, program, inputs(graph, 4))
    assert checks and all(c.ok for c in checks), [c for c in checks if not c.ok]
    # the bound is tight enough to mean something: most outputs are exact
    for c in checks:
        assert c.bound <= 1


def test_a_deviation_within_the_bound_but_away_from_rounding_boundaries_fails():
    """Off by one LSB everywhere (a wrong output offset) stays within conv2's 1-LSB bound,
    but outputs may differ only where the exact value is within d of a rounding boundary."""
    graph = toy_net()
    program = lower(graph)
    i = next(i for i, info in enumerate(program.info) if info.node == "conv2")
    sdp = program.layers[i].sdp
    program.layers[i] = replace(program.layers[i], sdp=replace(sdp, cvt_offset=sdp.cvt_offset - 1))
    (check,) = [c for c in check_layers(graph, program, inputs(graph, 2)) if c.node == "conv2"]
    assert check.max_deviation <= check.bound == 1
    assert check.unexplained > 0.5 * check.mismatched > 0 and not check.ok


def test_cbuf_overflow_splits_into_row_tiles():
    program = lower(wide_net())
    left = [i for i in program.info if i.node == "left"]
    assert len(left) > 1  # 96 x 96 x 16 input rows do not fit next to the weights at once
    for info in left:
        assert info.data_banks + info.weight_banks <= NV_SMALL.cbuf_banks


def test_lrn_becomes_one_cdp_layer_with_a_tight_bound():
    program = lower(lrn_net())
    (cdp,) = [layer for layer in program.layers if layer.cdp is not None]
    assert cdp.cdp.normalz_len == 1 and not cdp.cdp.sqsum_bypass
    assert [i.error_bound for i in program.info if i.op == "lrn"] == [1]


def test_lrn_window_must_exist_on_cdp():
    from compiler.ir import Lrn
    b = Builder()
    b.tensor("x", (8, 2, 2), 0.1, 0)
    b.tensor("y", (8, 2, 2), 0.1, 0)
    b.add(Lrn("lrn", ("x",), "y", size=4))
    with pytest.raises(CompileError, match=r"node lrn \(LRN\): size 4 is not supported"):
        lower(b.graph("g", ["x"], ["y"]))


def test_depthwise_runs_one_layer_per_atom():
    program = lower(toy_net())
    dw = [i for i in program.info if i.node == "dw"]
    assert len(dw) == 16 // NV_SMALL.mem_atom
    assert all(i.op == "dwconv" for i in dw)


def test_end_to_end_matches_reference_closely():
    graph = toy_net()
    program = lower(graph)
    runner = ProgramRunner(program)
    x = inputs(graph, 16, seed=3)
    sim = runner.run_batch(x)
    ref = evaluate(graph, x)["fc"]
    assert np.abs(sim.astype(int) - ref).max() <= 3
    assert (sim.reshape(16, -1).argmax(1) == ref.reshape(16, -1).argmax(1)).mean() >= 0.8


def test_save_and_load_round_trip(tmp_path):
    graph = toy_net()
    program = lower(graph)
    path = tmp_path / "toy.nvdla.npz"
    program.save(path)
    loaded = Program.load(path)
    assert loaded.layers == program.layers
    assert loaded.info == program.info
    x = inputs(graph, 2)
    assert np.array_equal(ProgramRunner(loaded).run_batch(x), ProgramRunner(program).run_batch(x))


def test_unsupported_group_conv_names_node():
    b = Builder()
    b.tensor("x", (12, 4, 4), 0.1, 0)
    b.tensor("y", (12, 4, 4), 0.1, 0)
    b.conv("grouped", "x", "y", 12, 3, groups=3)
    with pytest.raises(CompileError, match=r"node grouped \(Conv\): groups=3 with 4 input"):
        lower(b.graph("g", ["x"], ["y"]))


def test_average_pool_excluding_padding_is_refused():
    b = Builder()
    b.tensor("x", (8, 4, 4), 0.1, 0)
    b.tensor("y", (8, 4, 4), 0.1, 0)
    b.add(Pool("avg", ("x",), "y", kind="avg", kernel=(3, 3), stride=(1, 1), pads=(1, 1, 1, 1)))
    with pytest.raises(CompileError, match="count_include_pad=0"):
        lower(b.graph("g", ["x"], ["y"]))


def test_weight_group_larger_than_cbuf_is_refused():
    b = Builder()
    b.tensor("x", (512, 7, 7), 0.1, 0)
    b.tensor("y", (16, 1, 1), 0.1, 0)
    b.conv("fc", "x", "y", 16, 7, pad=0)
    with pytest.raises(CompileError, match="node fc: one kernel group of weights"):
        lower(b.graph("g", ["x"], ["y"]))
    assert isinstance(b.nodes[0], Conv)
