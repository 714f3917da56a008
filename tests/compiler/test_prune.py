"""Channel pruning of zoo graphs: dependency groups, selection, and that a pruned graph
computes exactly what the original computes with those channels silenced."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from compiler.ir import CompileError
from compiler.zoo import BatchNorm, Conv, GraphBuilder, Linear, forward, lenet5
from compiler.zoo.channels import channel_dependencies
from compiler.zoo.prune import parameter_count, prune, remove_groups, scores, select
from tests.compiler.zoo_inputs import images, small


def _silenced(deps, removed) -> object:
    """The original graph with the removed groups' channels forced to zero where they
    are produced (filter and bias, batchnorm gamma and beta): what pruning must equal."""
    gone = np.zeros(deps.groups, bool)
    gone[removed] = True
    nodes = []
    for op in deps.graph.nodes:
        mask = gone[deps.labels[op.output]]
        if isinstance(op, (Conv, Linear)):
            w, b = op.weight.copy(), op.bias.copy()
            w[mask], b[mask] = 0, 0
            op = dataclasses.replace(op, weight=w, bias=b)
        elif isinstance(op, BatchNorm):
            op = dataclasses.replace(op, gamma=np.where(mask, 0, op.gamma),
                                     beta=np.where(mask, 0, op.beta))
        nodes.append(op)
    return dataclasses.replace(deps.graph, nodes=tuple(nodes))


def _model(name):
    return lenet5() if name == "lenet5" else small(name)


@pytest.mark.parametrize("name", ["lenet5", "resnet18", "mobilenet_v1", "squeezenet1_1"])
@pytest.mark.parametrize("criterion,scope", [("l1", "global"), ("l2", "layer"),
                                             ("activation", "global")])
def test_pruned_graph_equals_the_original_with_those_channels_silenced(name, criterion, scope):
    graph = _model(name)
    x = images(3, graph.input_shape).astype(np.float64)
    result = prune(graph, 0.6, criterion, scope, calibration=x[:2])
    deps = channel_dependencies(graph)
    assert len(result.removed) > 0.5 * len(deps.prunable())
    expected = forward(_silenced(deps, result.removed), x)
    np.testing.assert_allclose(forward(result.graph, x), expected, rtol=0,
                               atol=1e-9 * np.abs(expected).max())
    assert parameter_count(result.graph) < 0.6 * parameter_count(graph)


def test_resnet_residual_stream_is_one_group_per_channel():
    deps = channel_dependencies(small("resnet18"))
    stream = ["stem.relu", "layer1.0.2.bn", "layer1.0.add", "layer1.1.2.bn", "layer1.1.relu"]
    for c in (0, 17, 63):
        assert {deps.group_of(t, c) for t in stream} == {deps.group_of("stem.conv", c)}
        assert deps.group_of("layer1.0.1.relu", c) != deps.group_of("stem.relu", c)
    # a downsampling block starts a new stream: its shortcut conv joins its branch
    assert deps.group_of("layer2.0.downsample.bn", 5) == deps.group_of("layer2.0.2.bn", 5) \
        == deps.group_of("layer2.1.relu", 5) != deps.group_of("layer1.1.relu", 5)
    # the stream's channels are read by every block's first conv: all shrink together
    pruned = prune(small("resnet18"), 0.5).graph
    widths = {pruned.shapes[t][0] for t in ("stem.relu", "layer1.0.add", "layer1.1.relu")}
    assert len(widths) == 1 and widths.pop() < 64
    assert pruned.op("layer1.0.1.conv").weight.shape[1] == pruned.shapes["stem.relu"][0]
    assert deps.blocked[deps.group_of("fc", 3)] and deps.blocked[deps.group_of("input", 0)]


def test_mobilenet_depthwise_keeps_its_input_channels():
    graph = small("mobilenet_v1")
    deps = channel_dependencies(graph)
    for c in (0, 31):
        assert deps.group_of("stem.relu", c) == deps.group_of("block1.dw.conv", c) \
            == deps.group_of("block1.dw.relu", c)
    assert deps.group_of("block1.pw.relu", 0) != deps.group_of("block1.dw.relu", 0)
    pruned = prune(graph, 0.5).graph
    dw = pruned.op("block2.dw.conv")
    kept = pruned.shapes["block1.pw.relu"][0]
    assert kept < 64 and dw.groups == kept and dw.weight.shape == (kept, 1, 3, 3)
    assert pruned.shapes["block2.dw.relu"][0] == kept


def test_squeezenet_concat_slices_follow_their_expands():
    graph = small("squeezenet1_1")
    deps = channel_dependencies(graph)
    assert deps.group_of("fire2.concat", 5) == deps.group_of("fire2.expand1x1.relu", 5)
    assert deps.group_of("fire2.concat", 64 + 5) == deps.group_of("fire2.expand3x3", 5)
    result = prune(graph, 0.5, scope="layer")
    pruned = result.graph
    e1, e3 = (pruned.shapes[f"fire2.{e}.relu"][0] for e in ("expand1x1", "expand3x3"))
    assert (e1, e3) == (32, 32)  # per-layer: half of each expand
    assert pruned.shapes["fire2.concat"][0] == e1 + e3
    assert pruned.op("fire3.squeeze").weight.shape[1] == e1 + e3
    # conv10 makes the classes: never pruned
    assert result.channels["conv10"] == (10, 10)


def test_flatten_to_linear_drops_whole_feature_planes():
    graph = lenet5()
    result = prune(graph, 0.5, scope="layer")
    kept = result.graph.shapes["conv2"][0]
    assert kept == 8 and result.graph.op("fc1").weight.shape == (60, kept * 25)
    assert result.channels == {"conv1": (6, 3), "conv2": (16, 8), "fc1": (120, 60),
                               "fc2": (84, 42), "fc3": (10, 10)}


def test_lrn_and_grouped_convolutions_block_their_channels():
    b = GraphBuilder("blocked", (4, 8, 8), rng=1)
    x = b.relu("r1", b.conv("c1", "input", 8, 3, pad=1))
    x = b.lrn("lrn", x, size=3)
    x = b.relu("r2", b.conv("grouped", x, 8, 3, pad=1, groups=2))
    x = b.relu("r3", b.conv("c3", x, 8, 1))
    graph = b.build(b.linear("fc", b.flatten("flat", b.global_avg_pool("gap", x)), 3))
    deps = channel_dependencies(graph)
    assert deps.reason[deps.group_of("r1", 0)] == "Lrn lrn"
    assert deps.reason[deps.group_of("r2", 0)] == "grouped Conv grouped"
    assert not deps.blocked[deps.group_of("r3", 0)]
    assert prune(graph, 0.9).channels == {"c1": (8, 8), "grouped": (8, 8), "c3": (8, 1),
                                          "fc": (3, 3)}
    with pytest.raises(CompileError, match="channel group 0 cannot be pruned: it touches "
                                           "graph input"):
        remove_groups(deps, np.array([0]))


def test_selection_ranks_by_score_and_keeps_a_channel_per_layer():
    graph = lenet5()
    deps = channel_dependencies(graph)
    score = scores(deps, "l1")
    assert np.array_equal(select(deps, score, 0.0), [])
    removed = select(deps, score, 0.95)
    layers = {deps.families()[g] for g in deps.prunable().tolist()}
    for tensors in layers:  # every layer keeps one channel
        assert any(deps.families()[g] == tensors for g in deps.prunable().tolist()
                   if g not in set(removed.tolist()))
    conv1 = [deps.group_of("conv1", c) for c in range(6)]
    lowest = conv1[int(np.argmin(score[conv1]))]
    assert lowest in select(deps, score, 0.5, "layer")
    unchanged = prune(graph, 0.0).graph
    assert all(np.array_equal(a.weight, b.weight) for a, b in zip(graph.nodes, unchanged.nodes)
               if isinstance(a, (Conv, Linear)))


def test_bad_pruning_arguments_name_what_was_expected():
    with pytest.raises(CompileError, match=r"pruning ratio must be in \[0, 0.95\], got 1.2"):
        prune(lenet5(), 1.2)
    with pytest.raises(CompileError, match="unknown pruning criterion 'taylor'"):
        prune(lenet5(), 0.5, "taylor")
    with pytest.raises(CompileError, match="unknown pruning scope 'block'"):
        prune(lenet5(), 0.5, scope="block")
    with pytest.raises(CompileError, match="criterion 'activation' needs calibration"):
        prune(lenet5(), 0.5, "activation")


def test_pruned_resnet_exports_to_onnx_with_its_shapes():
    pytest.importorskip("onnx")
    from tests.compiler.test_zoo import _assert_onnx_matches
    from compiler.zoo import to_onnx
    pruned = prune(small("resnet18"), 0.7).graph
    _assert_onnx_matches(pruned, images(2))
    weights = {i.name: tuple(i.dims) for i in to_onnx(pruned).graph.initializer}
    assert weights["stem.conv.weight"] == pruned.op("stem.conv").weight.shape
    assert weights["stem.conv.weight"][0] < 64


def test_pruned_resnet18_runs_on_the_simulator_with_fewer_channels(tmp_path):
    from compiler.export import export_trace
    from compiler.lower import lower
    from compiler.quantize import quantize
    from compiler.verify import check_layers
    from compiler.workloads import random_inputs
    from nvdla_sim.runner import ProgramRunner
    from nvdla_sim.timing.schedule import LayerSchedule
    from nvdla_sim.trace import run_trace
    graph = small("resnet18")
    calibration = random_inputs(graph.input_shape, 16, 1)
    pruned = prune(graph, 0.6, "activation", calibration=calibration).graph
    int8 = quantize(pruned, calibration)
    program, full = lower(int8), lower(quantize(graph, calibration))
    channels = {i.node: program.tensors[i.output].shape[0] for i in program.info}
    assert channels["stem.conv"] == pruned.shapes["stem.relu"][0] < 64
    assert channels["layer4.1.2.conv"] == pruned.shapes["layer4.1.relu"][0] < 512
    assert sum(i.macs for i in program.info) < 0.5 * sum(i.macs for i in full.info)
    cycles = [sum(LayerSchedule(layer, p.config).cycles for layer in p.layers)
              for p in (program, full)]
    assert cycles[0] < 0.7 * cycles[1]
    # against the numpy reference of the pruned graph, node by node, on the reference's
    # inputs and chained on the simulator's own (the end-to-end run): bit-identical except
    # where the exact value lies within the layer's requantization error d of a rounding
    # boundary, and there within floor(d) + 1 LSB (LayerCheck.ok)
    x = int8.tensor(int8.inputs[0]).quant.quantize(calibration[:2])
    isolated = check_layers(int8, program, x)
    assert all(c.ok for c in isolated), isolated
    simulated: dict[str, np.ndarray] = {}
    chained = check_layers(int8, program, x, chained=True, outputs=simulated)
    assert all(c.ok for c in chained), chained
    elements = sum(np.prod(int8.tensor(c.output).shape) for c in chained) * len(x)
    assert sum(c.mismatched for c in chained) < 0.01 * elements  # rare (0.05% here)
    (out,), _ = ProgramRunner(program).run(x[0])
    assert np.array_equal(simulated[int8.outputs[0]][0], out)  # chained = end to end
    # its NVDLA trace replays bit-identical
    export_trace(program, x[0], tmp_path / "pruned")
    result = run_trace(tmp_path / "pruned", keep=True)
    assert result.passed, result.error
    surface = program.outputs[0].surface
    assert np.array_equal(surface.read(result.nvdla.memory, program.config)[:surface.channels],
                          out)
