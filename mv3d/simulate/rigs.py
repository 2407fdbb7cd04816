"""Camera rigs for simulation: OpenCap phones on tripods, lab rings, and the calibration board.

The world frame is the board's (as in OpenCap): origin at the first inner corner, X along
the board's rows, Y along its columns, Z = X x Y. ``R_to_opensim`` maps it to OpenSim's
frame (Y up) for the two placements:

* ``ground``: the board lies on the floor, Z up; X_os = -Y, Y_os = Z, Z_os = -X. Cameras on
  the world's -Y side face the subject (OpenSim +X) and see the board's rows left to right.
* ``backwall``: the board stands upright where the subject will stand, facing the cameras
  (X to the right, Y down, Z away from the cameras); X_os = -Z, Y_os = -Y, Z_os = -X. Its
  lowest inner-corner row is ``lift`` + one square above the floor.

Cameras are placed around the subject, relative to where it stands and faces.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from mv3d.camera import Camera, CameraRig
from mv3d.errors import InputError
from mv3d.skeleton import MV3D25

log = logging.getLogger(__name__)

#: World (board on the ground, Z up) -> OpenSim (Y up).
R_GROUND_TO_OPENSIM = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, 1.0], [-1.0, 0.0, 0.0]])
#: World (upright board facing the cameras, Y down) -> OpenSim (Y up).
R_BACKWALL_TO_OPENSIM = np.array([[0.0, 0.0, -1.0], [0.0, -1.0, 0.0], [-1.0, 0.0, 0.0]])
_UP = np.array([0.0, 0.0, 1.0])

#: iPhone 13 Pro main camera at 1280x720 (OpenCap's deployed intrinsics, portrait 720 wide):
#: fx = fy ~ 913 px = 0.713 x long side; OpenCV distortion (k1, k2, p1, p2, k3).
IPHONE_FOCAL_PER_LONG_SIDE = 913.4 / 1280.0
IPHONE_DIST = np.array([0.1278, -0.2842, -0.00034, 0.000067, 0.2134])
#: A machine-vision lab camera (1920x1080, ~69 deg horizontal field of view), mild barrel distortion.
LAB_FOCAL_PER_LONG_SIDE = 1400.0 / 1920.0
LAB_DIST = np.array([-0.08, 0.06, 0.0, 0.0, 0.0])


@dataclass(frozen=True)
class Board:
    """A checkerboard: ``cols`` x ``rows`` inner corners, ``square`` metres (OpenCap default 11 x 8,
    60 mm); placement "ground" or "backwall"; lift: gap (m) between the floor and an upright board."""

    cols: int = 11
    rows: int = 8
    square: float = 0.060
    placement: str = "ground"
    lift: float = 0.6

    def __post_init__(self) -> None:
        if self.placement not in ("ground", "backwall"):
            raise InputError(f"board placement must be 'ground' or 'backwall', got {self.placement!r}")

    @property
    def R_to_opensim(self) -> np.ndarray:
        """Rotation (3, 3) from the board (world) frame to OpenSim's."""
        return R_GROUND_TO_OPENSIM if self.placement == "ground" else R_BACKWALL_TO_OPENSIM

    def stand_point(self) -> np.ndarray:
        """Where the subject stands (3,), OpenSim frame: the floor below/at the board's centre."""
        centre = self.centre()
        if self.placement == "backwall":
            centre[1] = self.rows * self.square + self.square + self.lift  # floor, world Y (down)
        return self.R_to_opensim @ centre

    def corners(self) -> np.ndarray:
        """Inner corners (rows*cols, 3) in the world (board) frame, z = 0, row-major."""
        j, i = np.mgrid[0:self.rows, 0:self.cols]
        return np.stack([i.ravel() * self.square, j.ravel() * self.square, np.zeros(i.size)], axis=1)

    def centre(self) -> np.ndarray:
        """Centre (3,) of the inner-corner grid, world frame: where the subject of a built-in motion stands."""
        return np.array([(self.cols - 1) * self.square / 2, (self.rows - 1) * self.square / 2, 0.0])

    def black_squares(self) -> np.ndarray:
        """Black squares (S, 4, 3) as world polygons; the board has (cols+1) x (rows+1) squares."""
        quads = []
        for j in range(-1, self.rows):
            for i in range(-1, self.cols):
                if (i + j) % 2 == 0:
                    x0, y0 = i * self.square, j * self.square
                    quads.append([[x0, y0, 0], [x0 + self.square, y0, 0],
                                  [x0 + self.square, y0 + self.square, 0], [x0, y0 + self.square, 0]])
        return np.asarray(quads, dtype=float)

    def outline(self, margin: float | None = None) -> np.ndarray:
        """The white board (4, 3) around the squares, ``margin`` metres wide (default one square)."""
        m = self.square if margin is None else margin
        x0, y0 = -self.square - m, -self.square - m
        x1, y1 = self.cols * self.square + m, self.rows * self.square + m
        return np.array([[x0, y0, 0], [x1, y0, 0], [x1, y1, 0], [x0, y1, 0]], dtype=float)

    def metadata(self) -> dict:
        """``checkerBoard`` entry of OpenCap's sessionMetadata.yaml."""
        return {"black2BlackCornersHeight_n": self.rows, "black2BlackCornersWidth_n": self.cols,
                "placement": "ground" if self.placement == "ground" else "backWall",
                "squareSideLength_mm": round(self.square * 1000, 3)}


