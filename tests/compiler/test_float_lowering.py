"""FP16 / FP32: the float IR, its numpy reference, float bindings and stored float flips."""

from __future__ import annotations

import numpy as np
import pytest

from compiler import zoo
from compiler.descriptors import recip_fp17
from compiler.ir import CompileError, float_params
from compiler.quantize import float_ir
from compiler.reference import evaluate
from nvdla_sim.campaign.stored import flip_value
from nvdla_sim.config import NV_FULL
from nvdla_sim.faults.site import FaultSite
from nvdla_sim.precision import FP16, FP32, INT8
from nvdla_sim.program import TensorBinding
from nvdla_sim.surface import FeatureSurface

FLOATS = {"fp16": FP16, "fp32": FP32}


def small_net() -> zoo.FloatGraph:
    """LeNet-5's layers (conv, ReLU, max pool, fc) at random weights, with a batchnorm."""
    b = zoo.GraphBuilder("small", (1, 12, 12), 3)
    x = b.conv_bn_act("c1", "input", 4, 3, 1, 1)
    x = b.flatten("flat", b.max_pool("p1", x, 2, 2))
    x = b.relu("r2", b.linear("fc1", x, 10))
    return b.build(b.linear("fc2", x, 5))


@pytest.mark.parametrize("precision", FLOATS)
def test_float_ir_rounds_every_value_once(precision):
    graph = small_net()
    ir = float_ir(graph, precision)
    dtype = FLOATS[precision].dtype
    assert ir.precision == precision and ir.is_float
    assert {t.quant for t in ir.tensors.values()} == {float_params(precision)}
    folded = zoo.fold_batchnorm(graph)
    for node in (n for n in ir.nodes if hasattr(n, "weight")):
        source = folded.op(node.name)
        assert node.weight.dtype == dtype and node.bias.dtype == dtype
        assert np.array_equal(node.weight.ravel(), source.weight.astype(dtype).ravel())
        assert np.array_equal(node.bias, source.bias.astype(dtype))
    assert [type(n).__name__ for n in ir.nodes] == ["Conv", "Pool", "Conv", "Conv"]
    assert ir.nodes[0].activation is not None  # the conv's ReLU is fused


@pytest.mark.parametrize("precision", FLOATS)
def test_reference_tracks_the_float64_model(precision):
    graph = small_net()
    ir = float_ir(graph, precision)
    x = np.random.default_rng(0).random((8, 1, 12, 12))
    ref = evaluate(ir, ir.tensor(ir.inputs[0]).quant.quantize(x))[ir.outputs[0]]
    exact = zoo.forward(graph, x.astype(np.float32)).reshape(ref.shape)
    assert ref.dtype == FLOATS[precision].dtype
    # fp16 keeps 11 significant bits per node, fp32 24
    tol = 2e-2 if precision == "fp16" else 1e-5
    assert np.allclose(ref, exact, rtol=tol, atol=tol * np.abs(exact).max())


def test_float_params_are_identity_and_checked():
    q = float_params("fp16")
    assert q.quantize(np.array([1e9, -1e9, 0.1]))[:2].tolist() == [65504.0, -65504.0]
    assert q.quantize(np.array([0.1]))[0] == np.float16(0.1)
    with pytest.raises(CompileError, match="float precisions are fp16, fp32"):
        float_params("fp8")


@pytest.mark.parametrize("prec", [FP16, FP32])
def test_float_binding_round_trips_through_memory(prec):
    from nvdla_sim.memory import Memory
    cfg = NV_FULL
    surf = FeatureSurface.packed(0x1000, 5, 4, 3, cfg, precision=prec)
    binding = TensorBinding("x", surf, 1.0, 0)
    x = np.random.default_rng(1).normal(size=(3, 4, 5)) * 100
    q = binding.quantize(x)
    assert q.dtype == prec.dtype and np.array_equal(q, x.astype(prec.dtype))
    cube = np.zeros((cfg.channels_padded(3, prec), 4, 5), prec.dtype)
    cube[:3] = q
    mem = Memory()
    surf.write(mem, cfg, cube)
    assert np.array_equal(surf.read(mem, cfg)[:3], q)
    # the bytes in memory are the little-endian IEEE encodings
    first = mem.read(0x1000, prec.element_bytes)
    assert first.view(prec.dtype)[0] == q[0, 0, 0]


