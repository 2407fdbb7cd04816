"""Top-down inference geometry (boxes, flip, UDP, decoding back to image pixels) and the pose2d CLI."""
from __future__ import annotations

import cv2
import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from mv3d.errors import InputError
from mv3d.pose2d import TopDownEstimator, build_model
from mv3d.pose2d.topdown import IMAGE_MEAN, IMAGE_STD
from mv3d.skeleton import MV3D23


class BlobFinder(torch.nn.Module):
    """A fixed 'network' whose 23 heatmaps are the crop's brightness resampled UDP-style to 1/4 size.

    align_corners=True resampling maps heatmap pixel x to crop pixel x (w_in - 1) / (w - 1), exactly the
    UDP transform, so a Gaussian blob in the frame must come back at its own image position.
    """

    num_joints = 23

    def forward(self, x):
        mean = torch.tensor(IMAGE_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGE_STD).view(1, 3, 1, 1)
        bright = ((x * std + mean)[:, :1] / 255.0)
        hm = F.interpolate(bright, size=(x.shape[2] // 4, x.shape[3] // 4), mode="bilinear", align_corners=True)
        return hm.expand(-1, self.num_joints, -1, -1)


def _blob_frames(centres, size=(320, 240), sigma=6.0):
    """(F, H, W, 3) uint8 BGR frames with one red Gaussian blob (peak 250) at sub-pixel ``centres`` (F, 2)."""
    w, h = size
    ys, xs = np.mgrid[0:h, 0:w]
    frames = np.zeros((len(centres), h, w, 3), np.uint8)
    for i, (cx, cy) in enumerate(centres):
        frames[i, ..., 2] = np.round(250 * np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * sigma**2)))
    return frames


def test_boxes_mode_returns_blob_position_in_image_pixels():
    rng = np.random.default_rng(0)
    centres = rng.uniform([80, 60], [240, 180], (6, 2))
    frames = _blob_frames(centres)
    # boxes of random aspect around the blob, off-centre
    wh = rng.uniform(40, 90, (6, 2))
    boxes = np.concatenate([centres - wh * rng.uniform(0.3, 0.7, (6, 2)), wh], 1)
    for flip in (False, True):
        est = TopDownEstimator(BlobFinder(), input_size=(48, 64), flip=flip)
        kp = est.estimate_frames(frames, boxes, mode="boxes")
        assert kp.shape == (6, 23, 3)
        err = np.linalg.norm(kp[..., :2] - centres[:, None], axis=-1)
        # 8-bit blob, bilinear resampling: ~0.1 px; 0.3 px is < 0.1 heatmap px at these scales (~5 image px)
        assert err.max() < 0.3, (flip, err.max())
        # confidence = heatmap maximum at the best integer pixel: peak 0.98, up to ~0.7 heatmap px (sigma ~1) away
        assert np.all(kp[..., 2] > 0.7)


def test_nan_box_gives_missing_keypoints_and_bad_box_is_an_error():
    frames = _blob_frames([[100.0, 100.0], [120.0, 90.0]])
    est = TopDownEstimator(BlobFinder(), input_size=(48, 64), flip=False)
    kp = est.estimate_frames(frames, np.array([[70, 70, 60, 60], [np.nan] * 4]), mode="boxes")
    assert np.isnan(kp[1, :, :2]).all() and (kp[1, :, 2] == 0).all() and np.isfinite(kp[0]).all()
    with pytest.raises(InputError, match=r"person box 1 .*lies outside the 320x240 image"):
        est.estimate_frames(frames, np.array([[70, 70, 60, 60], [400, 10, 50, 50]]), mode="boxes")