@dataclass(frozen=True)
class Placement:
    """One camera relative to the subject: azimuth (rad, 0 = in front, positive to the subject's left),
    horizontal distance (m), height (m), portrait or landscape, phone or lab optics."""

    azimuth: float
    distance: float
    height: float
    portrait: bool
    phone: bool


def _layout(name: str) -> list[Placement]:
    d = np.radians
    if name in ("opencap2", "opencap3", "opencap5"):
        az = {"opencap2": (-35, 35), "opencap3": (-45, 0, 45), "opencap5": (-70, -35, 0, 35, 70)}[name]
        return [Placement(d(a), 3.2, 1.1, True, True) for a in az]
    if name in ("ring4", "ring8"):
        n = int(name[4:])
        return [Placement(d(45 + 360 * k / n), 4.0, 2.2, False, False) for k in range(n)]
    raise InputError(f"unknown rig {name!r}; built-in rigs: {', '.join(RIG_NAMES)} (or give a calibration file)")


RIG_NAMES: tuple[str, ...] = ("opencap2", "opencap3", "opencap5", "ring4", "ring8")


def look_at(position: np.ndarray, target: np.ndarray, roll: float = 0.0, up: np.ndarray = _UP) -> np.ndarray:
    """World->camera rotation (3, 3) of a camera at ``position`` looking at ``target``, image y
    down (against the world direction ``up``)."""
    z = target - position
    z = z / np.linalg.norm(z)
    x = np.cross(z, up)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])
    c, s = np.cos(roll), np.sin(roll)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ R


def subject_pose(points_world: np.ndarray, up: np.ndarray = _UP) -> tuple[np.ndarray, np.ndarray]:
    """Where the subject is and faces: (centre (3,) mean mid-hip, forward (3,) unit, horizontal).

    points_world: (F, 25, 3) MV3D25 keypoints in the world frame; up: world direction of up.
    """
    centre = np.nanmean(points_world[:, MV3D25.index("mid_hip")], axis=0)
    right = np.nanmean(points_world[:, MV3D25.index("r_hip")] - points_world[:, MV3D25.index("l_hip")], axis=0)
    forward = np.cross(up, right)
    forward -= (forward @ up) * up
    return centre, forward / np.linalg.norm(forward)


def default_board(name: str) -> Board:
    """The board of a built-in rig: OpenCap's 11 x 8, 60 mm board upright for phones (seen
    frontally, it is detectable at 720p); a 100 mm board on the floor for elevated lab cameras."""
    if name.startswith("opencap"):
        return Board(placement="backwall")
    return Board(square=0.10, placement="ground")


