"""Test-local generator of unsynchronised multi-camera 2D keypoints (used by the video tests and
benchmarks/bench_video.py), with checks that its timing and geometry are what it claims.

A 23-joint (MV3D23) stick figure moves as an analytic function of time (circle walking,
squats of varying depth and pace, near-static standing with one arm raise, or standing
still); every camera samples it at its own start time ``offset + k / fps`` and the
projections get Gaussian pixel noise, random confidences and a few dropped detections.
"""
from __future__ import annotations

import numpy as np

from mv3d.camera import Camera, CameraRig
from mv3d.skeleton import JOINT_INDEX, MV3D23

THIGH, SHANK, UPPER_ARM, FOREARM = 0.43, 0.42, 0.30, 0.27
ANKLE_HEIGHT = 0.08


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * x)


def _angles(motion: str, t: np.ndarray) -> dict[str, np.ndarray]:
    """Sagittal joint angles (rad) and pelvis path of a motion at times t (F,)."""
    z = np.zeros_like(t)
    if motion == "walk":
        phase = 2 * np.pi * (0.9 * t + 0.03 * np.sin(0.7 * t))
        heading = 0.6 * t  # walking on a circle of radius 1.3 m at ~0.8 m/s
        return dict(hip_l=0.4 * np.sin(phase), hip_r=-0.4 * np.sin(phase),
                    knee_l=0.35 + 0.35 * np.sin(phase - 1.2), knee_r=0.35 + 0.35 * np.sin(phase - 1.2 + np.pi),
                    sh_l=-0.35 * np.sin(phase), sh_r=0.35 * np.sin(phase), el_l=0.3 + z, el_r=0.3 + z,
                    abd_l=z, abd_r=z, px=1.3 * np.sin(heading), py=-1.3 * np.cos(heading),
                    bob=0.02 * np.cos(2 * phase), heading=heading)
    if motion == "squat":
        pace = 2 * np.pi * (0.45 * t + 0.05 * np.sin(0.9 * t))
        depth = (0.55 + 0.25 * np.sin(0.37 * t)) * (0.5 - 0.5 * np.cos(pace))
        return dict(hip_l=depth, hip_r=depth, knee_l=2 * depth, knee_r=2 * depth,
                    sh_l=1.2 * depth, sh_r=1.2 * depth, el_l=0.2 + z, el_r=0.2 + z, abd_l=z, abd_r=z,
                    px=0.02 * np.sin(0.5 * t), py=z, bob=z, heading=0.3 + z)
    if motion in ("arm_raise", "static"):
        sway = 0.004 * np.sin(2 * np.pi * 0.25 * t)
        raise_ = 2.4 * (_smoothstep((t - 1.5) / 1.2) - _smoothstep((t - 3.3) / 1.2)) if motion == "arm_raise" else z
        return dict(hip_l=z, hip_r=z, knee_l=z + 0.05, knee_r=z + 0.05, sh_l=z, sh_r=raise_,
                    el_l=0.15 + z, el_r=0.15 + z, abd_l=z, abd_r=0.3 * raise_,
                    px=sway, py=0.5 * sway, bob=z, heading=0.2 + z)
    raise ValueError(f"unknown motion {motion!r}")


def stick_figure(motion: str, t: np.ndarray) -> np.ndarray:
    """World positions (F, 23, 3) in metres (z up) of the MV3D23 joints at times t (F,)."""
    a = _angles(motion, np.asarray(t, dtype=float))
    n = len(t)
    pts = np.zeros((n, len(MV3D23), 3))
    fwd = np.stack([np.cos(a["heading"]), np.sin(a["heading"]), np.zeros(n)], -1)
    left = np.stack([-np.sin(a["heading"]), np.cos(a["heading"]), np.zeros(n)], -1)
    up = np.array([0.0, 0.0, 1.0])
    # Legs hang from the hips; the pelvis height keeps the lower of the two ankles on the floor.
    leg = {}
    for side, s in (("l", 1.0), ("r", -1.0)):
        th, tk = a[f"hip_{side}"], a[f"knee_{side}"]
        knee = THIGH * (np.sin(th)[:, None] * fwd - np.cos(th)[:, None] * up)
        ankle = knee + SHANK * (np.sin(th - tk)[:, None] * fwd - np.cos(th - tk)[:, None] * up)
        leg[side] = (s, knee, ankle)
    drop = -np.minimum(leg["l"][2][:, 2], leg["r"][2][:, 2])
    pelvis = np.stack([a["px"], a["py"], ANKLE_HEIGHT + drop + a["bob"]], -1)
    for side, (s, knee, ankle) in leg.items():
        hip = pelvis + s * 0.09 * left
        pts[:, JOINT_INDEX[f"{side}_hip"]] = hip
        pts[:, JOINT_INDEX[f"{side}_knee"]] = hip + knee
        pts[:, JOINT_INDEX[f"{side}_ankle"]] = hip + ankle
        foot = hip + ankle
        pts[:, JOINT_INDEX[f"{side}_heel"]] = foot - 0.05 * fwd - 0.06 * up
        pts[:, JOINT_INDEX[f"{side}_big_toe"]] = foot + 0.15 * fwd + s * 0.02 * left - 0.07 * up
        pts[:, JOINT_INDEX[f"{side}_small_toe"]] = foot + 0.13 * fwd + s * 0.06 * left - 0.07 * up
    lean = 0.15 * (a["hip_l"] + a["hip_r"]) / 2  # trunk leans forward in squats
    trunk = np.cos(lean)[:, None] * up + np.sin(lean)[:, None] * fwd
    neck = pelvis + 0.52 * trunk
    for side, s in (("l", 1.0), ("r", -1.0)):
        sh = neck + s * 0.18 * left - 0.03 * trunk
        flex, abd, el = a[f"sh_{side}"], a[f"abd_{side}"], a[f"el_{side}"]
        down = -trunk
        upper = np.cos(flex)[:, None] * down + np.sin(flex)[:, None] * fwd
        upper = np.cos(abd)[:, None] * upper + np.sin(abd)[:, None] * s * left
        fore = np.cos(flex + el)[:, None] * down + np.sin(flex + el)[:, None] * fwd
        fore = np.cos(abd)[:, None] * fore + np.sin(abd)[:, None] * s * left
        pts[:, JOINT_INDEX[f"{side}_shoulder"]] = sh
        pts[:, JOINT_INDEX[f"{side}_elbow"]] = sh + UPPER_ARM * upper
        pts[:, JOINT_INDEX[f"{side}_wrist"]] = sh + UPPER_ARM * upper + FOREARM * fore
        pts[:, JOINT_INDEX[f"{side}_eye"]] = neck + 0.2 * trunk + 0.09 * fwd + s * 0.03 * left
        pts[:, JOINT_INDEX[f"{side}_ear"]] = neck + 0.18 * trunk + s * 0.07 * left
    pts[:, JOINT_INDEX["nose"]] = neck + 0.16 * trunk + 0.11 * fwd
    return pts


