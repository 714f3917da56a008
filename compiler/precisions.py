"""Compile precisions: what ``--precision`` selects (values, datapath, hardware config).

A compile precision is a number format for a network's values together with
the datapath that computes it:

======  =================================  ==========  ===============================
name    values                             datapath    hardware (default config)
======  =================================  ==========  ===============================
int8    int8 weights and activations       INT8        every NVDLA (nv_small)
int16   int16 weights and activations      INT16       nv_full only
fp16    IEEE binary16 (NVDLA's rules)      FP16        nv_full only
fp32    IEEE binary32                      FP32        none: a reference datapath
int4    4-bit weights, int8 activations    INT8        every NVDLA (nv_small)
======  =================================  ==========  ===============================

INT4 is not an NVDLA format: 4-bit weights (symmetric, in [-7, 7], within the
two's-complement [-8, 7]) occupy 8-bit lanes of the INT8 datapath; in weight
memory they are packed two per byte (:mod:`nvdla_sim.ecc.layout`).  FP32 is
not an NVDLA precision either: it is the same dataflow in binary32, for
comparison with studies that report FP32.  A float precision compiles the
network's float graph (:func:`compiler.quantize.float_ir`: batchnorms folded,
weights, biases and activations rounded to binary16 / binary32) with the same
lowering as the integer ones (:mod:`compiler.lower`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from compiler.ir import CompileError, Graph
from nvdla_sim.config import CONFIGS, HardwareConfig, get_config
from nvdla_sim.ecc.layout import WeightMemory, protection
from nvdla_sim.errors import ConfigError
from nvdla_sim.program import Program


@dataclass(frozen=True)
class CompilePrecision:
    name: str
    datapath: str  # the datapath precision (HardwareConfig.precision) that computes it
    default_config: str  # the configuration used when none is named
    weights: str  # number format of a stored weight (nvdla_sim.value_bits)
    activations: str  # number format of a stored activation
    integer: bool  # quantized integers (this compiler) or floats (the float lowering)
    nvdla: bool  # an NVDLA precision (False: a comparison format)
    note: str


PRECISIONS: dict[str, CompilePrecision] = {p.name: p for p in (
    CompilePrecision("int8", "int8", "nv_small", "int8", "int8", True, True,
                     "int8 weights (per channel) and activations (per tensor)"),
    CompilePrecision("int16", "int16", "nv_full", "int16", "int16", True, True,
                     "int16 weights (per channel) and activations (per tensor)"),
    CompilePrecision("fp16", "fp16", "nv_full", "fp16", "fp16", False, True,
                     "IEEE binary16 values, NVDLA's FP16 arithmetic"),
    CompilePrecision("fp32", "fp32", "nv_full", "fp32", "fp32", False, False,
                     "IEEE binary32 reference datapath (not an NVDLA precision)"),
    CompilePrecision("int4", "int8", "nv_small", "int4", "int8", True, False,
                     "4-bit weights in int8 lanes (packed in weight memory), int8 "
                     "activations"),
)}
DEFAULT = "int8"
WEIGHT_BITS_INT4 = 4


def get_compile_precision(name: str) -> CompilePrecision:
    try:
        return PRECISIONS[name]
    except KeyError:
        raise ConfigError(f"unknown precision {name!r}; expected one of "
                          f"{', '.join(PRECISIONS)}") from None


def select_config(precision: str, config: str | HardwareConfig | None = None
                  ) -> HardwareConfig:
    """The hardware configuration that runs ``precision``: ``config`` (a name, TOML file
    or config) set to compute it, or the precision's default; an error names the
    configurations that implement it when ``config`` does not."""
    prec = get_compile_precision(precision)
    hw = get_config(config if config is not None else prec.default_config)
    if prec.datapath not in hw.precisions:
        able = [c.name for c in CONFIGS.values() if prec.datapath in c.precisions]
        where = (f"choose the hardware config {' or '.join(able)}" if able else
                 "no built-in hardware config implements it")
        raise ConfigError(f"precision {precision}: hardware config {hw.name} implements "
                          f"{', '.join(hw.precisions)}, not the {prec.datapath} datapath; "
                          f"{where}")
    return hw.replace(precision=prec.datapath)


def quantize_for(graph, calibration: np.ndarray, precision: str) -> Graph:
    """The integer IR of float ``graph`` at an integer compile precision."""
    from compiler.quantize import quantize
    prec = get_compile_precision(precision)
    if not prec.integer:
        raise CompileError(f"precision {precision} is a float format; it is not quantized")
    if precision == "int4":
        return quantize(graph, calibration, weight_bits=WEIGHT_BITS_INT4)
    return quantize(graph, calibration, bits=16 if precision == "int16" else 8)


def compile_model(spec: str, precision: str = DEFAULT,
                  config: str | HardwareConfig | None = None,
                  input_shape: tuple[int, ...] | None = None, classes: int | None = None,
                  seed: int = 0) -> tuple[object, Program]:
    """Model ``spec`` (:func:`compiler.workloads.load_model`) at ``precision`` on the
    configuration that runs it: (its IR graph, integer or FP16 / FP32, and the program)."""
    from compiler.lower import lower
    from compiler.quantize import float_ir
    from compiler.workloads import load_model
    hw = select_config(precision, config)
    graph = load_model(spec, input_shape, classes, seed, precision)
    if not get_compile_precision(precision).integer:
        graph = float_ir(graph, precision)
    program = lower(graph, hw)
    if precision == "int4":
        program = dataclasses.replace(program, weight_bits=WEIGHT_BITS_INT4)
        packed_weights(program)  # the weights fit 4 bits (else a one-line error)
    return graph, program


def packed_weights(program: Program) -> WeightMemory:
    """The weight memory of an INT4 program: its weights packed two per byte, low nibble
    first, in CDMA's read order (:class:`nvdla_sim.ecc.layout.WeightMemory`, unprotected);
    ``.stored`` is the image, ``.decode`` the int8 lanes CDMA gets."""
    if program.weight_bits != WEIGHT_BITS_INT4:
        raise ConfigError(f"program {program.name}: weights are stored in "
                          f"{program.weight_bits or program.config.bpe}-bit lanes, not packed "
                          f"4-bit (compile with --precision int4)")
    return WeightMemory(program, protection("none", WEIGHT_BITS_INT4))


def check_graph(graph: Graph, precision: str) -> None:
    """An integer graph given as it is (an ONNX or model file) must already have the
    precision's values."""
    prec = get_compile_precision(precision)
    wanted = 16 if precision == "int16" else 8
    if not prec.integer or graph.bits != wanted:
        raise CompileError(f"model {graph.name} is an int{graph.bits} graph; --precision "
                           f"{precision} needs a zoo model (float weights to quantize)")
    if precision == "int4":
        for node in graph.nodes:
            w = getattr(node, "weight", None)
            if w is not None and (w.min() < -8 or w.max() > 7):
                raise CompileError(f"model {graph.name}: node {node.name} has weights in "
                                   f"[{w.min()}, {w.max()}], outside int4's [-8, 7]")
