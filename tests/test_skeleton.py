"""Joint-set definitions and name-based conversions to and from MV3D23."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mv3d.errors import InputError
from mv3d.skeleton import JOINT_INDEX, JOINT_SETS, MV3D23, convert_keypoints, from_mv3d

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# For each source convention: the source index of each MV3D23 joint (None = absent), written
# out by hand from each convention's published order (independent of the name matching).
EXPECTED = {
    "BODY_25": [0, 16, 15, 18, 17, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11, 19, 20, 21, 22, 23, 24],
    "BODY_25B": list(range(17)) + [19, 20, 21, 22, 23, 24],
    "HALPE_26": list(range(17)) + [20, 22, 24, 21, 23, 25],
    "COCO_17": list(range(17)) + [None] * 6,
    "COCO_133": list(range(23)),
    "H36M_17": [None] * 5 + [11, 14, 12, 15, 13, 16, 4, 1, 5, 2, 6, 3] + [None] * 6,
    "PANOPTIC_19": [1, 15, 17, 16, 18, 3, 9, 4, 10, 5, 11, 6, 12, 7, 13, 8, 14] + [None] * 6,
    "OPENCAP_20": [None] * 5 + [4, 1, 5, 2, 6, 3, 11, 8, 12, 9, 13, 10, 14, 15, 16, 17, 18, 19],
}
SIZES = {"BODY_25": 25, "BODY_25B": 25, "HALPE_26": 26, "COCO_17": 17, "COCO_133": 133,
         "H36M_17": 17, "PANOPTIC_19": 19, "OPENCAP_20": 20}


def _indexed(n: int, lead: tuple[int, ...] = ()) -> np.ndarray:
    """(..., n, 3) keypoints whose x is the joint index, y = 1000 + index, conf 0.9."""
    j = np.arange(n, dtype=float)
    arr = np.stack([j, 1000 + j, np.full(n, 0.9)], axis=-1)
    return np.broadcast_to(arr, lead + (n, 3)).copy()


@pytest.mark.parametrize("name", sorted(SIZES))
def test_joint_set_sizes_and_unique_names(name):
    assert len(JOINT_SETS[name]) == SIZES[name]
    assert len(set(JOINT_SETS[name])) == SIZES[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_convert_maps_each_joint_from_its_source_index(name):
    out = convert_keypoints(_indexed(SIZES[name], (2, 3)), name)
    assert out.shape == (2, 3, 23, 3)
    for j, src in enumerate(EXPECTED[name]):
        if src is None:
            # Absent joints are never invented: NaN coordinates, confidence 0.
            assert np.isnan(out[..., j, :2]).all() and (out[..., j, 2] == 0).all(), MV3D23[j]
        else:
            assert (out[..., j, 0] == src).all() and (out[..., j, 1] == 1000 + src).all(), MV3D23[j]
            assert (out[..., j, 2] == 0.9).all()


def test_body25b_special_joints_are_not_mapped():
    # 17 (upper neck) and 18 (head top) of BODY_25B have no MV3D23 counterpart.
    assert JOINT_SETS["BODY_25B"][17:19] == ("UpperNeck", "HeadTop")
    out = convert_keypoints(_indexed(25), "BODY_25B")
    assert not np.isin([17, 18], out[:, 0]).any()


def test_openpose_zero_detection_becomes_nan():
    arr = _indexed(25)
    arr[5] = 0.0  # OpenPose writes an undetected joint as 0, 0, 0
    out = convert_keypoints(arr, "BODY_25")
    j = JOINT_INDEX["l_shoulder"]
    assert np.isnan(out[j, :2]).all() and out[j, 2] == 0


def test_from_mv3d_opencap_uses_derived_neck_and_midhip():
    rng = np.random.default_rng(0)
    pts = np.concatenate([rng.uniform(0, 500, (4, 23, 2)), rng.uniform(0.2, 1, (4, 23, 1))], axis=-1)
    out = from_mv3d(pts, "OPENCAP_20")
    names = JOINT_SETS["OPENCAP_20"]
    ls, rs, lh, rh = (JOINT_INDEX[n] for n in ("l_shoulder", "r_shoulder", "l_hip", "r_hip"))
    np.testing.assert_allclose(out[:, names.index("Neck"), :2], 0.5 * (pts[:, ls, :2] + pts[:, rs, :2]))
    np.testing.assert_allclose(out[:, names.index("midHip"), :2], 0.5 * (pts[:, lh, :2] + pts[:, rh, :2]))
    np.testing.assert_array_equal(out[:, names.index("midHip"), 2], np.minimum(pts[:, lh, 2], pts[:, rh, 2]))
    np.testing.assert_array_equal(out[:, names.index("LBigToe")], pts[:, JOINT_INDEX["l_big_toe"]])


@pytest.mark.parametrize("name", ["BODY_25", "BODY_25B", "HALPE_26", "COCO_133", "PANOPTIC_19", "H36M_17"])
def test_round_trip_through_other_convention(name):
    pts = _indexed(23, (3,)) + np.array([0.5, 0.25, 0.0])
    back = convert_keypoints(from_mv3d(pts, name), name)
    present = [j for j, s in enumerate(EXPECTED[name]) if s is not None]
    np.testing.assert_array_equal(back[:, present], pts[:, present])


def test_from_mv3d_without_confidence_on_3d_points():
    pts = np.random.default_rng(1).normal(size=(5, 25, 3))  # MV3D25 3D points, no confidence channel
    out = from_mv3d(pts, "H36M_17", confidence=False)
    np.testing.assert_array_equal(out[:, 0], pts[:, 24])  # pelvis <- mid_hip
    assert np.isnan(out[:, JOINT_SETS["H36M_17"].index("spine")]).all()


def test_unknown_joint_set_lists_known_ones():
    with pytest.raises(InputError) as err:
        convert_keypoints(np.zeros((25, 3)), "BODY_42")
    msg = str(err.value)
    assert "unknown joint set 'BODY_42'" in msg and "BODY_25B" in msg and "OPENCAP_20" in msg
    with pytest.raises(InputError, match="unknown joint set 'foo'"):
        from_mv3d(np.zeros((23, 3)), "foo")


def test_wrong_joint_count_is_an_input_error():
    with pytest.raises(InputError, match=r"HALPE_26 has 26 joints but the array has shape \(25, 3\)"):
        convert_keypoints(np.zeros((25, 3)), "HALPE_26")


def test_halpe_and_wholebody_annotations_agree_on_real_images():
    """The same people annotated in Halpe-136 and COCO-WholeBody: converted to MV3D23 both must agree.

    Body joints are shared annotations (identical); the feet were annotated separately, so
    they differ by a few pixels: measured <= 0.06 of the bounding-box diagonal. A mapping that
    swaps toes and heels or left and right would be off by a foot length (> 0.1 diagonal).
    """
    folder = DATA / "mmpose-samples"
    if not folder.exists():
        pytest.skip(f"reference data not found: {folder}")
    halpe = json.loads((folder / "halpe" / "test_halpe.json").read_text())
    whole = json.loads((folder / "coco-wholebody" / "test_coco_wholebody.json").read_text())
    by_id = {a["id"]: a for a in whole["annotations"]}
    compared_feet = 0
    for ann in halpe["annotations"]:
        other = by_id[ann["id"]]
        h = convert_keypoints(np.reshape(ann["keypoints"], (-1, 3))[:26], "HALPE_26")
        w133 = np.concatenate([np.reshape(other[k], (-1, 3)) for k in
                               ("keypoints", "foot_kpts", "face_kpts", "lefthand_kpts", "righthand_kpts")])
        w = convert_keypoints(w133, "COCO_133")
        both = (h[:, 2] > 0) & (w[:, 2] > 0)
        dist = np.linalg.norm(h[both, :2] - w[both, :2], axis=1) / np.hypot(*ann["bbox"][2:])
        body = both[:17]
        np.testing.assert_allclose(dist[: body.sum()], 0, atol=1e-9)
        assert (dist < 0.08).all(), (ann["id"], dist)
        compared_feet += both[17:].sum()
    assert compared_feet >= 20  # the check really covered the foot joints
