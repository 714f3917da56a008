"""Compile precisions: INT16 lowering against the reference, INT4 packing, config choice."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from compiler import ir
from compiler.precisions import PRECISIONS, compile_model, packed_weights, select_config
from compiler.quantize import quantize
from compiler.reference import evaluate
from compiler.verify import check_layers
from compiler.workloads import random_inputs
from compiler.zoo import get_model
from nvdla_sim.errors import ConfigError, NvdlaError
from nvdla_sim.program import Program
from nvdla_sim.runner import ProgramRunner


@pytest.fixture(scope="module")
def lenet16():
    return compile_model("zoo:lenet5:random", "int16", input_shape=(1, 28, 28))


def test_int16_graph_has_16_bit_values(lenet16):
    graph, program = lenet16
    assert graph.bits == 16 and program.config.precision == "int16"
    assert program.config.name == "nv_full"
    conv = next(n for n in graph.nodes if isinstance(n, ir.Conv))
    assert conv.weight.dtype == np.int16 and np.abs(conv.weight).max() == 32767
    assert conv.bias.dtype == np.int64
    assert all(-32768 <= t.quant.zero_point <= 32767 and t.quant.bits == 16
               for t in graph.tensors.values())


def test_int16_lowering_is_within_its_bound_layer_by_layer(lenet16):
    graph, program = lenet16
    x = graph.tensor(graph.inputs[0]).quant.quantize(random_inputs((1, 28, 28), 3, 5))
    assert x.dtype == np.int16
    checks = check_layers(graph, program, x)
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
    assert any(c.mismatched for c in checks)  # the bound is exercised, not vacuous
    sim = ProgramRunner(program).run_batch(x)
    ref = evaluate(graph, x)[graph.outputs[0]]
    assert sim.dtype == np.int16
    assert np.abs(sim.astype(int) - ref).max() <= max(i.error_bound for i in program.info)


def test_int16_quantization_keeps_more_of_the_float_model():
    graph = get_model("lenet5", input_shape=(1, 28, 28), num_classes=10,
                      rng=np.random.default_rng(0))
    cal = random_inputs((1, 28, 28), 16, 1)
    from compiler.quantize import int8_forward
    from compiler.zoo.forward import forward
    exact = forward(graph, cal)
    err = {bits: np.abs(int8_forward(quantize(graph, cal, bits=bits), cal) - exact).max()
           for bits in (8, 16)}
    assert err[16] < err[8] / 50


def test_graphs_mixing_8_and_16_bit_tensors_are_refused(lenet16):
    graph, _ = lenet16
    name = graph.outputs[0]
    tensors = dict(graph.tensors)
    tensors[name] = dataclasses.replace(tensors[name], quant=ir.QuantParams(1.0, 0, 8))
    with pytest.raises(ir.CompileError, match="must be int16 like the input"):
        ir.Graph(graph.name, tensors, graph.nodes, graph.inputs, graph.outputs).validate()


def test_int4_weights_are_packed_two_per_byte(tmp_path):
    graph, program = compile_model("zoo:lenet5:random", "int4", input_shape=(1, 28, 28))
    assert program.config.precision == "int8" and program.weight_bits == 4
    convs = [n for n in graph.nodes if isinstance(n, ir.Conv)]
    assert all(-8 <= n.weight.min() and n.weight.max() <= 7 for n in convs)
    memory = packed_weights(program)
    lanes = memory.lanes >= 0
    assert memory.stored.size * 2 == lanes.size  # two 4-bit weights per byte
    values, _ = memory.decode(memory.stored)
    image = dict(program.image)
    for (address, data) in image.items():
        hit = (memory.lanes >= address) & (memory.lanes < address + data.size)
        assert np.array_equal(values[hit], data.view(np.int8)[memory.lanes[hit] - address])
    program.save(tmp_path / "p.npz")
    assert Program.load(tmp_path / "p.npz").weight_bits == 4
    _, int8 = compile_model("zoo:lenet5:random", "int8", input_shape=(1, 28, 28))
    with pytest.raises(ConfigError, match="not packed 4-bit"):
        packed_weights(int8)


def test_each_precision_selects_hardware_that_implements_it():
    assert select_config("int8").name == "nv_small"
    assert select_config("int4").precision == "int8"
    assert select_config("int16").name == "nv_full"
    assert select_config("int16").precision == "int16"
    with pytest.raises(ConfigError, match="nv_small implements int8, not the int16 "
                                          "datapath; choose the hardware config nv_full"):
        select_config("int16", "nv_small")
    with pytest.raises(ConfigError, match="unknown precision 'int3'"):
        select_config("int3")
    assert set(PRECISIONS) == {"int8", "int16", "fp16", "fp32", "int4"}


@pytest.mark.parametrize("precision", ["fp16", "fp32"])
def test_float_precisions_build_or_say_why_not(precision):
    """FP16/FP32 come from the float datapath's lowering; without it, a one-line reason."""
    try:
        _, program = compile_model("zoo:lenet5:random", precision, input_shape=(1, 28, 28))
    except NvdlaError as exc:
        assert precision in str(exc) and "\n" not in str(exc)
    else:
        assert program.config.precision == precision
