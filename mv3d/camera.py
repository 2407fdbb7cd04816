"""Pinhole cameras with OpenCV distortion, and a rig that projects through all of them at once.

Conventions (DESIGN.md): extrinsics map world to camera, ``x_cam = R @ x_world + t``
with ``t`` in metres; distortion is OpenCV's ``(k1, k2, p1, p2, k3)``; pixel
coordinates are those of the original, distorted image.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.spatial.transform import Rotation

from mv3d.errors import InputError
from mv3d.geometry import distort, undistort

log = logging.getLogger(__name__)


def _as_dist5(dist: np.ndarray | list[float] | None) -> np.ndarray:
    d = np.zeros(5) if dist is None else np.asarray(dist, dtype=float).ravel()
    if d.size not in (0, 4, 5, 8, 12, 14):
        raise InputError(f"distortion must have 4 or 5 coefficients (k1, k2, p1, p2[, k3]), got {d.size}")
    if d.size > 5 and np.any(d[5:] != 0):
        raise InputError("only the OpenCV 5-coefficient model (k1, k2, p1, p2, k3) is supported; "
                         f"got non-zero rational/thin-prism terms {d[5:].tolist()}")
    return np.concatenate([d[:5], np.zeros(max(0, 5 - d.size))])


def _check_calibration_values(name: str, K: np.ndarray, R: np.ndarray, t: np.ndarray, dist, size) -> None:
    """InputError naming the camera and the value when a calibration cannot describe a real camera:
    non-finite numbers, focal lengths <= 0, a last row of K other than (0, 0, 1), a matrix R that
    is not a rotation, or an image size that is not positive."""
    fix = "recalibrate the camera or correct its calibration file"
    for key, value in (("intrinsic matrix", K), ("rotation", R), ("translation", t),
                       ("distortion", np.asarray(dist if dist is not None else [], dtype=float))):
        if not np.isfinite(value).all():
            raise InputError(f"camera {name!r}: its {key} holds NaN or infinite values; {fix}")
    if not (K[0, 0] > 0 and K[1, 1] > 0):
        raise InputError(f"camera {name!r}: focal lengths fx={K[0, 0]:.6g}, fy={K[1, 1]:.6g} px must be positive; "
                         f"{fix}")
    if not np.allclose(K[2], [0.0, 0.0, 1.0], atol=1e-9):
        raise InputError(f"camera {name!r}: the intrinsic matrix's last row must be (0, 0, 1), got "
                         f"{np.round(K[2], 6).tolist()}; {fix}")
    if not np.allclose(R @ R.T, np.eye(3), atol=1e-6) or np.linalg.det(R) < 0:
        raise InputError(f"camera {name!r}: R is not a rotation matrix (det {np.linalg.det(R):.4f}); {fix}")
    try:
        w, h = (float(v) for v in size)
    except (TypeError, ValueError):
        raise InputError(f"camera {name!r}: image size must be two numbers (width, height); {fix}") from None
    if not (np.isfinite(w) and np.isfinite(h) and w >= 1 and h >= 1):
        raise InputError(f"camera {name!r}: image size {w:g} x {h:g} px must be positive; {fix}")


@dataclass(frozen=True)
class Camera:
    """One calibrated camera.

    name: camera name; size: (width, height) pixels; K: (3, 3) intrinsics;
    dist: (5,) OpenCV (k1, k2, p1, p2, k3); R: (3, 3) world->camera rotation; t: (3,) metres.
    """

    name: str
    size: tuple[int, int]
    K: np.ndarray
    dist: np.ndarray
    R: np.ndarray
    t: np.ndarray

    def __post_init__(self) -> None:
        K = np.asarray(self.K, dtype=float)
        R = np.asarray(self.R, dtype=float)
        t = np.asarray(self.t, dtype=float).ravel()
        if K.shape != (3, 3) or R.shape != (3, 3) or t.shape != (3,):
            raise InputError(f"camera {self.name!r}: K and R must be 3x3 and t of length 3, "
                             f"got K{K.shape}, R{R.shape}, t{t.shape}")
        _check_calibration_values(str(self.name), K, R, t, self.dist, self.size)
        object.__setattr__(self, "K", K)
        object.__setattr__(self, "R", R)
        object.__setattr__(self, "t", t)
        object.__setattr__(self, "dist", _as_dist5(self.dist))
        object.__setattr__(self, "size", (int(self.size[0]), int(self.size[1])))

    @classmethod
    def from_rvec(cls, name: str, size: tuple[int, int], K, dist, rvec, t) -> Camera:
        """Build from a Rodrigues rotation vector (3,) and translation (3,) in metres."""
        R = Rotation.from_rotvec(np.asarray(rvec, dtype=float).ravel()).as_matrix()
        return cls(name, size, K, dist, R, t)

    @property
    def rvec(self) -> np.ndarray:
        """Rodrigues vector (3,) of R."""
        return Rotation.from_matrix(self.R).as_rotvec()

    @property
    def center(self) -> np.ndarray:
        """Camera centre (3,) in world coordinates."""
        return -self.R.T @ self.t

    @property
    def P(self) -> np.ndarray:
        """Pixel projection matrix (3, 4) = K [R | t] (no distortion)."""
        return self.K @ np.hstack([self.R, self.t[:, None]])

    def project(self, X: np.ndarray) -> np.ndarray:
        """World points (..., 3) -> pixels (..., 2) with distortion; NaN behind the camera."""
        return CameraRig([self]).project(X)[0]

    def undistort_points(self, uv: np.ndarray) -> np.ndarray:
        """Pixels (..., 2) -> undistorted normalised image coordinates (..., 2)."""
        return CameraRig([self]).undistort_points(np.asarray(uv)[None])[0]


@dataclass
class CameraRig:
    """The cameras of one session, stacked for vectorised geometry.

    cameras: list of Camera (C); R_to_opensim: (3, 3) rotation from the calibration's
    world frame to OpenSim's Y-up frame, applied only when TRC files are written or read.
    """

    cameras: list[Camera]
    R_to_opensim: np.ndarray = field(default_factory=lambda: np.eye(3))

    def __post_init__(self) -> None:
        if not self.cameras:
            raise InputError("a camera rig needs at least one camera")
        names = [c.name for c in self.cameras]
        if len(set(names)) != len(names):
            raise InputError(f"camera names must be unique, got {names}")
        self.R_to_opensim = np.asarray(self.R_to_opensim, dtype=float)
        self._K = np.stack([c.K for c in self.cameras])
        self._dist = np.stack([c.dist for c in self.cameras])
        self._R = np.stack([c.R for c in self.cameras])
        self._t = np.stack([c.t for c in self.cameras])

    # --- container -------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.cameras)

    def __iter__(self):
        return iter(self.cameras)

    def __getitem__(self, key: int | str) -> Camera:
        if isinstance(key, str):
            for cam in self.cameras:
                if cam.name == key:
                    return cam
            raise InputError(f"camera {key!r} is not in the calibration (cameras: {', '.join(self.names)})")
        return self.cameras[key]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.cameras]

    def subset(self, names: list[str]) -> CameraRig:
        """The rig restricted to (and ordered as) the named cameras (exact names)."""
        return CameraRig([self[n] for n in names], self.R_to_opensim)

    def select(self, names: Sequence[str], in_order: bool = False) -> CameraRig:
        """The rig restricted to and ordered as cameras named elsewhere (keypoint folders, videos):
        see :func:`match_camera_names`."""
        return self.subset(match_camera_names(names, self.names, in_order))

    def replace_camera(self, camera: Camera) -> CameraRig:
        """A copy of the rig with the camera of the same name replaced."""
        return CameraRig([camera if c.name == camera.name else c for c in self.cameras], self.R_to_opensim)

    # --- stacked parameters ----------------------------------------------------------
    @property
    def K(self) -> np.ndarray:
        """Intrinsics (C, 3, 3)."""
        return self._K

    @property
    def dist(self) -> np.ndarray:
        """Distortion (C, 5)."""
        return self._dist

    @property
    def R(self) -> np.ndarray:
        """World->camera rotations (C, 3, 3)."""
        return self._R

    @property
    def t(self) -> np.ndarray:
        """World->camera translations (C, 3), metres."""
        return self._t

    @property
    def sizes(self) -> np.ndarray:
        """Image sizes (C, 2) as (width, height)."""
        return np.array([c.size for c in self.cameras])

    @property
    def focal_lengths(self) -> np.ndarray:
        """(C,) mean focal length of each camera, pixels per normalised unit."""
        return 0.5 * (self._K[:, 0, 0] + self._K[:, 1, 1])

    @property
    def centers(self) -> np.ndarray:
        """Camera centres (C, 3) in world coordinates."""
        return -np.einsum("cji,cj->ci", self._R, self._t)

    def projection_matrices(self) -> np.ndarray:
        """Pixel projection matrices (C, 3, 4) = K [R | t] (distortion not included)."""
        return self._K @ self.normalized_projection_matrices()

    def normalized_projection_matrices(self) -> np.ndarray:
        """Projection matrices (C, 3, 4) = [R | t] onto undistorted normalised coordinates."""
        return np.concatenate([self._R, self._t[:, :, None]], axis=2)

    # --- geometry --------------------------------------------------------------------
    def to_camera(self, X: np.ndarray) -> np.ndarray:
        """World points (..., 3) -> camera coordinates (C, ..., 3)."""
        X = np.asarray(X, dtype=float)
        flat = X.reshape(-1, 3)
        Xc = np.matmul(flat, self._R.transpose(0, 2, 1)) + self._t[:, None, :]  # matmul: 20x einsum
        return Xc.reshape((len(self),) + X.shape)

    def project(self, X: np.ndarray) -> np.ndarray:
        """World points (..., 3) -> pixels (C, ..., 2) in every camera, with distortion.

        Points at or behind a camera's image plane project to NaN for that camera.
        """
        X = np.asarray(X, dtype=float)
        if X.shape[-1] != 3:
            raise InputError(f"project expects points of shape (..., 3), got {X.shape}")
        Xc = self.to_camera(X).reshape(len(self), -1, 3)
        z = Xc[..., 2:3]
        z = np.where(z > 1e-9, z, np.nan)
        xy = distort(Xc[..., :2] / z, self._dist[:, None, :])
        uv = np.matmul(xy, self._K[:, :2, :2].transpose(0, 2, 1)) + self._K[:, None, :2, 2]
        return uv.reshape((len(self),) + X.shape[:-1] + (2,))

    def undistort_points(self, uv: np.ndarray) -> np.ndarray:
        """Pixels (C, ..., 2) -> undistorted normalised image coordinates (C, ..., 2)."""
        uv = np.asarray(uv, dtype=float)
        if uv.shape[0] != len(self) or uv.shape[-1] != 2:
            raise InputError(f"undistort_points expects (C={len(self)}, ..., 2) pixels, got {uv.shape}")
        flat = uv.reshape(len(self), -1, 2)
        K_inv = np.linalg.inv(self._K)
        xy_d = np.matmul(flat, K_inv[:, :2, :2].transpose(0, 2, 1)) + K_inv[:, None, :2, 2]
        return undistort(xy_d, self._dist[:, None, :]).reshape(uv.shape)

    def undistort_pixels(self, uv: np.ndarray) -> np.ndarray:
        """Pixels (C, ..., 2) -> undistorted pixels (C, ..., 2) of the same K."""
        xy = self.undistort_points(uv)
        shape = xy.shape
        flat = xy.reshape(len(self), -1, 2)
        out = np.matmul(flat, self._K[:, :2, :2].transpose(0, 2, 1)) + self._K[:, None, :2, 2]
        return out.reshape(shape)

    def rays(self, uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Viewing rays of pixels (C, ..., 2): origins (C, ..., 3) and unit directions (C, ..., 3), world frame."""
        xy = self.undistort_points(uv)
        d_cam = np.concatenate([xy, np.ones(xy.shape[:-1] + (1,))], axis=-1)
        flat = d_cam.reshape(len(self), -1, 3)
        d_world = np.matmul(flat, self._R)  # R^T d
        d_world /= np.linalg.norm(d_world, axis=-1, keepdims=True)
        origins = np.broadcast_to(self.centers[:, None, :], d_world.shape)
        return origins.reshape(d_cam.shape).copy(), d_world.reshape(d_cam.shape)

    def to_opensim(self, X: np.ndarray) -> np.ndarray:
        """World points (..., 3) -> OpenSim frame (..., 3) (Y up) by R_to_opensim."""
        return np.asarray(X, dtype=float) @ self.R_to_opensim.T

    def from_opensim(self, X: np.ndarray) -> np.ndarray:
        """OpenSim-frame points (..., 3) -> calibration world frame (..., 3)."""
        return np.asarray(X, dtype=float) @ self.R_to_opensim

    def with_cameras(self, cameras: list[Camera]) -> CameraRig:
        """A rig with the same world frame and other cameras."""
        return replace(self, cameras=cameras)


