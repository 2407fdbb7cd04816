"""Overlays, skeleton animations and diagnostic figures: pixels and plotted values checked."""
from __future__ import annotations

import io
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from mv3d.camera import Camera, CameraRig
from mv3d.errors import InputError
from mv3d.skeleton import JOINT_INDEX, LIMBS, MV3D23, MV3D25, add_derived
from pipelines import figures, media

# A standing person, y up, metres (MV3D23 order).
STANDING = np.array([
    [0, 1.60, 0], [-.03, 1.63, 0], [.03, 1.63, 0], [-.07, 1.60, 0], [.07, 1.60, 0],
    [-.20, 1.40, 0], [.20, 1.40, 0], [-.25, 1.10, 0], [.25, 1.10, 0], [-.27, .85, 0], [.27, .85, 0],
    [-.10, .95, 0], [.10, .95, 0], [-.10, .50, 0], [.10, .50, 0], [-.10, .08, 0], [.10, .08, 0],
    [-.10, 0, .15], [-.14, 0, .12], [-.10, 0, -.05], [.10, 0, .15], [.14, 0, .12], [.10, 0, -.05]])


def _walking(frames: int, fps: float = 30.0) -> np.ndarray:
    """(F, 23, 3): the standing pose walking along x with the left wrist swinging along z."""
    t = np.arange(frames) / fps
    pts = np.repeat(STANDING[None], frames, axis=0)
    pts[:, JOINT_INDEX["l_wrist"], 2] += 0.3 * np.sin(2 * np.pi * t)
    pts[..., 0] += 1.2 * t[:, None]
    return pts


def _keypoints_2d(scale: float = 300.0, offset=(400.0, 620.0)) -> np.ndarray:
    """(23, 3) image keypoints of the standing pose (x right, y down), confidence 1."""
    xy = STANDING[:, :2] * [scale, -scale] + offset
    return np.concatenate([xy, np.ones((23, 1))], axis=1)


def _png_pixels(fig) -> np.ndarray:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=60)
    return np.asarray(Image.open(buf).convert("RGB"))


def _assert_not_blank(fig) -> None:
    px = _png_pixels(fig)
    # A rendered chart has text, lines and fills: many colours and real contrast. A blank
    # canvas has one colour (std 0); an axes frame alone has < 10 colours.
    assert px.std() > 20
    assert len(np.unique(px.reshape(-1, 3), axis=0)) > 50


# ---------------------------------------------------------------------------------- overlays

def test_overlay_colours_at_keypoints() -> None:
    image = np.full((800, 800, 3), 60, np.uint8)
    kp = _keypoints_2d()
    kp[JOINT_INDEX["r_ear"]] = [700.0, 700.0, 0.0]  # undetected: confidence 0, must not be drawn
    reproj = kp[:, :2] + [0.0, -40.0]
    out = media.overlay_frame(image, kp, reproj)
    assert out.shape == image.shape and (image == 60).all()  # the input is not drawn on

    def at(xy):
        return out[int(round(xy[1])), int(round(xy[0]))].astype(int)

    # Each detected joint is a filled dot of its side's colour, drawn last (on top).
    for name, colour in (("l_wrist", media.LEFT_BGR), ("r_knee", media.RIGHT_BGR), ("nose", media.MIDDLE_BGR),
                         ("l_heel", media.LEFT_BGR), ("r_shoulder", media.RIGHT_BGR)):
        assert np.array_equal(at(kp[JOINT_INDEX[name], :2]), colour), name
    assert np.array_equal(at((700, 700)), [60, 60, 60])  # the undetected joint left no mark
    # Re-projections: a ring of radius r + 2t + 1 (r = 800/120 ~ 7, t = 2) around the point,
    # 12 px, left of the l_knee re-projection; anti-aliasing blends the edge, hence 40 levels.
    ring = reproj[JOINT_INDEX["l_knee"]] - [12.0, 0.0]
    assert np.abs(at(ring) - media.REPROJ_BGR).max() < 40
    # The legend box darkens the top-left corner.
    assert out[3, 3].max() < 60


def test_overlay_rejects_bad_shapes() -> None:
    with pytest.raises(InputError, match=r"\(23, 3\) keypoints.*shape \(17, 3\)"):
        media.overlay_frame(np.zeros((10, 10, 3), np.uint8), np.zeros((17, 3)))
    with pytest.raises(InputError, match=r"\(H, W, 3\) BGR image"):
        media.overlay_frame(np.zeros((10, 10), np.uint8), np.zeros((23, 3)))


