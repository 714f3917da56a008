"""onnxruntime as the reference: quantize float ONNX models with it, and run them exactly.

``quantize_with_ort`` writes the QDQ model onnxruntime's ``quantize_static``
makes (per-channel int8 weights, int8 activations, BatchNormalization folded
by ``quant_pre_process`` first).  ``ort_outputs`` runs a model with graph
optimizations disabled: onnxruntime's fused int8 kernels saturate on CPUs
without VNNI (onnxruntime issues 14642, 16105), the plain QDQ graph does not.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np


def quantize_with_ort(float_model, calibration: np.ndarray):
    """The QDQ model of a float ONNX model, calibrated on ``calibration`` (N, C, H, W)."""
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quant_pre_process, quantize_static)
    logging.getLogger().setLevel(logging.ERROR)  # onnxruntime's advice on pre-processing

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{"input": x[None]} for x in calibration])

        def get_next(self):
            return next(self.batches, None)

    with tempfile.TemporaryDirectory() as tmp:
        src, pre, dst = (Path(tmp) / n for n in ("float.onnx", "pre.onnx", "qdq.onnx"))
        onnx.save(float_model, src)
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        quantize_static(str(pre), str(dst), Reader(), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QInt8,
                        weight_type=QuantType.QInt8)
        return onnx.load(dst)


def ort_session(model, optimized: bool = False, threads: int | None = None):
    """A CPU session; ``threads``: intra-op threads (None: onnxruntime's default)."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = options.inter_op_num_threads = threads
    options.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimized
                                        else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    return ort.InferenceSession(model.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


def ort_outputs(model, images: np.ndarray, optimized: bool = False) -> np.ndarray:
    """Outputs (N, classes) of ``model`` for float ``images``, one image per run."""
    session = ort_session(model, optimized)
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: x[None]})[0].reshape(1, -1)
                           for x in images.astype(np.float32)])
