"""Rendered simulator crops as 2D training data: keypoints sit on the rendered body, caches round-trip."""
from __future__ import annotations

import numpy as np
import pytest

from mv3d.errors import InputError
from mv3d.pose2d.synthetic import SessionSpec, SyntheticCrops, render_crops
from mv3d.skeleton import JOINT_INDEX


@pytest.fixture(scope="module")
def crops() -> SyntheticCrops:
    return render_crops([SessionSpec("squat", "opencap2", seed=0, height=1.7, seconds=1.0)], frames_per_camera=3)


def _colour_at(image: np.ndarray, kp: np.ndarray, names: list[str]) -> np.ndarray:
    """Mean BGR in a 3x3 window at each named joint that is visible, (K, 3)."""
    out = []
    for n in names:
        x, y, v = kp[JOINT_INDEX[n]]
        if v > 0:
            xi, yi = int(round(x)), int(round(y))
            out.append(image[yi - 1:yi + 2, xi - 1:xi + 2].reshape(-1, 3).mean(0))
    return np.array(out)


def test_crops_carry_keypoints_on_the_rendered_limbs(crops):
    assert len(crops) == 6 and crops.images.shape[1:] == (192, 144, 3)
    h, w = crops.images.shape[1:3]
    vis = crops.keypoints[..., 2] > 0
    assert vis.sum(-1).min() >= 12
    xy = crops.keypoints[..., :2][vis]
    assert (xy >= 0).all() and (xy[:, 0] < w).all() and (xy[:, 1] < h).all()
    # the simulator draws left limbs blue and right limbs red (BGR): a keypoint off its limb
    # (wrong crop transform, mirrored or shifted labels) lands on the other colour or the room
    blue_minus_red = []
    for img, kp in zip(crops.images, crops.keypoints):
        left = _colour_at(img, kp, ["l_knee", "l_elbow"])
        right = _colour_at(img, kp, ["r_knee", "r_elbow"])
        blue_minus_red.append((left[:, 0] - left[:, 2]).mean() - (right[:, 0] - right[:, 2]).mean())
    assert np.median(blue_minus_red) > 40


def test_cache_round_trip_and_sample_source(crops, tmp_path):
    path = crops.save(tmp_path / "crops.npz")
    again = SyntheticCrops.load(path)
    np.testing.assert_array_equal(again.images, crops.images)
    np.testing.assert_array_equal(again.keypoints, crops.keypoints)
    sample = again[2]
    assert sample.image.shape == (192, 144, 3) and sample.keypoints.shape == (23, 3)
    (tmp_path / "bad.npz").write_bytes(b"not an npz")
    with pytest.raises(InputError, match="not a synthetic crop cache"):
        SyntheticCrops.load(tmp_path / "bad.npz")
