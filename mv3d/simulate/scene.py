"""What surrounds the rendered subject: the room behind it (ray-cast once per camera, with the
camera's exact lens distortion), the calibration board images, and the video files."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from mv3d.camera import Camera, CameraRig
from mv3d.errors import InputError
from mv3d.simulate.render import SUBPIXEL


def room_background(cam: Camera, centre: np.ndarray, R_to_opensim: np.ndarray, floor: float = 0.0,
                    half_size: float = 5.0) -> np.ndarray:
    """Ray-cast background image (h, w, 3) uint8: a tiled floor and the walls of a room.

    centre: (3,) world point the room is centred on (the subject); R_to_opensim: world ->
    OpenSim rotation (Y up); floor: OpenSim height of the floor; half_size: half the room's
    width (m). Rays come from the camera's undistortion, so the room is geometrically
    consistent with the lens.
    """
    w, h = cam.size
    rig = CameraRig([cam], R_to_opensim)
    # Rays on a coarse grid (every 8 px), interpolated bilinearly: the lens is smooth at that scale.
    step = 8
    gu, gv = np.meshgrid(np.arange(0, w + step, step) + 0.5, np.arange(0, h + step, step) + 0.5)
    _, grid_dirs = rig.rays(np.stack([gu, gv], axis=-1)[None])
    map_x, map_y = np.meshgrid(np.arange(w, dtype=np.float32) / step, np.arange(h, dtype=np.float32) / step)
    d = cv2.remap(rig.to_opensim(grid_dirs[0]).astype(np.float32), map_x, map_y, cv2.INTER_LINEAR)
    d = d.astype(np.float64)  # (h, w, 3) ray directions, OpenSim frame
    o = rig.to_opensim(cam.center) - np.array([0.0, floor, 0.0])  # camera, floor at height 0
    c = rig.to_opensim(centre)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_floor = np.where(d[..., 1] < -1e-9, -o[1] / d[..., 1], np.inf)
        t_walls = np.full((h, w), np.inf)
        wall_id = np.zeros((h, w), dtype=int)
        for axis in (0, 2):
            for sign in (-1, 1):
                t = (c[axis] + sign * half_size - o[axis]) / d[..., axis]
                t = np.where(t > 0, t, np.inf)
                closer = t < t_walls
                t_walls = np.where(closer, t, t_walls)
                wall_id = np.where(closer, axis + (sign > 0), wall_id)
    floor_hit = t_floor < t_walls
    t_hit = np.where(floor_hit, t_floor, t_walls)
    p = o + t_hit[..., None] * d
    # Floor: 0.5 m tiles in two tones with grout lines.
    tile = (np.floor(p[..., 0] / 0.5) + np.floor(p[..., 2] / 0.5)) % 2
    grout = (np.abs(np.mod(p[..., 0] + 0.25, 0.5) - 0.25) < 0.008) \
        | (np.abs(np.mod(p[..., 2] + 0.25, 0.5) - 0.25) < 0.008)
    floor_col = np.where(tile[..., None] > 0, [150, 165, 175], [135, 150, 160]) * np.where(grout, 0.7, 1.0)[..., None]
    # Walls: warm grey with a vertical lighting gradient, one pair tinted, a skirting board; ceiling at 3 m.
    height = p[..., 1]
    wall_col = np.array([185.0, 195.0, 205.0]) * (0.8 + 0.2 * np.clip(height / 3.0, 0, 1))[..., None]
    wall_col = np.where((wall_id >= 2)[..., None], wall_col * [0.95, 1.0, 1.05], wall_col)
    wall_col = np.where((height < 0.12)[..., None], [70.0, 80.0, 90.0], wall_col)
    wall_col = np.where((height > 3.0)[..., None], [225.0, 225.0, 225.0], wall_col)
    img = np.where(floor_hit[..., None], floor_col, wall_col)
    dist = np.linalg.norm(p - o, axis=-1)  # darker far away
    img *= (1.0 - 0.25 * np.clip((dist - 2.0) / 8.0, 0, 1))[..., None]
    img += np.random.default_rng(7).normal(0, 4.0, (h, w, 1))  # surface texture grain
    return np.clip(img, 0, 255).astype(np.uint8)


def board_image(cam: Camera, board, background: np.ndarray | None = None, noise: float = 2.0,
                seed: int = 0) -> np.ndarray:
    """The checkerboard (it defines the world frame: z = 0, corners from the origin) as seen by ``cam`` (h, w, 3) uint8.

    Each square's corners are projected with the lens distortion, so detected corners match
    ``board.corners()`` projected through the camera to a fraction of a pixel.
    """
    w, h = cam.size
    img = np.full((h, w, 3), 128, np.uint8) if background is None else background.copy()
    rig = CameraRig([cam])
    scale = 1 << SUBPIXEL
    outline = rig.project(_subdivide(board.outline()))[0]
    if not np.isfinite(outline).all():
        raise InputError(f"camera {cam.name}: the calibration board is behind the camera")
    cv2.fillPoly(img, [np.round(outline * scale).astype(np.int32)], (245, 245, 245), cv2.LINE_AA, SUBPIXEL)
    squares = rig.project(board.black_squares())[0]  # (S, 4, 2)
    for quad in squares:
        cv2.fillConvexPoly(img, np.round(quad * scale).astype(np.int32), (15, 15, 15), cv2.LINE_AA, SUBPIXEL)
    if noise > 0:
        rng = np.random.default_rng(seed)
        img = cv2.add(img, rng.normal(0, noise, img.shape).astype(np.int16), dtype=cv2.CV_8U)
    return img


def _subdivide(poly: np.ndarray, n: int = 16) -> np.ndarray:
    """Points along the edges of a closed polygon (P, 3) -> (P * n, 3), so distortion bends its edges."""
    nxt = np.roll(poly, -1, axis=0)
    s = np.arange(n)[:, None, None] / n
    return (poly[None] * (1 - s) + nxt[None] * s).transpose(1, 0, 2).reshape(-1, 3)


def write_video(path: str | os.PathLike, frames, fps: float, size: tuple[int, int]) -> Path:
    """Write BGR frames (iterable of (h, w, 3) uint8) to an mp4 (mp4v) atomically (temp name, then rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), tuple(int(v) for v in size))
    if not writer.isOpened():
        raise InputError(f"OpenCV cannot open a video writer for {path} (mp4v codec)")
    try:
        for frame in frames:
            writer.write(frame)
    finally:
        writer.release()
    os.replace(tmp, path)
    return path