def test_overlay_video_from_frames_and_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    n, h, w = 12, 480, 640
    kp = np.repeat(_keypoints_2d(200.0, (320.0, 420.0))[None], n, axis=0)
    kp[:, :, 0] += np.arange(n)[:, None] * 5.0  # moves 5 px a frame
    frames = [np.full((h, w, 3), 30, np.uint8) for _ in range(n)]
    out = media.write_overlay_video(iter(frames), kp, kp[..., :2] + 3.0, tmp_path / "cam1.mp4", fps=30)
    cap = cv2.VideoCapture(str(out))
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == n and cap.get(cv2.CAP_PROP_FPS) == pytest.approx(30)
    decoded = [cap.read()[1] for _ in range(n)]
    for i in (0, n - 1):  # the dot follows the keypoint; mp4v is lossy, so compare a 3x3 mean
        x, y = np.round(kp[i, JOINT_INDEX["r_hip"], :2]).astype(int)
        patch = decoded[i][y - 1:y + 2, x - 1:x + 2].reshape(-1, 3).mean(axis=0)
        assert np.abs(patch - media.RIGHT_BGR).max() < 45
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left

    # From a video file: its own fps is used; a video shorter than the keypoints is logged.
    src = tmp_path / "src.mp4"
    writer = cv2.VideoWriter(str(src), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (w, h))
    for fr in frames[:8]:
        writer.write(fr)
    writer.release()
    with caplog.at_level(logging.WARNING, logger="pipelines.media"):
        out2 = media.write_overlay_video(src, kp, None, tmp_path / "cam2.mp4", scale=0.5)
    cap = cv2.VideoCapture(str(out2))
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 8 and cap.get(cv2.CAP_PROP_FPS) == pytest.approx(25)
    assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (w / 2, h / 2)
    assert "8 video frames matched the 12 keypoint frames" in caplog.text
    with pytest.raises(InputError, match="missing.mp4: no such video file"):
        media.write_overlay_video(tmp_path / "missing.mp4", kp, None, tmp_path / "x.mp4")
    assert not (tmp_path / "x.mp4").exists()


# ------------------------------------------------------------------------------ animation

def _skeleton_mask(frame: np.ndarray) -> np.ndarray:
    """Pixels of frame (H, W, 3) painted in one of the skeleton colours (rendering is exact)."""
    colours = np.array([media.LEFT_BGR, media.RIGHT_BGR, media.MIDDLE_BGR])
    return (frame[:, :, None, :] == colours).all(-1).any(-1)


def test_skeleton_frames_geometry() -> None:
    size = 200
    pts = _walking(3)
    frames = media.skeleton_frames(pts, up_axis="y", size=size)
    assert frames.shape == (3, size, 2 * size, 3)
    rows = np.flatnonzero(_skeleton_mask(frames[0][:, :size]).any(axis=1))
    # The person (heel 0 m to eyes 1.63 m) is the tallest extent: joint centres span
    # (size - 1) / 1.1 px (10 % margin), plus a dot radius (size // 110 = 2 px) at each end.
    assert rows.max() - rows.min() == pytest.approx((size - 1) / 1.1 + 2 * 2, abs=2)
    # Up is up: the midline (green) pixels (nose, neck, shoulder and hip lines, 0.95-1.6 m)
    # all lie in the upper half; upside down they would reach the bottom quarter.
    green_rows = np.flatnonzero((frames[0][:, :size] == media.MIDDLE_BGR).all(-1).any(axis=1))
    assert green_rows.max() < size / 2
    # follow=True keeps the walker centred, so frames only differ by the swinging wrist.
    moved = _skeleton_mask(frames[2]) != _skeleton_mask(frames[0])
    assert 0 < moved.sum() < 200
    # The same person with z up, rendered with up_axis="z", paints the same skeleton pixels.
    z_up = pts[..., [0, 2, 1]] * [1, -1, 1]
    same = media.skeleton_frames(z_up, up_axis="z", size=size)
    # (The x-up view is identical; the other view is mirrored, as z_up's second axis is -z.)
    assert np.array_equal(_skeleton_mask(same[0][:, :size]), _skeleton_mask(frames[0][:, :size]))
    with pytest.raises(InputError, match="up_axis must be 'y' or 'z'"):
        media.skeleton_frames(pts, up_axis="x")


