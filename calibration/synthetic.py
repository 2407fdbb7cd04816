"""Synthetic calibration data with known truth, for tests and benchmarks: rendered checkerboard
images, a ring of cameras, and a walking stick figure with the MV3D23 joints (a calibration
pattern for bundle adjustment; the full motion simulator lives in :mod:`mv3d.simulate`)."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.spatial.transform import Rotation

from calibration.board import Checkerboard
from mv3d.camera import Camera, CameraRig
from mv3d.skeleton import MV3D23


@lru_cache(maxsize=16)
def _normalised_grid(size: tuple[int, int], K: tuple, dist: tuple, step: int = 4) -> np.ndarray:
    """Undistorted normalised coordinates (h, w, 2) of every pixel centre of the distorted image.

    Exact (Newton) undistortion on a grid every ``step`` pixels, bilinearly interpolated in
    between: the map is smooth, so the interpolation error is far below 0.01 px.
    """
    import cv2

    w, h = size
    cam = Camera("grid", size, np.array(K).reshape(3, 3), np.array(dist), np.eye(3), np.zeros(3))
    gu, gv = np.arange(0, w + step, step, dtype=float), np.arange(0, h + step, step, dtype=float)
    coarse = cam.undistort_points(np.stack(np.meshgrid(gu, gv), -1)).astype(np.float32)
    u, v = np.meshgrid(np.arange(w, dtype=np.float32) / step, np.arange(h, dtype=np.float32) / step)
    return cv2.remap(coarse, u, v, cv2.INTER_LINEAR).astype(float)


def render_board(camera: Camera, board: Checkerboard, R: np.ndarray, t: np.ndarray, noise: float = 2.0,
                 blur: float = 0.8, px_per_square: int = 48, rng: np.random.Generator | None = None) -> np.ndarray:
    """Greyscale image (h, w) uint8 of the board at pose (R (3, 3), t (3,) m, board->camera) seen by
    ``camera`` (its K and distortion; its extrinsics are ignored), with Gaussian blur (sigma px)
    and additive noise (sigma grey levels). Background mid-grey."""
    import cv2

    xy = _normalised_grid(camera.size, tuple(camera.K.ravel()), tuple(camera.dist))
    H = np.column_stack([R[:, 0], R[:, 1], t])  # board (x, y, 1) -> camera ray
    tex, H_tex = board.texture(px_per_square)
    M = H_tex @ np.linalg.inv(H)  # normalised image -> texture pixels
    pts = xy @ M[:, :2].T + M[:, 2]
    valid = pts[..., 2] > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        map_xy = (pts[..., :2] / pts[..., 2:]).astype(np.float32)
    map_xy[~valid] = -1e4
    img = cv2.remap(tex, map_xy[..., 0], map_xy[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                    borderValue=128).astype(np.float32)
    if blur > 0:
        img = cv2.GaussianBlur(img, (0, 0), blur)
    rng = rng or np.random.default_rng(0)
    img = img * 0.8 + 25 + rng.normal(0, noise, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def look_at(center: np.ndarray, target: np.ndarray, up: np.ndarray = np.array([0.0, 0.0, 1.0]),
            roll: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """World->camera (R (3, 3), t (3,)) of a camera at ``center`` looking at ``target`` with image-up
    towards ``up`` (then rolled by ``roll`` radians about the optical axis)."""
    z = target - center
    z = z / np.linalg.norm(z)
    x = np.cross(z, up)
    if np.linalg.norm(x) < 1e-9:
        x = np.cross(z, [1.0, 0.0, 0.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])
    c, s = np.cos(roll), np.sin(roll)
    R = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]]) @ R
    return R, -R @ center


def sample_board_poses(camera: Camera, board: Checkerboard, n: int, rng: np.random.Generator,
                       distance: tuple[float, float] = (1.0, 1.4), max_tilt_deg: float = 40.0,
                       margin_px: float = 8.0) -> list[tuple[np.ndarray, np.ndarray]]:
    """n board->camera poses (R (3, 3), t (3,)) with the whole board (and its white border) inside the
    image of ``camera``: centres spread over the image, tilted up to ``max_tilt_deg`` about both axes."""
    w, h = camera.size
    centre = board.object_points().mean(axis=0)
    s = board.square_size
    outline = np.array([[-2 * s, -2 * s, 0], [(board.cols + 1) * s, -2 * s, 0],
                        [(board.cols + 1) * s, (board.rows + 1) * s, 0], [-2 * s, (board.rows + 1) * s, 0]])
    K_inv = np.linalg.inv(camera.K)
    poses: list[tuple[np.ndarray, np.ndarray]] = []
    for _ in range(200 * n):
        if len(poses) == n:
            break
        uv = rng.uniform([0.15 * w, 0.15 * h], [0.85 * w, 0.85 * h])
        p = K_inv @ [uv[0], uv[1], 1.0] * rng.uniform(*distance)
        tilt = rng.uniform(-max_tilt_deg, max_tilt_deg, 2)
        R = Rotation.from_euler("xyz", [tilt[0], tilt[1], rng.uniform(-20, 20)], degrees=True).as_matrix()
        t = p - R @ centre
        cam = Camera("probe", camera.size, camera.K, camera.dist, R, t)
        uv_out = cam.project(outline)
        if np.all(np.isfinite(uv_out)) and np.all((uv_out >= margin_px) & (uv_out <= [w - margin_px, h - margin_px])):
            poses.append((R, t))
    return poses


def stick_figure(n_frames: int, height: float = 1.75, rate: float = 30.0, radius: float = 1.0) -> np.ndarray:
    """Joints (F, 23, 3) metres, Z up: a stick figure walking around a circle of ``radius``, limbs swinging.

    Segment lengths are the Drillis & Contini fractions of ``height`` (thigh 0.245, leg 0.246,
    upper arm 0.186, forearm 0.146), so mv3d.triangulate.limbs.estimate_height recovers ``height``.
    """
    H = height
    t = np.arange(n_frames) / rate
    phase = 2 * np.pi * 0.9 * t  # stride frequency
    heading = 0.35 * t  # rad/s around the circle
    F = n_frames
    J = {n: np.zeros((F, 3)) for n in MV3D23}

    def sag(angle: np.ndarray) -> np.ndarray:  # unit vector in the sagittal plane, angle from straight down
        return np.stack([np.sin(angle), np.zeros_like(angle), -np.cos(angle)], -1)

    bob = 0.01 * H * np.cos(2 * phase)
    for side, s in (("l", 1.0), ("r", -1.0)):
        swing = np.radians(25) * np.sin(phase + (0 if s > 0 else np.pi))
        knee_flex = np.radians(35) * np.clip(np.sin(phase + (0 if s > 0 else np.pi) + 1.0), 0, None)
        hip = np.stack([np.zeros(F), np.full(F, s * 0.055 * H), 0.530 * H + bob], -1)
        knee = hip + 0.245 * H * sag(swing)
        ankle = knee + 0.246 * H * sag(swing - knee_flex)
        J[f"{side}_hip"], J[f"{side}_knee"], J[f"{side}_ankle"] = hip, knee, ankle
        J[f"{side}_heel"] = ankle + [-0.03 * H, 0, -0.02 * H]
        J[f"{side}_big_toe"] = ankle + [0.085 * H, s * 0.01 * H, -0.025 * H]
        J[f"{side}_small_toe"] = ankle + [0.07 * H, s * 0.035 * H, -0.025 * H]
        arm = -0.7 * swing
        shoulder = np.stack([np.zeros(F), np.full(F, s * 0.13 * H), 0.818 * H + bob], -1)
        elbow = shoulder + 0.186 * H * sag(arm)
        J[f"{side}_shoulder"], J[f"{side}_elbow"] = shoulder, elbow
        J[f"{side}_wrist"] = elbow + 0.146 * H * sag(arm + np.radians(30))
        J[f"{side}_eye"] = np.stack([np.full(F, 0.06 * H), np.full(F, s * 0.018 * H), 0.936 * H + bob], -1)
        J[f"{side}_ear"] = np.stack([np.zeros(F), np.full(F, s * 0.045 * H), 0.925 * H + bob], -1)
    J["nose"] = np.stack([np.full(F, 0.075 * H), np.zeros(F), 0.91 * H + bob], -1)
    body = np.stack([J[n] for n in MV3D23], axis=1)  # (F, 23, 3) in the body frame (x forward)
    # walk counter-clockwise around the circle, facing along the tangent
    c, s_ = np.cos(heading), np.sin(heading)
    Rz = np.stack([np.stack([-s_, -c, np.zeros(F)], -1), np.stack([c, -s_, np.zeros(F)], -1),
                   np.tile([0.0, 0.0, 1.0], (F, 1))], -2)
    pelvis = np.stack([radius * c, radius * s_, np.zeros(F)], -1)
    return np.einsum("fij,fkj->fki", Rz, body) + pelvis[:, None, :]


def ring_rig(n_cameras: int, radius: float = 4.0, height: float = 1.6, size: tuple[int, int] = (1280, 720),
             focal: float = 1000.0) -> CameraRig:
    """Cameras evenly spaced on a circle, looking at (0, 0, 0.9) in a Z-up world."""
    cams = []
    for i in range(n_cameras):
        a = 2 * np.pi * i / n_cameras + 0.2
        R, t = look_at(np.array([radius * np.cos(a), radius * np.sin(a), height]), np.array([0.0, 0.0, 0.9]))
        f = focal * (1 + 0.02 * i)
        K = [[f, 0, size[0] / 2 + 3 * i], [0, f, size[1] / 2 - 2 * i], [0, 0, 1]]
        cams.append(Camera(f"cam{i}", size, K, [-0.1, 0.03, 0.0005, -0.0003, 0.0], R, t))
    return CameraRig(cams)


def observe(rig: CameraRig, points: np.ndarray, noise_px: float, rng: np.random.Generator,
            outlier_fraction: float = 0.0) -> np.ndarray:
    """2D keypoints (C, F, J, 3): projections + Gaussian noise (+ gross outliers), confidence 0.9;
    points off the image are NaN with confidence 0."""
    uv = rig.project(points)
    uv = uv + rng.normal(0, noise_px, uv.shape)
    if outlier_fraction:
        bad = rng.random(uv.shape[:-1]) < outlier_fraction
        uv[bad] += rng.uniform(30, 120, (bad.sum(), 2)) * rng.choice([-1, 1], (bad.sum(), 2))
    w, h = rig.sizes[:, 0], rig.sizes[:, 1]
    shape = (-1,) + (1,) * (uv.ndim - 2)
    inside = (uv[..., 0] >= 0) & (uv[..., 0] < w.reshape(shape)) & (uv[..., 1] >= 0) & (uv[..., 1] < h.reshape(shape))
    conf = np.where(inside, 0.9, 0.0)
    uv[~inside] = np.nan
    return np.concatenate([uv, conf[..., None]], axis=-1)


def perturb(rig: CameraRig, rng: np.random.Generator, degrees: float, metres: float, keep: int = 0) -> CameraRig:
    """Every camera but ``keep`` rotated by ``degrees`` about a random axis and its centre moved by ``metres``."""
    cams = []
    for i, cam in enumerate(rig):
        if i == keep:
            cams.append(cam)
            continue
        axis = rng.normal(size=3)
        dR = Rotation.from_rotvec(np.radians(degrees) * axis / np.linalg.norm(axis)).as_matrix()
        move = rng.normal(size=3)
        centre = cam.center + metres * move / np.linalg.norm(move)
        R = dR @ cam.R
        cams.append(Camera(cam.name, cam.size, cam.K, cam.dist, R, -R @ centre))
    return CameraRig(cams, rig.R_to_opensim)
