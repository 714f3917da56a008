"""An injected fault gives exactly the output of recomputing the layer by hand.

For every register kind of ``nvdla_sim/timing/registers.py`` the injector's
layer output (``FaultInjector.layer_effect``) is compared with an independent
reference (``tests/faults/layer_reference.py`` on top of the cycle-by-cycle
model of ``tests/faults/cycle_reference.py``, both written from
``docs/timing-and-faults.md``), over many sites: every instance, bits from
the LSB to the sign bit, multi-bit upsets, and cycles in live windows, at
their boundaries and in dead/idle regions.  The injector must return None
exactly when the reference says the register held nothing live.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pytest

from nvdla_sim.executor import Executor
from nvdla_sim.faults.conv import ConvFaults
from nvdla_sim.faults.injector import FaultInjector
from nvdla_sim.faults.site import FaultSite
from tests.faults.cycle_reference import Fault, stripe_lengths
from tests.faults.layer_reference import (
    CDP_OFFSET, CDP_REGS, CONV_REGS, PDP_REGS, SDP_OFFSET, SDP_REGS, LayerRef, layer_inputs,
    layer_registers, run_with_stuck_at)
from tests.faults.networks import flying_net, sample_input, small_net
from tests.faults.sites import conv_sites, stream_sites, stuck_sites


@dataclass
class Net:
    program: object
    inj: FaultInjector
    golden: object
    refs: list[LayerRef]
    x: np.ndarray


def _net(program, x) -> Net:
    inj = FaultInjector(program)
    golden = inj.golden(x)
    refs = [LayerRef(program, i, before, trace)
            for i, (before, trace) in enumerate(layer_inputs(program, x))]
    for ref, trace in zip(refs, golden.traces):  # the same fault-free run as the injector's
        assert np.array_equal(ref.golden, trace.pdp_out if ref.layer.pdp else trace.sdp_out)
    return Net(program, inj, golden, refs, x)


@pytest.fixture(scope="module")
def small() -> Net:
    return _net(small_net(), sample_input())


@pytest.fixture(scope="module")
def flying(small) -> Net:
    prog = flying_net(small.program)
    c1 = small.program.tensors["c1"]
    x = small.inj.golden_tensor(small.golden, c1.surface)
    return _net(prog, x)


def _site(layer: int, f: Fault) -> FaultSite:
    return FaultSite(layer, f.register, f.instance, f.bit, f.cycle or 0, f.model, f.bits)


def check(net: Net, layer: int, faults: list[Fault], *, min_changed: int = 1) -> int:
    """Injector vs reference for every fault; one message listing every mismatch.
    Returns how many sites the reference found dead."""
    ref = net.refs[layer]
    trace = net.golden.traces[layer]
    bad, changed, dead = [], 0, 0
    for f in faults:
        site = _site(layer, f)
        effect = net.inj.layer_effect(site, layer, trace)
        expected = ref.output(f)
        got = None if effect is None else effect.writes[0][1]
        if expected is None and not f.transient:
            expected = ref.golden  # stuck-at in a register that never holds anything
            if got is None:
                got = expected
        if expected is None:
            dead += 1
            if got is not None:
                bad.append(f"{site.describe()}: reference says dead (nothing live), injector "
                           f"returned an effect changing {effect.changed} element(s)")
            continue
        if not np.array_equal(expected, ref.golden):
            changed += 1
        if got is None:
            bad.append(f"{site.describe()}: injector says dead, reference changes "
                       f"{np.count_nonzero(expected != ref.golden)} element(s)")
        elif not np.array_equal(got, expected):
            diff = np.argwhere(got != expected)
            bad.append(f"{site.describe()}: {len(diff)} element(s) differ, first at "
                       f"{tuple(diff[0])}: injector {got[tuple(diff[0])]}, "
                       f"reference {expected[tuple(diff[0])]}")
    assert not bad, f"{len(bad)} of {len(faults)} sites differ:\n" + "\n".join(bad[:25])
    assert changed >= min_changed, f"only {changed} of {len(faults)} sites changed the output"
    return dead


# -- the register list itself ------------------------------------------------------------------
def test_register_list_matches_document(small, flying):
    for net in (small, flying):
        for sched, layer in zip(net.inj.schedules, net.program.layers):
            listed = {r.name: (r.width, r.instances) for r in sched.registers}
            assert listed == layer_registers(layer), layer.name


def test_reference_schedule_facts(small):
    """The reference's own schedule, checked against the document's formulas by hand."""
    assert stripe_lengths(35, 8) == [16, 8, 11] and stripe_lengths(6, 8) == [6]
    assert stripe_lengths(64, 8) == [16, 16, 16, 16] and stripe_lengths(20, 8) == [8, 12]
    ref = small.refs[0].conv
    assert [(ref.ops[s].start, ref.ops[s].length) for s in (0, 1, 18, 19, 36)] == [
        (8, 16), (24, 16), (8 + 18 * 16, 8), (8 + 18 * 16 + 8, 8), (8 + 18 * 24, 11)]
    assert ref.shadow_load(0, 5) == 5 and ref.shadow_load(1, 5) == 8 + 4 + 5
    assert ref.promotion(1) == 24 + 4
    ref2 = small.refs[1].conv  # one 6-pixel stripe: every stripe operation lasts atom_k
    assert all(b.start - a.start == 8 for a, b in zip(ref2.ops, ref2.ops[1:]))


def test_reference_reproduces_golden_cycles(small):
    """The reference's schedule covers the layer: the last result leaves CACC in time."""
    for i in (0, 1):
        ref = small.refs[i].conv
        last = max(small.refs[i].conv_golden.out_cycle.values())
        s = len(ref.ops) - 1
        assert last == ref.issue(s, ref.ops[s].length - 1) + 9
        assert small.inj.schedules[i].cycles >= last


