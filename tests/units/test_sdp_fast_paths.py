"""The golden fast paths (folded SDP after a convolution, table SDP from memory, strided
pooling) give what the stage-by-stage model gives (``keep=True`` runs it), bit for bit,
including settings where the fold must decline (saturation, two roundings, ReLU, ...)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from nvdla_sim.errors import LayerError
from nvdla_sim.executor import Executor, MemoryInputs
from nvdla_sim.runner import ProgramRunner
from nvdla_sim.units import sdp_affine
from tests.faults.networks import flying_net, sample_input, small_net


def _layer_outputs(runner: ProgramRunner, layer, keep: bool) -> list[np.ndarray] | str:
    """What the layer writes, or the error it raises (an operand from a stream that does
    not carry it: both ways must refuse alike)."""
    try:
        writes, _ = runner.executor.compute(layer, MemoryInputs(
            runner.memory, runner.config, runner.executor.weight_cache), keep)
    except LayerError as err:
        return str(err)
    return [np.asarray(cube) for _, cube in writes]


def _both_ways(program, x: np.ndarray, constant_weights: bool) -> None:
    """Every layer, fast and stage by stage on the same memory, then on to the next."""
    runner = ProgramRunner(program, constant_weights)
    runner.write_tensor(program.inputs[0], x)
    for layer in program.layers:
        fast = _layer_outputs(runner, layer, keep=False)
        slow = _layer_outputs(runner, layer, keep=True)
        if isinstance(slow, str):
            assert fast == slow
            return
        assert len(fast) == len(slow)
        for f, s in zip(fast, slow):
            assert f.dtype == s.dtype and np.array_equal(f, s), layer.name
        runner.executor.run(layer, runner.memory)


def _random_stage(rng: np.random.Generator, stage, first: bool, tame: bool):
    """An X stage with random operands (registers or its per-kernel stream), shift and
    ReLU.  Tame stages add and multiply by modest values with the one shift in BN (what
    the fold proves exact); wild ones add MAX / MIN, PReLU, shifts in both stages and
    multipliers that saturate."""
    if tame:
        return dataclasses.replace(
            stage, bypass=False, alu_bypass=bool(rng.random() < 0.2), alu_algo=2,
            mul_bypass=bool(rng.random() < 0.2), mul_prelu=False,
            relu_bypass=first or bool(rng.random() < 0.5), alu_src=int(rng.integers(0, 2)),
            alu_shift=int(rng.integers(0, 3)), alu_operand=int(rng.integers(-2000, 2000)),
            mul_src=int(rng.integers(0, 2)), mul_operand=int(rng.integers(-300, 300)),
            mul_shift=0 if first else int(rng.integers(0, 24)))
    return dataclasses.replace(
        stage, bypass=False, alu_bypass=bool(rng.random() < 0.2),
        alu_algo=int(rng.choice([0, 1, 2, 3])), mul_bypass=bool(rng.random() < 0.2),
        mul_prelu=bool(rng.random() < 0.2), relu_bypass=bool(rng.random() < 0.5),
        alu_shift=int(rng.integers(0, 4)), alu_operand=int(rng.integers(-2000, 2000)),
        mul_src=0, mul_operand=int(rng.integers(-32768, 32768)),
        mul_shift=int(rng.integers(0, 30)))


@pytest.mark.parametrize("seed", range(12))
def test_random_sdp_settings_match_stage_by_stage(seed):
    rng = np.random.default_rng(seed)
    program = small_net(seed=5 + seed % 3)
    layers = list(program.layers)
    for i in (0, 1, 4):  # both convolutions and the Add (SDP from memory)
        sdp, tame = layers[i].sdp, seed % 4 != 3
        bn_only = tame and rng.random() < 0.3  # BS bypassed: the converter may round
        sdp = dataclasses.replace(
            sdp, bs=dataclasses.replace(sdp.bs, bypass=True) if bn_only
            else _random_stage(rng, sdp.bs, True, tame),
            bn=_random_stage(rng, sdp.bn, bn_only, tame),
            cvt_offset=int(rng.integers(-300, 300)),
            cvt_scale=1 if tame and not bn_only else int(rng.choice([1, 3, -2])),
            cvt_shift=0 if tame and not bn_only else int(rng.choice([0, 4])))
        layers[i] = dataclasses.replace(layers[i], sdp=sdp)
    program = dataclasses.replace(program, layers=layers)
    x = sample_input(seed)
    x[..., :2] = rng.choice([-128, 127], x[..., :2].shape)  # extreme inputs reach the bounds
    _both_ways(program, x, constant_weights=bool(seed % 2))


@pytest.mark.parametrize("net", ["small", "flying"])
def test_compiled_layers_match_stage_by_stage(net):
    small = small_net()
    program = small if net == "small" else flying_net(small)
    x = sample_input(3) if net == "small" else np.random.default_rng(1).integers(
        -128, 128, program.inputs[0].shape).astype(np.int8)
    _both_ways(program, x, constant_weights=True)


def test_compiled_convolutions_fold():
    """A compiled convolution's SDP (bias, scale, one shift) folds: the fast path is used."""
    program = small_net()
    executor = Executor(program.config, constant_weights=True)
    inputs = MemoryInputs(program.memory(), program.config, executor.weight_cache)
    layer = program.layers[0]
    operands = [executor._operands(s.dma, layer.sdp, inputs)
                for s in (layer.sdp.bs, layer.sdp.bn, layer.sdp.ew)]
    plan = executor._affine_plan(layer.conv, layer.sdp, operands, inputs)
    assert isinstance(plan, sdp_affine.AffinePlan)


