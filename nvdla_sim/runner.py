"""Run a compiled :class:`~nvdla_sim.program.Program` on inputs: one image through memory,
or a batch of images layer by layer."""

from __future__ import annotations

import numpy as np

from nvdla_sim.executor import Executor, LayerTrace
from nvdla_sim.program import Program, TensorBinding


class ProgramRunner:
    """Keeps one memory with the program image; each run overwrites the activations."""

    def __init__(self, program: Program, constant_weights: bool = False) -> None:
        self.program = program
        self.config = program.config
        self.memory = program.memory()
        self.executor = Executor(program.config, constant_weights)
        self._batched = None  # BatchRunner sharing the executor's weight caches

    def write_tensor(self, binding: TensorBinding, q: np.ndarray) -> None:
        prec = binding.surface.precision
        cube = np.zeros((self.config.channels_padded(binding.surface.channels, prec),
                         *binding.shape[1:]), prec.dtype)
        cube[: binding.surface.channels] = q
        binding.surface.write(self.memory, self.config, cube)

    def read_tensor(self, binding: TensorBinding) -> np.ndarray:
        return binding.surface.read(self.memory, self.config)[: binding.surface.channels]

    def run(self, x_q: np.ndarray, keep: bool = False
            ) -> tuple[list[np.ndarray], list[LayerTrace | None]]:
        """One sample (int8, shape of the input tensor): int8 outputs and per-layer traces."""
        (binding,) = self.program.inputs
        if x_q.shape != binding.shape:
            raise ValueError(f"input has shape {x_q.shape}, the program expects {binding.shape}")
        self.write_tensor(binding, x_q)
        traces = [self.executor.run(layer, self.memory, keep=keep) for layer in self.program.layers]
        return [self.read_tensor(b) for b in self.program.outputs], traces

    def run_batch(self, x_q: np.ndarray) -> np.ndarray:
        """int8 batch (N, C, H, W) -> the first output for every sample, (N, C', H', W'):
        each layer runs once for a whole batch of images (one GEMM per convolution,
        :class:`~nvdla_sim.batched.BatchRunner`), with the executor's arithmetic, so the
        result equals :meth:`run_each`'s bit for bit."""
        if self._batched is None:
            from nvdla_sim.batched import BatchRunner  # it imports the fault model's dataflow
            self._batched = BatchRunner(self.program, self.executor)
        return self._batched.run(np.asarray(x_q, self.config.prec.dtype), self.memory)

    def run_each(self, x_q: np.ndarray) -> np.ndarray:
        """:meth:`run_batch` image by image through memory, as the hardware runs."""
        return np.stack([self.run(x)[0][0] for x in x_q])

    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        """Float input -> int8 with the program's input quantization (round half to even)."""
        (binding,) = self.program.inputs
        return binding.quantize(x)

    def dequantize_output(self, q: np.ndarray, index: int = 0) -> np.ndarray:
        b = self.program.outputs[index]
        with np.errstate(invalid="ignore"):  # a faulty float output may hold NaN / inf
            return (q.astype(np.float64) - b.zero_point) * b.scale