def test_skeleton_animation_gif_and_mp4(tmp_path: Path) -> None:
    pts = add_derived(_walking(40))
    gif = media.skeleton_animation(pts, tmp_path / "walk.gif", fps=30, stride=2, size=160)
    with Image.open(gif) as im:
        assert im.n_frames == 20  # 40 frames, every 2nd
        # Still real time: 15 fps, within GIF's 10 ms delay resolution.
        assert im.info["duration"] == pytest.approx(1000 / 15, abs=5)
        im.seek(0)
        first = np.asarray(im.convert("RGB"))
        im.seek(5)  # a quarter swing period later (5 x 2 frames of 1/30 s = 1/3 s)
        later = np.asarray(im.convert("RGB"))
    assert first.shape == (160, 320, 3)
    body = slice(24, None)  # below the time stamp
    assert (first[body] != later[body]).any(axis=-1).sum() > 20  # the wrist moved

    still = np.repeat(add_derived(STANDING[None]), 10, axis=0)
    mp4 = media.skeleton_animation(still, tmp_path / "still.mp4", fps=30, size=160)
    cap = cv2.VideoCapture(str(mp4))
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 10
    a, b = cap.read()[1], [cap.read()[1] for _ in range(8)][-1]
    # A still skeleton: frames equal below the stamp up to codec noise.
    assert np.abs(a[body].astype(int) - b[body].astype(int)).max() < 40
    with pytest.raises(InputError, match=r"must be a \.gif or an \.mp4"):
        media.skeleton_animation(pts, tmp_path / "walk.avi")
    with pytest.raises(InputError, match=r"\(F, 25, 3\) MV3D25 or \(F, 23, 3\)"):
        media.skeleton_animation(pts[:, :20], tmp_path / "walk.gif")


# -------------------------------------------------------------------------------- figures

def test_reprojection_error_figure() -> None:
    rng = np.random.default_rng(0)
    errors = np.abs(rng.normal(0, 2, (3, 50, 23)))
    errors[1, :, 5] += 10  # camera 2 misses l_shoulder by 10 px
    errors[2, :, 7] = np.nan  # never detected
    fig = figures.reprojection_error_figure(errors, ["c1", "c2", "c3"], MV3D23)
    heat = fig.axes[0].images[0].get_array()
    expected = np.median(errors, axis=1)  # NaN only in the never-detected cell
    assert np.allclose(heat.filled(np.nan)[np.isfinite(expected)], expected[np.isfinite(expected)])
    assert heat.mask[2, 7]
    _assert_not_blank(fig)
    with pytest.raises(InputError, match="2 camera and 23 joint names"):
        figures.reprojection_error_figure(errors, ["c1", "c2"], MV3D23)


def test_bone_length_figure_cv() -> None:
    t = np.arange(200) / 100.0
    pts = _walking(200, fps=100.0)
    pts[:, JOINT_INDEX["l_wrist"], 2] = 0.0  # rigid arm
    # Stretch the left shank by +-10 % sinusoidally: CV = 0.1 / sqrt(2) = 7.07 %.
    knee, ankle = JOINT_INDEX["l_knee"], JOINT_INDEX["l_ankle"]
    shank = pts[:, ankle] - pts[:, knee]
    pts[:, ankle] = pts[:, knee] + shank * (1 + 0.1 * np.sin(2 * np.pi * t))[:, None]
    fig = figures.bone_length_figure(pts, t)
    widths = np.array([p.get_width() for p in fig.axes[1].patches])
    b = LIMBS.index(("l_knee", "l_ankle"))
    # 200 samples = 2 whole periods, so the sample std equals the analytic 0.1/sqrt(2) to 1e-3 %.
    assert widths[b] == pytest.approx(100 * 0.1 / np.sqrt(2), abs=1e-3)
    # Bones not touching the moved ankle are rigid (the walk only translates them).
    foot = [LIMBS.index(("l_ankle", "l_heel")), LIMBS.index(("l_ankle", "l_big_toe"))]
    assert widths[foot].min() > 1.0 and np.delete(widths, [b, *foot]).max() < 1e-9
    lines = fig.axes[0].get_lines()
    assert len(lines) == len(LIMBS)
    assert np.allclose(lines[LIMBS.index(("l_shoulder", "l_elbow"))].get_ydata(), 100 * np.hypot(0.05, 0.30))
    _assert_not_blank(fig)


def test_sync_and_calibration_figures() -> None:
    fig = figures.sync_figure({"cam1": 0.0, "cam2": 0.0125, "cam3": -0.031}, {"cam1": 1.0, "cam2": 0.7, "cam3": 0.2}, fps=60)
    assert [p.get_height() for p in fig.axes[0].patches] == pytest.approx([0.0, 12.5, -31.0])
    _assert_not_blank(fig)
    errs = np.array([3.0, 4.0])
    fig = figures.calibration_error_figure({"cam1": 0.42, "cam2": errs})
    assert [p.get_height() for p in fig.axes[0].patches] == pytest.approx([0.42, np.sqrt(12.5)])
    _assert_not_blank(fig)


