"""Accuracy figures and controlled 2D corruption for evaluating triangulation.

``corrupt_keypoints`` applies the error model of the robustness tests and benchmarks
(Gaussian noise, gross outliers with random confidence, left/right swaps);
``skeleton_from_gait_markers`` turns the marker mocap of OpenSim's Gait2354 walk into
MV3D23 joints with exactly constant bone lengths (real motion, known skeleton).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mv3d.skeleton import FLIP_INDEX, JOINT_INDEX, LIMB_INDEX, MV3D23


def mpjpe(points: np.ndarray, truth: np.ndarray) -> float:
    """Mean per-joint position error over finite points: points, truth (F, J, 3) -> metres."""
    d = np.linalg.norm(points - truth, axis=-1)
    return float(np.nanmean(d))


def bone_lengths(points: np.ndarray, limbs: np.ndarray = LIMB_INDEX) -> np.ndarray:
    """(F, B) lengths of the limbs (B, 2) in points (F, J, 3)."""
    return np.linalg.norm(points[:, limbs[:, 0]] - points[:, limbs[:, 1]], axis=-1)


def bone_length_cv(points: np.ndarray, limbs: np.ndarray = LIMB_INDEX) -> np.ndarray:
    """(B,) coefficient of variation (std / mean over frames, NaN ignored) of each limb."""
    L = bone_lengths(points, limbs)
    return np.nanstd(L, axis=0) / np.nanmean(L, axis=0)


@dataclass
class Corruption:
    """Which 2D observations ``corrupt_keypoints`` changed, each (C, F, J) bool."""

    outlier: np.ndarray
    swapped: np.ndarray


def corrupt_keypoints(uv: np.ndarray, rng: np.random.Generator, noise_px: float = 2.0,
                      outlier_rate: float = 0.1, outlier_px: tuple[float, float] = (50.0, 300.0),
                      swap_rate: float = 0.0, inlier_conf: tuple[float, float] = (0.5, 1.0)
                      ) -> tuple[np.ndarray, Corruption]:
    """Noisy 2D keypoints (C, F, J, 3) from exact projections uv (C, F, J, 2).

    Every point gets isotropic Gaussian noise of noise_px; a fraction outlier_rate is moved
    by a random distance in outlier_px in a random direction and given a uniform random
    confidence; in a fraction swap_rate of (camera, frame) pairs every left/right MV3D23
    joint pair is exchanged (requires J = 23). Inliers get confidences in inlier_conf.
    """
    C, F, J, _ = uv.shape
    out = uv + rng.normal(0.0, noise_px, uv.shape)
    conf = rng.uniform(*inlier_conf, (C, F, J))
    outlier = rng.random((C, F, J)) < outlier_rate
    angle = rng.uniform(0, 2 * np.pi, outlier.sum())
    dist = rng.uniform(*outlier_px, outlier.sum())
    out[outlier] += np.stack([np.cos(angle), np.sin(angle)], -1) * dist[:, None]
    conf[outlier] = rng.uniform(0.0, 1.0, outlier.sum())
    swapped = np.zeros((C, F, J), bool)
    if swap_rate > 0:
        cf = rng.random((C, F)) < swap_rate
        out[cf] = out[cf][:, FLIP_INDEX]
        conf[cf] = conf[cf][:, FLIP_INDEX]
        moved = FLIP_INDEX != np.arange(J)
        swapped[cf] = moved
    kp = np.concatenate([out, conf[..., None]], axis=-1)
    kp[~np.isfinite(uv).all(-1)] = [np.nan, np.nan, 0.0]
    return kp, Corruption(outlier, swapped)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def skeleton_from_gait_markers(points: np.ndarray, names: list[str]) -> np.ndarray:
    """MV3D23 joints (F, 23, 3) with constant bone lengths from Gait2354 walk markers.

    points: (F, M, 3) metres of the markers of OpenSim's ``subject01_walk1.trc`` (names as in
    that file). Hips, shoulders and the head points are fixed in a pelvis frame built from
    the ASIS and sacral markers; each limb segment is then chained from its parent joint
    along the real direction of the matching markers with the median marker distance as its
    length. The motion is real, the skeleton exactly rigid-limbed (ground truth for tests).
    """
    m = {n: points[:, i] for i, n in enumerate(names)}
    rasis, lasis, sacr = m["R.ASIS"], m["L.ASIS"], m["V.Sacral"]
    origin = 0.5 * (rasis + lasis)
    e_z = _unit(rasis - lasis)  # to the right
    e_x = _unit(origin - sacr)
    e_x = _unit(e_x - (e_x * e_z).sum(-1, keepdims=True) * e_z)  # forward
    e_y = np.cross(e_z, e_x)  # up
    frame = np.stack([e_x, e_y, e_z], axis=-1)  # (F, 3, 3) columns = pelvis axes

    def fixed(local: np.ndarray) -> np.ndarray:
        return origin + np.einsum("fij,j->fi", frame, local)

    def local_median(p: np.ndarray) -> np.ndarray:
        return np.median(np.einsum("fji,fj->fi", frame, p - origin), axis=0)

    out = np.zeros((points.shape[0], len(MV3D23), 3))
    width = np.median(np.linalg.norm(rasis - lasis, axis=-1))
    depth = np.median(np.linalg.norm(origin - sacr, axis=-1))
    # Hip joint centres: Harrington et al. (2007, J Biomech 40:595) regression from the ASIS
    # midpoint with pelvis width and depth (metres; x forward, y up, z right).
    for side, sign in (("l", -1), ("r", 1)):
        out[:, JOINT_INDEX[f"{side}_hip"]] = fixed(np.array([-0.24 * depth - 0.0099, -0.30 * width - 0.0109,
                                                             sign * (0.33 * width + 0.0073)]))
    for side, mk in (("l", "L"), ("r", "R")):
        out[:, JOINT_INDEX[f"{side}_shoulder"]] = fixed(local_median(m[f"{mk}.Acromium"]) + [0, -0.04, 0])
    temple_l, temple_r = local_median(m["L.Temple"]), local_median(m["R.Temple"])
    front = 0.5 * (temple_l + temple_r)
    out[:, JOINT_INDEX["nose"]] = fixed(front + [0.06, -0.08, 0])
    out[:, JOINT_INDEX["l_eye"]] = fixed(0.7 * front + 0.3 * temple_l + [0.05, -0.03, 0])
    out[:, JOINT_INDEX["r_eye"]] = fixed(0.7 * front + 0.3 * temple_r + [0.05, -0.03, 0])
    out[:, JOINT_INDEX["l_ear"]] = fixed(temple_l + [-0.06, -0.05, 0])
    out[:, JOINT_INDEX["r_ear"]] = fixed(temple_r + [-0.06, -0.05, 0])

    def chain(parent: str, child: str, start: np.ndarray, end: np.ndarray) -> None:
        d = end - start
        length = np.median(np.linalg.norm(d, axis=-1))
        out[:, JOINT_INDEX[child]] = out[:, JOINT_INDEX[parent]] + length * _unit(d)

    for s, S in (("l", "L"), ("r", "R")):
        mid_wrist = 0.5 * (m[f"{S}.Wrist.Med"] + m[f"{S}.Wrist.Lat"])
        chain(f"{s}_shoulder", f"{s}_elbow", m[f"{S}.Acromium"], m[f"{S}.Elbow"])
        chain(f"{s}_elbow", f"{s}_wrist", m[f"{S}.Elbow"], mid_wrist)
        knee = m[f"{S}.Shank.Upper"]
        ankle = 0.5 * (m[f"{S}.Heel"] + m[f"{S}.Midfoot.Sup"])
        chain(f"{s}_hip", f"{s}_knee", out[:, JOINT_INDEX[f"{s}_hip"]], knee)
        chain(f"{s}_knee", f"{s}_ankle", knee, ankle)
        chain(f"{s}_ankle", f"{s}_heel", ankle, m[f"{S}.Heel"])
        chain(f"{s}_ankle", f"{s}_big_toe", ankle, m[f"{S}.Toe.Med"])
        chain(f"{s}_big_toe", f"{s}_small_toe", m[f"{S}.Toe.Med"], m[f"{S}.Toe.Lat"])
    return out
