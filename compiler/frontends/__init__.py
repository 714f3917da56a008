"""Model importers producing :class:`compiler.ir.Graph`."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from compiler.ir import CompileError, Graph

if TYPE_CHECKING:
    import onnx


def load_onnx(path_or_model: str | os.PathLike[str] | onnx.ModelProto) -> Graph:
    """Import a quantized ONNX CNN (:mod:`compiler.frontends.onnx_model`).

    Imported lazily: ``onnx`` is an optional dependency (``pip install 'nvdla-fi[onnx]'``).
    """
    try:
        from compiler.frontends.onnx_model import load_onnx as load
    except ModuleNotFoundError as exc:
        if exc.name != "onnx":
            raise
        raise CompileError("importing ONNX models needs the onnx package: "
                           "pip install 'nvdla-fi[onnx]'") from None
    return load(path_or_model)


__all__ = ["load_onnx"]