def test_keypoint_trajectory_figure() -> None:
    t = np.arange(60) / 30.0
    pts = add_derived(_walking(60))
    fig = figures.keypoint_trajectory_figure(t, pts, MV3D25)
    assert len(fig.axes) == 3
    labels = [ln.get_label() for ln in fig.axes[0].get_lines()]
    assert labels == ["mid_hip", "l_wrist", "r_wrist", "l_ankle", "r_ankle", "nose"]
    assert np.allclose(fig.axes[2].get_lines()[1].get_ydata(), pts[:, JOINT_INDEX["l_wrist"], 2])
    _assert_not_blank(fig)
    with pytest.raises(InputError, match="23 joints in the points but 25 names"):
        figures.keypoint_trajectory_figure(t, pts[:, :23], MV3D25)


def _look_at(name: str, center: np.ndarray) -> Camera:
    """A camera at ``center`` (world z up) looking at the origin, 1 m above the floor."""
    z = np.array([0.0, 0.0, 1.0]) - center
    z /= np.linalg.norm(z)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    R = np.stack([x, np.cross(z, x), z])
    K = np.array([[1000.0, 0, 640], [0, 1000.0, 360], [0, 0, 1]])
    return Camera(name, (1280, 720), K, np.zeros(5), R, -R @ center)


def test_camera_layout_figure() -> None:
    centers = np.array([[4.0, 0, 1.5], [0, 4.0, 1.2], [-4.0, 0, 1.5], [0, -4.0, 1.8]])
    z_up_to_y_up = np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]])
    rig = CameraRig([_look_at(f"cam{i}", c) for i, c in enumerate(centers)], R_to_opensim=z_up_to_y_up)
    person = _walking(30)[..., [0, 2, 1]] * [1, -1, 1]  # the walker in the z-up world
    fig = figures.camera_layout_figure(rig, person)
    top, side = fig.axes
    os_centers = centers @ z_up_to_y_up.T
    plotted = np.array([np.concatenate([ln.get_xdata(), ln.get_ydata()]) for ln in top.get_lines()])
    # Top view = OpenSim x (right) and z; side view = x and y (height above the floor).
    assert np.allclose(plotted, os_centers[:, [0, 2]])
    side_y = np.array([ln.get_ydata()[0] for ln in side.get_lines()])
    assert np.allclose(side_y, [1.5, 1.2, 1.5, 1.8])
    assert [t.get_text() for t in top.texts if t.get_text()] == rig.names
    _assert_not_blank(fig)


def test_save_figure_atomic(tmp_path: Path) -> None:
    fig = figures.sync_figure({"a": 0.01}, None, None)
    path = figures.save_figure(fig, tmp_path / "sync.png")
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size[0] > 200
    assert [p.name for p in tmp_path.iterdir()] == ["sync.png"]


# ------------------------------------------------------------------------------ real data

def test_overlay_on_real_recording(shared_data: Path, tmp_path: Path) -> None:
    """Pose2Sim demo camera 1 (1080x1920, 60 fps) with its real OpenPose detections."""
    from mv3d.io import read_keypoints

    demo = shared_data / "pose2sim-demo"
    kp = read_keypoints(demo / "pose", format="openpose", fps=60).data[0, :10]  # cam01, (10, 23, 3)
    cap = cv2.VideoCapture(str(demo / "videos" / "cam01.mp4"))
    ok, frame = cap.read()
    cap.release()
    assert ok and frame.shape == (1920, 1080, 3)
    out = media.overlay_frame(frame, kp[0])
    radius = max(3, round(1080 / 120))
    detected = np.flatnonzero(kp[0, :, 2] > 0)
    assert len(detected) >= 15  # the person is in view
    checked = 0
    for j in detected:
        later = [k for k in detected if k > j]
        # Dots are drawn in joint order, so a joint's centre keeps its colour unless a later
        # joint's dot (radius px) covers it.
        if later and np.linalg.norm(kp[0, later, :2] - kp[0, j, :2], axis=1).min() <= radius + 1:
            continue
        x, y = np.round(kp[0, j, :2]).astype(int)
        assert np.array_equal(out[y, x], media.JOINT_BGR[j]), MV3D23[j]
        checked += 1
    assert checked >= 12
    video = media.write_overlay_video(demo / "videos" / "cam01.mp4", kp, None, tmp_path / "cam01.mp4", scale=0.25)
    cap = cv2.VideoCapture(str(video))
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 10 and cap.get(cv2.CAP_PROP_FPS) == pytest.approx(60)
    assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (270, 480)
