"""Training: config validation, a short run with checkpoints/log/curve, resuming, and learning."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from mv3d.config import load_config
from mv3d.errors import ConfigError
from mv3d.pose2d.data import Augmentation, CocoWholeBody, TopDownDataset
from mv3d.pose2d.train import Pose2DTrainConfig, train

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
GT = DATA / "mmpose-samples" / "coco-wholebody" / "test_coco_wholebody.json"
needs_data = pytest.mark.skipif(not GT.exists(), reason=f"shared data missing: {GT}")
ROOT = Path(__file__).resolve().parents[1]


def _cfg(out_dir, **optim):
    o = dict(steps=10, batch_size=12, lr=1e-3, eval_every=10, checkpoint_every=10, log_every=1, device="cpu")
    o.update(optim)
    return load_config(dict(out_dir=str(out_dir), input_size=[64, 96], sigma=2.0, model=dict(name="pose_resnet18"),
                            data=dict(train_annotations=str(GT)), optim=o, augment=None), Pose2DTrainConfig)


def test_config_errors_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key 'optim.learning_rate'"):
        load_config({"optim": {"learning_rate": 0.1}}, Pose2DTrainConfig)
    with pytest.raises(ConfigError, match=r"multiples of 32"):
        load_config({"input_size": [48, 64]}, Pose2DTrainConfig)
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {name: pose_resnet18, depth: 3}\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown key 'model.depth'"):
        load_config(bad, Pose2DTrainConfig)
    for cfg in sorted((ROOT / "configs" / "pose2d").glob("*.yaml")):
        load_config(cfg, Pose2DTrainConfig)  # the shipped configs are valid


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
def test_short_run_learns_writes_checkpoints_log_curve_and_resumes(tmp_path):
    """The fast version of the overfit check (the full one: configs/pose2d/overfit_wholebody_samples.yaml)."""
    torch.set_num_threads(2)
    torch.manual_seed(0)
    out = tmp_path / "run"
    r = train(_cfg(out), resume=False)
    assert r["step"] == 10
    for name in ("last.pt", "best.pt", "log.csv", "curve.png", "config.yaml"):
        assert (out / name).stat().st_size > 0, name
    rows = list(csv.DictReader((out / "log.csv").open()))
    assert [int(r["step"]) for r in rows] == list(range(1, 11))
    assert rows[9]["val_pck"] and not rows[8]["val_pck"]
    # learning: within 10 full-batch Adam steps the loss drops clearly below that of an all-zero output
    # (1.29e-2 here), i.e. the network already puts mass at the joints (measured ~0.6x at step 10;
    # 0.8x leaves margin for run-to-run variation)
    ds = TopDownDataset(CocoWholeBody(GT), (64, 96), sigma=2.0)
    zero_loss = np.mean([0.5 * float(((d["target"] * d["target_weight"][:, None, None]) ** 2).mean())
                         for d in (ds[i] for i in range(len(ds)))])
    loss = [float(r["loss"]) for r in rows]
    assert np.mean(loss[-2:]) < 0.8 * zero_loss, (loss, zero_loss)
    ck = torch.load(out / "last.pt", weights_only=False)
    assert ck["step"] == 10 and ck["config"]["model"]["name"] == "pose_resnet18"
    # resume: continues at step 11 with the saved optimizer state and appends to the log
    r2 = train(_cfg(out, steps=11, eval_every=11, checkpoint_every=11), resume=True)
    assert r2["step"] == 11
    rows = list(csv.DictReader((out / "log.csv").open()))
    assert [int(r["step"]) for r in rows] == list(range(1, 12))
    assert torch.load(out / "last.pt", weights_only=False)["optimizer"]["state"][0]["step"] == 11

