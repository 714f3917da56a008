"""Fault sites to test: every instance, a spread of bits, cycles in every region.

Cycles are picked from the reference's own schedule (tests.faults.cycle_reference):
the first and last cycle of live windows, the cycles just outside them (dead:
idle, already consumed, or before the value arrives), promotions, stripe gaps,
plus seeded random cycles over the whole layer.
"""

from __future__ import annotations

import random

from tests.faults.cycle_reference import ConvCycleRef, Fault

# (bit, bits): sign bits of lanes 0..3 (real channels in every block of the test layers),
# low bits, upsets spanning two lanes, and lanes that are zero in a partial channel block
ATOM_BITS = [(7, 1), (0, 1), (15, 1), (31, 1), (63, 1), (6, 3), (22, 2), (62, 3), (39, 1),
             (14, 3), (23, 1), (47, 1)]


def scalar_bits(width: int) -> list[tuple[int, int]]:
    return [(0, 1), (width - 1, 1), (width - 2, 1), (width // 2, 1), (3, 3), (width - 2, 3),
            (width - 3, 2), (1, 2)]


def bits_for(register: str, width: int) -> list[tuple[int, int]]:
    return ATOM_BITS if width == 64 else scalar_bits(width)


def _spread(register, width, instances, live, edge, idle, limit, seed, cycles_total):
    """Faults for (instance, cycle) pairs: two from ``idle`` (before the register is first
    written, after the layer: always dead), about a quarter from ``edge`` (just outside
    live windows, gaps), the rest from ``live`` (window boundaries) and seeded random
    cycles; every instance at least once; bits round-robin."""
    rng = random.Random(f"{register}/{seed}")
    randoms = [(rng.randrange(instances), rng.randrange(cycles_total + 4))
               for _ in range(max(4, limit // 4))]

    def unique(pairs):
        seen, out = set(), []
        for p in pairs:
            if p not in seen and p[1] >= 0:
                seen.add(p)
                out.append(p)
        rng.shuffle(out)
        return out

    idle = unique(idle)
    edge = [p for p in unique(edge) if p not in idle]
    live = [p for p in unique(live + randoms) if p not in idle and p not in edge]
    chosen = idle[:2] + edge[: max(1, limit // 4)]
    chosen += [p for p in live if p not in chosen][: limit - len(chosen)]
    covered = {p[0] for p in chosen}
    for p in live + edge:  # every instance somewhere
        if p[0] not in covered:
            chosen.append(p)
            covered.add(p[0])
    bits = bits_for(register, width)
    return [Fault(register, inst, *bits[i % len(bits)], model="flip", cycle=cyc)
            for i, (inst, cyc) in enumerate(sorted(chosen, key=lambda p: (p[1], p[0])))]


def conv_sites(ref: ConvCycleRef, register: str, width: int, instances: int, limit: int,
               seed: int = 0) -> list[Fault]:
    ops, ak = ref.ops, ref.ak
    # interesting stripe operations: first, middle and last step of every (group, stripe)
    chosen_ops = []
    for s, op in enumerate(ops):
        if op.step in (0, ref.N // 2, ref.N - 1):
            chosen_ops.append(s)
    live: list[tuple[int, int]] = []
    edge: list[tuple[int, int]] = []
    idle: list[tuple[int, int]] = []
    offsets = {"cmac.dat_in": 2, "cmac.dat_actv": 4, "cmac.sum_out": 5, "cmac.mac_out": 7,
               "cacc.sum": 8, "cacc.out": 9}
    if register in offsets:
        off = offsets[register]
        for n, s in enumerate(chosen_ops):
            op = ops[s]
            inst = n % instances
            if register == "cacc.out" and op.step != ref.N - 1:
                continue  # the result register holds results of the last step only
            live += [(inst, ref.issue(s, 0) + off), (inst, ref.issue(s, op.length - 1) + off),
                     ((inst + 1) % instances, ref.issue(s, op.length // 2) + off)]
            if op.length < ak:  # the gap of a short stripe
                edge += [(inst, ref.issue(s, op.length) + off),
                         (inst, ref.issue(s, ak - 1) + off)]
        last_steps = [s for s in chosen_ops if ops[s].step == ref.N - 1]
        for inst in range(instances):  # every instance live somewhere
            s = last_steps[inst % len(last_steps)]
            live.append((inst, ref.issue(s, (inst * 5) % ops[s].length) + off))
        idle += [(0, off - 1), (instances - 1, 0), (0, ref.end + 2)]
        edge.append((instances - 1, ref.core_end + off))
        if register == "cacc.out":  # the result register after a step that is not the last
            edge += [(n % instances, ref.issue(s, 0) + off) for n, s in enumerate(chosen_ops)
                     if ops[s].step != ref.N - 1]
    elif register == "cmac.wt_sd":
        for n, s in enumerate(chosen_ops):
            cell = n % ak
            lo, hi = ref.shadow_load(s, cell), ref.promotion(s) - 1
            live += [(cell, lo), (cell, hi), ((cell + 3) % ak, (lo + hi) // 2)]
            edge += [(cell, lo - 1), (cell, hi + 1)]
        for cell in range(ak):
            s = chosen_ops[(cell * 7) % len(chosen_ops)]
            live.append((cell, ref.promotion(s) - 1))
        idle += [(ak - 1, 0), (ak - 1, ak - 2), (0, ref.core_end + 5)]
    elif register == "cmac.wt_actv":
        for n, s in enumerate(chosen_ops):
            cell = n % ak
            op = ops[s]
            lo, hi = ref.promotion(s), ref.promotion(s) + op.length - 1
            live += [(cell, lo), (cell, hi), ((cell + 5) % ak, lo + op.length // 2)]
            edge += [(cell, lo - 1), (cell, hi + 1)]
        for cell in range(ak):
            s = chosen_ops[(cell * 7) % len(chosen_ops)]
            live.append((cell, ref.promotion(s) + ops[s].length - 1))
        idle += [(0, ak + 3), (ak - 1, ref.core_end + 4)]
    elif register == "cacc.abuf":
        for n, s in enumerate(chosen_ops):
            op = ops[s]
            e = n % (2 * ak)
            lane = (n * 3) % ak
            inst = e * ak + lane
            if op.step < ref.N - 1:
                ee = e % op.length
                lo, hi = ref.issue(s, ee) + 9, ref.issue(s + 1, ee) + 7
                inst = ee * ak + lane
                live += [(inst, lo), (inst, hi)]
                edge += [(inst, lo - 1), (inst, hi + 1)]
            edge.append((e * ak + lane, ref.issue(s, 0) + 12))  # e may lie beyond the stripe
        idle += [(5, 0), (2 * ak * ak - 1, ref.end + 1), (0, ref.issue(0, 0) + 8)]
        for e in range(2 * ak):  # every entry, every lane, somewhere in the middle
            live.append((e * ak + (e % ak), ops[len(ops) // 2].start + e + 20))
    else:
        raise KeyError(register)
    return _spread(register, width, instances, live, edge, idle, limit, seed, ref.end)


def stream_sites(register: str, width: int, stream: list[tuple[int, tuple]], offset: int,
                 limit: int, total: int, seed: int = 0) -> list[Fault]:
    """Sites for a one-element-per-cycle register: first/last element, random elements,
    gaps in the stream and the cycles just outside it."""
    cycles = sorted(t + offset for t, _ in stream)
    present = set(cycles)
    live = [(0, cycles[0]), (0, cycles[-1])]
    idle = [(0, cycles[0] - 1), (0, cycles[-1] + 1), (0, 0)]
    edge = []
    gaps = [c for c in range(cycles[0], cycles[-1]) if c not in present]
    rng = random.Random(f"{register}/gaps/{seed}")
    edge += [(0, c) for c in rng.sample(gaps, min(4, len(gaps)))]
    live += [(0, c) for c in rng.sample(cycles, min(limit, len(cycles)))]
    return _spread(register, width, 1, live, edge, idle, limit, seed, total)


def stuck_sites(register: str, width: int, instances: int) -> list[Fault]:
    """stuck-at-1 and stuck-at-0 on several instances and bits (sign bits included)."""
    if width == 64:
        spec = [("stuck1", 7, 1), ("stuck0", 30, 1), ("stuck1", 62, 3), ("stuck0", 0, 2)]
    else:
        spec = [("stuck1", width - 1, 1), ("stuck0", width // 2, 1), ("stuck1", 3, 3),
                ("stuck0", 0, 2)]
    return [Fault(register, (n * 5 + 1) % instances, bit, nbits, model=model)
            for n, (model, bit, nbits) in enumerate(spec)]
