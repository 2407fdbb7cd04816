"""Importing Simple Baselines / HRNet / mmpose checkpoints, with head adaptation 17/133 -> 23."""
from __future__ import annotations

import pytest
import torch

from mv3d.errors import InputError
from mv3d.pose2d import build_model, load_weights
from mv3d.pose2d.checkpoints import guess_architecture, load_model

X = torch.randn(1, 3, 64, 48, generator=torch.Generator().manual_seed(0))


def _reference(name, joints, seed=1):
    """A network with random weights *and* random BatchNorm statistics, so every tensor matters."""
    torch.manual_seed(seed)
    model = build_model(name, num_joints=joints)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
        for p in model.parameters():
            if p.dim() == 4:
                p.normal_(0, (2.0 / p[0].numel()) ** 0.5)
    return model.eval()


def _mmpose_keys(state, head="keypoint_head."):
    return {(head if k.startswith(("deconv_layers", "final_layer")) else "backbone.") + k: v for k, v in state.items()}


def _out(model):
    with torch.no_grad():
        return model.eval()(X)


def test_simple_baselines_17_joint_checkpoint_extends_to_feet(tmp_path):
    ref = _reference("pose_resnet18", 17)
    path = tmp_path / "pose_resnet_18.pth"
    torch.save({"state_dict": {"module." + k: v for k, v in ref.state_dict().items()}, "epoch": 140}, path)
    model = build_model("pose_resnet18", 23)
    report = load_weights(model, path)
    assert report.layout == "data-parallel"
    assert set(report.adapted) == {"final_layer.weight", "final_layer.bias"} and not report.new
    assert len(report.loaded) == len(model.state_dict()) - 2
    y, y_ref = _out(model), _out(ref)
    torch.testing.assert_close(y[:, :17], y_ref, rtol=0, atol=0)  # the same tensors: bitwise equal
    # foot channels start from the ankle of their side (COCO 15 = left ankle, 16 = right ankle)
    for foot in (17, 18, 19):
        torch.testing.assert_close(y[:, foot], y_ref[:, 15], rtol=0, atol=0)
    for foot in (20, 21, 22):
        torch.testing.assert_close(y[:, foot], y_ref[:, 16], rtol=0, atol=0)


def test_mmpose_wholebody_133_head_keeps_first_23_channels():
    ref = _reference("pose_resnet18", 133)
    model = build_model("pose_resnet18", 23)
    report = load_weights(model, {"meta": {}, "state_dict": _mmpose_keys(ref.state_dict())})
    assert report.layout == "mmpose"
    assert report.adapted["final_layer.weight"] == "kept the first 23 of 133 channels"
    torch.testing.assert_close(_out(model), _out(ref)[:, :23], rtol=0, atol=0)


def test_mmpose_1x_hrnet_with_sequential_final_layer():
    ref = _reference("hrnet_w18_small", 17)
    state = _mmpose_keys(ref.state_dict(), head="head.")
    # head written as a Sequential whose last (only) element is the 1x1 conv
    state["head.final_layer.0.weight"] = state.pop("head.final_layer.weight")
    state["head.final_layer.0.bias"] = state.pop("head.final_layer.bias")
    state["data_preprocessor.mean"] = torch.zeros(3)  # mmpose 1.x extra: skipped
    model = build_model("hrnet_w18_small", 23)
    report = load_weights(model, state, foot_init="random")
    assert "6 foot channels initialised N(0, 0.001)" in report.adapted["final_layer.weight"]
    y, y_ref = _out(model), _out(ref)
    torch.testing.assert_close(y[:, :17], y_ref, rtol=0, atol=0)
    assert guess_architecture(ref.state_dict()) == "hrnet_w18_small"


def test_wrong_architecture_names_mismatched_keys():
    ref = _reference("pose_resnet50", 17)
    with pytest.raises(InputError) as err:
        load_weights(build_model("pose_resnet18", 23), ref.state_dict())
    msg = str(err.value)
    assert "weights do not fit model pose_resnet18" in msg
    assert "not in the model: layer1.0.conv3.weight" in msg  # Bottleneck keys a BasicBlock net lacks
    assert "layer1.0.conv1.weight (64, 64, 1, 1) vs model (64, 64, 3, 3)" in msg
    assert "these weights look like pose_resnet50" in msg
    hr = _reference("hrnet_w18_small", 17).state_dict()
    # HRNet-W18-small (2 stem blocks) into HRNet-W18 (4): the stem's third block is missing
    with pytest.raises(InputError, match=r"missing from the checkpoint: layer1.2.conv1.weight.*look like hrnet_w18_small"):
        load_weights(build_model("hrnet_w18", 23), hr)


def test_load_model_builds_the_architecture_of_the_file(tmp_path):
    ref = _reference("pose_resnet18", 17)
    path = tmp_path / "w.pth"
    torch.save(ref.state_dict(), path)
    model, config, report = load_model(path)
    assert model.arch == "pose_resnet18" and config == {} and report.source == str(path)
    with pytest.raises(InputError, match="weights file not found"):
        load_model(tmp_path / "missing.pth")
    (tmp_path / "junk.pth").write_text("not a checkpoint")
    with pytest.raises(InputError, match="not a readable torch checkpoint"):
        load_model(tmp_path / "junk.pth")
