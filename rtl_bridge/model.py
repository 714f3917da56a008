"""Model: nvdla_sim's prediction of what one fault does to a layer's outputs.

The SDP outputs come from :meth:`FaultInjector.layer_effect` (None: the
register held nothing live, the layer's output is golden).  For faults in
the convolution core the corrupted CACC finals are taken from the same
fault model (:meth:`FaultInjector.conv_patch`, which ``layer_effect`` uses
internally), so the RTL's finals are checked too, not only what survives
SDP's requantization.
"""

from __future__ import annotations

from time import perf_counter

import numpy as np

from nvdla_sim.faults.golden import GoldenRun
from nvdla_sim.faults.injector import FaultInjector
from nvdla_sim.faults.site import FaultSite
from nvdla_sim.units import cacc
from rtl_bridge.job import Diff, FaultCase
from rtl_bridge.sites import rtl_target
from rtl_bridge.stimulus import LayerStimulus


def predicted_finals(inj: FaultInjector, index: int, site: FaultSite, golden: GoldenRun
                     ) -> np.ndarray:
    """The SDP input cube [Cpad, H, W] under ``site`` (golden for SDP faults)."""
    trace = golden.traces[index]
    fin = trace.sdp_in
    if site.unit not in ("cmac", "cacc"):
        return fin
    layer, sched = inj.program.layers[index], inj.schedules[index]
    patch = inj.conv_patch(site, index, trace)
    if patch is None:
        return fin
    value = (cacc.truncate(patch.acc, layer.conv.clip_truncate) if patch.final is None
             else patch.final)
    out = fin.copy()
    out.reshape(-1)[patch.kernels * sched.conv.pixels + patch.pixels] = value
    return out


def predict(case_id: int, inj: FaultInjector, index: int, site: FaultSite, golden: GoldenRun,
            stim: LayerStimulus) -> FaultCase:
    trace = golden.traces[index]
    t0 = perf_counter()
    effect = inj.layer_effect(site, index, trace)
    seconds = perf_counter() - t0
    if effect is None:
        out_cube = trace.sdp_out
    else:
        if len(effect.writes) != 1:
            raise AssertionError(f"layer {index}: expected one output surface")
        out_cube = effect.writes[0][1]
    fin_cube = predicted_finals(inj, index, site, golden)
    order = stim.order
    spec = inj.schedules[index].register(site.register)
    return FaultCase(
        id=case_id, site=site, target=rtl_target(site, spec, inj.config.atom_k),
        live=effect is not None,
        fin=Diff.between(stim.fin, fin_cube.reshape(-1)[order].astype(np.int64)),
        out=Diff.between(stim.out, out_cube.reshape(-1)[order].astype(np.int64)),
        model_seconds=seconds)
