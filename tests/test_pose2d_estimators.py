"""2D models by spec (mv3d.pose2d.estimators) and the Estimator interface of the top-down networks."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from mv3d.errors import ConfigError, InputError
from mv3d.pose2d import EstimatorOptions, TopDownEstimator, build_model, resolve_model
from mv3d.pose2d.blazepose.family import BlazePoseEstimator
from mv3d.pose2d.estimators import DEFAULT_MODEL, MODELS, parse_model_spec
from tests.test_pose2d_topdown import BlobFinder, _blob_frames


def test_specs_name_a_registered_family_and_its_argument():
    assert parse_model_spec("demo_synthetic") == ("demo_synthetic", None)
    assert parse_model_spec("hrnet:runs/w:1.pth") == ("hrnet", "runs/w:1.pth")  # the argument may hold colons
    with pytest.raises(ConfigError, match=r"unknown 2D model 'blazepose_lite'; known models: blazepose_heavy, "
                                          r"blazepose_full, demo_synthetic, hrnet:<checkpoint>"):
        parse_model_spec("blazepose_lite")
    with pytest.raises(ConfigError, match=r"write it as hrnet:<checkpoint>"):
        parse_model_spec("hrnet")
    with pytest.raises(ConfigError, match=r"write it as demo_synthetic"):
        parse_model_spec("demo_synthetic:x.pt")
    assert set(MODELS) >= {"blazepose_heavy", "blazepose_full", "demo_synthetic", "hrnet"}


@pytest.mark.parametrize("spec", ["blazepose_heavy", "blazepose_full"])
def test_blazepose_entries_build_the_real_model(spec):
    est = resolve_model(spec, EstimatorOptions(batch_size=4))
    assert isinstance(est, BlazePoseEstimator) and est.name == spec and est.batch_size == 4
    assert est.model.variant == spec.removeprefix("blazepose_") and str(est.model.device) == "cpu"
    assert sorted(est.derived) == ["l_small_toe", "r_small_toe"] and "foot_index" in est.derived["l_small_toe"]
    with pytest.raises(ConfigError, match=f"write it as {spec}"):
        parse_model_spec(f"{spec}:x")


def test_default_model_is_blazepose_heavy():
    from pipelines.config import PipelineConfig

    assert DEFAULT_MODEL == "blazepose_heavy" == PipelineConfig().keypoints2d.model


def test_demo_model_resolves_with_its_checkpoint_settings():
    est = resolve_model("demo_synthetic", EstimatorOptions(batch_size=4))
    assert isinstance(est, TopDownEstimator) and est.name == "mv3d.pose2d:hrnet_w18_small"
    assert est.input_size == (96, 128) and est.flip is False and est.batch_size == 4  # the checkpoint's config
    assert resolve_model("demo_synthetic", EstimatorOptions(flip=True)).flip is True  # options override it


def test_imported_checkpoint_defaults_to_flip_test(tmp_path):
    weights = tmp_path / "w.pth"
    torch.save({"state_dict": build_model("pose_resnet18").state_dict()}, weights)  # no mv3d config inside
    est = resolve_model(f"hrnet:{weights}")
    assert est.flip is True and est.input_size == (192, 256)
    with pytest.raises(InputError, match="none.pth: 2D model weights not found"):
        resolve_model(f"hrnet:{tmp_path / 'none.pth'}")


def test_images_with_and_without_boxes():
    frames = _blob_frames([[100.0, 90.0], [200.0, 150.0]], sigma=20.0)
    est = TopDownEstimator(BlobFinder(), input_size=(48, 64), flip=False)
    boxes = [np.array([[60.0, 50.0, 80.0, 80.0], [150.0, 100.0, 100.0, 100.0]]), None]
    people = est.estimate_images(list(frames), boxes)
    assert [len(p) for p in people] == [2, 1]  # one result per box; the whole-frame search finds one person
    assert np.linalg.norm(people[0][0].keypoints[:, :2] - [100.0, 90.0], axis=-1).max() < 1.0
    assert np.linalg.norm(people[1][0].keypoints[:, :2] - [200.0, 150.0], axis=-1).max() < 1.0
    np.testing.assert_array_equal(people[0][1].box, boxes[0][1])
    with pytest.raises(InputError, match=r"image 0: person box 0 .*lies outside"):
        est.estimate_images([frames[0]], [np.array([[400.0, 10.0, 50.0, 50.0]])])
