"""Load OpenCap's published Keras marker augmenters (``model.json`` + ``weights.h5``) into torch.

Keras and torch LSTMs share the gate order (input, forget, cell, output) and the
cell equations. Keras stores ``kernel`` (in, 4H) and ``recurrent_kernel`` (H, 4H)
with one bias (4H,); torch stores ``weight_ih`` (4H, in), ``weight_hh`` (4H, H) and
two biases that are added. So weight = kernel.T and bias_ih = bias, bias_hh = 0.
The ``TimeDistributed(Dense)`` head is a per-frame linear layer, kernel (H, out).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from mv3d.augment.augmenter import Augmenter
from mv3d.augment.lstm import BodyPartModel, MarkerLSTM
from mv3d.augment.markers import LOWER_INPUTS, LOWER_OUTPUTS, REFERENCE, UPPER_INPUTS, UPPER_OUTPUTS
from mv3d.errors import InputError

#: (input keypoints, output markers) of OpenCap's v0.3+ models by folder suffix.
PART_NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "lower": (LOWER_INPUTS, LOWER_OUTPUTS),
    "upper": (UPPER_INPUTS, UPPER_OUTPUTS),
}


def _layers(model_json: dict[str, Any], path: Path) -> tuple[int, list[dict[str, Any]], dict[str, Any]]:
    """Check a Keras Sequential config is LSTM(s) + TimeDistributed(Dense); return (n_inputs, lstms, dense)."""
    if model_json.get("class_name") != "Sequential":
        raise InputError(f"{path}: expected a Keras Sequential model, found {model_json.get('class_name')!r}")
    layers = model_json["config"]["layers"]
    if layers and layers[0]["class_name"] == "InputLayer":
        layers = layers[1:]
    lstms = [lay["config"] for lay in layers if lay["class_name"] == "LSTM"]
    heads = [lay for lay in layers if lay["class_name"] != "LSTM"]
    if not lstms or len(heads) != 1 or layers[-1] is not heads[0] or heads[0]["class_name"] != "TimeDistributed" \
            or heads[0]["config"]["layer"]["class_name"] != "Dense":
        raise InputError(f"{path}: expected LSTM layers followed by one TimeDistributed(Dense) layer, found "
                         f"{[lay['class_name'] for lay in layers]}")
    for cfg in lstms:
        expected = {"activation": "tanh", "recurrent_activation": "sigmoid", "return_sequences": True,
                    "go_backwards": False, "stateful": False, "use_bias": True}
        wrong = {k: cfg.get(k) for k, v in expected.items() if cfg.get(k, v) != v}
        if wrong or cfg.get("time_major", False) or cfg["units"] != lstms[0]["units"]:
            raise InputError(f"{path}: LSTM layer {cfg['name']} has settings torch's LSTM cannot reproduce: "
                             f"{wrong or cfg}")
    dense = heads[0]["config"]["layer"]["config"]
    if dense.get("activation", "linear") != "linear" or not dense.get("use_bias", True):
        raise InputError(f"{path}: the Dense head must be linear with a bias, found {dense.get('activation')}")
    shape = lstms[0].get("batch_input_shape") or model_json["config"]["layers"][0]["config"]["batch_input_shape"]
    return int(shape[-1]), lstms, heads[0]["config"]


def load_opencap_weights(directory: str | os.PathLike) -> MarkerLSTM:
    """Torch copy of an OpenCap Keras augmenter network.

    directory: a folder with ``model.json`` and ``weights.h5`` (e.g. ``.../v0.3_lower``).
    Returns a MarkerLSTM in eval mode whose forward maps z-scored features (B, T, F) to the
    network's raw outputs (B, T, 3M), as the original Keras network does (float32).
    """
    directory = Path(directory)
    json_path, h5_path = directory / "model.json", directory / "weights.h5"
    for p in (json_path, h5_path):
        if not p.is_file():
            raise InputError(f"{p} not found: an OpenCap augmenter folder holds model.json and weights.h5")
    n_inputs, lstms, head = _layers(json.loads(json_path.read_text()), json_path)
    hidden = int(lstms[0]["units"])
    with h5py.File(h5_path, "r") as h5:
        def weights(layer: str) -> dict[str, np.ndarray]:
            if layer not in h5:
                raise InputError(f"{h5_path}: no weights for layer {layer!r}; layers: {list(h5.keys())}")
            out: dict[str, np.ndarray] = {}
            h5[layer].visititems(lambda n, o: out.__setitem__(n.rsplit("/", 1)[-1].split(":")[0], o[()])
                                 if isinstance(o, h5py.Dataset) else None)
            return out

        lstm_w = [weights(cfg["name"]) for cfg in lstms]
        head_w = weights(head["name"])
    n_outputs = head_w["kernel"].shape[1]
    net = MarkerLSTM(n_inputs, n_outputs, hidden=hidden, layers=len(lstms))
    state: dict[str, torch.Tensor] = {}
    for k, w in enumerate(lstm_w):
        expect_in = n_inputs if k == 0 else hidden
        if w["kernel"].shape != (expect_in, 4 * hidden) or w["recurrent_kernel"].shape != (hidden, 4 * hidden):
            raise InputError(f"{h5_path}: LSTM layer {k} kernel shapes {w['kernel'].shape}, "
                             f"{w['recurrent_kernel'].shape} do not match ({expect_in}, {4 * hidden})")
        state[f"lstm.weight_ih_l{k}"] = torch.from_numpy(np.ascontiguousarray(w["kernel"].T))
        state[f"lstm.weight_hh_l{k}"] = torch.from_numpy(np.ascontiguousarray(w["recurrent_kernel"].T))
        state[f"lstm.bias_ih_l{k}"] = torch.from_numpy(w["bias"].copy())
        state[f"lstm.bias_hh_l{k}"] = torch.zeros(4 * hidden)
    state["head.weight"] = torch.from_numpy(np.ascontiguousarray(head_w["kernel"].T))
    state["head.bias"] = torch.from_numpy(head_w["bias"].copy())
    net.load_state_dict({k: v.float() for k, v in state.items()})
    return net.eval()


def load_opencap_part(directory: str | os.PathLike, part: str | None = None) -> BodyPartModel:
    """One OpenCap body-part model (network, mean/std, names) from its folder (``v0.3_lower``...).

    part: "lower" or "upper"; by default taken from the folder name's suffix.
    """
    directory = Path(directory)
    part = part or directory.name.rsplit("_", 1)[-1]
    if part not in PART_NAMES:
        raise InputError(f"{directory}: cannot tell the body part; the folder name must end in _lower or _upper "
                         f"(OpenCap's layout), or pass part='lower'/'upper'")
    inputs, outputs = PART_NAMES[part]
    stats = []
    for name in ("mean.npy", "std.npy"):
        p = directory / name
        if not p.is_file():
            raise InputError(f"{p} not found: an OpenCap augmenter folder holds mean.npy and std.npy")
        stats.append(np.load(p).astype(float))
    reference = REFERENCE
    meta = directory / "metadata.json"
    if meta.is_file():
        reference = json.loads(meta.read_text()).get("reference_marker", REFERENCE)
    return BodyPartModel(name=part, network=load_opencap_weights(directory), input_names=inputs,
                         output_names=outputs, mean=stats[0], std=stats[1], reference=reference)


def load_opencap_augmenter(directory: str | os.PathLike, version: str = "v0.3", **kwargs: Any) -> Augmenter:
    """OpenCap's full augmenter (lower + upper body) from a folder holding ``<version>_lower`` and ``_upper``.

    Extra keyword arguments (max_gap, long_gaps) go to the Augmenter.
    """
    directory = Path(directory)
    parts = []
    for part in PART_NAMES:
        sub = directory / f"{version}_{part}"
        if not sub.is_dir():
            raise InputError(f"{sub} not found: give the folder that holds OpenCap's {version}_lower and "
                             f"{version}_upper augmenter folders")
        parts.append(load_opencap_part(sub, part))
    return Augmenter(parts, source=f"OpenCap {version} ({directory})", **kwargs)