def test_track_and_full_modes_follow_a_moving_blob():
    # a wide blob (the whole-frame coarse pass sees it at ~0.6 heatmap px sigma) moving 3 px per frame,
    # small against its 38 px tracking box
    centres = np.stack([np.linspace(120, 153, 12), np.linspace(100, 122, 12)], 1)
    frames = _blob_frames(centres, sigma=20.0)
    est = TopDownEstimator(BlobFinder(), input_size=(48, 64), flip=False)

    def batches():
        for i in range(0, 12, 4):
            idx = np.arange(i, i + 4)
            yield idx, idx / 30.0, frames[idx]

    for track in (True, False):
        result = est.estimate_video(batches(), track=track)
        assert result.frames.tolist() == list(range(12))
        err = np.linalg.norm(result.keypoints[..., :2] - centres[:, None], axis=-1)
        assert err.max() < 0.5, (track, err.max())  # the box follows the blob in both modes


def test_empty_video_is_a_clear_error(tmp_path):
    est = TopDownEstimator(BlobFinder(), input_size=(48, 64), flip=False)
    with pytest.raises(InputError, match="frames: the video yielded no frames"):
        est.estimate_video(iter(()))
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty.mp4"):
        est.estimate_video(empty)


def _write_video(path, frames, fps=25.0):
    h, w = frames.shape[1:3]
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    for f in frames:
        vw.write(f)
    vw.release()


@pytest.mark.slow
def test_cli_writes_keypoints_h5(tmp_path):
    from pipelines.cli import cli

    vids = tmp_path / "videos"
    vids.mkdir()
    _write_video(vids / "cam1.avi", _blob_frames(np.full((5, 2), 150.0)))
    _write_video(vids / "cam2.avi", _blob_frames(np.full((3, 2), 100.0)))
    torch.manual_seed(0)
    state = build_model("pose_resnet18").state_dict()
    state["final_layer.bias"].fill_(0.5)  # untrained weights with a confident (flat) output: always "found"
    weights = tmp_path / "w.pth"
    torch.save({"state_dict": state}, weights)
    out = tmp_path / "kp.h5"
    res = CliRunner().invoke(cli, ["pose2d", "--videos", str(vids), "--weights", str(weights), "--out", str(out),
                                   "--input-size", "64x64", "--mode", "full", "--batch-size", "2", "--no-flip"])
    assert res.exit_code == 0, res.output
    with h5py.File(out) as f:
        data = f["keypoints2d"][:]
        assert data.shape == (2, 5, 23, 3)
        assert [c.decode() if isinstance(c, bytes) else c for c in f["keypoints2d"].attrs["cameras"]] == ["cam1", "cam2"]
        assert list(f["keypoints2d"].attrs["joint_names"]) == list(MV3D23)
        assert f["keypoints2d"].attrs["fps"] == pytest.approx(25.0)
    assert np.isfinite(data[0]).all() and np.isfinite(data[1, :3]).all()
    assert np.isnan(data[1, 3:, :, :2]).all() and (data[1, 3:, :, 2] == 0).all()  # cam2 is 2 frames shorter
    # wrong architecture through the CLI: a clear one-line error naming keys
    res = CliRunner().invoke(cli, ["pose2d", "--videos", str(vids), "--weights", str(weights), "--out", str(out),
                                   "--arch", "pose_resnet50"])
    assert isinstance(res.exception, InputError) and "layer1.0.conv3.weight" in str(res.exception)


