"""nvdla_sim's datapath registers on NVIDIA's RTL: where each bit is, and when a value is there.

nvdla_sim names a fault by register, instance, bit and cycle; its timing model
(:mod:`nvdla_sim.timing`) says which value the register holds then: for the
convolution core, the atomic operation (stripe operation ``s``, pixel ``j``)
at the register's pipeline offset.  On the RTL the same value sits in the
register during the cycle the register's own valid is high for the ``n``-th
time since the layer's launch, ``n`` being that atomic operation's position
in issue order.  So a flip is mapped through the operation, not through a
fixed cycle offset: CDMA fetch latency and stalls move the RTL's cycles, not
which value each register holds in which order.  Whether the cycle counts
agree is checked separately (launch-to-interrupt cycles per layer).

NVDLA's pipeline has more copies of some values than nvdla_sim's catalogue
(two input retiming stages, three adder-tree output stages, two output
retiming stages): each is a pure delay of the same value, so a fault in any of
them is the model register's fault; :data:`RTL_STAGES` lists them and the
check draws among them.

SDP's registers sit in flow-controlled pipes (NVIDIA's ``pipe -m -bc``): the
value the model's register holds for element ``n`` is in the RTL pipe register
during the cycle of the pipe's ``n``-th output handshake (:data:`SDP_STAGES`).

nv_small: CMAC half ``h`` (``u_partition_ma`` / ``_mb``) computes kernels
``4h .. 4h+3`` of a group in its MAC cells ``u_mac_0..3``; the CACC
calculator has one cell per kernel lane; assembly-buffer entry ``e`` (pixel of
the stripe) is RAM word ``e``, kernel lane ``k`` at bits ``34k .. 34k+33``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nvdla_sim.config import HardwareConfig
from nvdla_sim.faults.site import FaultSite
from nvdla_sim.timing.conv import CACC_SUM, CACC_WRITE, DAT_ACTV, DAT_IN, MAC_OUT, SUM_OUT
from nvdla_sim.timing.schedule import LayerSchedule

HALVES = ("u_partition_ma.u_NV_NVDLA_cmac.u_core", "u_partition_mb.u_NV_NVDLA_cmac.u_core")
CACC = "u_partition_a.u_NV_NVDLA_cacc"
ABUF = f"{CACC}.u_assembly_buffer.u_accu_abuf_0.M"
CALC = f"{CACC}.u_calculator"
CELLS_PER_HALF = 4
ACC_LANE_BITS = 34


@dataclass(frozen=True)
class Stage:
    """One RTL register holding a model register's value: path templates (``{h}`` half,
    ``{c}`` cell within the half, ``{k}`` kernel lane, ``{lane}`` byte lane of an atom),
    its valid (and the valid's bit), and the model's pipeline offset of the value."""

    path: str
    valid: str
    offset: int  # nvdla_sim's cycle offset from the issue of the atomic operation
    per_lane: bool = False  # an atom split into one 8-bit register per byte lane
    valid_per_cell: bool = False  # the valid is a mask with one bit per MAC cell ({c})


RTL_STAGES: dict[str, tuple[Stage, ...]] = {
    "cmac.dat_in": tuple(Stage(f"{{h}}.u_rt_in.in_rt_dat_data{{lane}}_d{d}",
                               f"{{h}}.u_rt_in.in_rt_dat_pvld_d{d}", DAT_IN, per_lane=True)
                         for d in (1, 2)),
    "cmac.dat_actv": (Stage("{h}.u_active.dat_actv_data_reg{c}", "{h}.u_active.dat_actv_pvld_reg{c}",
                            DAT_ACTV),),
    "cmac.sum_out": tuple(Stage(f"{{h}}.u_mac_{{c}}.sum_out_d0_d{d}",
                                f"{{h}}.u_mac_{{c}}.pp_pvld_d0_d{d}", SUM_OUT) for d in (1, 2, 3)),
    # the data stages load on the cell's mask bit, one cycle after the half's pvld
    "cmac.mac_out": tuple(Stage(f"{{h}}.u_rt_out.out_rt_data{{c}}_d{d}",
                                f"{{h}}.u_rt_out.out_rt_mask_d{d}", MAC_OUT, valid_per_cell=True)
                          for d in (1, 2)),
    "cacc.sum": (Stage(f"{CALC}.u_cell_int8_{{k}}.i_sum_pd", f"{CALC}.u_cell_int8_{{k}}.i_sat_vld",
                       CACC_SUM),),
    "cacc.out": (Stage(f"{CALC}.u_cell_int8_{{k}}.out_final_data",
                       f"{CALC}.u_cell_int8_{{k}}.out_final_valid", CACC_WRITE),),
}
SDP_CORE = "u_partition_p.u_NV_NVDLA_sdp.u_core"


@dataclass(frozen=True)
class SdpStage:
    """An SDP pipe register (``pipe -m -bc`` of NVIDIA's generator): its data register, the
    valid and ready of its output handshake, and where the model's bits start in it."""

    pipe: str
    data: str
    valid: str
    ready: str
    shift: int = 0


def _x_pipe(stage: str, unit: str, pipe: str) -> SdpStage:
    n = pipe[-1]
    return SdpStage(f"{SDP_CORE}.u_{stage}.u_sdp_x_{unit}_0.{pipe}", f"p{n}_pipe_data",
                    f"p{n}_pipe_valid", f"p{n}_pipe_ready", shift=1 if unit == "mul" else 0)


# The element a model SDP register holds at a cycle is the n-th (in nvdla_sim's stream
# order, which is the order CACC hands SDP its results) taken from the RTL register's
# output handshake.  The multiplier pipe carries {product[48:0], bypass_trt}; the
# output converter's last pipe {saturated, data[15:0]} (int8 in the low byte).  The X
# stage's truncation pipe (u_sdp_x_trt_0) has no model register: its value is the
# ReLU pipe's input.
SDP_STAGES: dict[str, SdpStage] = {
    "sdp.in": SdpStage(f"{SDP_CORE}.u_NV_NVDLA_SDP_cmux.pipe_p2", "pipe_skid_cmux2dp_pd",
                       "pipe_skid_cmux2dp_pvld", "sdp_cmux2dp_ready"),
    **{f"sdp.{stage}_{reg}": _x_pipe(stage, unit, pipe)
       for stage in ("bs", "bn")
       for reg, unit, pipe in (("alu", "alu", "pipe_p2"), ("mul", "mul", "pipe_p1"),
                               ("out", "relu", "pipe_p1"))},
    "sdp.out": SdpStage(f"{SDP_CORE}.u_c.c_int_0.pipe_p4", "p4_pipe_data", "p4_pipe_valid",
                        "p4_pipe_ready"),
}
WEIGHTS = {"cmac.wt_sd": "{h}.u_active.wt{c}_sd_data", "cmac.wt_actv": "{h}.u_active.wt{c}_actv_data"}
MAPPED = (*RTL_STAGES, *WEIGHTS, "cacc.abuf", *SDP_STAGES)


def _names(register: str, instance: int) -> dict[str, object]:
    if register == "cmac.dat_in":  # one per CMAC half
        return {"h": HALVES[instance]}
    if register == "cacc.abuf":
        return {}
    h, c = divmod(instance, CELLS_PER_HALF)
    return {"h": HALVES[h], "c": c, "k": instance}


def _op_index(schedule: LayerSchedule) -> np.ndarray:
    """Issue-order index of each stripe operation's first atomic operation."""
    length = schedule.conv.ops["length"]
    return np.concatenate([[0], np.cumsum(length)[:-1]])


def rtl_fault(site: FaultSite, schedule: LayerSchedule, cfg: HardwareConfig,
              rng: np.random.Generator) -> dict | None:
    """The RTL fault for ``site`` (a dict the bench's ``Injector`` takes); None when the
    model register holds nothing live at the site's cycle (a flip that cannot act)."""
    width = schedule.register(site.register).width
    mask = site.mask(width)
    names = _names(site.register, site.instance)
    reg = site.register
    out = {"model": site.model, "mask": mask}
    if reg in RTL_STAGES:
        stage = RTL_STAGES[reg][int(rng.integers(len(RTL_STAGES[reg])))]
        if stage.per_lane:  # the fault's bits all lie in one byte lane (adjacent bits)
            lane = site.bit // cfg.bpe
            names["lane"] = lane
            out["mask"] = mask >> lane * cfg.bpe
        out["path"] = stage.path.format(**names)
        if site.transient:
            n = _atomic_index(site, schedule, stage.offset, last_step_only=reg == "cacc.out")
            if n is None:
                return None
            out.update(anchor=stage.valid.format(**names),
                       anchor_bit=names["c"] if stage.valid_per_cell else 0, count=n, delay=0)
        return out
    if reg in WEIGHTS:
        out["path"] = WEIGHTS[reg].format(**names)
        if site.transient:
            conv = schedule.conv
            if reg == "cmac.wt_actv":
                s = conv.weight_holder(site.cycle)
                if s is None:
                    return None
                n = int(_op_index(schedule)[s]) + site.cycle - DAT_ACTV - int(conv.ops["start"][s])
                out.update(anchor=f"{names['h']}.u_active.dat_actv_pvld_reg{names['c']}",
                           anchor_bit=0, count=n, delay=0)
            else:  # shadow: right after the s-th load of this cell (wt_pre_sel[c] high)
                s = conv.shadow_holder(site.cycle, site.instance)
                if s is None:
                    return None
                out.update(anchor=f"{names['h']}.u_active.wt_pre_sel", anchor_bit=names["c"],
                           count=s, delay=1)
        return out
    if reg in SDP_STAGES:
        return _sdp_fault(site, schedule, SDP_STAGES[reg], out)
    if reg == "cacc.abuf":
        entry, lane = divmod(site.instance, cfg.atom_k)
        out["path"] = f"{ABUF}[{entry}]"
        out["mask"] = mask << lane * ACC_LANE_BITS
        if site.transient:  # right after the write of the step that put the value there
            n = _abuf_write_index(site, schedule, entry)
            if n is None:
                return None
            out.update(anchor=f"{CALC}.abuf_wr_en", anchor_bit=0, count=n, delay=1)
        return out
    raise KeyError(f"register {reg} is not mapped to the RTL")


def _sdp_fault(site: FaultSite, schedule: LayerSchedule, stage: SdpStage, out: dict
               ) -> dict | None:
    """An SDP register's fault (None: the model's register holds no element at the site's
    cycle).  A bypassed stage's, ALU's or multiplier's pipe register is still targeted:
    the data takes a wire around it, so nothing may change (nvdla_sim:
    ``x_register_live``)."""
    out["path"] = f"{stage.pipe}.{stage.data}"
    out["mask"] = out["mask"] << stage.shift
    if site.transient:
        stream = schedule.sdp_stream
        at = site.cycle - schedule.sdp_register_offset(site.register)
        n = int(np.searchsorted(stream.start, at))
        if n >= stream.start.size or stream.start[n] != at:
            return None
        out.update(anchor=f"{stage.pipe}.{stage.valid}", anchor_bit=0,
                   anchor_ready=f"{stage.pipe}.{stage.ready}", count=n, delay=0)
    return out


def _atomic_index(site: FaultSite, schedule: LayerSchedule, offset: int,
                  last_step_only: bool = False) -> int | None:
    conv = schedule.conv
    at = conv.atomic_at(site.cycle, offset)
    if at is None:
        return None
    s, j = at
    steps = conv.blocks * conv.taps
    if not last_step_only:
        return int(_op_index(schedule)[s]) + j
    if s % steps != steps - 1:
        return None
    length = conv.ops["length"]
    last = np.arange(steps - 1, length.size, steps)
    return int(length[last[last < s]].sum()) + j


def _abuf_write_index(site: FaultSite, schedule: LayerSchedule, entry: int) -> int | None:
    """Index among the assembly-buffer writes (one per non-final atomic operation, all
    kernel lanes at once) of the write whose value the site's cycle falls after."""
    conv = schedule.conv
    ops = conv.ops
    start, length = ops["start"], ops["length"]
    steps = conv.blocks * conv.taps
    # the value written by step s for entry e lives from issue(s, e) + CACC_WRITE to the
    # read of step s + 1 (issue(s + 1, e) + CACC_SUM - 1): find s
    s = int(np.searchsorted(start + entry + CACC_WRITE, site.cycle, side="right")) - 1
    if s < 0 or s % steps == steps - 1 or entry >= length[s] or s + 1 >= start.size:
        return None
    if site.cycle > start[s + 1] + entry + CACC_SUM - 1:
        return None
    partial = (np.arange(start.size) % steps) != steps - 1
    return int(length[:s][partial[:s]].sum()) + entry
