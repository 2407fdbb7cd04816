"""Training: config validation, a short run with checkpoints/log/curve, resuming, and learning."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from mv3d.errors import ConfigError
from mv3d.pose2d.data import Augmentation, CocoWholeBody, TopDownDataset
from mv3d.pose2d.train import TrainConfig, load_config, train

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
GT = DATA / "mmpose-samples" / "coco-wholebody" / "test_coco_wholebody.json"
needs_data = pytest.mark.skipif(not GT.exists(), reason=f"shared data missing: {GT}")
ROOT = Path(__file__).resolve().parents[1]


def _cfg(out_dir, **optim):
    o = dict(steps=3, batch_size=4, lr=1e-3, eval_every=3, checkpoint_every=3, log_every=1, device="cpu")
    o.update(optim)
    return TrainConfig.from_dict(dict(out_dir=str(out_dir), input_size=[32, 32], sigma=1.0,
                                      model=dict(name="pose_resnet18"), data=dict(train_annotations=str(GT)),
                                      optim=o, augment=None))


def test_config_errors_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key\(s\) learning_rate"):
        TrainConfig.from_dict({"optim": {"learning_rate": 0.1}})
    with pytest.raises(ConfigError, match=r"multiples of 32"):
        TrainConfig.from_dict({"input_size": [48, 64]})
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {name: pose_resnet18, depth: 3}\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: model: unknown key\(s\) depth"):
        load_config(bad)
    for cfg in sorted((ROOT / "configs" / "pose2d").glob("*.yaml")):
        load_config(cfg)  # the shipped configs are valid


@needs_data
def test_wholebody_loader_and_augmentation_keep_labels_consistent():
    src = CocoWholeBody(GT)
    assert len(src) == 12  # 14 annotations, 2 without labelled joints
    s = src[0]
    assert s.keypoints.shape == (23, 3) and s.image.shape == (425, 640, 3)
    assert s.keypoints[17:, :2].tolist()[0] == [439, 378]  # left big toe of image 785 (foot_kpts[0:2])
    ds = TopDownDataset(src, (64, 96), sigma=1.0, augment=Augmentation(flip=1.0, rotation_prob=1.0), seed=1)
    item = ds[0]
    aff = item["affine"].double()
    kp = item["keypoints"].double()
    back = kp[:, :2] @ aff[:, :2].T + aff[:, 2]
    # flipped image: labels swap sides, and each crop keypoint maps back onto the mirrored annotation
    flipped = s.keypoints.copy()
    from mv3d.skeleton import FLIP_INDEX

    flipped = flipped[FLIP_INDEX]
    flipped[:, 0] = 640 - 1 - flipped[:, 0]
    vis = flipped[:, 2] > 0
    assert np.allclose(back.numpy()[vis], flipped[vis, :2], atol=1e-3)
    assert item["target_weight"][~torch.as_tensor(vis)].abs().sum() == 0


@pytest.mark.slow
@needs_data
def test_short_run_writes_checkpoints_log_curve_and_resumes(tmp_path):
    torch.set_num_threads(2)
    out = tmp_path / "run"
    r = train(_cfg(out), resume=False)
    assert r["step"] == 3
    for name in ("last.pt", "best.pt", "log.csv", "curve.png", "config.yaml"):
        assert (out / name).stat().st_size > 0, name
    rows = list(csv.DictReader((out / "log.csv").open()))
    assert [int(r["step"]) for r in rows] == [1, 2, 3]
    assert rows[2]["val_pck"] and not rows[1]["val_pck"]
    ck = torch.load(out / "last.pt", weights_only=False)
    assert ck["step"] == 3 and ck["config"]["model"]["name"] == "pose_resnet18"
    # resume: continues at step 4 with the saved optimizer state and appends to the log
    r2 = train(_cfg(out, steps=4, eval_every=4, checkpoint_every=4), resume=True)
    assert r2["step"] == 4
    rows = list(csv.DictReader((out / "log.csv").open()))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    assert torch.load(out / "last.pt", weights_only=False)["optimizer"]["state"][0]["step"] == 4