def test_cli_boxes_from_imported_detections(tmp_path):
    from mv3d.io import Keypoints2D, write_keypoints_h5
    from pipelines.cli import cli

    vids = tmp_path / "videos"
    vids.mkdir()
    _write_video(vids / "cam1.avi", _blob_frames(np.full((4, 2), 150.0)))
    torch.manual_seed(0)
    state = build_model("pose_resnet18").state_dict()
    state["final_layer.bias"].fill_(0.5)
    weights = tmp_path / "w.pth"
    torch.save(state, weights)
    det = np.full((1, 3, 23, 3), np.nan)
    det[..., 2] = 0.0
    det[0, :2, :, :2] = np.random.default_rng(0).uniform(120, 180, (2, 23, 2))  # frames 0, 1 detected
    det[0, :2, :, 2] = 0.9  # frame 2 not detected; the video's frame 3 lies beyond the detections
    dets = tmp_path / "det.h5"
    write_keypoints_h5(dets, Keypoints2D(data=det, cameras=["cam1"], frames=np.arange(3), fps=25.0))
    out = tmp_path / "kp.h5"
    args = ["pose2d", "--videos", str(vids), "--weights", str(weights), "--out", str(out), "--input-size", "64x64",
            "--no-flip", "--detections", str(dets), "--detections-format", "h5"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    with h5py.File(out) as f:
        data = f["keypoints2d"][:]
    assert data.shape == (1, 4, 23, 3)
    assert np.isfinite(data[0, :2]).all()
    assert np.isnan(data[0, 2:, :, :2]).all() and (data[0, 2:, :, 2] == 0).all()
    (vids / "cam1.avi").rename(vids / "side.avi")
    res = CliRunner().invoke(cli, args)
    assert isinstance(res.exception, InputError) and "no detections for camera(s) side" in str(res.exception)


def _standing_person(arms_up: bool = False) -> np.ndarray:
    """(23, 3) MV3D23 pixels of a 330 px tall person facing the camera, confidence 0.9."""
    from mv3d.skeleton import JOINT_INDEX

    xy = {"nose": (100, 30), "l_eye": (106, 24), "r_eye": (94, 24), "l_ear": (112, 28), "r_ear": (88, 28),
          "l_shoulder": (122, 70), "r_shoulder": (78, 70), "l_elbow": (130, 120), "r_elbow": (70, 120),
          "l_wrist": (135, 165), "r_wrist": (65, 165), "l_hip": (112, 170), "r_hip": (88, 170),
          "l_knee": (112, 250), "r_knee": (88, 250), "l_ankle": (112, 330), "r_ankle": (88, 330),
          "l_big_toe": (116, 345), "l_small_toe": (124, 342), "l_heel": (110, 338),
          "r_big_toe": (84, 345), "r_small_toe": (76, 342), "r_heel": (90, 338)}
    if arms_up:  # hands high above the head: the farthest joints of a real pose must stay in the box
        xy.update({"l_elbow": (135, 20), "r_elbow": (65, 20), "l_wrist": (140, -40), "r_wrist": (60, -40)})
    kp = np.zeros((23, 3))
    for name, (u, v) in xy.items():
        kp[JOINT_INDEX[name]] = (u, v, 0.9)
    return kp


_L_ANKLE = 15  # MV3D23 index of l_ankle


def test_person_box_ignores_a_stray_confident_joint():
    from mv3d.pose2d.topdown import keypoints_to_boxes

    clean = _standing_person()
    assert np.allclose(keypoints_to_boxes(clean[None])[0], [65, 24, 70, 321])  # min/max of the joints
    stray = clean.copy()
    stray[_L_ANKLE] = (1000, 330, 1.0)  # a foot put 900 px away at full confidence
    assert np.allclose(keypoints_to_boxes(stray[None])[0], keypoints_to_boxes(np.delete(clean, _L_ANKLE,
                                                                                        0)[None])[0])
    up = _standing_person(arms_up=True)
    box = keypoints_to_boxes(up[None])[0]
    assert box[1] == -40 and box[1] + box[3] == 345  # raised wrists and the feet both kept


def test_search_windows_span_wide_and_tall_frames():
    from mv3d.pose2d.topdown import search_windows

    wide = search_windows((1920, 1080), (96, 128))  # input aspect 0.75: windows 810 x 1080
    assert np.allclose(wide[0], [0, 0, 1920, 1080])
    assert np.allclose(wide[1:, 2:], [810, 1080]) and wide[1, 0] == 0 and wide[-1, 0] + 810 == 1920
    assert np.all(np.diff(wide[1:, 0]) <= 0.5 * 810 + 1e-9)  # neighbours overlap by at least half
    tall = search_windows((720, 1280), (96, 128))  # 720 x 960 windows down the frame
    assert np.allclose(tall[1:, 2:], [720, 960]) and tall[-1, 1] + 960 == 1280
    assert len(search_windows((768, 1024), (96, 128))) == 1  # the input's own shape: the whole frame only
