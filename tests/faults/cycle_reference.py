"""An independent, deliberately literal reference for ``docs/timing-and-faults.md``.

Nothing here comes from ``nvdla_sim.timing`` or ``nvdla_sim.faults``: the
schedule (stripe lengths, stripe-operation start cycles, issue cycles,
pipeline offsets, shadow/active weight windows, assembly-buffer windows),
zero-lane gating, the 34-bit accumulation, CACC's rounding and the element
streams of SDP, PDP and CDP are re-derived from the document, written as
plain Python over Python integers.

* :class:`ConvCycleRef` runs the convolution core one clock cycle at a time,
  with an explicit variable per register instance (CMAC halves, MAC cells,
  assembly-buffer entries).  Each register is written by the clock edge that
  starts the cycle in which the document says it holds its value, and read in
  that cycle; a transient upset XORs the value right after the edge of its
  cycle, a stuck-at forces the bits on every write.  A flip is *live* when
  the corrupted value is read before the register is written again.
* :func:`sdp_stream_after_conv`, :func:`memory_stream`, :func:`pdp_outputs`,
  :func:`cdp_outputs` give, per cycle, which element each SDP/PDP/CDP
  register holds (one element per cycle, serialized in a FIFO).

The bit-exact units (``nvdla_sim.units.sdp/pdp/cdp``) are only used by the
tests to push the hand-corrupted values through the units that follow.
"""

from __future__ import annotations

from dataclasses import dataclass

LANE_BITS = 8  # int8 datapath: one byte per lane of an atom-wide register
ACC_BITS = 34  # assembly buffer
SUM_BITS = 35  # CACC adder output
OUT_BITS = 32  # CACC result register


# -- bit-level helpers ---------------------------------------------------------------------
@dataclass(frozen=True)
class Fault:
    """One fault as the document states it (cycle None for stuck-at models)."""

    register: str
    instance: int
    bit: int
    bits: int = 1
    model: str = "flip"
    cycle: int | None = None

    @property
    def transient(self) -> bool:
        return self.model == "flip"


def signed(raw: int, width: int) -> int:
    raw &= (1 << width) - 1
    return raw - (1 << width) if raw >> (width - 1) else raw


def corrupt(value: int, width: int, fault: Fault) -> int:
    """The value a ``width``-bit register holds once ``fault`` hits it."""
    mask = 0
    for b in range(fault.bit, fault.bit + fault.bits):
        if b < width:
            mask |= 1 << b
    raw = value & ((1 << width) - 1)
    if fault.model == "flip":
        raw ^= mask
    elif fault.model == "stuck0":
        raw &= ~mask
    elif fault.model == "stuck1":
        raw |= mask
    else:
        raise ValueError(fault.model)
    return signed(raw, width)


def corrupt_atom(lanes: tuple[int, ...], fault: Fault) -> tuple[int, ...]:
    """An atom-wide register: lane l is bits 8l .. 8l+7 of one wide word."""
    word = 0
    for lane, v in enumerate(lanes):
        word |= (v & 0xFF) << (LANE_BITS * lane)
    word = corrupt(word, LANE_BITS * len(lanes), fault) & ((1 << (LANE_BITS * len(lanes))) - 1)
    return tuple(signed(word >> (LANE_BITS * lane), LANE_BITS) for lane in range(len(lanes)))


def saturate(value: int, width: int) -> int:
    hi = (1 << (width - 1)) - 1
    lo = -(1 << (width - 1))
    return hi if value > hi else lo if value < lo else value


def round_half_away(value: int, shift: int) -> int:
    if shift == 0:
        return value
    mag = abs(value)
    q, r = divmod(mag, 1 << shift)
    if 2 * r >= (1 << shift):
        q += 1
    return -q if value < 0 else q


def stripe_lengths(pixels: int, atom_k: int) -> list[int]:
    out, left = [], pixels
    while left > 0:
        if left >= 4 * atom_k:
            n = 2 * atom_k
        elif left <= 2 * atom_k:
            n = left
        else:
            n = atom_k
        out.append(n)
        left -= n
    return out


