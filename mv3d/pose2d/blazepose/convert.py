"""Convert MediaPipe's BlazePose TFLite models into state_dicts of mv3d's own torch modules.

    python -m mv3d.pose2d.blazepose.convert --src DIR --out data/weights

DIR holds (searched recursively) ``pose_detection.tflite`` (PyPI wheel mediapipe==0.10.21) and
``pose_landmark_{lite,full,heavy}.tflite`` (npm package @mediapipe/pose@0.5.1675469404). Needs the PyPI package
``tflite`` (``pip install mv3d[convert]``) to parse the flatbuffers; nothing else from TensorFlow.

The weights are matched to the torch modules by data flow, not by name or order: every convolution of both graphs
gets a signature made of its kind, weight shape and stride, of the signatures of the convolutions upstream (up to
the input) and downstream (up to the named outputs), other operations being transparent (adds and concatenations
combine their inputs). Each torch convolution must find exactly one TFLite convolution with the same signature,
so a wrong architecture fails loudly instead of loading shuffled weights. The fp16 weights are stored as fp16
(lossless); the graphs' BatchNorms are already folded into the convolution biases.
"""
from __future__ import annotations

import argparse
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from mv3d.pose2d.blazepose.networks import DetectorNet, LandmarkNet

log = logging.getLogger(__name__)

#: file name -> (torch module factory, output names in the module's return order, the TFLite outputs they are)
MODELS = {
    "pose_detection.tflite": ("blazepose_detector", DetectorNet, {"Identity": 0, "Identity_1": 1}),
    **{f"pose_landmark_{v}.tflite": (f"blazepose_landmark_{v}", lambda v=v: LandmarkNet(v),
                                     {"Identity": 0, "Identity_1": 1, "Identity_3": 2, "Identity_4": 3})
       for v in ("lite", "full", "heavy")},
}
_TRANSPARENT_TFLITE = {"PAD", "MAX_POOL_2D", "RESIZE_BILINEAR", "RESHAPE", "LOGISTIC", "DEPTH_TO_SPACE"}


@dataclass
class Node:
    """One operation of a data-flow graph: ``kind`` is conv, add, cat or pass (transparent)."""

    kind: str
    inputs: list            # tensor keys (data inputs only)
    output: object          # tensor key
    label: tuple = ()       # conv: (depthwise, torch weight shape, stride)
    weights: dict = field(default_factory=dict)  # conv: weight/bias arrays, or the torch module name


def _digest(*parts) -> str:
    return hashlib.sha1(repr(parts).encode()).hexdigest()[:16]


def conv_signatures(nodes: list[Node], inputs: list, outputs: dict) -> dict[int, str]:
    """Signature of every conv node (index into ``nodes``) from the graph upstream and downstream of it.

    nodes in topological order; inputs: graph input keys; outputs: tensor key -> output name.
    """
    up = {k: "input" for k in inputs}
    for n in nodes:
        sigs = [up.get(i) for i in n.inputs]
        if n.kind == "conv":
            up[n.output] = _digest("conv", n.label, sigs[0])
        elif n.kind == "add":
            up[n.output] = _digest("add", sorted(map(str, sigs)))
        elif n.kind == "cat":
            up[n.output] = _digest("cat", sigs)
        elif sigs:
            up[n.output] = sigs[0]
    down_parts: dict = {k: [("out", name)] for k, name in outputs.items()}
    down: dict = {}
    for n in reversed(nodes):
        if n.output not in down_parts:
            continue  # does not reach a kept output (e.g. the segmentation head)
        down[n.output] = _digest(sorted(map(str, down_parts[n.output])))
        for pos, i in enumerate(n.inputs):
            if n.kind == "pass":
                down_parts.setdefault(i, []).extend(down_parts[n.output])
                continue
            part = {"conv": ("conv", n.label), "cat": ("cat", pos), "add": ("add",)}[n.kind]
            down_parts.setdefault(i, []).append(part + (down[n.output],))
    return {i: _digest(up[n.output], down[n.output]) for i, n in enumerate(nodes)
            if n.kind == "conv" and n.output in down}


# ----------------------------------------------------------------------------------------------------------
# TFLite side
# ----------------------------------------------------------------------------------------------------------

def _constant(model, graph, index: int) -> np.ndarray:
    """A constant tensor's values (float16/float32/int32), densified when stored sparse."""
    import tflite

    t = graph.Tensors(index)
    dtype = {tflite.TensorType.FLOAT16: np.float16, tflite.TensorType.FLOAT32: np.float32,
             tflite.TensorType.INT32: np.int32}[t.Type()]
    raw = model.Buffers(t.Buffer()).DataAsNumpy()
    values = np.frombuffer(np.asarray(raw, dtype=np.uint8).tobytes(), dtype=dtype)
    shape = tuple(int(s) for s in t.ShapeAsNumpy())
    sparsity = t.Sparsity()
    return values.reshape(shape) if sparsity is None else _densify(sparsity, values, shape)


