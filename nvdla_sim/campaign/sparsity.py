"""Activation sparsity of the golden runs: how many values of each tensor are zero.

Two zeros matter.  A *real* zero (``q == zero point``: what a ReLU makes, the
network's sparsity) and a *raw* zero (``q == 0``): the int8 value CMAC
multiplies.  With NVDLA's asymmetric int8 a ReLU zero is stored as the zero
point (-128 after a ReLU), not as 0, so a sparse tensor is not a tensor of
zero lanes: a flipped weight bit times -128 is not masked.  Both shares are
reported per tensor, over all campaign images.
"""

from __future__ import annotations

import numpy as np

from nvdla_sim.runner import ProgramRunner

SPARSITY_DTYPE = np.dtype([
    ("tensor", "S64"), ("layer", "<i2"), ("zero_point", "<i2"), ("elements", "<i8"),
    ("zero", "<i8"), ("raw_zero", "<i8"),
])


def golden_sparsity(runner: ProgramRunner, inputs: np.ndarray
                    ) -> tuple[np.ndarray, list[list[np.ndarray]]]:
    """Zero counts per tensor over ``inputs`` (int8 (N, C, H, W)), in program order, and
    each input's outputs (the runs are plain fault-free inferences).  ``layer`` is the
    first hardware layer writing the tensor (-1 for the network input)."""
    program = runner.program
    first = {}
    for index, info in enumerate(program.info):
        first.setdefault(info.output, index)
    names = [name for name in program.tensors if name in first or
             any(b.name == name for b in program.inputs)]
    counts = np.zeros((len(names), 3), np.int64)
    outputs = []
    for x in inputs:
        outputs.append(runner.run(x)[0])
        for row, name in enumerate(names):
            binding = program.tensors[name]
            q = runner.read_tensor(binding)
            counts[row] += (q.size, np.count_nonzero(q == binding.zero_point),
                            np.count_nonzero(q == 0))
    table = np.zeros(len(names), SPARSITY_DTYPE)
    table["tensor"] = [n.encode()[:64] for n in names]
    table["layer"] = [first.get(n, -1) for n in names]
    table["zero_point"] = [program.tensors[n].zero_point for n in names]
    table["elements"], table["zero"], table["raw_zero"] = counts.T
    return table, outputs


def sparsity_lines(table: np.ndarray, layers: list[str]) -> list[str]:
    """Markdown table of a ``golden/sparsity`` dataset."""
    lines = ["| tensor | written by | zero point | zero (real) | zero (raw int8 0) |",
             "|---|---|---|---|---|"]
    for row in table:
        writer = layers[row["layer"]] if 0 <= row["layer"] < len(layers) else "input"
        n = max(int(row["elements"]), 1)
        lines.append(f"| {row['tensor'].decode()} | {writer} | {row['zero_point']} | "
                     f"{row['zero'] / n * 100:.1f}% | {row['raw_zero'] / n * 100:.1f}% |")
    total = table["elements"].sum()
    if total:
        lines.append(f"| all | | | {table['zero'].sum() / total * 100:.1f}% | "
                     f"{table['raw_zero'].sum() / total * 100:.1f}% |")
    return lines
