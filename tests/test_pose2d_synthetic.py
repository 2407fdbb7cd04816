"""Rendered training crops (mv3d.pose2d.synthetic) and the shipped synthetic-demo weights."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mv3d.errors import InputError
from mv3d.pose2d.data import TopDownDataset
from mv3d.pose2d.synthetic import SessionSpec, SyntheticCrops, render_crops
from mv3d.skeleton import MV3D23

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "data" / "weights" / "pose2d_demo_synthetic.pt"
J = {n: i for i, n in enumerate(MV3D23)}


@pytest.fixture(scope="module")
def crops() -> SyntheticCrops:
    # One 2-camera session, 4 frames per camera: ~8 s on 2 cores.
    return render_crops([SessionSpec("squat", "opencap2", seed=3, height=1.6, seconds=3.0)], frames_per_camera=4)


def _colour_at(img: np.ndarray, kp: np.ndarray, a: str, b: str) -> np.ndarray:
    """Mean BGR of a 3x3 patch at the midpoint of joints a-b (a limb's axis)."""
    x, y = np.round(0.5 * (kp[J[a], :2] + kp[J[b], :2])).astype(int)
    return img[y - 1:y + 2, x - 1:x + 2].reshape(-1, 3).astype(float).mean(0)


def test_crop_keypoints_land_on_the_rendered_limbs(crops):
    assert len(crops) == 8 and crops.images.shape[1:] == (192, 144, 3)
    assert np.isfinite(crops.keypoints[..., :2]).all() and (crops.keypoints[..., 2] == 2).all()
    blue_left, red_right = [], []
    for img, kp in zip(crops.images, crops.keypoints):
        for side, out in (("l", blue_left), ("r", red_right)):
            for a, b in (("hip", "knee"), ("knee", "ankle"), ("shoulder", "elbow")):
                bgr = _colour_at(img, kp, f"{side}_{a}", f"{side}_{b}")
                # Left clothes are blue (B >> R), right ones red (R >> B) in the renderer's palette.
                out.append(bgr[0] > bgr[2] + 30 if side == "l" else bgr[2] > bgr[0] + 30)
    # A limb hidden behind the other side's limb (side views) shows the wrong colour: allow 25 %.
    assert np.mean(blue_left) > 0.75 and np.mean(red_right) > 0.75, (np.mean(blue_left), np.mean(red_right))
    # Shifting the keypoints by 8 px must break the match for most limbs: the test can fail.
    shifted = np.mean([_colour_at(img, kp + [8, 0, 0], "l_hip", "l_knee")[0]
                       > _colour_at(img, kp + [8, 0, 0], "l_hip", "l_knee")[2] + 30
                       for img, kp in zip(crops.images, crops.keypoints)])
    assert shifted < np.mean(blue_left)


def test_crops_feed_the_training_dataset_and_round_trip(crops, tmp_path):
    item = TopDownDataset(crops, (96, 128), augment=None)[0]
    assert item["image"].shape == (3, 128, 96) and item["target"].shape == (23, 32, 24)
    assert float(item["target_weight"].min()) == 1.0
    path = crops.save(tmp_path / "c.npz")
    back = SyntheticCrops.load(path)
    np.testing.assert_array_equal(back.images, crops.images)
    np.testing.assert_array_equal(back.keypoints, crops.keypoints)
    assert back.names[0].startswith("squat/opencap2/3/")


def test_bad_cache_names_the_file(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, images=np.zeros(3))
    with pytest.raises(InputError, match=r"bad.npz: not a synthetic crop cache.*delete it"):
        SyntheticCrops.load(bad)


@pytest.mark.slow
@pytest.mark.skipif(not WEIGHTS.exists(), reason="data/weights/pose2d_demo_synthetic.pt not shipped")
def test_shipped_weights_on_a_held_out_motion():
    from mv3d.pose2d import TopDownEstimator, load_model
    from mv3d.pose2d.synthetic import rendered_pck

    model, config, report = load_model(WEIGHTS)
    assert not report.new and model.arch == "hrnet_w18_small"
    est = TopDownEstimator(model, input_size=tuple(config["input_size"]), flip=False)
    # walk_in_place is never in the training set; seed 7 (rig placement, height) is used nowhere else.
    res = rendered_pck(est, SessionSpec("walk_in_place", "opencap2", seed=7, seconds=3.0), frames_per_camera=6)
    assert res["frames"] == 12
    assert res["pck"] > PCK_FLOOR, res


# Measured PCK@0.05 of the shipped weights on these 12 frames (276 joints): 0.986 (see the model card; 0.797 for the previous weights, trained on untextured renders).
# Floor 0.95 leaves ~9 joints of margin for BLAS/float16 rounding; an untrained net scores ~0.
PCK_FLOOR = 0.95


@pytest.mark.slow
@pytest.mark.skipif(not WEIGHTS.exists(), reason="data/weights/pose2d_demo_synthetic.pt not shipped")
def test_shipped_weights_find_the_person_in_wide_frames():
    # A 1080p landscape lab camera: squeezed whole into the 96x128 input the person is ~30 px tall
    # and the whole-frame search alone fails (measured PCK 0.09); windows of the input's aspect
    # ratio find them (measured 0.95 over 20 frames on seed 203; frames 0.3 s apart in "track").
    from mv3d.pose2d import TopDownEstimator, load_model
    from mv3d.pose2d.synthetic import rendered_pck

    model, config, _ = load_model(WEIGHTS)
    est = TopDownEstimator(model, input_size=tuple(config["input_size"]), flip=False)
    res = rendered_pck(est, SessionSpec("walk_in_place", "ring4", seed=203, seconds=3.0), frames_per_camera=3,
                       mode="track")
    assert res["frames"] == 12
    assert res["pck"] > 0.85, res
