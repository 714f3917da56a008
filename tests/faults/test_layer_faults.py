"""Convolution-core upsets of one layer over many inputs at once (``LayerFaults``) give
exactly what each input's model gives site by site, and whole chunks of them give the
outputs of a full re-inference."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.examples import toy_net, wide_net
from compiler.lower import lower
from nvdla_sim.campaign.space import SiteSpace
from nvdla_sim.faults.conv import LayerFaults
from nvdla_sim.faults.injector import FaultInjector
from nvdla_sim.faults.naive import NaiveInjector
from nvdla_sim.faults.site import FaultSite
from tests.faults.cycle_reference import Fault
from tests.faults.layer_reference import CONV_REGS, layer_inputs, LayerRef
from tests.faults.networks import sample_input, small_net
from tests.faults.sites import conv_sites

INPUTS = 3


@pytest.fixture(scope="module")
def small():
    program = small_net()
    inj = FaultInjector(program)
    goldens = [inj.golden(sample_input(seed)) for seed in range(INPUTS)]
    refs = [LayerRef(program, i, before, trace)
            for i, (before, trace) in enumerate(layer_inputs(program, sample_input(0)))]
    return inj, goldens, refs


def _sites(refs, layer: int) -> list[FaultSite]:
    """Every convolution-core register: live, edge and idle cycles, multi-bit upsets, and
    upsets of the running sums' top bits (their later sums saturate)."""
    faults = [f for register in CONV_REGS
              for f in conv_sites(refs[layer].conv, register, *CONV_REGS[register], 16,
                                  seed=layer + 3)]
    faults += [Fault(f.register, f.instance, CONV_REGS[f.register][0] - 2, 1, "flip", f.cycle)
               for f in faults if f.register in ("cacc.abuf", "cacc.sum")]
    return [FaultSite(layer, f.register, f.instance, f.bit, f.cycle or 0, f.model, f.bits)
            for f in faults]


@pytest.mark.parametrize("stack", [True, False], ids=["stacked", "per_input"])
@pytest.mark.parametrize("layer", [0, 1], ids=["conv1", "conv2_stride2_clip3"])
def test_layer_faults_over_inputs_equal_one_at_a_time(small, layer, stack, monkeypatch):
    """Operands stacked over the inputs, or gathered input by input (large layers)."""
    if not stack:
        monkeypatch.setattr("nvdla_sim.faults.conv.STACK_BYTES", 0)
    inj, goldens, refs = small
    parts = [inj._conv_faults(layer, g.traces[layer], None) for g in goldens]
    slow = [inj._conv_faults(layer, g.traces[layer], None) for g in goldens]
    for f in slow:  # hardware-order re-accumulation for every upset: the oracle
        f._linear = lambda excess: False
    sites = _sites(refs, layer)
    image = np.random.default_rng(layer).integers(0, INPUTS, len(sites))
    got = LayerFaults(parts).transients(sites, image).split()
    live = 0
    for site, i, patch in zip(sites, image.tolist(), got):
        want = slow[i].transient(site)
        assert (patch is None) == (want is None), site.describe()
        if want is None:
            continue
        live += 1
        for a, b in zip(patch[:3], want[:3]):
            assert np.array_equal(a, b), site.describe()
        assert (patch.final is None) == (want.final is None), site.describe()
        if want.final is not None:
            assert np.array_equal(patch.final, want.final), site.describe()
    assert len(sites) // 4 < live < len(sites)
    registers = {s.register for s, p in zip(sites, got) if p is not None}
    assert registers == set(CONV_REGS)


