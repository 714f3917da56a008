"""FP16 / FP32: the float IR, its numpy reference, float bindings and stored float flips."""

from __future__ import annotations

import numpy as np
import pytest

from compiler import zoo
from compiler.descriptors import fp17_bits
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
    assert fp17_bits(0.5) == 30 << 10  # 2**-1: exponent -1 + 31, mantissa 0
    assert fp17_bits(1 / 3) == (29 << 10) | 0x155  # 1.0101010101b * 2**-2 (rounded)
    with pytest.raises(ValueError):
        fp17_bits(0.0)