def _index_vector(kind: int, table) -> np.ndarray:
    import tflite

    vec = {tflite.SparseIndexVector.Int32Vector: tflite.Int32Vector,
           tflite.SparseIndexVector.Uint16Vector: tflite.Uint16Vector,
           tflite.SparseIndexVector.Uint8Vector: tflite.Uint8Vector}[kind]()
    vec.Init(table.Bytes, table.Pos)
    return vec.ValuesAsNumpy().astype(np.int64)


def _densify(sparsity, values: np.ndarray, shape: tuple) -> np.ndarray:
    """Dense array from TFLite's sparse format, in the layout these models use: leading dimensions dense, the last
    one compressed (CSR), identity traversal order, no blocks."""
    dims = [sparsity.DimMetadata(d) for d in range(sparsity.DimMetadataLength())]
    order = list(sparsity.TraversalOrderAsNumpy())
    if order != list(range(len(shape))) or sparsity.BlockMapLength() or \
            any(d.Format() != 0 for d in dims[:-1]) or dims[-1].Format() != 1:
        raise ValueError(f"unsupported sparse layout (traversal {order}, formats {[d.Format() for d in dims]})")
    last = dims[-1]
    segments = _index_vector(last.ArraySegmentsType(), last.ArraySegments())
    columns = _index_vector(last.ArrayIndicesType(), last.ArrayIndices())
    rows = int(np.prod(shape[:-1]))
    dense = np.zeros((rows, shape[-1]), dtype=values.dtype)
    row_of = np.repeat(np.arange(rows), np.diff(segments))
    dense[row_of, columns] = values
    return dense.reshape(shape)