_SOURCE_SUFFIX = re.compile(r"(_json|_keypoints|_pose)$")


def _name_key(name: str) -> str:
    """A camera name reduced for matching: lower case, no ``_json``/``_keypoints``/``_pose`` suffix,
    letters and digits only, numbers without leading zeros ('Cam_01_json' -> 'cam1')."""
    s = re.sub(r"[^a-z0-9]", "", _SOURCE_SUFFIX.sub("", name.lower()))
    return re.sub(r"\d+", lambda m: str(int(m.group())), s)


def _number(name: str) -> str | None:
    """The camera number in a name ('cam01_json' -> '1'), None without digits."""
    groups = re.findall(r"\d+", name)
    return str(int(groups[-1])) if groups else None


def match_camera_names(names: Sequence[str], known: Sequence[str], in_order: bool = False) -> list[str]:
    """The camera of ``known`` (a calibration's names) for each of ``names``.

    A name matches the camera of the same name; else the one equal after :func:`_name_key`
    ('cam01_json' matches 'cam_01' or 'Cam1'); else the only camera with the same number.
    in_order: when some name matches nothing and the counts agree, take ``known`` in order.
    Raises InputError naming a camera without a match, with an ambiguous one, or matched twice.
    """
    names, known = list(names), list(known)
    by_key: dict[str, list[str]] = {}
    by_number: dict[str, list[str]] = {}
    for k in known:
        by_key.setdefault(_name_key(k), []).append(k)
        by_number.setdefault(_number(k) or "", []).append(k)
    out = []
    for name in names:
        found = [name] if name in known else by_key.get(_name_key(name)) or by_number.get(_number(name) or "-", [])
        if len(found) != 1:
            if in_order and len(names) == len(known):
                log.info("cameras %s taken in order for %s", known, names)
                return known
            raise InputError(f"camera {name!r} has {'no' if not found else 'an ambiguous'} match in the "
                             f"calibration (cameras: {', '.join(known)}); name the keypoint folders or videos "
                             f"after the calibration's cameras")
        out.append(found[0])
    if len(set(out)) != len(out):
        raise InputError(f"cameras {names} map onto the calibration cameras {out} with repeats; rename them so "
                         f"each matches one camera")
    return out
