"""Driver: turn nvdla_sim's schedule of a hardware layer into per-cycle RTL stimulus.

For every layer cycle the harness plays one row per input interface:

* ``dat``: the CSC output register towards CMAC.  The atomic operation
  ``(s, j)`` issued at ``tau = start(s) + j`` (:class:`ConvSchedule`) is on
  the port during ``tau + 1``, with its data atom (input pixel under kernel
  tap ``t`` of block ``b``, padding = pad value, channels >= C zero), the
  non-zero flags and the pd flags (stripe start, first / last step of the
  channel operation, kernel lanes that go to SDP).
* ``wt``: the weight slice of cell ``i`` for stripe operation ``s``, issued
  with the atomic operation slot ``i`` of stripe operation ``s - 1`` (at
  ``start(s - 1) + i``; at ``i - 4`` for ``s = 0``), so that it reaches
  ``wt_sd`` at the cycle nvdla_sim's shadow-register window starts.
* ``sdp``: SDP_RDMA: the input element of an SDP-from-memory layer one cycle
  before it enters ``sdp.in`` at its :attr:`LayerSchedule.sdp_stream` cycle,
  and the BS/BN operands read from memory during the cycle the stage uses
  them (ALU operand with the stage input, multiplier operand one cycle later).

The golden (fault-free) values the monitors must see come from nvdla_sim's
trace of the same layer: the CACC finals / SDP input cube and the SDP output
cube, in SDP stream order, with the cycles the schedule gives them.
"""

from __future__ import annotations

from nvdla_sim.errors import NvdlaError

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nvdla_sim.config import HardwareConfig
from nvdla_sim.executor import LayerTrace
from nvdla_sim.layers import HardwareLayer, SdpX
from nvdla_sim.timing.schedule import LayerSchedule
from nvdla_sim.units import csc
from nvdla_sim.units.sdp_rdma import Operands
from rtl_bridge.toolchain import PRE, RtlParams

# Layer configuration words, in the order of cfg[] in nvfi_tb_top.sv (one 32-bit word each)
CFG_FIELDS = (
    "cfg_clip_truncate", "cfg_sdp_src_mem",
    "cfg_bs_bypass", "cfg_bs_alu_bypass", "cfg_bs_mul_bypass", "cfg_bs_mul_prelu",
    "cfg_bs_relu_bypass", "cfg_bs_alu_src", "cfg_bs_mul_src", "cfg_bs_alu_algo",
    "cfg_bs_alu_shift", "cfg_bs_alu_operand", "cfg_bs_mul_shift", "cfg_bs_mul_operand",
    "cfg_bn_bypass", "cfg_bn_alu_bypass", "cfg_bn_mul_bypass", "cfg_bn_mul_prelu",
    "cfg_bn_relu_bypass", "cfg_bn_alu_src", "cfg_bn_mul_src", "cfg_bn_alu_algo",
    "cfg_bn_alu_shift", "cfg_bn_alu_operand", "cfg_bn_mul_shift", "cfg_bn_mul_operand",
    "cfg_cvt_offset", "cfg_cvt_scale", "cfg_cvt_shift",
)

CSC_REG = 1  # the CSC output register holds an atomic operation one cycle after issue
WT_TO_SHADOW = 4  # issue -> wt_sd, the same path as the data (issue -> dat_actv)


class UnsupportedLayer(NvdlaError):
    """A layer (or SDP mode) the RTL slices do not implement."""


