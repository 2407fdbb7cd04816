"""Camera and CameraRig against OpenCV's own projection and undistortion."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from mv3d.camera import Camera, CameraRig, match_camera_names
from mv3d.errors import InputError


def _rig(seed: int = 0, n: int = 3) -> CameraRig:
    rng = np.random.default_rng(seed)
    cams = []
    for i in range(n):
        K = np.array([[1400 + 100 * i, 0.0, 960 + 5 * i], [0, 1390 + 90 * i, 540 - 3 * i], [0, 0, 1]])
        dist = np.array([-0.12, 0.05, 1e-3, -8e-4, -0.01]) * (1 + 0.2 * i)
        rvec = rng.normal(scale=0.2, size=3)
        t = np.array([0.1 * i, -0.2, 4.0 + 0.3 * i])
        cams.append(Camera.from_rvec(f"cam{i}", (1920, 1080), K, dist, rvec, t))
    return CameraRig(cams)


def _points(seed: int = 1, n: int = 200) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1.0, 1.0, size=(n, 3))


def test_project_matches_opencv():
    rig, X = _rig(), _points()
    uv = rig.project(X)
    assert uv.shape == (3, 200, 2)
    for c, cam in enumerate(rig):
        ref, _ = cv2.projectPoints(X, cam.rvec, cam.t, cam.K, cam.dist)
        # both are double-precision evaluations of the same formula
        np.testing.assert_allclose(uv[c], ref[:, 0], atol=1e-8)


def test_project_batched_shape_and_single_camera():
    rig = _rig()
    X = _points(n=24).reshape(4, 6, 3)
    uv = rig.project(X)
    assert uv.shape == (3, 4, 6, 2)
    np.testing.assert_allclose(rig[1].project(X), uv[1], atol=1e-12)
    np.testing.assert_allclose(rig["cam2"].project(X), uv[2], atol=1e-12)


def test_undistort_inverts_distortion():
    rig, X = _rig(), _points()
    uv = rig.project(X)
    xy = rig.undistort_points(uv)
    Xc = rig.to_camera(X)
    # Newton iterations converge to machine precision on realistic phone/lab lenses
    np.testing.assert_allclose(xy, Xc[..., :2] / Xc[..., 2:], atol=1e-10)
    for c, cam in enumerate(rig):
        ref = cv2.undistortPoints(uv[c][:, None], cam.K, cam.dist, None, None,
                                  criteria=(cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-12))[:, 0]
        np.testing.assert_allclose(xy[c], ref, atol=1e-6)


def test_projection_matrices_and_centers():
    rig, X = _rig(), _points(n=10)
    P = rig.projection_matrices()
    Xh = np.concatenate([X, np.ones((10, 1))], axis=1)
    proj = np.einsum("cij,nj->cni", P, Xh)
    uv_undist = proj[..., :2] / proj[..., 2:]
    np.testing.assert_allclose(rig.undistort_pixels(rig.project(X)), uv_undist, atol=1e-7)
    for c, cam in enumerate(rig):
        np.testing.assert_allclose(cam.R @ rig.centers[c] + cam.t, 0, atol=1e-12)


def test_rays_pass_through_points():
    rig, X = _rig(), _points(n=50)
    origins, dirs = rig.rays(rig.project(X))
    to_point = X[None] - origins
    # the component of (X - origin) orthogonal to the ray is zero
    residual = to_point - np.sum(to_point * dirs, axis=-1, keepdims=True) * dirs
    np.testing.assert_allclose(residual, 0, atol=1e-9)


def test_behind_camera_is_nan_and_opensim_frame():
    cam = Camera("c", (640, 480), np.diag([500.0, 500, 1]), None, np.eye(3), np.zeros(3))
    assert np.all(np.isnan(cam.project(np.array([0.0, 0.0, -1.0]))))
    rig = CameraRig([cam], R_to_opensim=np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]]))
    X = np.array([[0.1, 0.2, 1.7]])  # z-up calibration frame
    np.testing.assert_allclose(rig.to_opensim(X), [[0.1, 1.7, -0.2]])
    np.testing.assert_allclose(rig.from_opensim(rig.to_opensim(X)), X)


def test_bad_camera_input_messages():
    with pytest.raises(InputError, match="not a rotation"):
        Camera("bad", (10, 10), np.eye(3), None, np.diag([1.0, 1.0, 2.0]), np.zeros(3))
    with pytest.raises(InputError, match="cam9.*not in the calibration"):
        _rig()["cam9"]
    with pytest.raises(InputError, match="unique"):
        cam = _rig()[0]
        CameraRig([cam, cam])


def test_camera_names_match_by_name_then_key_then_number():
    assert match_camera_names(["cam01_json", "cam02_json"], ["cam_02", "cam_01"]) == ["cam_01", "cam_02"]
    assert match_camera_names(["cam01", "Cam2"], ["cam1", "cam2"]) == ["cam1", "cam2"]
    assert match_camera_names(["cam01", "cam2"], ["cam_01", "Cam_02"]) == ["cam_01", "Cam_02"]
    assert match_camera_names(["left", "right"], ["right", "left"]) == ["left", "right"]
    with pytest.raises(InputError, match="camera 'cam03_json' has no match.*cam_01, cam_02"):
        match_camera_names(["cam01_json", "cam03_json"], ["cam_01", "cam_02"])
    with pytest.raises(InputError, match="'cam1' has an ambiguous match"):
        match_camera_names(["cam1"], ["a1", "b1"])
    # in order, when nothing matches and the counts agree (a session's cameras named otherwise)
    assert match_camera_names(["front", "side"], ["cam_a", "cam_b"], in_order=True) == ["cam_a", "cam_b"]
    with pytest.raises(InputError, match="has no match"):
        match_camera_names(["front"], ["cam_a", "cam_b"], in_order=True)
