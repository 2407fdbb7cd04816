"""A realistic error model for 2D keypoint detectors, and OpenPose JSON output.

Errors of real detectors (OpenPose, HRNet, RTMPose) on multi-camera recordings: noise that
grows with the person's size in the image and is correlated over a few frames; lower
confidence and more noise for joints hidden behind the body; rare gross outliers; left/right
swaps lasting a few frames; frames where nobody is detected; other people in the scene.
Every draw comes from the numpy Generator passed in, so a seed reproduces the output exactly.
"""
from __future__ import annotations

import json
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.signal import lfilter

from mv3d.camera import CameraRig
from mv3d.skeleton import FLIP_INDEX, JOINT_INDEX, MV3D23, MV3D25, from_mv3d

_FACE = ("nose", "l_eye", "r_eye", "l_ear", "r_ear")
_LEGS = tuple(n for n in MV3D23 if n[2:] in ("hip", "knee", "ankle", "big_toe", "small_toe", "heel"))


@dataclass(frozen=True)
class DetectionNoise:
    """Parameters of the 2D error model (pixels are relative to the person's bounding-box height).

    sigma: noise standard deviation / bbox height (0.006 -> 3 px for a 500 px tall person);
    correlation: AR(1) coefficient of the noise from frame to frame;
    hip_scale, extremity_scale, face_scale: noise multipliers for hips (hard to locate),
    wrists and feet, and face points; occlusion_depth: metres behind the torso at which a joint
    counts as half hidden; occluded_noise: extra noise factor of a fully hidden joint;
    occluded_confidence: confidence lost by a fully hidden joint;
    outlier_rate: per joint and frame, a gross error anywhere near the person;
    swap_rate: per frame, start of a left/right swap of `swap_frames` frames on average;
    miss_rate: per frame, nobody detected; second_person: a passer-by is simulated (the
    session decides where he walks); min_confidence: joints below are reported missing.
    """

    sigma: float = 0.006
    correlation: float = 0.5
    hip_scale: float = 1.6
    extremity_scale: float = 1.3
    face_scale: float = 0.7
    occlusion_depth: float = 0.06
    occluded_noise: float = 1.5
    occluded_confidence: float = 0.55
    outlier_rate: float = 0.004
    swap_rate: float = 0.004
    swap_frames: float = 4.0
    miss_rate: float = 0.005
    second_person: bool = True
    min_confidence: float = 0.05


def _joint_scale(cfg: DetectionNoise) -> np.ndarray:
    scale = np.ones(len(MV3D23))
    for name in MV3D23:
        part = name[2:] if name[:2] in ("l_", "r_") else name
        if part == "hip":
            scale[JOINT_INDEX[name]] = cfg.hip_scale
        elif part in ("wrist", "big_toe", "small_toe", "heel"):
            scale[JOINT_INDEX[name]] = cfg.extremity_scale
        elif name in _FACE:
            scale[JOINT_INDEX[name]] = cfg.face_scale
    return scale


def project_keypoints(rig: CameraRig, points: list[np.ndarray]) -> list[np.ndarray]:
    """Noise-free 2D per camera: points[c] (N_c, J, 3) world -> (N_c, J, 2) pixels of camera c (with distortion)."""
    return [rig.subset([cam.name]).project(p)[0] for cam, p in zip(rig.cameras, points)]


def hidden_weight(rig: CameraRig, cam_index: int, points: np.ndarray, depth: float) -> np.ndarray:
    """How hidden each joint is behind the body, 0..1 (N, 23), for camera ``cam_index``.

    points: (N, 25, 3) MV3D25 world. A sided joint is hidden by the amount it lies behind the
    torso's mid-plane along the viewing direction (logistic, half at ``depth`` metres); face
    points are hidden when the nose is farther from the camera than the ears' midpoint.
    """
    cam = rig[cam_index]
    z = points @ cam.R[2] + cam.t[2]  # (N, 25) depth along the optical axis
    torso = 0.5 * (z[:, MV3D25.index("neck")] + z[:, MV3D25.index("mid_hip")])
    behind = z[:, :23] - torso[:, None]
    w = 1.0 / (1.0 + np.exp(-(behind - depth) / (0.4 * depth)))
    sided = np.array([n[:2] in ("l_", "r_") for n in MV3D23])
    w[:, ~sided] = 0.0
    ears = 0.5 * (z[:, JOINT_INDEX["l_ear"]] + z[:, JOINT_INDEX["r_ear"]])
    face_away = 1.0 / (1.0 + np.exp(-(z[:, JOINT_INDEX["nose"]] - ears) / 0.02))
    for name in ("nose", "l_eye", "r_eye"):
        w[:, JOINT_INDEX[name]] = face_away
    return w


