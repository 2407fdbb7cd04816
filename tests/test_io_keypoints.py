"""2D keypoint importers (OpenPose, mmpose, h5) and person selection, on the Pose2Sim demo."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mv3d.errors import InputError
from mv3d.io import Keypoints2D, read_keypoints, write_keypoints_h5
from mv3d.io.tracking import select_person
from mv3d.skeleton import FLIP_INDEX, JOINT_INDEX, MV3D23, from_mv3d

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
POSE = DATA / "pose2sim-demo" / "pose"
needs_demo = pytest.mark.skipif(not POSE.exists(), reason=f"reference data not found: {POSE}")
CORE = [JOINT_INDEX[n] for n in ("l_shoulder", "r_shoulder", "l_hip", "r_hip")]


@pytest.fixture(scope="module")
def demo() -> Keypoints2D:
    return read_keypoints(POSE, "openpose", fps=60)


@needs_demo
def test_demo_imports_as_4_cameras_100_frames(demo):
    assert demo.data.shape == (4, 100, 23, 3)
    assert demo.cameras == ["cam01", "cam02", "cam03", "cam04"]
    np.testing.assert_array_equal(demo.frames, np.arange(100))
    assert demo.source == "BODY_25B" and demo.fps == 60.0 and demo.joint_names == MV3D23
    # Missing is NaN with confidence 0, never a zero coordinate.
    missing = demo.data[..., 2] == 0
    assert np.isnan(demo.data[..., :2][missing]).all() and not (demo.data[..., :2] == 0).any()
    # cam01 frame 0, person 0 (the subject): BODY_25B joint 5 is the left shoulder.
    np.testing.assert_allclose(demo.data[0, 0, JOINT_INDEX["l_shoulder"]], [521.038, 494.789, 0.71398])
    # The subject's shoulders and hips are found in every frame of every camera.
    assert (demo.data[:, :, CORE, 2] > 0).all()


@needs_demo
def test_selected_person_is_the_subject_in_every_frame(demo):
    """cam01 and cam02 also see a bystander (left edge in cam01, right edge in cam02).

    The subject's shoulder/hip box moves at most 13 px per frame (measured); the bystander
    stands > 250 px away, so a takeover would jump far beyond the 30 px bound.
    """
    core = demo.data[:, :, CORE, :2]
    centre = 0.5 * (core.min(axis=2) + core.max(axis=2))  # (C, F, 2)
    jumps = np.linalg.norm(np.diff(centre, axis=1), axis=-1)
    assert jumps.max() < 30.0
    # The bystander's joints: x < 120 px in cam01 and x > 760 px in cam02 (read from the JSON).
    assert core[0, ..., 0].min() > 250 and core[1, ..., 0].max() < 720
    # cam01 frame 37: the subject was detected as two fragments (upper and lower body); both are merged.
    assert (demo.data[0, 37, :, 2] > 0).sum() >= 20


@needs_demo
def test_openpose_zero_coordinate_placeholder_is_missing(demo):
    # cam01 frames 4-8 and 15: OpenPose wrote the nose as x = 0.0 with confidence ~0.65.
    nose = demo.data[0, [4, 5, 6, 7, 8, 15], JOINT_INDEX["nose"]]
    assert np.isnan(nose[:, :2]).all() and (nose[:, 2] == 0).all()


def _write_openpose(folder: Path, kp: np.ndarray, set_name: str) -> None:
    """Write (C, F, 23, 3) MV3D23 keypoints as OpenPose JSON of a joint set, plus a distant distractor."""
    for c in range(kp.shape[0]):
        cam = folder / f"cam{c + 1:02d}_json"
        cam.mkdir(parents=True)
        conv = np.nan_to_num(from_mv3d(kp[c], set_name), nan=0.0)
        for f in range(kp.shape[1]):
            small = conv[f].copy()
            small[:, :2] = small[:, :2] * 0.2 + 2000  # a small person far away
            people = [{"pose_keypoints_2d": small.ravel().tolist()}, {"pose_keypoints_2d": conv[f].ravel().tolist()}]
            (cam / f"cam{c + 1:02d}_{f:012d}_keypoints.json").write_text(json.dumps({"version": 1.3, "people": people}))


@needs_demo
def test_body25_is_told_from_body25b(demo, tmp_path):
    sub = demo.data[:, :20]
    _write_openpose(tmp_path / "b25", sub, "BODY_25")
    kp = read_keypoints(tmp_path / "b25", "openpose", fps=60)
    assert kp.source == "BODY_25"
    np.testing.assert_allclose(kp.data, sub, atol=1e-12)


def _mm_instance(pose: np.ndarray) -> dict:
    ok = pose[:, 2] > 0
    xy = np.where(ok[:, None], pose[:, :2], 0.0)
    return {"keypoints": xy.tolist(), "keypoint_scores": np.where(ok, pose[:, 2], 0.0).tolist(),
            "bbox": [[0, 0, 1, 1]], "bbox_score": 0.9}


@needs_demo
@pytest.mark.parametrize("layout", ["inferencer", "instance_info", "coco_results", "frame_files"])
def test_mmpose_layouts(demo, tmp_path, layout):
    sub = demo.data[:2, :15]
    set_name = "HALPE_26" if layout in ("inferencer", "frame_files") else "COCO_133"
    for c in range(2):
        conv = from_mv3d(sub[c], set_name)
        distractor = conv.copy()
        distractor[..., :2] = distractor[..., :2] * 0.1 + 5
        frames = [{"frame_id": f, "instances": [_mm_instance(distractor[f]), _mm_instance(conv[f])]}
                  for f in range(15)]
        if layout == "inferencer":
            (tmp_path / f"cam{c + 1}.json").write_text(json.dumps(frames))
        elif layout == "instance_info":
            (tmp_path / f"cam{c + 1}.json").write_text(json.dumps({"meta_info": {}, "instance_info": frames}))
        elif layout == "coco_results":
            rows = [{"image_id": 100 + f, "category_id": 1, "score": 0.9,
                     "keypoints": np.column_stack([np.nan_to_num(p[:, :2]), p[:, 2]]).ravel().tolist()}
                    for f in range(15) for p in (distractor[f], conv[f])]
            (tmp_path / f"cam{c + 1}.json").write_text(json.dumps(rows))
        else:
            cam = tmp_path / f"cam{c + 1}"
            cam.mkdir()
            for f in range(15):
                (cam / f"{f:06d}.json").write_text(json.dumps(frames[f]["instances"]))
    kp = read_keypoints(tmp_path, "mmpose", fps=50)
    assert kp.source == set_name and kp.cameras == ["cam1", "cam2"] and kp.fps == 50
    expected_frames = np.arange(100, 115) if layout == "coco_results" else np.arange(15)
    np.testing.assert_array_equal(kp.frames, expected_frames)
    np.testing.assert_allclose(kp.data, sub, atol=1e-9)


@needs_demo
def test_h5_round_trip(demo, tmp_path):
    import h5py

    path = tmp_path / "kp.h5"
    write_keypoints_h5(path, demo)
    with h5py.File(path) as h5:
        ds = h5["keypoints2d"]
        assert ds.shape == (4, 100, 23, 3)
        assert list(ds.attrs["cameras"]) == demo.cameras and ds.attrs["fps"] == 60.0
        assert tuple(ds.attrs["joint_names"]) == MV3D23
    again = read_keypoints(path, "h5")
    np.testing.assert_array_equal(again.data, demo.data)
    assert again.cameras == demo.cameras and again.fps == 60.0 and again.source == "BODY_25B"
    np.testing.assert_array_equal(again.frames, demo.frames)


def test_tracking_starts_on_the_largest_person():
    rng = np.random.default_rng(1)
    base = np.column_stack([rng.uniform(0, 100, 23), rng.uniform(0, 300, 23), np.full(23, 0.9)])
    cands = np.stack([base, base * [2, 2, 1] + [500, 0, 0]])[None].repeat(5, axis=0)  # (5, 2, 23, 3)
    cands[0, 1, :, 2] = 0.1  # the big one is unsure in frame 0: the largest *confident* box wins later
    out = select_person(cands)
    np.testing.assert_array_equal(out, cands[:, 1])  # frame 0 too, followed back from frame 1


def test_tracking_survives_missed_frames_and_ignores_a_bigger_newcomer():
    rng = np.random.default_rng(0)
    base = np.column_stack([rng.uniform(0, 100, 23), rng.uniform(0, 300, 23), np.full(23, 0.9)])
    n = 40
    cands = np.full((n, 2, 23, 3), np.nan)
    cands[..., 2] = 0
    for f in range(n):
        cands[f, 1] = base + [3.0 * f, 0, 0]           # the subject walks right 3 px/frame
    cands[10:16, 1] = np.nan                             # ...and is missed for 6 frames
    cands[10:16, 1, :, 2] = 0
    big = base.copy()
    big[:, :2] *= 2.0
    cands[12:, 0] = big + [600, 0, 0]                   # a bigger person enters after the first frames
    out = select_person(cands)
    found = out[:, 0, 2] > 0
    np.testing.assert_array_equal(found, ~np.isin(np.arange(n), np.arange(10, 16)))
    np.testing.assert_array_equal(out[found], cands[found, 1])


def test_tracking_keeps_the_subject_through_a_left_right_swap_next_to_a_passer_by():
    # A front view: left joints 40 px left of the mid-line, right joints 40 px right. The detector
    # swaps the labels for 4 frames (each joint jumps 80 px) while a smaller passer-by stands 50 px
    # away: the swapped subject must still be the one followed (issue 16: the track went to the
    # passer-by for a second and the 2-camera triangulation followed him).
    rng = np.random.default_rng(2)
    side = np.array([-40.0 if n.startswith("l_") else 40.0 if n.startswith("r_") else 0.0 for n in MV3D23])
    base = np.column_stack([200 + side + rng.normal(0, 3, 23), rng.uniform(0, 300, 23), np.full(23, 0.9)])
    n = 30
    cands = np.repeat(base[None, None], n, axis=0).repeat(2, axis=1)  # (n, 2, 23, 3)
    cands[:, 0, :, 0] += 2.0 * np.arange(n)[:, None]                  # the subject jogs right 2 px/frame
    cands[10:14, 0] = cands[10:14, 0][:, FLIP_INDEX]                 # ...with its labels swapped 4 frames
    cands[:, 1, :, :2] = 0.8 * cands[:, 1, :, :2] + [90.0, 30.0]       # the passer-by, 50 px off the subject
    out = select_person(cands)
    np.testing.assert_array_equal(out, cands[:, 0])


def test_tracking_does_not_take_a_passer_by_in_a_frame_where_the_subject_is_missed():
    # The passer-by stands within the per-frame jump limit of the subject; in the one frame where the
    # detector misses the subject he is the only candidate near the track, yet he is the other
    # person that the previous frames saw beside the subject.
    rng = np.random.default_rng(3)
    base = np.column_stack([rng.uniform(0, 100, 23), rng.uniform(0, 300, 23), np.full(23, 0.9)])
    n = 30
    cands = np.repeat(base[None, None], n, axis=0).repeat(2, axis=1)  # (n, 2, 23, 3)
    cands[:, 0, :, 0] += 2.0 * np.arange(n)[:, None]                  # the subject
    centre = base[:, :2].mean(0)
    cands[:, 1, :, :2] = centre + 0.9 * (cands[:, 0, :, :2] - centre) + [22.0, 0.0]  # 0.07 diagonals off
    cands[10, 0] = [np.nan, np.nan, 0.0]                              # the subject missed in frame 10
    out = select_person(cands)
    found = out[:, 0, 2] > 0
    np.testing.assert_array_equal(found, np.arange(n) != 10)
    np.testing.assert_array_equal(out[found], cands[found, 0])


def test_tracking_follows_a_duplicated_detection_of_the_subject():
    # Detectors sometimes report the same person twice, a few pixels apart: the duplicate is not
    # another person, and the subject stays found in every frame.
    rng = np.random.default_rng(4)
    base = np.column_stack([rng.uniform(0, 100, 23), rng.uniform(0, 300, 23), np.full(23, 0.9)])
    n = 20
    cands = np.repeat(base[None, None], n, axis=0).repeat(2, axis=1)
    cands[..., 0] += 3.0 * np.arange(n)[:, None, None]
    cands[:, 1, :, :2] += rng.normal(0, 1.0, (n, 23, 2))   # the duplicate, 1 px noise
    cands[5:8, 1] = [np.nan, np.nan, 0.0]                  # which comes and goes
    out = select_person(cands)
    assert (out[..., 2] > 0).all()
    assert np.nanmax(np.abs(out[..., :2] - cands[:, 0, :, :2])) < 6.0


def test_truncated_json_names_the_file(tmp_path):
    cam = tmp_path / "cam01_json"
    cam.mkdir()
    good = {"people": [{"pose_keypoints_2d": [1.0, 2.0, 0.5] * 25}]}
    (cam / "cam01.0000.json").write_text(json.dumps(good))
    text = json.dumps(good)
    (cam / "cam01.0001.json").write_text(text[: len(text) // 2])
    with pytest.raises(InputError) as err:
        read_keypoints(tmp_path, "openpose", fps=30, joint_set="BODY_25B")
    msg = str(err.value)
    assert msg.startswith(f"{cam / 'cam01.0001.json'}: not valid JSON")
    assert "truncated or corrupt" in msg


def test_empty_folder_and_unknown_inputs(tmp_path):
    with pytest.raises(InputError) as err:
        read_keypoints(tmp_path, "openpose", fps=30)
    assert str(err.value) == (f"{tmp_path}: no openpose JSON files found; expected one sub-folder per camera "
                              f"holding the JSON files (e.g. {tmp_path}/cam01_json/*.json)")
    with pytest.raises(InputError, match="unknown keypoint format 'csv'"):
        read_keypoints(tmp_path, "csv")
    (tmp_path / "c1").mkdir()
    (tmp_path / "c1" / "0.json").write_text(json.dumps({"people": [{"pose_keypoints_2d": [1.0, 2.0, 0.5] * 25}]}))
    with pytest.raises(InputError, match="unknown joint set 'BODY_99'; known joint sets: MV3D23"):
        read_keypoints(tmp_path, "openpose", fps=30, joint_set="BODY_99")
    (tmp_path / "c1" / "0.json").write_text(json.dumps({"people": [{"pose_keypoints_2d": [1.0, 2.0, 0.5] * 21}]}))
    with pytest.raises(InputError, match="21 keypoints match no known joint set"):
        read_keypoints(tmp_path, "openpose", fps=30)


@needs_demo
@pytest.mark.parametrize("name", ["BODY_25", "BODY_25B"])
def test_guess_body25_with_either_cue(demo, name):
    from mv3d.io.keypoints import guess_body25

    poses = np.nan_to_num(from_mv3d(demo.data.reshape(-1, 23, 3), name), nan=0.0)
    assert guess_body25(poses) == name
    poses[:, [1, 8, 9, 12], 2] = 0  # without the mid-hip cue, the eye/ankle cue decides
    assert guess_body25(poses) == name
    poses[:, [0, 11, 15], 2] = 0
    with pytest.raises(InputError, match="cannot tell BODY_25 from BODY_25B"):
        guess_body25(poses)


@needs_demo
def test_static_trial_imports(tmp_path):
    # The demo's static trial names its files Static_cam_01.00000.json and lacks the eyes and ears.
    kp = read_keypoints(POSE.parent / "static-trial" / "pose", "openpose", fps=60)
    assert kp.data.shape == (4, 12, 23, 3) and kp.source == "BODY_25B"
    np.testing.assert_array_equal(kp.frames, np.arange(12))
    assert (kp.data[:, :, CORE, 2] > 0).all()