# -- convolution core ------------------------------------------------------------------------
@dataclass(frozen=True)
class StripeOp:
    group: int
    stripe: int  # index of the stripe within the layer
    first: int  # first output pixel of the stripe
    length: int  # L
    block: int
    ty: int  # kernel row of the tap
    tx: int  # kernel column of the tap
    step: int  # n: position in the accumulation of its (group, stripe)
    start: int  # start cycle


@dataclass(slots=True)
class Rec:
    """What one register instance holds: written by the edge starting ``cycle``."""

    cycle: int
    tag: tuple  # (stripe op, pixel j) or (stripe op,) for weights
    value: object  # int, or a tuple of lanes
    nz: tuple | None = None  # non-zero flags of the fault-free lanes (atom registers)
    hit: bool = False  # holds a transient upset


@dataclass
class ConvResult:
    finals: dict[tuple[int, int], int]  # (kernel, pixel) -> value CACC hands to SDP
    out_cycle: dict[tuple[int, int, int], int]  # (group, stripe, j) -> cycle cacc.out holds it
    live: bool  # the upset was read before being overwritten
    cycles: int


class ConvCycleRef:
    """The convolution core of one layer, one cycle at a time (tiny layers only)."""

    def __init__(self, conv, data, weights, atom_c: int = 8, atom_k: int = 8) -> None:
        ac, ak = atom_c, atom_k
        self.ac, self.ak = ac, ak
        self.C, self.K = conv.in_channels, conv.kernels
        self.R, self.S = conv.kernel_height, conv.kernel_width
        self.Ho, self.Wo = conv.out_height, conv.out_width
        self.P = self.Ho * self.Wo
        self.B = -(-self.C // ac)
        self.G = -(-self.K // ak)
        self.N = self.B * self.R * self.S
        self.clip = conv.clip_truncate
        self.mac_width = 2 * LANE_BITS + (ac.bit_length() - 1)
        pad = signed(conv.pad_value, 8)
        H, W = conv.in_height, conv.in_width
        data = [[[int(v) for v in row] for row in ch] for ch in data]
        wts = [[[[int(v) for v in row] for row in tap] for tap in kc] for kc in weights]

        self.stripes: list[tuple[int, int]] = []
        first = 0
        for n in stripe_lengths(self.P, ak):
            self.stripes.append((first, n))
            first += n

        self.ops: list[StripeOp] = []
        start = ak
        for g in range(self.G):
            for si, (first, length) in enumerate(self.stripes):
                step = 0
                for b in range(self.B):
                    for ty in range(self.R):
                        for tx in range(self.S):
                            self.ops.append(StripeOp(g, si, first, length, b, ty, tx, step, start))
                            step += 1
                            start += max(length, ak)
        self.core_end = start

        # atomic operations: issue cycle -> (s, j); data atoms and weight slices
        self.issue_at: dict[int, tuple[int, int]] = {}
        self.atoms: dict[tuple[int, int], tuple[int, ...]] = {}
        self.slices: dict[tuple[int, int], tuple[int, ...]] = {}
        for s, op in enumerate(self.ops):
            for j in range(op.length):
                self.issue_at[op.start + j] = (s, j)
                oy, ox = divmod(op.first + j, self.Wo)
                iy = oy * conv.stride_y - conv.pad_top + op.ty * conv.dilation_y
                ix = ox * conv.stride_x - conv.pad_left + op.tx * conv.dilation_x
                lanes = []
                for lane in range(ac):
                    c = op.block * ac + lane
                    if c >= self.C:
                        lanes.append(0)
                    elif 0 <= iy < H and 0 <= ix < W:
                        lanes.append(data[c][iy][ix])
                    else:
                        lanes.append(pad)
                self.atoms[(s, j)] = tuple(lanes)
            for cell in range(ak):
                k = op.group * ak + cell
                lanes = []
                for lane in range(ac):
                    c = op.block * ac + lane
                    lanes.append(wts[k][c][op.ty][op.tx] if k < self.K and c < self.C else 0)
                self.slices[(s, cell)] = tuple(lanes)
        self._golden: dict[tuple[int, int, int], int] = {}

    # -- schedule facts the tests use for picking cycles ------------------------------------
    def issue(self, s: int, j: int) -> int:
        return self.ops[s].start + j

    def shadow_load(self, s: int, cell: int) -> int:
        return cell if s == 0 else self.ops[s - 1].start + 4 + cell

    def promotion(self, s: int) -> int:
        return self.ops[s].start + 4

    @property
    def end(self) -> int:
        return self.core_end + 10

    # -- the cycle loop ------------------------------------------------------------------------
    @staticmethod
    def _nz(lanes: tuple[int, ...]) -> tuple[bool, ...]:
        return tuple(v != 0 for v in lanes)

    def _psum(self, s: int, j: int, cell: int, d: Rec, w: Rec) -> int:
        if d.value == self.atoms[(s, j)] and w.value == self.slices[(s, cell)]:
            key = (s, j, cell)
            if key not in self._golden:
                self._golden[key] = sum(a * b for a, b in zip(d.value, w.value))
            return self._golden[key]
        # a product lane is enabled only when both fault-free bytes are non-zero
        return sum(a * b for a, b, en_d, en_w in zip(d.value, w.value, d.nz, w.nz)
                   if en_d and en_w)

    def simulate(self, fault: Fault | None = None) -> ConvResult:
        ak = self.ak
        names = {"cmac.dat_in": 2, "pre": ak, "cmac.dat_actv": ak, "cmac.wt_sd": ak,
                 "cmac.wt_actv": ak, "cmac.sum_out": ak, "stage6": ak, "cmac.mac_out": ak,
                 "cacc.sum": ak, "cacc.abuf": 2 * ak * ak, "cacc.out": ak}
        widths = {"cmac.sum_out": self.mac_width, "stage6": self.mac_width,
                  "cmac.mac_out": self.mac_width, "cacc.sum": SUM_BITS, "cacc.abuf": ACC_BITS,
                  "cacc.out": OUT_BITS}
        reg: dict[str, list[Rec | None]] = {n: [None] * k for n, k in names.items()}
        if fault is not None and fault.register not in reg:
            raise KeyError(fault.register)
        live = False
        finals: dict[tuple[int, int], int] = {}
        out_cycle: dict[tuple[int, int, int], int] = {}

        # shadow loads and promotions, by the edge that performs them
        loads: dict[int, list[tuple[int, int]]] = {}
        promos: dict[int, int] = {}
        for s in range(len(self.ops)):
            for cell in range(ak):
                loads.setdefault(self.shadow_load(s, cell), []).append((s, cell))
            promos[self.promotion(s)] = s

        def read(name: str, inst: int) -> Rec:
            nonlocal live
            rec = reg[name][inst]
            if rec.hit:
                live = True
            return rec

        stuck_at = None if fault is None or fault.transient else (fault.register,
                                                                  fault.instance)

        def stuck(name: str, inst: int, rec: Rec) -> Rec:
            """A stuck-at forces its bits on every value written into the register."""
            if isinstance(rec.value, tuple):
                return Rec(rec.cycle, rec.tag, corrupt_atom(rec.value, fault), rec.nz)
            return Rec(rec.cycle, rec.tag, corrupt(rec.value, widths[name], fault), rec.nz)

        flip_cycle = fault.cycle if fault is not None and fault.transient else None
        writes: list[tuple[str, int, Rec]] = []  # for the next edge
        csc1: tuple[int, int] | None = None  # CSC's issue register (not a fault target)
        issued: tuple[int, int] | None = None
        for c in range(self.end):
            # ---- the clock edge that starts cycle c -------------------------------------
            edge = list(writes)
            if csc1 is not None:  # issue + 2: the data atom reaches both CMAC halves
                s, j = csc1
                atom = self.atoms[(s, j)]
                for h in range(2):
                    edge.append(("cmac.dat_in", h, Rec(c, (s, j), atom, self._nz(atom))))
            csc1 = issued
            if c in promos:  # active <- shadow (the shadow value held during c - 1)
                s = promos[c]
                for cell in range(ak):
                    rec = read("cmac.wt_sd", cell)
                    assert rec.tag == (s,), (c, cell, rec.tag, s)
                    edge.append(("cmac.wt_actv", cell, Rec(c, (s,), rec.value, rec.nz)))
            for s, cell in loads.get(c, ()):  # one kernel slice per cycle into the shadow
                sl = self.slices[(s, cell)]
                edge.append(("cmac.wt_sd", cell, Rec(c, (s,), sl, self._nz(sl))))
            fresh: dict[str, list[int]] = {}
            for name, inst, rec in edge:
                if stuck_at is not None and stuck_at == (name, inst):
                    rec = stuck(name, inst, rec)
                reg[name][inst] = rec
                fresh.setdefault(name, []).append(inst)
            writes = []
            issued = self.issue_at.get(c)

            # ---- a transient upset right after the edge -----------------------------------
            if c == flip_cycle:
                rec = reg[fault.register][fault.instance]
                if rec is not None:
                    if isinstance(rec.value, tuple):
                        value = corrupt_atom(rec.value, fault)
                    else:
                        value = corrupt(rec.value, widths[fault.register], fault)
                    reg[fault.register][fault.instance] = Rec(rec.cycle, rec.tag, value, rec.nz,
                                                              hit=True)

            # ---- what the logic reads during cycle c ------------------------------------
            for h in fresh.get("cmac.dat_in", ()):
                rec = read("cmac.dat_in", h)
                for cell in range(h * ak // 2, (h + 1) * ak // 2):
                    writes.append(("pre", cell, Rec(c + 1, rec.tag, rec.value, rec.nz)))
            for cell in fresh.get("pre", ()):
                rec = read("pre", cell)
                writes.append(("cmac.dat_actv", cell, Rec(c + 1, rec.tag, rec.value, rec.nz)))
            for cell in fresh.get("cmac.dat_actv", ()):
                d = read("cmac.dat_actv", cell)
                w = read("cmac.wt_actv", cell)
                s, j = d.tag
                assert w.tag == (s,), (c, cell, w.tag, s)
                ps = self._psum(s, j, cell, d, w)
                assert signed(ps, self.mac_width) == ps
                writes.append(("cmac.sum_out", cell, Rec(c + 1, d.tag, ps)))
            for src, dst in (("cmac.sum_out", "stage6"), ("stage6", "cmac.mac_out")):
                for cell in fresh.get(src, ()):
                    rec = read(src, cell)
                    writes.append((dst, cell, Rec(c + 1, rec.tag, rec.value)))
            for cell in fresh.get("cmac.mac_out", ()):
                rec = read("cmac.mac_out", cell)
                s, j = rec.tag
                op = self.ops[s]
                if op.step == 0:
                    running = 0
                else:
                    a = read("cacc.abuf", j * ak + cell)
                    assert a.tag == (s - 1, j), (c, cell, a.tag, s, j)
                    running = a.value
                writes.append(("cacc.sum", cell,
                               Rec(c + 1, rec.tag, signed(running + rec.value, SUM_BITS))))
            for cell in fresh.get("cacc.sum", ()):
                rec = read("cacc.sum", cell)
                s, j = rec.tag
                acc = saturate(rec.value, ACC_BITS)
                if self.ops[s].step < self.N - 1:
                    writes.append(("cacc.abuf", j * ak + cell, Rec(c + 1, rec.tag, acc)))
                else:
                    final = saturate(round_half_away(acc, self.clip), OUT_BITS)
                    writes.append(("cacc.out", cell, Rec(c + 1, rec.tag, final)))
            for cell in fresh.get("cacc.out", ()):
                rec = read("cacc.out", cell)
                s, j = rec.tag
                op = self.ops[s]
                finals[(op.group * ak + cell, op.first + j)] = rec.value
                out_cycle[(op.group, op.stripe, j)] = c
        assert not writes and len(finals) == self.G * ak * self.P
        return ConvResult(finals, out_cycle, live, self.end)

    def sdp_input(self, result: ConvResult, channels_padded: int):
        """The int32 cube entering SDP [Cpad][Ho][Wo] as nested lists."""
        cube = [[[0] * self.Wo for _ in range(self.Ho)] for _ in range(channels_padded)]
        for (k, p), v in result.finals.items():
            if k < channels_padded:
                oy, ox = divmod(p, self.Wo)
                cube[k][oy][ox] = v
        return cube


# -- element streams -------------------------------------------------------------------------
def serialize(ready: list[tuple[int, tuple]]) -> list[tuple[int, tuple]]:
    """One element per cycle, FIFO: each takes the next free cycle no earlier than ready."""
    out, free = [], None
    for t, elem in sorted(ready, key=lambda r: r[0]):  # stable: ties keep the given order
        cyc = t if free is None or t >= free else free
        out.append((cyc, elem))
        free = cyc + 1
    return out


def sdp_stream_after_conv(ref: ConvCycleRef, result: ConvResult, channels_padded: int
                          ) -> list[tuple[int, tuple]]:
    """(sigma, (c, y, x)) of every element entering SDP behind the convolution core."""
    ready = []
    for g in range(ref.G):
        for si, (first, length) in enumerate(ref.stripes):
            for j in range(length):
                oy, ox = divmod(first + j, ref.Wo)
                for lane in range(ref.ak):
                    k = g * ref.ak + lane
                    if k < channels_padded:
                        ready.append((result.out_cycle[(g, si, j)] + 1, (k, oy, ox)))
    return serialize(ready)


def memory_stream(channels_padded: int, height: int, width: int, atom: int, latency: int
                  ) -> list[tuple[int, tuple]]:
    """Elements read from memory: per surface, line, pixel, lane; first at ``latency``."""
    out = []
    for surf in range(channels_padded // atom):
        for y in range(height):
            for x in range(width):
                for lane in range(atom):
                    out.append((latency + len(out), (surf * atom + lane, y, x)))
    return out


def pdp_outputs(pdp, arrival: dict[tuple, int], channels_padded: int
                ) -> list[tuple[int, tuple]]:
    """(cycle pdp.acc holds it, (c, oy, ox)) of every pooled element."""
    done = []
    for c in range(channels_padded):
        for oy in range(pdp.out_height):
            for ox in range(pdp.out_width):
                last = None
                for ky in range(pdp.kernel_height):
                    for kx in range(pdp.kernel_width):
                        y = oy * pdp.stride_y - pdp.pad_top + ky
                        x = ox * pdp.stride_x - pdp.pad_left + kx
                        if 0 <= y < pdp.in_height and 0 <= x < pdp.in_width:
                            t = arrival[(c, y, x)]
                            last = t if last is None else max(last, t)
                done.append((last + 1, (c, oy, ox)))
    return serialize(done)


def cdp_outputs(cdp, arrival: dict[tuple, int], channels_padded: int
                ) -> list[tuple[int, tuple]]:
    """(cycle cdp.sqsum holds it, (c, y, x)): two cycles after its window's last channel."""
    half = cdp.normalz_len + 1  # NORMALZ_LEN 0..3: windows of 3, 5, 7, 9 channels
    done = []
    for c in range(channels_padded):
        for y in range(cdp.height):
            for x in range(cdp.width):
                last = max(arrival[(cc, y, x)] for cc in range(c - half, c + half + 1)
                           if 0 <= cc < channels_padded)
                done.append((last + 2, (c, y, x)))
    return serialize(done)


def at_cycle(stream: list[tuple[int, tuple]], cycle: int) -> tuple | None:
    for t, elem in stream:
        if t == cycle:
            return elem
    return None
