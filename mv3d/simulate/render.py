"""Fast synthetic video: a shaded articulated body in a textured room, and checkerboard images.

The body is a set of tapered capsules and spheres between the MV3D25 keypoints. Each frame
projects them through the camera (with its lens distortion), sorts them by depth (painter's
algorithm, far first) and fills them with OpenCV, each in three tones (shadowed rim, body,
highlight). The room (tiled floor, walls) is ray-cast once per camera with exact
distortion and copied into every frame; sensor noise is added per frame. Left limbs are
blue, right limbs red, so left/right are visible in the video.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mv3d.camera import Camera, CameraRig
from mv3d.errors import InputError
from mv3d.skeleton import MV3D25

_I = {n: i for i, n in enumerate(MV3D25)}

# Colours are BGR.
_PALETTE = {
    "skin": (120, 150, 200), "shirt_l": (170, 95, 40), "shirt_r": (50, 50, 180), "torso": (110, 120, 120),
    "pants_l": (120, 60, 20), "pants_r": (30, 30, 120), "shoe": (40, 40, 40), "hair": (30, 40, 60),
}
_PASSERBY = {"skin": (110, 140, 190), "shirt_l": (80, 140, 80), "shirt_r": (80, 140, 80), "torso": (80, 140, 80),
             "pants_l": (90, 90, 90), "pants_r": (90, 90, 90), "shoe": (30, 30, 30), "hair": (20, 20, 20)}


@dataclass(frozen=True)
class Segment:
    """A capsule from keypoint ``a`` to keypoint ``b`` (MV3D25 names, or 'head'/'l_toes'/'r_toes'
    for derived points) with radius ``radius`` (m, for a 1.75 m tall person) and a palette colour."""

    name: str
    a: str
    b: str
    radius: float
    colour: str


SEGMENTS: tuple[Segment, ...] = (
    Segment("trunk", "mid_hip", "neck", 0.135, "torso"),
    Segment("pelvis", "l_hip", "r_hip", 0.085, "torso"),
    Segment("chest", "l_shoulder", "r_shoulder", 0.07, "torso"),
    Segment("neck", "neck", "head", 0.045, "skin"),
    Segment("head", "head", "head", 0.10, "skin"),
    Segment("hair", "hair", "hair", 0.085, "hair"),
    Segment("nose", "nose", "nose", 0.022, "skin"),
) + tuple(
    seg
    for s, side in (("l", "_l"), ("r", "_r"))
    for seg in (
        Segment(f"{s}_upper_arm", f"{s}_shoulder", f"{s}_elbow", 0.048, "shirt" + side),
        Segment(f"{s}_forearm", f"{s}_elbow", f"{s}_wrist", 0.037, "skin"),
        Segment(f"{s}_hand", f"{s}_wrist", f"{s}_wrist", 0.045, "skin"),
        Segment(f"{s}_thigh", f"{s}_hip", f"{s}_knee", 0.075, "pants" + side),
        Segment(f"{s}_shank", f"{s}_knee", f"{s}_ankle", 0.052, "pants" + side),
        Segment(f"{s}_foot", f"{s}_heel", f"{s}_toes", 0.038, "shoe"),
    )
)


def _segment_points(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Capsule end points: points (..., 25, 3) -> (a (..., S, 3), b (..., S, 3))."""
    extra = {
        "head": 0.5 * (points[..., _I["l_ear"], :] + points[..., _I["r_ear"], :]),
        "l_toes": 0.5 * (points[..., _I["l_big_toe"], :] + points[..., _I["l_small_toe"], :]),
        "r_toes": 0.5 * (points[..., _I["r_big_toe"], :] + points[..., _I["r_small_toe"], :]),
    }
    # The back of the head, for hair: away from the nose.
    to_back = extra["head"] - points[..., _I["nose"], :]
    extra["hair"] = extra["head"] + 0.3 * to_back
    get = lambda n: extra[n] if n in extra else points[..., _I[n], :]  # noqa: E731
    a = np.stack([get(s.a) for s in SEGMENTS], axis=-2)
    b = np.stack([get(s.b) for s in SEGMENTS], axis=-2)
    return a, b


