"""Check, over every pair of FP16 operand mantissas, where CMAC's Booth tree is exact.

``nvdla_sim.floatpath.cmac16.atomic`` computes the products of alignment shifts 0 and 4
directly, as ``floor(+-w*d / 2**shift)``; this script checks that ``booth_product`` (the
literal ``cal_fp16_booth``) gives exactly that for all 4608 x 4608 mantissa pairs and
both signs (about 85 million products, ~30 s), and counts where larger shifts differ.
Run: ``python tools/check_cmac16_shifts.py``.
"""

from __future__ import annotations

import numpy as np

from nvdla_sim.floatpath.cmac16 import booth_product


def main() -> None:
    frac = np.arange(1024)
    mants = np.unique(np.concatenate([(frac | 1024) << s for s in range(4)] + [frac << 1]))
    for shift in range(0, 32, 4):
        differ = 0
        for sign in (0, 1):
            for i in range(0, len(mants), 256):
                w, d = mants[i:i + 256, None], mants[None, :]
                got = booth_product(np.array([[sign]]), w, d, np.array([[shift]]))
                differ += int((got != ((-(w * d) if sign else w * d) >> shift)).sum())
        print(f"shift {shift:2d}: {differ} of {2 * len(mants) ** 2} products differ from "
              f"the floored exact product")


if __name__ == "__main__":
    main()
