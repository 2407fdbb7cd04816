"""BlazePose conversion: the shipped torch weights reproduce the original TFLite runtime; the converter's matching."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from mv3d.pose2d.blazepose.convert import conv_signatures, trace_torch
from mv3d.pose2d.blazepose.networks import load_network, weights_path

pytestmark = pytest.mark.usefixtures("one_torch_thread")

REFERENCE = Path(__file__).with_name("data") / "blazepose_reference.npz"


@pytest.fixture(scope="module")
def ref():
    return np.load(REFERENCE)


@pytest.mark.parametrize("variant", ["heavy", "full"])
def test_landmark_network_reproduces_tflite_runtime(ref, variant):
    net = load_network(f"landmark_{variant}")
    x = torch.from_numpy(ref["landmark_input"].astype(np.float32) / 255.0).permute(0, 3, 1, 2)
    with torch.inference_mode():
        lm, presence, heatmaps, world = net(x.contiguous(memory_format=torch.channels_last))
    lm, want = lm.numpy().reshape(-1, 39, 5), ref[f"{variant}_landmarks"].reshape(-1, 39, 5)
    # the criterion: landmarks within 0.01 crop pixels (a wrong weight moves them by pixels)
    assert np.abs(lm[..., :2] - want[..., :2]).max() < 0.01
    assert np.abs(lm[..., 2:] - want[..., 2:]).max() < 0.01        # z, visibility and presence logits
    assert np.abs(presence.numpy() - ref[f"{variant}_presence"]).max() < 1e-4
    assert presence.min() > 0.9                                     # real people: not a trivially equal zero
    hm = heatmaps[0, ref["heatmap_channels"]].numpy()
    assert np.abs(hm - ref[f"{variant}_heatmaps"]).max() < 0.01
    assert np.abs(world.numpy() - ref[f"{variant}_world"]).max() < 1e-3


def test_detector_reproduces_tflite_runtime(ref):
    net = load_network("detector")
    x = torch.from_numpy(ref["detector_input"].astype(np.float32) / 127.5 - 1.0).permute(0, 3, 1, 2)
    with torch.inference_mode():
        boxes, scores = net(x.contiguous(memory_format=torch.channels_last))
    assert np.abs(boxes.numpy() - ref["detector_boxes"]).max() < 0.01   # input pixels of the 224 crop
    assert np.abs(scores.numpy() - ref["detector_scores"]).max() < 0.01  # logits
    assert ref["detector_scores"].max() > 0.0                           # the frame holds a person


@pytest.mark.parametrize("name", ["detector", "landmark_full", "landmark_heavy"])
def test_shipped_weights_are_fp16_small_and_safe(name):
    path = weights_path(name)
    assert path.stat().st_size < 30e6
    payload = torch.load(path, weights_only=True)
    assert all(t.dtype == torch.float16 for t in payload["state_dict"].values())
    assert len(payload["source_sha256"]) == 64 and payload["source"].endswith(".tflite")


class _Branches(nn.Module):
    """Two branches on one input, joined by an add; ``swap`` computes them in the other order."""

    def __init__(self, swap: bool = False, extra: bool = False):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, 2, 1)
        self.a = nn.Conv2d(4, 4, 3, 1, 1, groups=4)
        self.b = nn.Conv2d(4, 4, 1)
        self.head = nn.Conv2d(4, 2, 1)
        self.extra = nn.Conv2d(4, 4, 1) if extra else None
        self.swap = swap

    def forward(self, x):
        x = torch.relu(self.stem(x))
        y = (self.b(x), self.a(x)) if self.swap else (self.a(x), self.b(x))
        z = y[0] + y[1]
        if self.extra is not None:
            z = self.extra(z)
        return (self.head(z),)


def test_signatures_follow_data_flow_not_code_order():
    one = trace_torch(_Branches(), 16)
    two = trace_torch(_Branches(swap=True), 16)
    sig_one = {one[0][i].weights["module"]: s for i, s in conv_signatures(*one).items()}
    sig_two = {two[0][i].weights["module"]: s for i, s in conv_signatures(*two).items()}
    assert sig_one == sig_two and len(set(sig_one.values())) == 4   # every layer told apart
    other = trace_torch(_Branches(extra=True), 16)
    sig_other = {other[0][i].weights["module"]: s for i, s in conv_signatures(*other).items()}
    assert sig_other["head"] != sig_one["head"] and sig_other["a"] != sig_one["a"]  # a changed graph shows