def read_tflite(path: Path) -> tuple[list[Node], list, dict]:
    """Data-flow graph of a TFLite model: (nodes, input keys, {output key: output name})."""
    import tflite

    model = tflite.Model.GetRootAsModel(path.read_bytes(), 0)
    graph = model.Subgraphs(0)
    names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
    constants: dict[int, np.ndarray] = {}
    nodes = []
    for k in range(graph.OperatorsLength()):
        op = graph.Operators(k)
        code = model.OperatorCodes(op.OpcodeIndex())
        name = names[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
        ins, out = [int(i) for i in op.InputsAsNumpy()], int(op.Outputs(0))
        if name in ("DEQUANTIZE", "DENSIFY"):
            src = constants[ins[0]] if ins[0] in constants else _constant(model, graph, ins[0])
            constants[out] = src
        elif name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            nodes.append(_tflite_conv(name, op, ins, out, constants, model, graph))
        elif name == "ADD":
            nodes.append(Node("add", ins, out))
        elif name == "CONCATENATION":
            nodes.append(Node("cat", ins, out))
        elif name in _TRANSPARENT_TFLITE:
            nodes.append(Node("pass", ins[:1], out))
        else:
            raise ValueError(f"{path.name}: operator {name} (op {k}) is not handled by the converter")
    outputs = {int(i): graph.Tensors(int(i)).Name().decode() for i in graph.OutputsAsNumpy()}
    return nodes, [int(i) for i in graph.InputsAsNumpy()], outputs


def _tflite_conv(name, op, ins, out, constants, model, graph) -> Node:
    import tflite

    w = constants[ins[1]] if ins[1] in constants else _constant(model, graph, ins[1])
    b = constants[ins[2]] if ins[2] in constants else _constant(model, graph, ins[2])
    opts = op.BuiltinOptions()
    o = tflite.Conv2DOptions() if name == "CONV_2D" else tflite.DepthwiseConv2DOptions()
    o.Init(opts.Bytes, opts.Pos)
    if name == "CONV_2D":
        w = w.transpose(0, 3, 1, 2)   # (O, kh, kw, I) -> (O, I, kh, kw)
    else:
        if o.DepthMultiplier() != 1:
            raise ValueError("depthwise convolutions with a depth multiplier are not handled")
        w = w.transpose(3, 0, 1, 2)   # (1, kh, kw, C) -> (C, 1, kh, kw)
    label = (name == "DEPTHWISE_CONV_2D", tuple(w.shape), o.StrideH())
    return Node("conv", ins[:1], out, label, {"weight": w, "bias": b})


# ----------------------------------------------------------------------------------------------------------
# torch side
# ----------------------------------------------------------------------------------------------------------

class _Recorder(TorchFunctionMode):
    """Records the data flow of a forward pass: every torch function call with its tensor inputs and output."""

    def __init__(self, params: dict[int, str]):
        super().__init__()
        self.params = params
        self.nodes: list[Node] = []
        self.keep: list = []  # holds every tensor so that ids stay unique

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if not isinstance(out, torch.Tensor):
            return out
        flat = [a for a in args if isinstance(a, torch.Tensor)]
        if func is torch.cat:
            flat = list(args[0])
        data = [t for t in flat if id(t) not in self.params]
        if any(out is t for t in data):
            return out  # an in-place activation: same tensor, nothing new in the data flow
        self.keep += flat + [out]
        if func is torch.nn.functional.conv2d:
            weight = args[1]
            name = self.params[id(weight)].rsplit(".", 1)[0]
            stride = kwargs.get("stride") if kwargs else args[3]
            stride = stride[0] if isinstance(stride, (tuple, list)) else stride
            depthwise = weight.shape[1] == 1 and weight.shape[0] > 1
            self.nodes.append(Node("conv", [id(data[0])], id(out), (depthwise, tuple(weight.shape), stride),
                                   {"module": name}))
        elif func in (torch.Tensor.__add__, torch.add, torch.Tensor.add) and len(data) == 2:
            self.nodes.append(Node("add", [id(t) for t in data], id(out)))
        elif func is torch.cat:
            self.nodes.append(Node("cat", [id(t) for t in data], id(out)))
        elif data:
            self.nodes.append(Node("pass", [id(data[0])], id(out)))
        return out


def trace_torch(model: nn.Module, input_size: int) -> tuple[list[Node], list, dict]:
    """Data-flow graph of a torch module's forward pass: (nodes, input keys, {output key: output position})."""
    params = {id(p): name for name, p in model.named_parameters()}
    x = torch.zeros(1, 3, input_size, input_size)
    rec = _Recorder(params)
    with torch.no_grad(), rec:
        outs = model(x)
    return rec.nodes, [id(x)], {id(o): i for i, o in enumerate(outs)}


def convert(path: Path) -> tuple[str, nn.Module, dict]:
    """(output stem, torch module with the converted weights, fp16 state_dict) for one TFLite file."""
    stem, factory, output_map = MODELS[path.name]
    model = factory().eval()
    tf_nodes, tf_inputs, tf_outputs = read_tflite(path)
    kept = {k: output_map[name] for k, name in tf_outputs.items() if name in output_map}
    input_size = 224 if isinstance(model, DetectorNet) else 256
    pt_nodes, pt_inputs, pt_outputs = trace_torch(model, input_size)
    tf_sigs = conv_signatures(tf_nodes, tf_inputs, kept)
    pt_sigs = conv_signatures(pt_nodes, pt_inputs, pt_outputs)
    by_sig: dict[str, list[int]] = {}
    for i, s in tf_sigs.items():
        by_sig.setdefault(s, []).append(i)
    state = {}
    for i, s in pt_sigs.items():
        module = pt_nodes[i].weights["module"]
        match = by_sig.get(s, [])
        if len(match) != 1:
            raise ValueError(f"{path.name}: torch layer {module} {pt_nodes[i].label} matches {len(match)} TFLite "
                             "convolutions; the torch architecture does not follow the graph")
        w = tf_nodes[match[0]].weights
        state[f"{module}.weight"] = torch.from_numpy(np.array(w["weight"]))
        state[f"{module}.bias"] = torch.from_numpy(np.array(w["bias"]))
    if len(state) != 2 * len(tf_sigs) or len(pt_sigs) != len(tf_sigs):
        raise ValueError(f"{path.name}: {len(tf_sigs)} TFLite convolutions reach the outputs, the torch module "
                         f"has {len(pt_sigs)}")
    state = {k: v.to(torch.float16) for k, v in state.items()}
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return stem, model, state


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", type=Path, required=True, help="folder holding the .tflite files")
    parser.add_argument("--out", type=Path, default=Path("data/weights"))
    parser.add_argument("--models", nargs="*", default=["pose_detection.tflite", "pose_landmark_full.tflite",
                                                        "pose_landmark_heavy.tflite"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.models:
        found = sorted(args.src.rglob(name))
        if not found:
            raise SystemExit(f"{name} not found under {args.src}")
        stem, _, state = convert(found[0])
        target = args.out / f"{stem}.pt"
        torch.save({"state_dict": state, "source": name, "source_sha256": sha256(found[0])}, target)
        log.info("%s -> %s (%d tensors, %.1f MB)", found[0], target, len(state), target.stat().st_size / 1e6)


if __name__ == "__main__":
    main()
