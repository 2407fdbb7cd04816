"""A synthetic walking stick figure with the MV3D23 joints, proportioned from Drillis & Contini (test helper)."""
from __future__ import annotations

import numpy as np

from calibration.synthetic import look_at
from mv3d.camera import Camera, CameraRig
from mv3d.skeleton import MV3D23


def stick_figure(n_frames: int, height: float = 1.75, rate: float = 30.0, radius: float = 1.0) -> np.ndarray:
    """Joints (F, 23, 3) metres, Z up: a person walking around a circle of ``radius`` with swinging limbs.

    Segment lengths are the Drillis & Contini fractions of ``height`` (thigh 0.245, leg 0.246,
    upper arm 0.186, forearm 0.146), so calibration.bundle.estimate_height recovers ``height``.
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


def ring_rig(n_cameras: int, radius: float = 4.0, height: float = 1.6, size=(1280, 720), focal: float = 1000.0) -> CameraRig:
    """Cameras evenly spaced on a circle, looking at (0, 0, 0.9) in a Z-up world."""
    cams = []
    for i in range(n_cameras):
        a = 2 * np.pi * i / n_cameras + 0.2
        R, t = look_at(np.array([radius * np.cos(a), radius * np.sin(a), height]), np.array([0.0, 0.0, 0.9]))
        K = [[focal * (1 + 0.02 * i), 0, size[0] / 2 + 3 * i], [0, focal * (1 + 0.02 * i), size[1] / 2 - 2 * i], [0, 0, 1]]
        cams.append(Camera(f"cam{i}", size, K, [-0.1, 0.03, 0.0005, -0.0003, 0.0], R, t))
    return CameraRig(cams)


def observe(rig: CameraRig, points: np.ndarray, noise_px: float, rng: np.random.Generator,
            outlier_fraction: float = 0.0) -> np.ndarray:
    """2D keypoints (C, F, J, 3): projections + Gaussian noise (+ gross outliers), confidence 0.9; off-image = NaN, 0."""
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
    from scipy.spatial.transform import Rotation

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