def test_layer_length_covers_every_live_cycle(small, flying):
    """Campaigns draw cycles in [0, schedule.cycles): every cycle in which the reference
    has a register holding a live value must be in that range."""
    for net in (small, flying):
        for i, ref in enumerate(net.refs):
            last = []
            if ref.conv is not None:
                last.append(max(ref.conv_golden.out_cycle.values()))
            if ref.layer.sdp is not None:
                last.append(ref.sdp_stream[-1][0] + SDP_OFFSET["out"])
            if ref.layer.pdp is not None:
                last += [ref.pdp_in[-1][0], ref.pdp_out[-1][0] + 1]
            assert max(last) < net.inj.schedules[i].cycles, ref.layer.name


# -- convolution core: transient upsets --------------------------------------------------------
CONV_LIMITS = {0: 12, 1: 24}


@pytest.mark.parametrize("layer", [0, 1], ids=["conv1", "conv2_stride2_clip3"])
@pytest.mark.parametrize("register", list(CONV_REGS))
def test_conv_flip(small, layer, register):
    width, instances = CONV_REGS[register]
    ref = small.refs[layer].conv
    faults = conv_sites(ref, register, width, instances, CONV_LIMITS[layer], seed=layer)
    if register != "cacc.abuf":  # (every abuf instance: test_conv_abuf_every_instance)
        assert {f.instance for f in faults} == set(range(instances))
    assert any(f.bits > 1 for f in faults) and any(f.bit in (7, width - 1) for f in faults)
    dead = check(small, layer, faults)
    assert 0 < dead < len(faults), "sites should cover live and dead cycles"


@pytest.mark.parametrize("register", [r for r in CONV_REGS if r != "cacc.abuf"])
def test_conv_flip_by_reaccumulation(small, register, monkeypatch):
    """Where a partial sum could saturate, upsets re-accumulate in hardware order instead
    of adding their change to the golden accumulator; both must give the reference."""
    monkeypatch.setattr(ConvFaults, "_linear", lambda self, excess: False)
    width, instances = CONV_REGS[register]
    faults = conv_sites(small.refs[1].conv, register, width, instances, CONV_LIMITS[1], seed=5)
    check(small, 1, faults)


@pytest.mark.parametrize("layer", [0, 1], ids=["conv1", "conv2_stride2_clip3"])
def test_conv_flips_batched_equal_one_at_a_time(small, layer):
    """The batched golden + change path for a mix of convolution-core upsets (multi-bit
    ones across lanes included) against re-accumulation in hardware order, site by site."""
    trace = small.golden.traces[layer]
    faults = small.inj._conv_faults(layer, trace, None)
    slow = small.inj._conv_faults(layer, trace, None)
    slow._linear = lambda excess: False
    sites = [_site(layer, f) for register in CONV_REGS if register != "cacc.abuf"
             for f in conv_sites(small.refs[layer].conv, register, *CONV_REGS[register],
                                 CONV_LIMITS[layer], seed=11)]
    batched = faults.transients(sites)
    assert sum(p is not None for p in batched) > len(sites) // 3
    for site, got in zip(sites, batched):
        want = slow.transient(site)
        assert (got is None) == (want is None), site.describe()
        if got is not None:
            order, ref = np.lexsort((got.pixels, got.kernels)), np.lexsort((want.pixels,
                                                                            want.kernels))
            for a, b in zip(got[:3], want[:3]):
                assert np.array_equal(a[order], b[ref]), site.describe()
            assert (got.final is None) == (want.final is None)
            if got.final is not None:
                assert np.array_equal(got.final[order], want.final[ref])


