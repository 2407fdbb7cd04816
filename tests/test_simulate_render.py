"""Rendering: segments land where the calibration projects them; cylinder shading and limb-attached
texture; determinism; board images; written videos."""
from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from mv3d.simulate import render
from mv3d.simulate.render import SEGMENTS, Renderer, RenderStyle, _segment_points, label_colours
from mv3d.simulate.scene import board_image, write_video
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


def _limb_frame(sim, cam_index: int, frame: int, name: str):
    """Pixels of segment ``name`` drawn alone: (ys, xs, t along the axis 0..1, s across it -1..1, radius px)."""
    cam = sim.rig[cam_index]
    points = sim.points3d[cam_index][[frame]]
    mask = Renderer(cam, style=RenderStyle(labels=True, only=(name,))).render([points])[0].any(-1)
    s_index = [seg.name for seg in SEGMENTS].index(name)
    a, b = _segment_points(points)
    ends = sim.rig.subset([cam.name]).project(np.stack([a, b]))[0][:, 0, s_index]  # (2, 2) px
    depth = np.stack([a, b])[:, 0, s_index] @ cam.R[2] + cam.t[2]
    radius = 0.5 * (cam.K[0, 0] + cam.K[1, 1]) * SEGMENTS[s_index].radius / depth  # (2,) px at the ends
    ys, xs = np.nonzero(mask)
    axis = ends[1] - ends[0]
    length = np.linalg.norm(axis)
    rel = np.stack([xs, ys], -1) - ends[0]
    t = rel @ axis / length**2
    r = radius[0] + np.clip(t, 0, 1) * (radius[1] - radius[0])
    across = (rel[:, 1] * axis[0] - rel[:, 0] * axis[1]) / length
    return ys, xs, t, across / r, axis / length


def test_limbs_are_shaded_like_lit_cylinders(sim, monkeypatch):
    cam = sim.rig[1]
    points = sim.points3d[1][[0]]
    background = np.full((cam.size[1], cam.size[0], 3), 128, np.uint8)
    ys, xs, t, s, axis = _limb_frame(sim, 1, 0, "l_thigh")
    inner = (t > 0.1) & (t < 0.9) & (np.abs(s) < 0.8)  # the cylinder, away from the caps and the blurred rim
    assert inner.sum() > 1000
    # With the texture set to 1, every pixel is the palette colour times Lambert shading of the
    # cylinder's surface normal n = (s * across direction, sqrt(1 - s^2)) in view coordinates.
    renderer = Renderer(cam, background, RenderStyle(noise=0.0, only=("l_thigh",)))
    monkeypatch.setattr(renderer, "_textures", np.ones_like(renderer._textures))
    flat = renderer.render([points])[0][ys[inner], xs[inner]].astype(float)
    across = np.array([-axis[1], axis[0]])
    nz = np.sqrt(1 - s[inner] ** 2)
    lambert = np.maximum((s[inner, None] * across) @ render._LIGHT[:2] + nz * render._LIGHT[2], 0)
    model = (render._AMBIENT + render._DIFFUSE * lambert) * (0.75 + 0.25 * nz)
    expected = np.array(render._PALETTE["pants_l"], float) * model[:, None]
    err = np.abs(flat - expected)
    # The model's own geometry differs from the drawn one by the 1/16 px fixed point and the taper
    # interpolation (< 0.1 px of a ~25 px radius: < 1 % of brightness) plus uint8 rounding (0.5): the
    # median is within 1 grey level. The previous renderer's three flat tones were off by up to
    # 25 % of the colour (tens of levels) between its tone steps.
    assert np.median(err) < 1.0 and np.percentile(err, 99) < 4.0, (np.median(err), np.percentile(err, 99))
    # And with the texture: the limb's axis band is brighter than its edge band. The shading factor
    # of the axis normal (0, 0, 1) is 1.01; at |s| = 0.8 it averages ~0.7 over both sides; measured
    # ratio 1.6; the texture (+-10 %, averaged over hundreds of pixels) cannot bring it below 1.25.
    grey = cv2.cvtColor(Renderer(cam, background, RenderStyle(noise=0.0, only=("l_thigh",))).render([points])[0],
                        cv2.COLOR_BGR2GRAY)[ys, xs].astype(float)
    mid = (t > 0.1) & (t < 0.9)
    axis_band = grey[mid & (np.abs(s) < 0.25)].mean()
    edge_band = grey[mid & (np.abs(s) > 0.7) & (np.abs(s) < 0.9)].mean()
    assert axis_band > 1.25 * edge_band, (axis_band, edge_band)


