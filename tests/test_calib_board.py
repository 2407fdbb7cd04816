"""Checkerboard detection, intrinsics and extrinsics on rendered images with known truth."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from calibration.board import (BoardViews, Checkerboard, charuco_available, detect_corners, detect_in_images,
                               detect_in_video)
from calibration.extrinsics import board_pose_candidates, calibrate_extrinsics
from calibration.frames import up_axis
from calibration.intrinsics import calibrate_intrinsics, write_coverage_png
from calibration.synthetic import look_at, render_board, sample_board_poses
from mv3d.camera import Camera
from mv3d.errors import InputError

BOARD = Checkerboard(9, 6, 0.07)  # cols + rows odd: corner order fixed by the square colours


def _rotation_angle_deg(Ra: np.ndarray, Rb: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip((np.trace(Ra.T @ Rb) - 1) / 2, -1, 1))))


@pytest.fixture(scope="module")
def rendered():
    """3 cameras (1280x720, distortion) around a board lying on the floor (world = board frame,
    z into the floor); per camera 12 rendered intrinsic views and 3 frames of the floor board."""
    rng = np.random.default_rng(7)
    centre = BOARD.object_points().mean(axis=0)
    out = []
    for i in range(3):
        K = np.array([[1000.0 + 25 * i, 0, 646 - 4 * i], [0, 1001.0 + 25 * i, 356 + 3 * i], [0, 0, 1]])
        a = 2 * np.pi * i / 3 + 0.3
        R, t = look_at(centre + [2.0 * np.cos(a), 2.0 * np.sin(a), -1.2], centre, up=np.array([0.0, 0.0, -1.0]))
        cam = Camera(f"cam{i}", (1280, 720), K, [-0.12 + 0.03 * i, 0.05, 0.0008, -0.0005, 0.0], R, t)
        corners = [detect_corners(render_board(cam, BOARD, Rb, tb, rng=rng), BOARD)
                   for Rb, tb in sample_board_poses(cam, BOARD, 12, rng, distance=(1.2, 1.8))]
        views = BoardViews(BOARD, cam.size, np.arange(len(corners)), np.array(corners), np.ones(len(corners)))
        world = np.mean([detect_corners(render_board(cam, BOARD, cam.R, cam.t, rng=rng), BOARD) for _ in range(3)],
                        axis=0)
        out.append((cam, views, world))
    return out


@pytest.mark.slow
def test_rendered_corners_are_subpixel(rendered):
    cam, _, world = rendered[0]
    truth = cam.project(BOARD.object_points())
    # sub-pixel detection on a blurred, noisy rendering (0.8 px blur, 2 grey levels noise)
    assert np.sqrt(np.mean(np.sum((world - truth) ** 2, axis=1))) < 0.15


@pytest.mark.slow
def test_intrinsics_and_extrinsics_recover_truth(rendered, tmp_path):
    intrinsics = []
    for cam, views, _ in rendered:
        res = calibrate_intrinsics(views, name=cam.name)
        assert res.used.all() and res.rms < 0.3
        # acceptance: focal length within 0.5 %, principal point within 2 px
        assert res.camera.K[0, 0] == pytest.approx(cam.K[0, 0], rel=0.005)
        assert res.camera.K[1, 1] == pytest.approx(cam.K[1, 1], rel=0.005)
        assert np.abs(res.camera.K[:2, 2] - cam.K[:2, 2]).max() < 2.0
        intrinsics.append(res.camera)
    png = write_coverage_png(res, tmp_path / "coverage.png")
    assert png.stat().st_size > 1000
    ext = calibrate_extrinsics(intrinsics, [w for _, _, w in rendered], BOARD, placement="ground")
    for est, (cam, _, _) in zip(ext.rig, rendered):
        # acceptance: camera centres within 5 mm (about 2.6 m from the board)
        assert np.linalg.norm(est.center - cam.center) < 0.005
        assert _rotation_angle_deg(est.R, cam.R) < 0.2  # the right IPPE solution
    assert up_axis(ext.rig.R_to_opensim) == "-z"  # board normal towards the cameras is up


def _far_cameras(rng: np.random.Generator, n: int) -> list[Camera]:
    """Cameras 5-7 m from a small board on the floor, seen nearly head-on: IPPE's two poses are close."""
    cams = []
    for i in range(n):
        a = rng.uniform(0, 2 * np.pi)
        dist = rng.uniform(5.0, 7.0)
        height = rng.uniform(1.0, 2.5)
        centre = np.array([0.2, 0.15, 0.0])
        R, t = look_at(centre + [dist * np.cos(a), dist * np.sin(a), -height], centre, up=np.array([0.0, 0.0, -1.0]),
                       roll=rng.uniform(-0.05, 0.05))
        cams.append(Camera(f"far{i}", (1280, 720), [[1400.0, 0, 640], [0, 1400, 360], [0, 0, 1]], None, R, t))
    return cams