@pytest.mark.parametrize("register", list(CONV_REGS))
def test_conv_flip_pooled_on_the_fly(flying, register):
    width, instances = CONV_REGS[register]
    faults = conv_sites(flying.refs[0].conv, register, width, instances, 4, seed=7)
    check(flying, 0, faults, min_changed=0)


def test_conv_abuf_every_instance(small):
    """Every assembly-buffer instance (entry, kernel lane), live where the stripe has the
    entry and dead beyond it (conv2 has one 6-pixel stripe)."""
    ref = small.refs[1].conv
    ak = ref.ak
    faults = []
    for inst in range(2 * ak * ak):
        e, lane = divmod(inst, ak)
        s = (inst * 7) % (len(ref.ops) - 1)
        if ref.ops[s].step == ref.N - 1:
            s -= 1
        cyc = ref.issue(s, min(e, ref.ops[s].length - 1)) + 9 + (inst % 3)
        faults.append(Fault("cacc.abuf", inst, 33 - inst % 5, 1 + inst % 3, "flip", cyc))
    check(small, 1, faults)


# -- convolution core: stuck-at ----------------------------------------------------------------
@pytest.mark.parametrize("layer", [0, 1], ids=["conv1", "conv2_stride2_clip3"])
@pytest.mark.parametrize("register", list(CONV_REGS))
def test_conv_stuck(small, layer, register):
    width, instances = CONV_REGS[register]
    faults = stuck_sites(register, width, instances)
    if register == "cacc.abuf":  # an entry conv2's 6-pixel stripe never uses
        faults.append(Fault(register, 12 * 8 + 3, 33, 1, "stuck1"))
    check(small, layer, faults[: 3 if layer == 0 else None])


# -- SDP ---------------------------------------------------------------------------------------
SDP_LAYERS = {0: "conv1", 1: "conv2_stride2_clip3", 4: "add_from_memory"}


@pytest.mark.parametrize("layer", list(SDP_LAYERS), ids=list(SDP_LAYERS.values()))
@pytest.mark.parametrize("register", list(SDP_REGS))
def test_sdp_flip(small, layer, register):
    width, _ = SDP_REGS[register]
    ref = small.refs[layer]
    name = register.split(".", 1)[1]
    faults = stream_sites(register, width, ref.sdp_stream, SDP_OFFSET[name], 30,
                          small.inj.schedules[layer].cycles, seed=layer)
    stage = name.split("_")[0]
    bypassed = stage in ("bs", "bn") and getattr(ref.layer.sdp, stage).bypass
    check(small, layer, faults, min_changed=0 if bypassed else 1)


@pytest.mark.parametrize("layer", list(SDP_LAYERS), ids=list(SDP_LAYERS.values()))
@pytest.mark.parametrize("register", list(SDP_REGS))
def test_sdp_stuck(small, layer, register):
    width, _ = SDP_REGS[register]
    stage = register.split(".", 1)[1].split("_")[0]
    bypassed = stage in ("bs", "bn") and getattr(small.refs[layer].layer.sdp, stage).bypass
    check(small, layer, stuck_sites(register, width, 1), min_changed=0 if bypassed else 1)


@pytest.mark.parametrize("register", list(SDP_REGS))
def test_sdp_flip_pooled_on_the_fly(flying, register):
    width, _ = SDP_REGS[register]
    ref = flying.refs[0]
    name = register.split(".", 1)[1]
    faults = stream_sites(register, width, ref.sdp_stream, SDP_OFFSET[name], 12,
                          flying.inj.schedules[0].cycles, seed=3)
    check(flying, 0, faults, min_changed=0)