@pytest.mark.parametrize("prec", [FP16, FP32])
@pytest.mark.parametrize("bit_field", ["sign", "exponent", "mantissa"])
def test_stored_flip_of_a_float_flips_exactly_that_bit(prec, bit_field):
    from nvdla_sim.value_bits import number_format
    fmt = number_format(prec.name)
    value = prec.dtype.type(-1.75)
    for bit in fmt.field_bits(bit_field):
        site = FaultSite(register="mem.weight", instance=0, bit=bit, layer=0)
        new = flip_value(site, value, prec, prec.bits)
        raw = np.array([value, new], prec.dtype).view(f"<u{prec.element_bytes}")
        assert raw[0] ^ raw[1] == 1 << bit
    assert flip_value(FaultSite(register="mem.act", instance=0, bit=7, layer=0),
                      np.int8(3), INT8, 8) == 3 - 128  # integers: the sign-extended lane


def test_pdp_reciprocals_are_fp17():
    assert recip_fp17(2) == 30 << 10  # 2**-1: exponent -1 + 31, mantissa 0
    assert recip_fp17(3) == (29 << 10) | 0x155  # 1.0101010101b * 2**-2 (rounded)


# -- compiled programs (need the float datapaths of nvdla_sim) ---------------------------
def _compiled(precision: str):
    from compiler.lower import lower
    from compiler.precisions import select_config
    ir = float_ir(small_net(), precision)
    return ir, lower(ir, select_config(precision))


@pytest.mark.parametrize("precision", FLOATS)
def test_float_program_registers_and_memory(precision):
    from nvdla_sim.layers import POOL_MAX
    from nvdla_sim.surface import read_weights
    prec = FLOATS[precision]
    ir, program = _compiled(precision)
    assert program.config.name == "nv_full" and program.config.precision == precision
    mem = program.memory()
    convs = [n for n in ir.nodes if hasattr(n, "weight")]
    layers = [l for l in program.layers if l.conv is not None]
    assert len(layers) == len(convs)
    for node, layer in zip(convs, layers):
        c, s = layer.conv, layer.sdp
        assert {c.in_precision, c.proc_precision, s.proc_precision, s.out_precision} == \
            {prec.code}
        w = read_weights(mem, c.weight_address, c.kernels, c.kernel_channels,
                         c.kernel_height, c.kernel_width, program.config, prec)
        assert w.dtype == prec.dtype and np.array_equal(w, node.weight)
        bias = mem.read(s.bs.dma.address, node.bias.size * prec.element_bytes)
        assert np.array_equal(bias.view(prec.dtype), node.bias)
        assert not s.bs.alu_bypass and s.bs.mul_bypass and s.bn.bypass
        assert s.bs.relu_bypass == (node.activation is None)
        assert c.pad_value == 0 and c.clip_truncate == 0
    (pool,) = [l.pdp for l in program.layers if l.pdp is not None]
    assert pool.method == POOL_MAX and pool.input_data == prec.code
    assert all(b.surface.precision is prec for b in program.tensors.values())


@pytest.mark.parametrize("precision", FLOATS)
def test_simulator_agrees_with_the_float_reference(precision):
    from compiler.verify import check_float_layers
    ir, program = _compiled(precision)
    x = ir.tensor(ir.inputs[0]).quant.quantize(np.random.default_rng(2).random((2, 1, 12, 12)))
    checks = check_float_layers(ir, program, x)
    assert [c.node for c in checks] == [n.name for n in ir.nodes]
    assert all(c.ok for c in checks), checks
    assert sum(c.identical for c in checks) > 0.5 * sum(c.elements for c in checks)
    chained = check_float_layers(ir, program, x, chained=True)
    assert all(c.ok for c in chained), chained