@pytest.mark.parametrize("with_points", [True, False])
def test_ippe_ambiguity_resolved(with_points):
    # a 0.2 x 0.15 m board 5-7 m away with 0.8 px corner noise: the wrong IPPE pose often fits
    # the corners better than the right one
    board = Checkerboard(5, 4, 0.05)
    rng = np.random.default_rng(11 if with_points else 12)
    naive_wrong = 0
    for trial in range(6):
        cams = _far_cameras(rng, 4)
        corners = [c.project(board.object_points()) + rng.normal(0, 0.8, (board.n_corners, 2)) for c in cams]
        # the right solution of each camera: the IPPE pose nearer the true orientation
        right = []
        for cam, cor in zip(cams, corners):
            angles = [_rotation_angle_deg(R, cam.R) for R in board_pose_candidates(cam, cor, board).R]
            assert max(angles) > 3 * min(angles)  # the two poses are distinct
            right.append(int(np.argmin(angles)))
        naive_wrong += sum(r != 0 for r in right)  # index 0 = lowest corner reprojection error
        points = None
        if with_points:  # e.g. a person's keypoints around the board, seen by every camera
            X = rng.uniform([-0.5, -0.5, -1.8], [0.8, 0.8, 0.0], (60, 3))
            points = np.stack([c.project(X) for c in cams]) + rng.normal(0, 1.0, (4, 60, 2))
        ext = calibrate_extrinsics(cams, corners, board, placement="ground", correspondences=points)
        assert ext.choice.tolist() == right, (trial, ext.reason)
    assert naive_wrong >= 3  # the lowest-reprojection pose alone would have been wrong this often


def test_no_board_found_is_an_error(tmp_path):
    import cv2

    paths = []
    for i in range(3):
        p = tmp_path / f"img{i}.png"
        cv2.imwrite(str(p), np.full((240, 320), 127, np.uint8))
        paths.append(p)
    with pytest.raises(InputError, match=r"no 9x6 checkerboard found in any of the 3 images"):
        detect_in_images(paths, BOARD)


def test_video_size_mismatch_is_an_error(tmp_path):
    import cv2

    path = tmp_path / "cam.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (320, 240))
    for _ in range(5):
        writer.write(np.full((240, 320, 3), 127, np.uint8))
    writer.release()
    with pytest.raises(InputError, match=r"cam\.avi is 320x240 but the calibration is for 1280x720"):
        detect_in_video(path, BOARD, expected_size=(1280, 720))
    with pytest.raises(InputError, match=r"no 9x6 checkerboard found in 5 frames"):
        detect_in_video(path, BOARD)


def test_board_missing_in_one_camera_is_an_error():
    cams = _far_cameras(np.random.default_rng(0), 2)
    corners = [cams[0].project(BOARD.object_points()), None]
    with pytest.raises(InputError, match="the board was not found by camera\\(s\\) far1"):
        calibrate_extrinsics(cams, corners, BOARD)


def test_too_few_views_for_intrinsics():
    views = BoardViews(BOARD, (640, 480), np.arange(3), np.zeros((3, BOARD.n_corners, 2)), np.ones(3))
    with pytest.raises(InputError, match="found in 3 views, intrinsics need at least 5"):
        calibrate_intrinsics(views, name="camA")


def test_outlier_view_rejected():
    rng = np.random.default_rng(4)
    cam = Camera("c", (1280, 720), [[1000.0, 0, 640], [0, 1000, 360], [0, 0, 1]], [-0.1, 0.02, 0, 0, 0],
                 np.eye(3), np.zeros(3))
    poses = sample_board_poses(cam, BOARD, 12, rng, distance=(1.2, 1.8))
    corners = np.array([Camera("v", cam.size, cam.K, cam.dist, R, t).project(BOARD.object_points())
                        for R, t in poses]) + rng.normal(0, 0.1, (12, BOARD.n_corners, 2))
    corners[5] += rng.normal(0, 3.0, (BOARD.n_corners, 2))  # a view with badly detected corners
    res = calibrate_intrinsics(BoardViews(BOARD, cam.size, np.arange(12), corners, np.ones(12)))
    assert not res.used[5] and res.used.sum() == 11
    assert res.rms < 0.2  # 0.1 px noise once the bad view is out
    assert res.camera.K[0, 0] == pytest.approx(1000.0, rel=0.002)


def test_blurred_images_rejected(tmp_path):
    import cv2

    rng = np.random.default_rng(8)
    cam = Camera("c", (640, 480), [[600.0, 0, 320], [0, 600, 240], [0, 0, 1]], None, np.eye(3), np.zeros(3))
    board = Checkerboard(7, 4, 0.05)
    paths = []
    for i, (R, t) in enumerate(sample_board_poses(cam, board, 8, rng, distance=(0.7, 0.9), max_tilt_deg=25)):
        blur = 2.5 if i in (2, 6) else 0.6  # two motion-blurred frames
        p = tmp_path / f"{i}.png"
        cv2.imwrite(str(p), render_board(cam, board, R, t, blur=blur, rng=rng))
        paths.append(p)
    assert all(detect_corners(cv2.imread(str(paths[i])), board) is not None for i in (2, 6))  # found, but soft
    views = detect_in_images(paths, board)
    kept = sorted(int(Path(s).stem) for s in views.sources)
    assert 2 not in kept and 6 not in kept and len(kept) >= 5


@pytest.mark.skipif(not charuco_available(), reason="this OpenCV has no cv2.aruco.CharucoDetector")
def test_charuco_corners():
    import cv2

    from calibration.board import detect_charuco

    squares, sq, mk = (7, 5), 0.04, 0.03
    board = cv2.aruco.CharucoBoard(squares, sq, mk, cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50))
    img = board.generateImage((700, 500), marginSize=20)
    ids, uv = detect_charuco(img, squares, sq, mk)
    assert len(ids) == (squares[0] - 1) * (squares[1] - 1)
    obj = board.getChessboardCorners()[ids][:, :2]
    H, _ = cv2.findHomography(obj, uv)
    proj = cv2.perspectiveTransform(obj[None].astype(np.float64), H)[0]
    assert np.abs(proj - uv).max() < 0.5  # corners where the board geometry puts them