@pytest.mark.parametrize("name", ["l_thigh", "trunk", "r_upper_arm"])
def test_clothes_are_textured_and_the_texture_moves_with_the_limb(sim, name):
    cam = sim.rig[1]
    points = sim.points3d[1][[0]]
    background = np.full((cam.size[1], cam.size[0], 3), 128, np.uint8)
    ys, xs, t, s, _ = _limb_frame(sim, 1, 0, name)
    grey = cv2.cvtColor(Renderer(cam, background, RenderStyle(noise=0.0, only=(name,))).render([points])[0],
                        cv2.COLOR_BGR2GRAY)[ys, xs].astype(float)
    # Shading depends only on the position across the limb (s): at a fixed s, the brightness along
    # the limb varies by the texture alone. Median over 12 bands of s of the grey std along the
    # limb: 0.0 for the previous flat-toned renderer, measured 5.3 (l_thigh, denim), 14.6 (trunk,
    # stripes), 9.7 (upper arm); 2 grey levels is well above uint8 rounding.
    mid = (t > 0.2) & (t < 0.8)
    band = np.floor((s[mid] + 1) * 8).astype(int)
    along_std = np.median([grey[mid][band == j].std() for j in range(2, 14) if (band == j).sum() > 10])
    assert along_std > 2.0, along_std
    # The texture is sampled in limb coordinates: moving the principal point by 8 px moves the
    # whole body image by exactly 8 px, and each textured pixel moves with it (a texture fixed to
    # the image would not move, and most pixels would change).
    shifted = dataclasses.replace(cam, K=cam.K + np.array([[0, 0, 8.0], [0, 0, 0], [0, 0, 0]]))
    a = Renderer(cam, background, RenderStyle(noise=0.0)).render([points])[0]
    b = Renderer(shifted, background, RenderStyle(noise=0.0)).render([points])[0]
    body = Renderer(cam, style=RenderStyle(labels=True)).render([points])[0].any(-1)
    body[:, -8:] = False
    by, bx = np.nonzero(body)
    assert (a[by, bx] == b[by, bx + 8]).all(-1).mean() > 0.995
    assert (a[by, bx] == b[by, bx]).all(-1).mean() < 0.5


def test_rendering_is_deterministic(sim, tmp_path):
    cam = sim.rig[0]
    points = [sim.points3d[0][:3], sim.passerby3d[0][:3]] if sim.passerby3d[0] is not None else [sim.points3d[0][:3]]
    background = np.full((cam.size[1], cam.size[0], 3), 90, np.uint8)
    one = Renderer(cam, background, RenderStyle(), seed=5).render(points, frame_seed=2)
    two = Renderer(cam, background, RenderStyle(), seed=5).render(points, frame_seed=2)
    for x, y in zip(one, two):
        np.testing.assert_array_equal(x, y)
    paths = [write_video(tmp_path / f"{k}.mp4", frames, 60.0, cam.size) for k, frames in enumerate((one, two))]
    assert paths[0].read_bytes() == paths[1].read_bytes()
    # Another sensor seed changes the noise only; another texture seed changes the clothes only.
    other_noise = Renderer(cam, background, RenderStyle(), seed=6).render(points, frame_seed=2)[0]
    assert 1.0 < np.abs(other_noise.astype(float) - one[0]).mean() < 6.0  # 2 x noise 3.0 -> mean |diff| ~3.4
    quiet = [Renderer(cam, background, RenderStyle(noise=0.0, texture_seed=k)).render([p[:1] for p in points])[0]
             for k in (0, 1)]
    body = Renderer(cam, style=RenderStyle(labels=True)).render([p[:1] for p in points])[0].any(-1)
    near = cv2.dilate(body.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)  # + the blurred rim
    assert (quiet[0][~near] == quiet[1][~near]).all()
    assert (quiet[0][body] != quiet[1][body]).any(-1).mean() > 0.3


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