def _episodes(n: int, rate: float, mean_len: float, rng: np.random.Generator) -> np.ndarray:
    """Boolean (n,) mask of random episodes: starts with probability ``rate``, lengths geometric."""
    mask = np.zeros(n, dtype=bool)
    starts = np.flatnonzero(rng.random(n) < rate)
    lengths = rng.geometric(1.0 / max(mean_len, 1.0), size=len(starts))
    for s, length in zip(starts, lengths):
        mask[s:s + length] = True
    return mask


def detect(uv: np.ndarray, hidden: np.ndarray, size: tuple[int, int], cfg: DetectionNoise,
           rng: np.random.Generator) -> np.ndarray:
    """Noisy detections of one person in one camera.

    uv: (N, 23, 2) true pixels; hidden: (N, 23) 0..1 from :func:`hidden_weight`; size: (w, h).
    Returns (N, 23, 3) (x, y, confidence); missing joints are NaN with confidence 0.
    """
    n = uv.shape[0]
    with warnings.catch_warnings():  # a person entirely behind the camera has an all-NaN frame
        warnings.simplefilter("ignore", RuntimeWarning)
        lo = np.nanmin(uv, axis=1)  # (N, 2)
        hi = np.nanmax(uv, axis=1)
    bbox_h = np.where(np.isfinite(hi[:, 1] - lo[:, 1]), hi[:, 1] - lo[:, 1], 0.0)  # (N,)
    sigma = cfg.sigma * bbox_h[:, None] * _joint_scale(cfg)[None] * (1 + cfg.occluded_noise * hidden)
    white = rng.standard_normal((n, 23, 2))
    a = cfg.correlation
    correlated = lfilter([np.sqrt(1 - a * a)], [1, -a], white, axis=0)  # unit variance AR(1)
    out_xy = uv + sigma[..., None] * correlated

    base = np.clip(rng.normal(0.85, 0.07, (n, 23)), 0.3, 0.99)
    conf = base * (1 - cfg.occluded_confidence * hidden)

    outlier = rng.random((n, 23)) < cfg.outlier_rate
    pad = 0.25 * (hi - lo)
    u = rng.random((n, 23, 2))  # NaN bounds (person not visible) give NaN, i.e. missing
    anywhere = (lo - pad)[:, None] + u * (hi - lo + 2 * pad)[:, None]
    out_xy = np.where(outlier[..., None], anywhere, out_xy)
    conf = np.where(outlier, rng.uniform(0.15, 0.6, (n, 23)), conf)

    swapped = _episodes(n, cfg.swap_rate, cfg.swap_frames, rng)
    legs_only = rng.random(n) < 0.5
    perm_all = FLIP_INDEX
    perm_legs = np.arange(23)
    for name in _LEGS:
        perm_legs[JOINT_INDEX[name]] = FLIP_INDEX[JOINT_INDEX[name]]
    det = np.concatenate([out_xy, conf[..., None]], axis=-1)
    det[swapped & ~legs_only] = det[swapped & ~legs_only][:, perm_all]
    det[swapped & legs_only] = det[swapped & legs_only][:, perm_legs]

    w, h = size
    inside = (det[..., 0] >= 0) & (det[..., 0] < w) & (det[..., 1] >= 0) & (det[..., 1] < h)
    missing = ~np.isfinite(det[..., :2]).all(-1) | ~inside | (det[..., 2] < cfg.min_confidence)
    missing |= (rng.random(n) < cfg.miss_rate)[:, None]
    det[missing] = [np.nan, np.nan, 0.0]
    return det


def write_openpose(folder: str | os.PathLike, trial: str, people: list[np.ndarray], frame_index: np.ndarray,
                   rng: np.random.Generator) -> Path:
    """OpenPose BODY_25B JSON files, one per kept frame: ``<trial>_<frame:012d>_keypoints.json``.

    people: arrays (N, 23, 3) (one per person, NaN = absent); frame_index: (N,) frame numbers
    of the video. People are listed in random order per frame (as detectors do); a person
    with no joint in a frame is left out. Missing joints are written 0, 0, 0 as OpenPose does.
    The folder is filled under a temp name and renamed, so it is never half written.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    body = [np.nan_to_num(from_mv3d(p, "BODY_25B"), nan=0.0) for p in people]  # (N, 25, 3) each
    present = [np.isfinite(p[..., 0]).any(axis=1) for p in people]
    order = rng.permuted(np.tile(np.arange(len(people)), (len(frame_index), 1)), axis=1)
    for f, frame in enumerate(frame_index):
        entries = [{"person_id": [-1], "pose_keypoints_2d": [round(float(v), 3) for v in body[p][f].ravel()],
                    "face_keypoints_2d": [], "hand_left_keypoints_2d": [], "hand_right_keypoints_2d": [],
                    "pose_keypoints_3d": [], "face_keypoints_3d": [], "hand_left_keypoints_3d": [],
                    "hand_right_keypoints_3d": []}
                   for p in order[f] if present[p][f]]
        with open(tmp / f"{trial}_{int(frame):012d}_keypoints.json", "w", encoding="utf-8") as fh:
            json.dump({"version": 1.3, "people": entries}, fh)
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)
    return folder