@dataclass(frozen=True)
class RowFormat:
    """Byte-aligned row layouts shared with ``nvfi_tb_top.sv``."""

    atom_c: int
    atom_k: int

    @property
    def nz_bytes(self) -> int:
        return -(-self.atom_c // 8)

    @property
    def pd_width(self) -> int:
        return 3 + (self.atom_k.bit_length() - 1) + 1

    @property
    def pd_bytes(self) -> int:
        return -(-self.pd_width // 8)

    @property
    def dat_bytes(self) -> int:
        return self.atom_c + self.nz_bytes + self.pd_bytes + 1

    @property
    def wt_bytes(self) -> int:
        return self.atom_c + self.nz_bytes + 2 + 1

    sdp_bytes = 4 + 4 * 2 + 1


def _put(rows: np.ndarray, at: np.ndarray, offset: int, values: np.ndarray, nbytes: int) -> None:
    """Write little-endian ``nbytes``-byte two's-complement ``values`` at row indices ``at``."""
    v = np.asarray(values, np.int64) & ((1 << (8 * nbytes)) - 1) if nbytes < 8 else \
        np.asarray(values, np.int64)
    for b in range(nbytes):
        rows[at, offset + b] = (v >> (8 * b)) & 0xFF


def _put_bits(rows: np.ndarray, at: np.ndarray, offset: int, flags: np.ndarray) -> None:
    """Pack boolean flags [N, n] into bytes starting at ``offset`` (flag i -> bit i)."""
    n = flags.shape[1]
    for byte in range(-(-n // 8)):
        chunk = flags[:, byte * 8:(byte + 1) * 8].astype(np.int64)
        rows[at, offset + byte] = (chunk << np.arange(chunk.shape[1])).sum(axis=1)


def hex_lines(rows: np.ndarray) -> str:
    """One big-endian hex word per row (as $readmemh reads a packed vector)."""
    if rows.size == 0:
        return ""
    flipped = np.ascontiguousarray(rows[:, ::-1])
    text = flipped.tobytes().hex()
    w = 2 * rows.shape[1]
    return "\n".join(text[i:i + w] for i in range(0, len(text), w)) + "\n"


@dataclass
class LayerStimulus:
    """Everything the harness needs to replay one layer, and what it must produce."""

    index: int
    name: str
    n_rows: int  # rows played: layer cycles -PRE .. n_rows - PRE - 1
    run_cycles: int  # layer cycles to simulate before the outputs are complete
    dat: np.ndarray  # [n_rows, dat_bytes] uint8
    wt: np.ndarray
    sdp: np.ndarray
    cfg: dict[str, int]
    order: np.ndarray  # flat index (into [Cpad, H, W]) of the n-th SDP element
    fin: np.ndarray  # golden SDP input (CACC final / memory element), stream order
    fin_cycle: np.ndarray  # cycle it is held in sdp.in
    out: np.ndarray  # golden int8 output, stream order
    out_cycle: np.ndarray  # cycle sdp.out holds it
    dbuf_peak: int = 0

    def write(self, folder: Path) -> None:
        for kind in ("dat", "wt", "sdp"):
            (folder / f"L{self.index}_{kind}.hex").write_text(hex_lines(getattr(self, kind)))
        (folder / f"L{self.index}_cfg.hex").write_text(
            "".join(f"{self.cfg[name] & 0xFFFFFFFF:08x}\n" for name in CFG_FIELDS))



def _x_cfg(prefix: str, x: SdpX) -> dict[str, int]:
    return {f"cfg_{prefix}_bypass": int(x.bypass), f"cfg_{prefix}_alu_bypass": int(x.alu_bypass),
            f"cfg_{prefix}_mul_bypass": int(x.mul_bypass),
            f"cfg_{prefix}_mul_prelu": int(x.mul_prelu),
            f"cfg_{prefix}_relu_bypass": int(x.relu_bypass),
            f"cfg_{prefix}_alu_src": int(x.alu_src), f"cfg_{prefix}_mul_src": int(x.mul_src),
            f"cfg_{prefix}_alu_algo": x.alu_algo & 3, f"cfg_{prefix}_alu_shift": x.alu_shift & 63,
            f"cfg_{prefix}_alu_operand": x.alu_operand & 0xFFFF,
            f"cfg_{prefix}_mul_shift": x.mul_shift & 0xFF,
            f"cfg_{prefix}_mul_operand": x.mul_operand & 0xFFFF}


def check_supported(layer: HardwareLayer, cfg: HardwareConfig, params: RtlParams) -> None:
    if (cfg.atom_c, cfg.atom_k) != (params.atom_c, params.atom_k):
        raise UnsupportedLayer(f"RTL built for atom_c={params.atom_c}, atom_k={params.atom_k}; "
                               f"config {cfg.name} has {cfg.atom_c}, {cfg.atom_k}")
    if cfg.bpe != 8:
        raise UnsupportedLayer("the RTL slices are INT8 only (bpe = 8)")
    if layer.sdp is None:
        raise UnsupportedLayer(f"layer {layer.name}: the RTL covers CONV+SDP and SDP layers "
                               f"(this is a {layer.kind} layer)")
    if layer.pdp is not None or layer.cdp is not None:
        raise UnsupportedLayer(f"layer {layer.name}: PDP/CDP are not modelled in RTL")
    sdp = layer.sdp
    if not sdp.ew.bypass:
        raise UnsupportedLayer(f"layer {layer.name}: SDP EW (Y) stage is not modelled in RTL")
    for name, x, present in (("BS", sdp.bs, cfg.sdp_bs), ("BN", sdp.bn, cfg.sdp_bn)):
        if not x.bypass and not present:
            raise UnsupportedLayer(f"layer {layer.name}: {name} enabled but absent in {cfg.name}")
    if layer.conv is not None and not sdp.flying:
        raise UnsupportedLayer(f"layer {layer.name}: convolution without flying SDP")


def layer_stimulus(index: int, layer: HardwareLayer, schedule: LayerSchedule, trace: LayerTrace,
                   operands: list[Operands], cfg: HardwareConfig, params: RtlParams
                   ) -> LayerStimulus:
    """Build the rows and golden expectations of one layer."""
    check_supported(layer, cfg, params)
    fmt = RowFormat(cfg.atom_c, cfg.atom_k)
    stream = schedule.sdp_stream
    out_offset = schedule.sdp_register_offset("sdp.out")
    run_cycles = schedule.cycles + 2
    n_rows = PRE + run_cycles
    if n_rows > params.stim_depth:
        raise UnsupportedLayer(f"layer {layer.name}: {n_rows} cycles exceed the harness's "
                               f"STIM_DEPTH={params.stim_depth} (rebuild with a larger one)")
    if stream.order.size > params.cap_depth:
        raise UnsupportedLayer(f"layer {layer.name}: {stream.order.size} SDP elements exceed "
                               f"CAP_DEPTH={params.cap_depth}")
    dat = np.zeros((n_rows, fmt.dat_bytes), np.uint8)
    wt = np.zeros((n_rows, fmt.wt_bytes), np.uint8)
    sdp_rows = np.zeros((n_rows, fmt.sdp_bytes), np.uint8)
    stim = LayerStimulus(
        index=index, name=layer.name, n_rows=n_rows, run_cycles=run_cycles, dat=dat, wt=wt,
        sdp=sdp_rows, cfg={}, order=stream.order.astype(np.int64),
        fin=trace.sdp_in.reshape(-1)[stream.order].astype(np.int64),
        fin_cycle=stream.start.astype(np.int64),
        out=trace.sdp_out.reshape(-1)[stream.order].astype(np.int64),
        out_cycle=stream.start.astype(np.int64) + out_offset)
    if layer.conv is not None:
        _conv_rows(stim, layer, schedule, trace, cfg, fmt)
        stim.dbuf_peak = _dbuf_peak(schedule, cfg, layer.sdp.channels)
        if stim.dbuf_peak > params.dbuf_depth:
            raise UnsupportedLayer(f"layer {layer.name}: CACC delivery backlog {stim.dbuf_peak} "
                                   f"exceeds DBUF_DEPTH={params.dbuf_depth}")
    _sdp_rows(stim, layer, schedule, trace, operands, cfg, params)
    return stim


def _conv_rows(stim: LayerStimulus, layer: HardwareLayer, schedule: LayerSchedule,
               trace: LayerTrace, cfg: HardwareConfig, fmt: RowFormat) -> None:
    conv, sched = layer.conv, schedule.conv
    ac, ak = cfg.atom_c, cfg.atom_k
    ops = sched.ops
    blocks, taps, pixels = sched.blocks, sched.taps, sched.pixels
    # data[b, lane, tap, pixel] and weights[kernel, b, lane, tap] as CSC reads them
    win = csc.windows(conv, trace.conv_operands.data)  # [C, R, S, Ho, Wo]
    c = conv.in_channels
    data = np.zeros((blocks * ac, taps, pixels), np.int64)
    data[:c] = win.reshape(c, taps, pixels)
    data = data.reshape(blocks, ac, taps, pixels)
    kpad = sched.groups * ak
    weights = np.zeros((kpad, blocks * ac, taps), np.int64)
    weights[: conv.kernels, :c] = trace.conv_operands.weights.reshape(conv.kernels, c, taps)
    weights = weights.reshape(kpad, blocks, ac, taps)

    steps = blocks * taps
    n_ops = ops["start"].size
    s_idx = np.arange(n_ops)
    cpad = cfg.channels_padded(layer.sdp.channels)
    nlanes = np.clip(cpad - ops["group"] * ak, 0, ak)

    # atomic operations (s, j)
    length = ops["length"]
    s_of = np.repeat(s_idx, length)
    j = np.arange(s_of.size) - np.repeat(np.cumsum(length) - length, length)
    row = ops["start"][s_of] + j + CSC_REG + PRE
    atoms = data[ops["block"][s_of], :, ops["tap"][s_of], ops["first"][s_of] + j]  # [N, ac]
    step = s_of % steps
    pd = ((j == 0).astype(np.int64) | ((step == 0).astype(np.int64) << 1)
          | ((step == steps - 1).astype(np.int64) << 2) | (nlanes[s_of] << 3))
    d = stim.dat
    for lane in range(ac):
        d[row, lane] = atoms[:, lane].astype(np.uint8)
    _put_bits(d, row, ac, atoms != 0)
    _put(d, row, ac + fmt.nz_bytes, pd, fmt.pd_bytes)
    d[row, ac + fmt.nz_bytes + fmt.pd_bytes] = 1
    if np.unique(row).size != row.size:
        raise AssertionError("two atomic operations issued in one cycle")

    # weight loads: cell i of stripe operation s issues at start(s-1) + i (i - 4 for s = 0)
    issue_base = np.concatenate([[-WT_TO_SHADOW], ops["start"][:-1]])
    s_w = np.repeat(s_idx, ak)
    cell = np.tile(np.arange(ak), n_ops)
    wrow = issue_base[s_w] + cell + CSC_REG + PRE
    slices = weights[ops["group"][s_w] * ak + cell, ops["block"][s_w], :, ops["tap"][s_w]]
    w = stim.wt
    for lane in range(ac):
        w[wrow, lane] = slices[:, lane].astype(np.uint8)
    _put_bits(w, wrow, ac, slices != 0)
    _put(w, wrow, ac + fmt.nz_bytes, cell, 2)
    w[wrow, ac + fmt.nz_bytes + 2] = 1
    if np.unique(wrow).size != wrow.size:
        raise AssertionError("two weight loads issued in one cycle")
    if wrow.min() < 0:
        raise AssertionError("weight load before the harness's first row")
    stim.cfg["cfg_clip_truncate"] = conv.clip_truncate & 31


def _dbuf_peak(schedule: LayerSchedule, cfg: HardwareConfig, channels: int) -> int:
    """Largest number of CACC finals waiting for SDP (the delivery FIFO's fill): the
    lanes of pixel j of a stripe are ready one cycle after its cacc.out cycle."""
    stream, sched = schedule.sdp_stream, schedule.conv
    ops, ak = sched.ops, cfg.atom_k
    per = sched.blocks * sched.taps
    cpad = cfg.channels_padded(channels)
    ready = []
    for g, t, n in zip(ops["group"][::per], ops["start"][per - 1::per], ops["length"][::per]):
        lanes = int(np.clip(cpad - g * ak, 0, ak))
        ready.append(np.repeat(t + np.arange(n) + 10, lanes))
    ready = np.sort(np.concatenate(ready)) if ready else np.zeros(0, np.int64)
    if not stream.start.size:
        return 0
    arrived = np.searchsorted(ready, stream.start, side="right")
    return int(np.max(arrived - np.arange(stream.start.size)))


def _sdp_rows(stim: LayerStimulus, layer: HardwareLayer, schedule: LayerSchedule,
              trace: LayerTrace, operands: list[Operands], cfg: HardwareConfig,
              params: RtlParams) -> None:
    sdp = layer.sdp
    stream = schedule.sdp_stream
    shape = trace.sdp_in.shape
    order, sigma = stream.order, stream.start
    rows = stim.sdp
    mem = not sdp.flying
    if mem:  # SDP_RDMA element, one cycle before it is held in sdp.in
        r = sigma - 1 + PRE
        _put(rows, r, 0, trace.sdp_in.reshape(-1)[order], 4)
        rows[r, 12] = 1
    bs_in = sigma
    bn_in = sigma + (3 if cfg.sdp_bs else 0)
    for x, ops, t_in, alu_off, mul_off, name in (
            (sdp.bs, operands[0], bs_in, 4, 6, "BS"), (sdp.bn, operands[1], bn_in, 8, 10, "BN")):
        if x.bypass:
            continue
        if x.alu_src and not x.alu_bypass:
            if ops.alu is None:
                raise UnsupportedLayer(f"layer {layer.name}: {name} ALU operand from memory "
                                       f"but its RDMA stream does not carry it")
            values = np.broadcast_to(ops.alu, shape).reshape(-1)[order]
            _put(rows, t_in + PRE, alu_off, values, 2)
        if x.mul_src and not x.mul_bypass:
            if ops.mul is None:
                raise UnsupportedLayer(f"layer {layer.name}: {name} MUL operand from memory "
                                       f"but its RDMA stream does not carry it")
            values = np.broadcast_to(ops.mul, shape).reshape(-1)[order]
            _put(rows, t_in + 1 + PRE, mul_off, values, 2)
    stim.cfg.setdefault("cfg_clip_truncate", 0)
    stim.cfg.update({"cfg_sdp_src_mem": int(mem), **_x_cfg("bs", sdp.bs), **_x_cfg("bn", sdp.bn),
                     "cfg_cvt_offset": sdp.cvt_offset & 0xFFFFFFFF,
                     "cfg_cvt_scale": sdp.cvt_scale & 0xFFFF, "cfg_cvt_shift": sdp.cvt_shift & 63})