def test_fold_declines_when_a_stage_could_saturate():
    program = small_net()
    layer = program.layers[0]
    huge = dataclasses.replace(layer.sdp.bs, mul_src=0, mul_operand=32767, mul_bypass=False,
                               mul_shift=0, alu_bypass=True)
    sdp = dataclasses.replace(layer.sdp, bs=huge, bn=dataclasses.replace(huge))
    executor = Executor(program.config)
    inputs = MemoryInputs(program.memory(), program.config)
    operands = [executor._operands(s.dma, sdp, inputs) for s in (sdp.bs, sdp.bn, sdp.ew)]
    assert executor._affine_plan(layer.conv, sdp, operands, inputs) is None


def test_batched_slices_match_stage_by_stage(monkeypatch):
    """A batch through the fast paths in patch slices of one or two images equals each
    image run stage by stage through memory."""
    import nvdla_sim.executor as executor_module
    program = small_net()
    x = np.stack([sample_input(s) for s in range(3)])
    runner = ProgramRunner(program, constant_weights=True)
    expected = np.stack([runner.run(image, keep=True)[0][0] for image in x])
    monkeypatch.setattr(executor_module, "PATCH_BYTES", 1)
    assert np.array_equal(runner.run_batch(x), expected)


def test_fold_arithmetic_is_the_integer_formula():
    """A plan runs as its formula in Python integers: negative ties, values beyond
    float64's exact range, accumulators as float32 (GEMM) and as int64, kernels along
    either axis (fault deltas)."""
    rng = np.random.default_rng(11)
    for _ in range(200):
        k, shift, ties = int(rng.integers(1, 5)), int(rng.integers(0, 30)), bool(rng.random() < 0.5)
        acc = rng.integers(-(1 << 24), 1 << 24, (k, 300))
        acc[:, :4] = [-(1 << 24), (1 << 24) - 1, 0, -1]
        mul = rng.integers(-(1 << 34), 1 << 34, (k, 1))  # products up to 2**58
        base = ((1 << (shift - 1)) if shift else 0) + (int(rng.integers(-99, 99)) << shift)
        add = rng.integers(-(1 << 40), 1 << 40, (k, 1))
        add[0, 0] = -3 << (shift - 1) if shift else 0  # acc 0: a negative halfway value
        lo, hi = sorted(int(v) for v in rng.integers(-40000, 40000, 2))
        plan = sdp_affine.AffinePlan(mul, add, base if ties else 0, shift, ties, lo, hi,
                                     np.zeros(1, np.int32), np.dtype(np.int32))
        expected = [[min(max((v + (base if ties else 0) - (ties and v < 0)) >> shift, lo), hi)
                     for v in (int(a) * int(m) + int(c) for a in row)]
                    for row, m, c in zip(acc.tolist(), mul[:, 0], add[:, 0])]
        for dtype in (np.float32, np.int64):
            out = sdp_affine.apply(plan, acc.astype(dtype))
            assert out[:k].tolist() == expected and out[k:].tolist() == [[0] * 300]
        for dtype in (np.int32, np.int64):  # fault deltas: one row per output pixel
            rows = sdp_affine.apply_rows(plan, acc.T.astype(dtype))
            assert rows.T[:k].tolist() == expected and rows.T[k:].tolist() == [[0] * 300]