def test_float_tolerance_catches_a_wrong_result():
    """The tolerance is tight enough that a one-in-a-thousand error in a weight shows."""
    import dataclasses
    from compiler.verify import check_float_layers
    ir, program = _compiled("fp32")
    conv = ir.nodes[0]
    wrong = dataclasses.replace(conv, weight=(conv.weight * np.float32(1.001)))
    graph = dataclasses.replace(ir, nodes=[wrong, *ir.nodes[1:]])
    x = ir.tensor(ir.inputs[0]).quant.quantize(np.random.default_rng(2).random((1, 1, 12, 12)))
    assert not check_float_layers(graph, program, x)[0].ok


def relu6_avg_net() -> zoo.FloatGraph:
    """ReLU6 (a clamp in BN), a 3x3 average pool and a global average (PDP averages)."""
    b = zoo.GraphBuilder("relu6avg", (2, 14, 14), 5)
    x = b.conv_bn_act("c1", "input", 8, 3, 1, 1, high=6.0)
    x = b.avg_pool("p1", x, 3, 2)
    x = b.conv_bn_act("c2", x, 4, 3, 1, 1, high=6.0)
    x = b.flatten("flat", b.global_avg_pool("gap", x))
    return b.build(b.linear("fc", x, 3))


@pytest.mark.parametrize("precision", FLOATS)
def test_relu6_and_averages_at_float(precision):
    from compiler.lower import lower
    from compiler.precisions import select_config
    from compiler.verify import check_float_layers
    from nvdla_sim.layers import POOL_AVERAGE
    from nvdla_sim.units.sdp import ALU_MIN
    ir = float_ir(relu6_avg_net(), precision)
    program = lower(ir, select_config(precision))
    bn = program.layers[0].sdp.bn
    assert (bn.alu_algo, bn.alu_src, bn.alu_operand) == (ALU_MIN, 0, 0x4600)  # fp16 6.0
    pools = [l.pdp for l in program.layers if l.pdp is not None]
    assert [p.method for p in pools] == [POOL_AVERAGE] * 2
    assert (pools[0].recip_kernel_width, pools[0].recip_kernel_height) == \
        (recip_fp17(3),) * 2
    x = ir.tensor(ir.inputs[0]).quant.quantize(np.random.default_rng(3).random((2, 2, 14, 14)))
    checks = check_float_layers(ir, program, x)
    assert all(c.ok for c in checks), checks


def residual_net() -> zoo.FloatGraph:
    b = zoo.GraphBuilder("residual", (16, 6, 6), 7)
    y = b.conv_bn_act("c1", "input", 16, 3, 1, 1)
    y = b.conv_bn_act("c2", y, 16, 3, 1, 1, act=False)
    x = b.relu("r", b.add("add", "input", y))
    return b.build(b.linear("fc", b.flatten("flat", x), 4))


@pytest.mark.parametrize("precision", FLOATS)
def test_residual_add_at_float(precision):
    from compiler.lower import lower
    from compiler.precisions import select_config
    from compiler.verify import check_float_layers
    ir = float_ir(residual_net(), precision)
    program = lower(ir, select_config(precision))
    (add,) = [l.sdp for l, i in zip(program.layers, program.info) if i.op == "add"]
    assert not add.flying and add.bs.dma.data_mode == 1 and add.bs.dma.data_size == 1
    assert not add.bs.relu_bypass
    x = ir.tensor(ir.inputs[0]).quant.quantize(
        np.random.default_rng(4).normal(size=(2, 16, 6, 6)))
    checks = check_float_layers(ir, program, x)
    assert all(c.ok for c in checks), checks


@pytest.mark.parametrize("precision", FLOATS)
def test_float_program_replays_as_a_trace(precision, tmp_path, capsys):
    """Registers -> trace -> decoded again by the trace player: the same output CRC."""
    from compiler.export import export_trace
    from nvdla_sim.cli import main
    ir, program = _compiled(precision)
    x = np.random.default_rng(5).random(program.inputs[0].shape).astype(FLOATS[precision].dtype)
    export_trace(program, x, tmp_path / "trace")
    # the FP32 reference datapath runs only where the configuration computes fp32
    config = tmp_path / "nv_full_fp.toml"
    config.write_text(f'base = "nv_full"\nprecision = "{precision}"\n')
    assert main(["trace", "run", str(tmp_path / "trace"), "--config", str(config)]) == 0
    assert "1 passed, 0 failed" in capsys.readouterr().out