# -- PDP ---------------------------------------------------------------------------------------
PDP_LAYERS = {2: "maxpool_from_memory", 3: "avgpool_from_memory"}


def _pdp_sites(ref, register, limit, total, seed):
    width, _ = PDP_REGS[register]
    if register == "pdp.in":
        return stream_sites(register, width, ref.pdp_in, 0, limit, total, seed)
    return stream_sites(register, width, ref.pdp_out, int(register == "pdp.out"), limit, total,
                        seed)


@pytest.mark.parametrize("layer", list(PDP_LAYERS), ids=list(PDP_LAYERS.values()))
@pytest.mark.parametrize("register", list(PDP_REGS))
def test_pdp_flip(small, layer, register):
    faults = _pdp_sites(small.refs[layer], register, 30, small.inj.schedules[layer].cycles,
                        layer)
    check(small, layer, faults)


@pytest.mark.parametrize("layer", list(PDP_LAYERS), ids=list(PDP_LAYERS.values()))
@pytest.mark.parametrize("register", list(PDP_REGS))
def test_pdp_stuck(small, layer, register):
    width, _ = PDP_REGS[register]
    check(small, layer, stuck_sites(register, width, 1))


@pytest.mark.parametrize("register", list(PDP_REGS))
def test_pdp_flip_on_the_fly(flying, register):
    """PDP behind SDP: an element enters pdp.in the cycle after sdp.out held it (see
    layer_reference.PDP_FLYING_DELAY: the reading of "as they leave sdp.out")."""
    faults = _pdp_sites(flying.refs[0], register, 20, flying.inj.schedules[0].cycles, 5)
    check(flying, 0, faults)


@pytest.mark.parametrize("register", list(PDP_REGS))
def test_pdp_stuck_on_the_fly(flying, register):
    width, _ = PDP_REGS[register]
    check(flying, 0, stuck_sites(register, width, 1))


# -- CDP (from NVIDIA's trace tests) -----------------------------------------------------------
CDP_TRACES = ["cdp_1x1x31_lrn3_int8_0", "cdp_8x8x32_lrn3_int8_2", "cdp_33x17x34_lrn5_int8_0"]


@pytest.fixture(scope="module")
def cdp_nets():
    from tests.conftest import traces_root
    from nvdla_sim.program import LayerInfo, Program
    from nvdla_sim.trace import run_trace

    nets = {}
    for name in CDP_TRACES:
        path = traces_root() / "nv_small" / name
        if not path.is_dir():
            pytest.skip(f"NVDLA trace {name} not found under {traces_root()} "
                        f"(set NVDLA_TRACES to the folder holding nv_small/)")
        r = run_trace(path, keep=True)
        assert r.passed, r.error
        layer = r.nvdla.layers[0]
        prog = Program(config=r.nvdla.config, layers=[layer],
                       info=[LayerInfo(name, name, "lrn", "out")], image=[], inputs=[],
                       outputs=[], name=name)
        inj = FaultInjector(prog)
        trace = r.nvdla.traces[0]
        mem = r.nvdla.memory  # after the layer; CDP reads no operands, only its trace
        ref = LayerRef(prog, 0, mem, trace)
        nets[name] = Net(prog, inj, SimpleNamespace(traces=[trace]), [ref], None)
    return nets


@pytest.mark.parametrize("trace_name", CDP_TRACES)
@pytest.mark.parametrize("register", list(CDP_REGS))
def test_cdp_flip(cdp_nets, trace_name, register):
    net = cdp_nets[trace_name]
    ref = net.refs[0]
    width, _ = CDP_REGS[register]
    name = register.split(".", 1)[1]
    if name == "icvt":
        stream, offset = ref.cdp_in, 1
    else:
        stream, offset = ref.cdp_out, CDP_OFFSET[name]
    faults = stream_sites(register, width, stream, offset, 30, net.inj.schedules[0].cycles)
    check(net, 0, faults, min_changed=1)


@pytest.mark.parametrize("trace_name", CDP_TRACES[:2])
@pytest.mark.parametrize("register", list(CDP_REGS))
def test_cdp_stuck(cdp_nets, trace_name, register):
    width, _ = CDP_REGS[register]
    check(cdp_nets[trace_name], 0, stuck_sites(register, width, 1), min_changed=0)


