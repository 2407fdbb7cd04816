"""Pose networks: published parameter counts, output shapes, names."""
from __future__ import annotations

import pytest
import torch

from mv3d.errors import InputError
from mv3d.pose2d import build_model, count_parameters

# Published sizes with 17 COCO joints (Xiao et al. 2018 Table/HRNet paper Table 1, as also listed by
# the HRNet repository): 34.0M, 53.0M, 68.6M, 28.5M, 63.6M. The gluon-cv model zoo lists the exact
# SimpleBaseline counts 15,376,721 / 33,999,697 / 52,991,825 / 68,635,473 for ResNet-18/50/101/152.
PUBLISHED = {
    "pose_resnet18": 15_376_721,
    "pose_resnet50": 34.0e6,
    "pose_resnet101": 53.0e6,
    "pose_resnet152": 68.6e6,
    "hrnet_w32": 28.5e6,
    "hrnet_w48": 63.6e6,
}


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_parameter_count_matches_publication(name):
    n = count_parameters(build_model(name, num_joints=17))
    # The papers round to 0.1M (<= 0.3 % of these sizes); 0.5 % catches any missing/extra layer
    # (the smallest, one 3x3 conv of HRNet-W32's branch 0, is 9k = 0.03 %; a BasicBlock 0.3M = 1 %).
    assert abs(n - PUBLISHED[name]) / PUBLISHED[name] < 0.005, n


def test_exact_simplebaseline_counts():
    # Exact counts (gluon-cv model zoo) fix the architecture to the parameter.
    assert count_parameters(build_model("pose_resnet50", 17)) == 33_999_697
    assert count_parameters(build_model("pose_resnet101", 17)) == 52_991_825


@pytest.mark.parametrize("name", ["pose_resnet18", "hrnet_w18_small"])
def test_output_is_quarter_resolution_with_23_joints(name):
    model = build_model(name).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 96, 64))  # sides multiples of the total stride 32
    assert out.shape == (2, 23, 24, 16)


def test_state_dict_names_follow_original_implementations():
    keys = set(build_model("pose_resnet50").state_dict())
    for k in ("conv1.weight", "bn1.running_mean", "layer1.0.downsample.0.weight", "layer4.2.conv3.weight",
              "deconv_layers.0.weight", "deconv_layers.7.running_var", "final_layer.weight", "final_layer.bias"):
        assert k in keys
    keys = set(build_model("hrnet_w32").state_dict())
    for k in ("conv2.weight", "layer1.3.bn3.weight", "transition1.0.0.weight", "transition1.1.0.0.weight",
              "transition3.3.0.0.weight", "stage2.0.branches.1.3.conv2.weight", "stage3.3.fuse_layers.2.0.1.0.weight",
              "stage4.2.fuse_layers.0.3.0.weight", "final_layer.weight"):
        assert k in keys
    # The last module of stage 4 fuses only into the high-resolution branch.
    assert "stage4.2.fuse_layers.1.0.0.0.weight" not in keys
    assert "stage4.1.fuse_layers.1.0.0.0.weight" in keys


def test_unknown_model_name_lists_choices():
    with pytest.raises(InputError, match="unknown pose2d model 'resnet50'.*pose_resnet50.*hrnet_w32"):
        build_model("resnet50")
