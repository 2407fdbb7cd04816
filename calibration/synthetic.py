"""Rendered checkerboard images with known camera and board pose, for tests and benchmarks."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from calibration.board import Checkerboard
from mv3d.camera import Camera


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
    from scipy.spatial.transform import Rotation

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