# -- whole runs --------------------------------------------------------------------------------
RUN_LEVEL = [Fault("cmac.wt_actv", 2, 3, 1, "stuck1"),  # both convolutions
             Fault("cacc.out", 2, 12, 1, "stuck1"),
             Fault("pdp.in", 0, 7, 1, "stuck1"),  # both pools
             Fault("sdp.out", 0, 6, 1, "stuck0"),  # conv1, conv2 and the Add
             Fault("sdp.bn_out", 0, 3, 1, "stuck1")]


@pytest.mark.parametrize("fault", RUN_LEVEL, ids=lambda f: f"{f.register}-{f.model}")
def test_run_level_stuck_at(small, fault):
    """layer = -1: the bit is stuck in every layer using the register; the reference drives
    the whole network layer by layer."""
    site = FaultSite(-1, fault.register, fault.instance, fault.bit, 0, fault.model, fault.bits)
    got = small.inj.run(site, small.golden).outputs
    expected = run_with_stuck_at(small.program, small.x, fault)
    assert any(not np.array_equal(e, g) for e, g in zip(expected, small.golden.outputs))
    for i, (e, g) in enumerate(zip(expected, got)):
        assert np.array_equal(e, g), (f"output {i} ({small.program.outputs[i].name}): "
                                      f"{np.count_nonzero(e != g)} element(s) differ")


def test_single_layer_run_matches_layer_by_layer(small):
    """run() with one transient fault: downstream layers recomputed from the patched output."""
    ref = small.refs[0]
    last = len(ref.conv.ops) - 1
    for j in range(ref.conv.ops[last].length):  # a result whose flip shows in the output
        f = Fault("cacc.out", 1, 31, 1, "flip", ref.conv.issue(last, j) + 9)
        out = ref.output(f)
        if out is not None and not np.array_equal(out, ref.golden):
            break
    else:
        pytest.fail("no visible cacc.out flip in the last stripe")
    got = small.inj.run(_site(0, f), small.golden).outputs
    cfg = small.program.config
    before, _ = layer_inputs(small.program, small.x)[0]
    mem = before.copy()
    ex = Executor(cfg)
    ex.run(small.program.layers[0], mem)
    ref.output_surface().write(mem, cfg, out)
    for layer in small.program.layers[1:]:
        ex.run(layer, mem)
    expected = [b.surface.read(mem, cfg)[: b.surface.channels] for b in small.program.outputs]
    for e, g in zip(expected, got):
        assert np.array_equal(e, g)


def test_sdp_operands_follow_the_input(small):
    """An Add layer's BN operand is an activation tensor: after golden() of another input,
    a fault in the Add layer must see that input's operand."""
    inj = FaultInjector(small.program)
    inj.golden(small.x)
    f = Fault("sdp.in", 0, 2, 1, "flip", small.refs[4].sdp_stream[100][0])
    inj.layer_effect(_site(4, f), 4, inj.golden(small.x).traces[4])  # fills any cache
    x2 = sample_input(seed=1)
    golden2 = inj.golden(x2)
    before, trace = layer_inputs(small.program, x2)[4]
    ref = LayerRef(small.program, 4, before, trace)
    got = inj.layer_effect(_site(4, f), 4, golden2.traces[4]).writes[0][1]
    expected = ref.output(f)
    assert np.array_equal(got, expected), (
        f"{np.count_nonzero(got != expected)} element(s) differ: the injector reused the "
        f"first input's SDP operands")


def test_batched_abuf_flips_equal_one_at_a_time(small):
    """``ConvFaults.transients`` (all assembly-buffer upsets of a layer at once) gives what
    ``transient`` gives per site, including sign-bit upsets whose later sums saturate."""
    for layer in (0, 1):
        ref = small.refs[layer].conv
        faults = conv_sites(ref, "cacc.abuf", *CONV_REGS["cacc.abuf"], 40, seed=5)
        faults += [Fault("cacc.abuf", f.instance, 33, 1, "flip", f.cycle) for f in faults]
        sites = [_site(layer, f) for f in faults]
        conv = small.inj._conv_faults(layer, small.golden.traces[layer], None)
        batched = conv.transients(sites)
        live = 0
        for site, got in zip(sites, batched):
            want = conv.transient(site)
            assert (got is None) == (want is None), site.describe()
            if want is not None:
                live += 1
                assert np.array_equal(got.kernels, want.kernels) and np.array_equal(
                    got.pixels, want.pixels) and np.array_equal(got.acc, want.acc), site.describe()
        assert 0 < live < len(sites)