def make_rig(name: str, centre: np.ndarray, forward: np.ndarray, seed: int = 0, resolution: int = 720,
             jitter: bool = True, board: Board | None = None) -> CameraRig:
    """A built-in rig around a subject at ``centre`` (3,) (mid-hip) facing ``forward`` (3,), world frame.

    board: defines the world frame and the floor (default :func:`default_board`).
    resolution: the short image side (720 or 1080 for real cameras; smaller values scale the
    intrinsics for fast tests). jitter: seeded variation of placement (+-5 deg, +-0.3 m,
    +-0.1 m height, +-1.5 deg roll), principal point and distortion, as between real sessions.
    Cameras are named Cam0..CamN-1 (OpenCap) or cam01..camNN (lab ring).
    """
    rng = np.random.default_rng(seed)
    layout = _layout(name)
    board = board or default_board(name)
    R_os = board.R_to_opensim
    up = R_os.T @ np.array([0.0, 1.0, 0.0])
    floor_y = board.stand_point()[1]  # OpenSim height of the floor
    feet = R_os.T @ np.array([*(R_os @ centre)[[0]], floor_y, *(R_os @ centre)[[2]]])  # centre dropped to the floor
    left = np.cross(up, forward)
    cameras = []
    for k, p in enumerate(layout):
        j = rng.uniform(-1, 1, 8) if jitter else np.zeros(8)
        az = p.azimuth + np.radians(5) * j[0]
        dist = p.distance + 0.3 * j[1]
        pos = feet + dist * (np.cos(az) * forward + np.sin(az) * left) + (p.height + 0.1 * j[2]) * up
        R = look_at(pos, feet + 0.9 * up, roll=np.radians(1.5) * j[3], up=up)
        long_side = round(resolution * 16 / 9)
        w, h = (resolution, long_side) if p.portrait else (long_side, resolution)
        f = (IPHONE_FOCAL_PER_LONG_SIDE if p.phone else LAB_FOCAL_PER_LONG_SIDE) * long_side * (1 + 0.01 * j[4])
        K = np.array([[f, 0, w / 2 + 0.01 * w * j[5]], [0, f, h / 2 + 0.01 * h * j[6]], [0, 0, 1]])
        dist_coef = (IPHONE_DIST if p.phone else LAB_DIST) * (1 + 0.1 * j[7])
        cam_name = f"Cam{k}" if p.phone else f"cam{k + 1:02d}"
        cameras.append(Camera(cam_name, (w, h), K, dist_coef, R, -R @ pos))
    return CameraRig(cameras, R_to_opensim=R_os)


def visible_fraction(rig: CameraRig, points_world: np.ndarray) -> np.ndarray:
    """Fraction (C,) of the finite points (..., 3) that each camera sees inside its image (in front of it)."""
    uv = rig.project(points_world).reshape(len(rig), -1, 2)
    size = rig.sizes[:, None, :]
    inside = np.isfinite(uv).all(-1) & (uv >= 0).all(-1) & (uv < size).all(-1)
    valid = np.isfinite(points_world.reshape(-1, 3)).all(-1)
    return inside[:, valid].mean(axis=1)


def check_visibility(rig: CameraRig, points_world: np.ndarray, threshold: float = 0.9) -> list[str]:
    """Warn (logging) about each camera that sees less than ``threshold`` of the subject's keypoints.

    points_world: (F, J, 3). Returns the names of those cameras.
    """
    frac = visible_fraction(rig, points_world)
    bad = []
    for cam, f in zip(rig.cameras, frac):
        if f < threshold:
            log.warning("camera %s sees only %.0f%% of the subject's keypoints (in front of it and inside its "
                        "%dx%d image); check its placement or calibration", cam.name, 100 * f, *cam.size)
            bad.append(cam.name)
    return bad