def label_colours() -> dict[str, tuple[int, int, int]]:
    """Distinct flat BGR colours per segment name, used by ``RenderStyle(labels=True)``."""
    out = {}
    for k, seg in enumerate(SEGMENTS):
        hue = int(180 * k / len(SEGMENTS))
        hsv = np.uint8([[[hue, 255, 255 if k % 2 else 170]]])
        out[seg.name] = tuple(int(v) for v in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])
    return out


@dataclass(frozen=True)
class RenderStyle:
    """labels: flat colours per segment on black, no texture (for tests and masks);
    noise: standard deviation of the sensor noise (grey levels); motion_blur: sub-exposures
    averaged per frame (1 = none; the session supplies the sub-frame poses); scale: body radii
    factor (1 for a 1.75 m person); only: names of the segments to draw (default all), e.g.
    for per-segment masks."""

    labels: bool = False
    noise: float = 3.0
    motion_blur: int = 1
    scale: float = 1.0
    only: tuple[str, ...] | None = None


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


_SHIFT = 4  # sub-pixel bits for OpenCV drawing


def _fixed_point(x: np.ndarray) -> np.ndarray:
    """Pixels -> OpenCV fixed point (1/16 px) int64. Points near a camera's plane project very far:
    they are clipped so that the values fit OpenCV's int32 (NaN -> 0; such primitives are skipped)."""
    return np.round(np.clip(np.nan_to_num(x), -2.0**25, 2.0**25) * (1 << _SHIFT)).astype(np.int64)


