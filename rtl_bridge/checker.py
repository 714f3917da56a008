"""Checker: compare what the RTL monitors captured with nvdla_sim.

A replay yields two captures in SDP stream order: the elements entering SDP
(CACC finals, or memory elements for an SDP-only layer) with the cycle
``sdp.in`` holds each, and the int8 outputs with the cycle ``sdp.out`` holds
each.  Fault-free, values and cycles must equal nvdla_sim's golden trace and
schedule; under a fault, the cycles must stay the same and the elements that
differ from golden must be exactly the ones nvdla_sim predicts, with the
predicted values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rtl_bridge.job import Diff, LayerCase


@dataclass
class Capture:
    fin: np.ndarray
    fin_cycle: np.ndarray
    out: np.ndarray
    out_cycle: np.ndarray
    overflow: bool = False


def parse_capture(text: str) -> tuple[np.ndarray, np.ndarray]:
    """$writememh lines of {cycle[63:32], value[31:0]} -> (signed values, signed cycles)."""
    words = [w for line in text.splitlines() for w in line.split("//", 1)[0].split()
             if not w.startswith("@")]
    raw = np.array([int(w, 16) for w in words], np.uint64)
    value = (raw & np.uint64(0xFFFFFFFF)).astype(np.uint32).view(np.int32).astype(np.int64)
    cycle = (raw >> np.uint64(32)).astype(np.uint32).view(np.int32).astype(np.int64)
    return value, cycle


def _first(mask: np.ndarray, limit: int = 4) -> np.ndarray:
    return np.flatnonzero(mask)[:limit]


def _timing(layer: LayerCase, cap: Capture) -> str:
    if cap.overflow:
        return "capture or delivery buffer overflow"
    if cap.fin.size != layer.fin.size:
        return f"{cap.fin.size} elements entered SDP, nvdla_sim streams {layer.fin.size}"
    if cap.out.size != layer.out.size:
        return f"{cap.out.size} SDP outputs, nvdla_sim has {layer.out.size}"
    bad = cap.fin_cycle != layer.fin_cycle
    if bad.any():
        i = _first(bad)
        return (f"sdp.in timing: element(s) {i.tolist()} held at cycles "
                f"{cap.fin_cycle[i].tolist()}, schedule says {layer.fin_cycle[i].tolist()}")
    bad = cap.out_cycle != layer.out_cycle
    if bad.any():
        i = _first(bad)
        return (f"sdp.out timing: element(s) {i.tolist()} at cycles {cap.out_cycle[i].tolist()}, "
                f"schedule says {layer.out_cycle[i].tolist()}")
    return ""


def check_golden(layer: LayerCase, cap: Capture) -> str:
    """Empty string when the fault-free replay equals nvdla_sim bit for bit."""
    why = _timing(layer, cap)
    if why:
        return why
    for what, rtl, gold in (("CACC final / SDP input", cap.fin, layer.fin),
                            ("SDP output", cap.out, layer.out)):
        bad = rtl != gold
        if bad.any():
            i = _first(bad)
            return (f"{what}: {int(bad.sum())} of {bad.size} differ, e.g. stream position(s) "
                    f"{i.tolist()}: RTL {rtl[i].tolist()} vs nvdla_sim {gold[i].tolist()}")
    return ""


def _diff_detail(what: str, rtl: Diff, exp: Diff) -> str:
    if np.array_equal(rtl.positions, exp.positions) and np.array_equal(rtl.values, exp.values):
        return ""
    only_rtl = np.setdiff1d(rtl.positions, exp.positions)
    only_sim = np.setdiff1d(exp.positions, rtl.positions)
    both, ir, ie = np.intersect1d(rtl.positions, exp.positions, return_indices=True)
    wrong = both[rtl.values[ir] != exp.values[ie]]
    parts = [f"{what}: RTL changed {len(rtl)}, nvdla_sim predicts {len(exp)}"]
    if only_rtl.size:
        k = np.searchsorted(rtl.positions, only_rtl[:3])
        parts.append(f"only RTL at {only_rtl[:3].tolist()} (values {rtl.values[k].tolist()})")
    if only_sim.size:
        k = np.searchsorted(exp.positions, only_sim[:3])
        parts.append(f"only nvdla_sim at {only_sim[:3].tolist()} "
                     f"(values {exp.values[k].tolist()})")
    if wrong.size:
        kr = np.searchsorted(rtl.positions, wrong[:3])
        ke = np.searchsorted(exp.positions, wrong[:3])
        parts.append(f"different values at {wrong[:3].tolist()}: RTL {rtl.values[kr].tolist()} "
                     f"vs nvdla_sim {exp.values[ke].tolist()}")
    return "; ".join(parts)


def check_fault(layer: LayerCase, cap: Capture, fin: Diff, out: Diff) -> tuple[str, int, int]:
    """(disagreement or "", SDP outputs the RTL changed, finals the RTL changed)."""
    why = _timing(layer, cap)
    if why:
        return why, -1, -1
    rtl_fin = Diff.between(layer.fin, cap.fin)
    rtl_out = Diff.between(layer.out, cap.out)
    why = "; ".join(p for p in (_diff_detail("CACC finals", rtl_fin, fin),
                                _diff_detail("SDP outputs", rtl_out, out)) if p)
    return why, len(rtl_out), len(rtl_fin)
