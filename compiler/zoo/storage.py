"""Store a float graph and its int8 IR together in one ``.npz`` file.

A bundled pretrained model must give back exactly the int8 network it was
evaluated as, without recalibrating, and its float twin for ONNX export.  Both
graphs are dataclasses, so one generic encoding serves both: arrays (weights,
scales, biases) keep their dtype as ``npz`` members, every other field goes
into one JSON document (Python floats round-trip exactly).  Loading never
unpickles.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from compiler import ir
from compiler.ir import CompileError
from compiler.zoo.graph import OP_TYPES, FloatGraph

IR_NODE_TYPES: dict[str, type[ir.Node]] = {cls.__name__: cls for cls in (
    ir.Conv, ir.Add, ir.Pool, ir.GlobalAvgPool, ir.Concat, ir.Lrn, ir.Requant)}


def _encode_value(value: Any) -> Any:
    if isinstance(value, ir.Activation):
        return {"activation": [value.low, value.high]}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_decode_value(v) for v in value)
    if isinstance(value, dict):
        return ir.Activation(*value["activation"])
    return value


def _encode_nodes(section: str, nodes: Sequence[Any],
                  arrays: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    encoded = []
    for i, node in enumerate(nodes):
        attrs = {}
        for f in dataclasses.fields(node):
            value = getattr(node, f.name)
            if isinstance(value, np.ndarray):
                arrays[f"{section}/{i}/{f.name}"] = value
            else:
                attrs[f.name] = _encode_value(value)
        encoded.append({"type": type(node).__name__, "attrs": attrs})
    return encoded


def _decode_nodes(section: str, encoded: list[dict[str, Any]], types: Mapping[str, type],
                  data: Any) -> list[Any]:
    nodes = []
    for i, entry in enumerate(encoded):
        prefix = f"{section}/{i}/"
        arrays = {key[len(prefix):]: data[key] for key in data.files if key.startswith(prefix)}
        attrs = {k: _decode_value(v) for k, v in entry["attrs"].items()}
        nodes.append(types[entry["type"]](**attrs, **arrays))
    return nodes


def save_graphs(path: str | Path, float_graph: FloatGraph, int8_graph: ir.Graph,
                info: Mapping[str, Any]) -> None:
    """Write both graphs and ``info`` (JSON-able provenance, e.g. accuracies)."""
    arrays: dict[str, Any] = {}
    meta = {
        "info": dict(info),
        "float": {"name": float_graph.name, "input": float_graph.input,
                  "input_shape": float_graph.input_shape, "output": float_graph.output,
                  "nodes": _encode_nodes("float", float_graph.nodes, arrays)},
        "int8": {"name": int8_graph.name, "inputs": int8_graph.inputs,
                 "outputs": int8_graph.outputs,
                 "tensors": [[t.name, t.shape, t.quant.scale, t.quant.zero_point]
                             for t in int8_graph.tensors.values()],
                 "nodes": _encode_nodes("int8", int8_graph.nodes, arrays)},
    }
    np.savez_compressed(path, meta=np.array(json.dumps(meta)), **arrays)


def _open(path: str | Path) -> tuple[dict[str, Any], Any]:
    try:
        data = np.load(path, allow_pickle=False)
        return json.loads(str(data["meta"])), data
    except (OSError, KeyError, ValueError) as err:
        raise CompileError(f"{path}: not a model file written by save_graphs ({err})") from err


def load_info(path: str | Path) -> dict[str, Any]:
    return _open(path)[0]["info"]


def load_float_graph(path: str | Path) -> FloatGraph:
    meta, data = _open(path)
    g = meta["float"]
    return FloatGraph(g["name"], g["input"], tuple(g["input_shape"]),
                      tuple(_decode_nodes("float", g["nodes"], OP_TYPES, data)), g["output"])


def load_int8_graph(path: str | Path) -> ir.Graph:
    meta, data = _open(path)
    g = meta["int8"]
    tensors = {name: ir.Tensor(name, tuple(shape), ir.QuantParams(scale, zp))
               for name, shape, scale, zp in g["tensors"]}
    graph = ir.Graph(g["name"], tensors, _decode_nodes("int8", g["nodes"], IR_NODE_TYPES, data),
                     list(g["inputs"]), list(g["outputs"]))
    graph.validate()
    return graph