class Renderer:
    """Renders frames of one camera. points are MV3D25 world coordinates (metres)."""

    def __init__(self, camera: Camera, background: np.ndarray | None = None, style: RenderStyle = RenderStyle(),
                 seed: int = 0):
        self.camera = camera
        self.style = style
        w, h = camera.size
        self.background = np.zeros((h, w, 3), np.uint8) if background is None or style.labels else background
        self._rig = CameraRig([camera])
        rng = np.random.default_rng(seed)
        self._noise = []
        if style.noise > 0 and not style.labels:
            for _ in range(3):  # sensor noise as a saturating add of the positive and a subtract of the negative part
                n = style.noise * rng.standard_normal((h, w, 3), dtype=np.float32)
                self._noise.append((np.clip(n, 0, 255).astype(np.uint8), np.clip(-n, 0, 255).astype(np.uint8)))
        # Tones drawn per capsule: (radius factor, highlight offset, brightness); brightness None = highlight.
        self._tones = [(1.0, 0.0, 1.0)] if style.labels else [(1.0, 0.0, 0.55), (0.78, 0.0, 0.85), (0.35, 0.25, None)]
        self._labels = np.array([label_colours()[seg.name] for seg in SEGMENTS], dtype=float)

    def _project(self, a: np.ndarray, b: np.ndarray, radius: np.ndarray):
        """Projected capsules: a, b (..., S, 3) -> (pa, pb (..., S, 2), ra, rb (..., S) px, depth (..., S))."""
        cam = self.camera
        za = a @ cam.R[2] + cam.t[2]
        zb = b @ cam.R[2] + cam.t[2]
        uv = self._rig.project(np.stack([a, b]))[0]
        f = 0.5 * (cam.K[0, 0] + cam.K[1, 1])
        with np.errstate(divide="ignore", invalid="ignore"):
            ra, rb = f * radius / za, f * radius / zb
        return uv[0], uv[1], ra, rb, 0.5 * (za + zb)

    def _shapes(self, pa, pb, ra, rb):
        """Integer drawing primitives per tone, vectorised over (..., S): a list of
        (centre a (..., S, 2), centre b, radius a (..., S), radius b, quad (..., S, 4, 2)) in 1/16 px."""
        out = []
        d = pb - pa
        length = np.linalg.norm(d, axis=-1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            nrm = np.where(length > 1e-6, np.stack([-d[..., 1], d[..., 0]], -1) / length, 0.0)
        for factor, offset, _ in self._tones:
            fa, fb = np.maximum(factor * ra, 0.5), np.maximum(factor * rb, 0.5)
            off = -offset * 0.5 * (ra + rb)[..., None]  # highlight towards the upper left (light above-left)
            qa, qb = pa + off, pb + off
            quad = np.stack([qa + fa[..., None] * nrm, qb + fb[..., None] * nrm,
                             qb - fb[..., None] * nrm, qa - fa[..., None] * nrm], axis=-2)
            fix = _fixed_point
            out.append((fix(qa), fix(qb), fix(fa), fix(fb), fix(quad).astype(np.int32)))
        return out

    def render(self, persons: list[np.ndarray], palettes: list[dict] | None = None,
               frame_seed: int = 0) -> list[np.ndarray]:
        """Frames (N) of uint8 (h, w, 3) BGR images.

        persons: list of (N, 25, 3) (or (N, B, 25, 3) with B motion-blur sub-exposures) world
        points; a person whose points are NaN in a frame is not drawn there. palettes: one
        colour dict per person (default: the subject's, then passers-by).
        """
        palettes = palettes or [_PALETTE] + [_PASSERBY] * (len(persons) - 1)
        pts = [p if p.ndim == 4 else p[:, None] for p in persons]
        n, blur = pts[0].shape[:2]
        radius = np.array([s.radius for s in SEGMENTS]) * self.style.scale
        line = cv2.LINE_8 if self.style.labels else cv2.LINE_AA
        people = []
        for p, palette in zip(pts, palettes):
            a, b = _segment_points(p)  # (N, B, S, 3)
            pa, pb, ra, rb, depth = self._project(a, b, np.broadcast_to(radius, a.shape[:-1]))
            ok = np.isfinite(depth) & (depth > 0) & np.isfinite(pa).all(-1) & np.isfinite(pb).all(-1)
            if self.style.only is not None:
                ok &= np.array([seg.name in self.style.only for seg in SEGMENTS])
            base = self._labels if self.style.labels else np.array([palette[s.colour] for s in SEGMENTS], float)
            tone_colours = [base * f if f is not None else np.minimum(base * 1.2 + 25, 255) for *_, f in self._tones]
            people.append((self._shapes(pa, pb, ra, rb), depth, ok, tone_colours))
        frames = []
        for i in range(n):
            acc = None
            for k in range(blur):
                img = self.background.copy()
                prims = [(depth[i, k, s], person, s) for person, (_, depth, ok, _) in enumerate(people)
                         for s in np.flatnonzero(ok[i, k])]
                prims.sort(key=lambda x: -x[0])
                for _, person, s in prims:
                    shapes, _, _, tone_colours = people[person]
                    for (ca, cb, rad_a, rad_b, quad), colour in zip(shapes, tone_colours):
                        c = tuple(colour[s].tolist())
                        cv2.circle(img, tuple(ca[i, k, s].tolist()), int(rad_a[i, k, s]), c, -1, line, _SHIFT)
                        cv2.circle(img, tuple(cb[i, k, s].tolist()), int(rad_b[i, k, s]), c, -1, line, _SHIFT)
                        cv2.fillConvexPoly(img, quad[i, k, s], c, line, _SHIFT)
                acc = img.astype(np.uint16) if acc is None else acc + img
            img = (acc // blur).astype(np.uint8) if blur > 1 else img
            if self._noise:
                pos, neg = self._noise[(frame_seed + i) % len(self._noise)]
                img = cv2.subtract(cv2.add(img, pos), neg)
            frames.append(img)
        return frames


def board_image(cam: Camera, board, background: np.ndarray | None = None, noise: float = 2.0,
                seed: int = 0) -> np.ndarray:
    """The checkerboard (it defines the world frame: z = 0, corners from the origin) as seen by ``cam`` (h, w, 3) uint8.

    Each square's corners are projected with the lens distortion, so detected corners match
    ``board.corners()`` projected through the camera to a fraction of a pixel.
    """
    w, h = cam.size
    img = np.full((h, w, 3), 128, np.uint8) if background is None else background.copy()
    rig = CameraRig([cam])
    scale = 1 << _SHIFT
    outline = rig.project(_subdivide(board.outline()))[0]
    if not np.isfinite(outline).all():
        raise InputError(f"camera {cam.name}: the calibration board is behind the camera")
    cv2.fillPoly(img, [np.round(outline * scale).astype(np.int32)], (245, 245, 245), cv2.LINE_AA, _SHIFT)
    squares = rig.project(board.black_squares())[0]  # (S, 4, 2)
    for quad in squares:
        cv2.fillConvexPoly(img, np.round(quad * scale).astype(np.int32), (15, 15, 15), cv2.LINE_AA, _SHIFT)
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