def ring_rig(n_cams: int, radius: float = 5.0, seed: int = 0) -> CameraRig:
    """n_cams 1920x1080 cameras (f 1500 px, mild distortion) on a ring, looking at the centre."""
    rng = np.random.default_rng(seed)
    cams = []
    for i in range(n_cams):
        ang = 2 * np.pi * i / n_cams + rng.uniform(-0.2, 0.2) + 0.3
        center = np.array([radius * np.cos(ang), radius * np.sin(ang), rng.uniform(1.0, 1.8)])
        target = np.array([0.0, 0.0, 0.9])
        zc = (target - center) / np.linalg.norm(target - center)
        xc = np.cross(zc, [0.0, 0.0, 1.0])
        xc /= np.linalg.norm(xc)
        R = np.stack([xc, np.cross(zc, xc), zc])
        K = np.array([[1500.0, 0, 960], [0, 1500.0, 540], [0, 0, 1]])
        cams.append(Camera(f"cam{i + 1}", (1920, 1080), K, [-0.05, 0.01, 0, 0, 0], R, -R @ center))
    return CameraRig(cams)


def simulate_session(motion: str, n_cams: int, seconds: float = 6.0, fps: float = 60.0,
                     max_offset_frames: float = 12.0, noise_px: float = 1.5, seed: int = 0,
                     rates: np.ndarray | None = None):
    """Unsynchronised 2D keypoints of a motion seen by a ring of cameras.

    Camera c's frame k shows the figure at time ``start[c] + k / rate[c]``; start[0] = 0 and the
    others are random in [0, max_offset_frames) frames (random fractions included).
    Returns (keypoints (C, F, 23, 3), rig, true offsets (C,) s relative to camera 0, rates (C,)).
    """
    rng = np.random.default_rng(seed)
    rig = ring_rig(n_cams, seed=seed)
    n = int(round(seconds * fps))
    start = np.concatenate([[0.0], rng.uniform(0, max_offset_frames, n_cams - 1) / fps])
    rates = np.full(n_cams, fps) if rates is None else np.asarray(rates, dtype=float)
    kp = np.empty((n_cams, n, len(MV3D23), 3))
    for c in range(n_cams):
        t = start[c] + np.arange(n) / rates[c]
        uv = rig.project(stick_figure(motion, t))[c]
        conf = rng.uniform(0.55, 0.95, uv.shape[:-1])
        uv = uv + rng.normal(0.0, noise_px, uv.shape) * (0.75 / conf)[..., None]
        lost = rng.random(conf.shape) < 0.02
        uv[lost] = np.nan
        conf[lost] = 0.0
        kp[c, ..., :2] = uv
        kp[c, ..., 2] = conf
    return kp, rig, start, rates


def test_generator_offsets_are_the_sampling_times():
    # Camera c's frame k must show the figure at start[c] + k / fps: re-project the figure at
    # those times and compare (noise 0) -- the timing claimed by the generator is real.
    kp, rig, start, rates = simulate_session("walk", 3, seconds=1.0, noise_px=0.0, seed=3)
    t = start[2] + np.arange(kp.shape[1]) / rates[2]
    expected = rig.project(stick_figure("walk", t))[2]
    ok = kp[2, ..., 2] > 0
    assert np.abs(kp[2][ok][:, :2] - expected[ok]).max() < 1e-9
    assert start[0] == 0 and np.all((start[1:] >= 0) & (start[1:] < 12 / 60))


def test_generator_figure_is_in_view_and_human_sized():
    for motion in ("walk", "squat", "arm_raise"):
        pts = stick_figure(motion, np.linspace(0, 6, 50))
        height = pts[..., 2].max(1) - pts[..., 2].min(1)
        assert 1.0 < height.min() and height.max() < 1.9, motion  # a person, feet on the floor
        assert pts[..., 2].min() > -0.05
        uv = ring_rig(5).project(pts)
        assert np.isfinite(uv).all()
        assert (uv[..., 0] > 0).all() and (uv[..., 0] < 1920).all() and (uv[..., 1] > 0).all() \
            and (uv[..., 1] < 1080).all(), motion