@pytest.mark.parametrize("make", [toy_net, wide_net])
def test_convolution_core_chunk_equals_naive(make):
    """A chunk of convolution-core upsets only (all inputs mixed) against re-inference."""
    program = lower(make())
    fast, naive = FaultInjector(program), NaiveInjector(program)
    rng = np.random.default_rng(21)
    xs = rng.integers(-128, 128, (4, *program.inputs[0].shape), dtype=np.int8)
    goldens = [fast.golden(x) for x in xs]
    space = SiteSpace(fast.schedules)
    ids = space.sample(rng.random(3000), rng.integers(0, 2**63, 3000).astype(np.uint64))
    sites = [s for s in space.sites(ids) if s.unit in ("cmac", "cacc")][:150]
    images = rng.integers(0, len(xs), len(sites)).tolist()
    results = fast.run_many([(site, goldens[i]) for site, i in zip(sites, images)])
    changed = 0
    for site, i, result in zip(sites, images, results):
        want = naive.run(site, xs[i])
        assert all(np.array_equal(a, b) for a, b in zip(result.outputs, want)), site
        changed += result.effect is not None and result.effect.changed > 0
    assert changed > 0


def _stream_sites(program, inj, layer: int, count: int, seed: int) -> list[FaultSite]:
    """Random transient SDP register upsets of ``layer``: every register, cycles over the
    stream and past its end, multi-bit ones."""
    rng = np.random.default_rng(seed)
    sched = inj.schedules[layer]
    regs = [r for r in sched.registers if r.name.startswith("sdp.")]
    end = sched.sdp_stream.end + 12
    out = []
    for _ in range(count):
        reg = regs[rng.integers(len(regs))]
        bit = int(rng.integers(reg.width))
        out.append(FaultSite(layer, reg.name, 0, bit, int(rng.integers(end)), "flip",
                             int(min(rng.integers(1, 4), reg.width - bit))))
    return out


@pytest.mark.parametrize("net", ["small", "flying"])
def test_sdp_upsets_over_inputs_equal_one_at_a_time(small, net):
    """SDP register upsets of many inputs in one pass give each upset's own layer output
    (``layer_effect``, one SDP run per upset), with a PDP on the fly or not."""
    from tests.faults.networks import flying_net
    inj = small[0]
    if net == "flying":
        inj = FaultInjector(flying_net(inj.program))
    layer = 1 if net == "small" else 0
    xs = [sample_input(seed) for seed in range(INPUTS)]
    if net == "flying":  # its input: the small net's first layer output
        xs = [small[0].golden_tensor(g, small[0].program.tensors["c1"].surface)
              for g in small[1]]
    goldens = [inj.golden(x) for x in xs]
    sites = _stream_sites(inj.program, inj, layer, 120, seed=4)
    image = np.random.default_rng(5).integers(0, INPUTS, len(sites)).tolist()
    got = inj._sdp_effects(layer, [(s, goldens[i]) for s, i in zip(sites, image)],
                           list(range(len(sites))))
    changed = 0
    for site, i, effect in zip(sites, image, got):
        want = inj.layer_effect(site, layer, goldens[i].traces[layer])
        assert (effect is None) == (want is None), site.describe()
        if want is None:
            continue
        assert effect.changed == want.changed and effect.detail == want.detail, site.describe()
        for (sa, a), (sb, b) in zip(effect.writes, want.writes):
            assert sa == sb and np.array_equal(a, b), site.describe()
        changed += want.changed > 0
    assert changed > 0 and sum(e is None for e in got) > 0


@pytest.mark.parametrize("make", [toy_net, wide_net])
def test_sdp_chunk_equals_naive(make):
    program = lower(make())
    fast, naive = FaultInjector(program), NaiveInjector(program)
    rng = np.random.default_rng(8)
    xs = rng.integers(-128, 128, (4, *program.inputs[0].shape), dtype=np.int8)
    goldens = [fast.golden(x) for x in xs]
    layers = [i for i, layer in enumerate(program.layers) if layer.sdp is not None]
    sites = [s for n, layer in enumerate(layers)
             for s in _stream_sites(program, fast, layer, 40, seed=n)]
    images = rng.integers(0, len(xs), len(sites)).tolist()
    results = fast.run_many([(site, goldens[i]) for site, i in zip(sites, images)])
    for site, i, result in zip(sites, images, results):
        want = naive.run(site, xs[i])
        assert all(np.array_equal(a, b) for a, b in zip(result.outputs, want)), site
