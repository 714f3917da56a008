"""Register taps: how the fault model reaches inside a unit without the unit knowing.

Units pass each pipeline register's value through ``tap(register, value)``
and continue with what it returns.  The golden path uses :func:`no_tap`; the
fault model substitutes a function that corrupts one register.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Tap = Callable[[str, np.ndarray], np.ndarray]


def no_tap(name: str, value: np.ndarray) -> np.ndarray:
    return value