def test_negative_tie_search_matches_brute_force():
    """The modular search finds exactly the ranges holding a negative v halfway between
    multiples of 2**shift (where the fold must round away from zero)."""
    rng = np.random.default_rng(7)
    for _ in range(3000):
        shift = int(rng.integers(0, 7))
        mul = int(rng.integers(-40, 41)) * int(rng.choice([1, 2, 4, 64]))
        add = int(rng.integers(-300, 300))
        lo = int(rng.integers(-60, 30))
        hi = lo + int(rng.integers(0, 40))
        half = (1 << (shift - 1)) if shift else None
        brute = shift > 0 and any(
            (x * mul + add) < 0 and (x * mul + add) % (1 << shift) == half
            for x in range(lo, hi + 1))
        assert sdp_affine._negative_tie(lo, hi, mul, add, shift) == brute


def test_tables_tell_layers_apart_by_their_lut_contents():
    """Two SDP layers that differ only in their LUT's entries (which take no part in the
    descriptor's equality) each get their own table."""
    program = small_net()
    add = program.layers[4]
    ew = dataclasses.replace(add.sdp.ew, bypass=False, mul_bypass=True, alu_bypass=True,
                             lut_bypass=False)
    rng = np.random.default_rng(3)

    def with_lut(seed_table: int):
        lut = dataclasses.replace(
            add.sdp.lut, le_function=1, le_start=-200, le_end=200, lo_start=-400,
            lo_end=400, le_index_select=3, lo_index_select=1,
            le_table=rng.integers(-30000, 30000, 65).astype(np.int16) * seed_table,
            lo_table=rng.integers(-30000, 30000, 257).astype(np.int16))
        return dataclasses.replace(add, sdp=dataclasses.replace(add.sdp, ew=ew, lut=lut))
    first, second = with_lut(1), with_lut(-1)
    assert first.sdp == second.sdp  # hence the key must carry the tables
    program = dataclasses.replace(program, layers=[*program.layers[:4], first, second],
                                  info=[*program.info[:4], program.info[4], program.info[4]])
    _both_ways(program, sample_input(4), constant_weights=True)


def test_a_layer_cut_to_part_of_its_output_shares_the_whole_layers_table():
    """The table depends on SDP's stages and operands, not on the cube's size or place: the
    fault propagator's cones of a residual add reuse the whole layer's table (and get
    the same values), while a layer with another operand gets its own."""
    from nvdla_sim.faults.region import Box, restrict
    from nvdla_sim.units import sdp_table
    program = small_net()
    add = program.layers[4]  # BN adds a per-element operand from memory
    runner = ProgramRunner(program, constant_weights=True)
    runner.run(sample_input(5))
    cut = restrict(add, Box(0, 11, 1, 4, 2, 6), program.config)
    stage = sdp_table.element_stage(add.sdp)[1]
    assert stage is not None and cut.sdp != add.sdp
    assert sdp_table.key(cut.sdp, stage) == sdp_table.key(add.sdp, stage)
    whole, = _layer_outputs(runner, add, keep=False)
    part, = _layer_outputs(runner, cut, keep=False)
    assert len(runner.executor.table_cache) == 1
    assert np.array_equal(part, whole[:, 1:4, 2:6])
    other = dataclasses.replace(add.sdp, bs=dataclasses.replace(
        add.sdp.bs, alu_operand=add.sdp.bs.alu_operand + 1))
    assert sdp_table.key(other, stage) != sdp_table.key(add.sdp, stage)
