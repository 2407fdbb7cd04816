"""Rendering: segments land where the calibration projects them; board images; written videos."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from mv3d.simulate.render import SEGMENTS, Renderer, RenderStyle, _segment_points, board_image, label_colours
from mv3d.simulate.rigs import Board
from mv3d.simulate.session import SimulationConfig, simulate, write_session


@pytest.fixture(scope="module")
def sim():
    return simulate(SimulationConfig(motion="squat", seconds=1.5, rig="opencap3", resolution=480, seed=4))


def test_label_colours_are_distinct():
    colours = list(label_colours().values())
    assert len(set(colours)) == len(SEGMENTS)
    assert (0, 0, 0) not in colours  # black is the label image's background


@pytest.mark.parametrize("cam_index, frame", [(0, 0), (1, 0), (2, 60)])
def test_segments_are_drawn_where_the_calibration_projects_them(sim, cam_index, frame):
    cam = sim.rig[cam_index]
    points = sim.points3d[cam_index][[frame]]
    full = Renderer(cam, style=RenderStyle(labels=True)).render([points])[0]
    a, b = _segment_points(points)
    ends = sim.rig.subset([cam.name]).project(np.stack([a, b]))[0][:, 0]  # (2, S, 2) through the calibration
    mid = 0.5 * (ends[0] + ends[1])  # (S, 2)
    limbs = [s for s, seg in enumerate(SEGMENTS) if seg.a != seg.b and seg.name not in ("pelvis", "chest")]
    assert len(limbs) == 12
    for s in limbs:
        seg = SEGMENTS[s]
        colour = label_colours()[seg.name]
        solo = Renderer(cam, style=RenderStyle(labels=True, only=(seg.name,))).render([points])[0]
        mask = np.all(solo == colour, axis=-1)
        ys, xs = np.nonzero(mask)
        centroid = np.array([xs.mean(), ys.mean()])  # OpenCV pixel (i, j) covers [i-0.5, i+0.5]
        length = np.linalg.norm(ends[1, s] - ends[0, s])
        axis = (ends[1, s] - ends[0, s]) / length
        rel = centroid - mid[s]
        across, along = abs(rel[0] * axis[1] - rel[1] * axis[0]), abs(rel @ axis)
        # A capsule is symmetric about its axis: its centroid lies on the segment between the
        # projected joints to rasterisation precision (1 px; vertices at 1/16 px, no anti-aliasing).
        # Along the axis the perspective taper (end radii differ by a few %) moves it towards the
        # nearer end by < 3 % of the length. A wrong camera pose, frame or lens would be tens of
        # pixels off.
        assert across < 1.0, (seg.name, across)
        assert along < 1.0 + 0.03 * length, (seg.name, along, length)
        # In the full render, depth ordering only hides pixels: the segment's pixels are a
        # subset of its solo pixels.
        assert not (np.all(full == colour, axis=-1) & ~mask).any(), seg.name


def test_shaded_frame_has_body_over_background(sim):
    cam = sim.rig[1]
    background = np.full((cam.size[1], cam.size[0], 3), 200, np.uint8)
    frame = Renderer(cam, background, RenderStyle(noise=0.0)).render([sim.points3d[1][[0]]])[0]
    labels = Renderer(cam, style=RenderStyle(labels=True)).render([sim.points3d[1][[0]]])[0]
    body = labels.any(axis=-1)
    # Every labelled body pixel is painted (differs from the background), and nothing outside
    # the body silhouette (dilated 2 px for anti-aliasing) is.
    assert (np.abs(frame.astype(int) - 200).sum(-1)[body] > 0).mean() > 0.99
    outside = ~cv2.dilate(body.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert (frame[outside] == 200).all()
    # Left limbs are blue and right limbs red (BGR), as the palette says.
    left = np.all(labels == label_colours()["l_thigh"], axis=-1)
    right = np.all(labels == label_colours()["r_thigh"], axis=-1)
    assert frame[left][:, 0].mean() > frame[left][:, 2].mean() + 30
    assert frame[right][:, 2].mean() > frame[right][:, 0].mean() + 30


@pytest.mark.parametrize("rig_name, resolution", [
    ("opencap3", 720),  # OpenCap's 60 mm board upright, seen frontally by 720p phones
    pytest.param("ring4", 1080, marks=pytest.mark.slow),  # 100 mm board on the floor, lab cameras
])
def test_board_image_corners_match_projection(rig_name, resolution):
    sim = simulate(SimulationConfig(motion="squat", seconds=1.0, rig=rig_name, resolution=resolution, seed=0))
    board, cam = sim.board, sim.rig[1]
    img = cv2.cvtColor(board_image(cam, board, noise=2.0), cv2.COLOR_BGR2GRAY)
    found, corners = cv2.findChessboardCornersSB(img, (board.cols, board.rows), flags=cv2.CALIB_CB_ACCURACY)
    assert found
    corners = corners.reshape(-1, 2)
    truth = sim.rig.subset([cam.name]).project(board.corners())[0]
    d = np.linalg.norm(corners[:, None] - truth[None], axis=-1).min(axis=1)
    # Squares are filled between distorted corner projections with 1/16 px precision and
    # anti-aliasing; OpenCV's sub-pixel corners agree to a tenth of a pixel typically (median,
    # measured 0.1), with single corners of the ~17 px, obliquely seen squares off by up to
    # ~1.2 px (the detector's own error, alternating with the corner's colour pattern).
    assert np.median(d) < 0.25 and d.max() < 1.5


def test_video_files(tmp_path):
    sim = simulate(SimulationConfig(motion="walk_in_place", seconds=0.6, rig="opencap2", resolution=160, seed=0))
    write_session(sim, tmp_path, video=True)
    for k, clock in enumerate(sim.timing.cameras):
        path = tmp_path / "Videos" / clock.name / "InputMedia" / sim.trial / f"{sim.trial}.mp4"
        cap = cv2.VideoCapture(str(path))
        frames = []
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(frame)
        assert len(frames) == len(clock.times)
        assert frames[0].shape == (sim.rig[k].size[1], sim.rig[k].size[0], 3)
        assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(clock.fps, abs=0.01)
        # The decoded first frame shows the body where the label render puts it (mp4v is lossy:
        # compare region means, not pixels).
        labels = Renderer(sim.rig[k], style=RenderStyle(labels=True)).render([sim.points3d[k][[0]]])[0]
        body = labels.any(axis=-1)
        background = frames[0][~cv2.dilate(body.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)]
        assert np.abs(frames[0][body].mean(0) - background.mean(0)).max() > 20
    assert (tmp_path / "CalibrationImages" / "calib_imgCam0.jpg").is_file()
