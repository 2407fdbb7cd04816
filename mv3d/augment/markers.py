"""Marker names of the augmenter: OpenCap's video keypoints and its ``_study`` anatomical markers.

The input keypoint order and the output marker order of OpenCap's v0.3 lower- and
upper-body models (47 -> 35x3 and 23 -> 8x3) are facts of the published weights:
the lower model reads 15 keypoints and the upper model 7, each relative to
``midHip`` and divided by the subject's height, followed by height and mass.
"""
from __future__ import annotations

import numpy as np

from mv3d.errors import InputError

#: Reference keypoint subtracted from every input and added back to every output.
REFERENCE = "midHip"

LOWER_INPUTS: tuple[str, ...] = (
    "Neck", "RShoulder", "LShoulder", "RHip", "LHip", "RKnee", "LKnee",
    "RAnkle", "LAnkle", "RHeel", "LHeel", "RSmallToe", "LSmallToe", "RBigToe", "LBigToe",
)
LOWER_OUTPUTS: tuple[str, ...] = (
    "r.ASIS_study", "L.ASIS_study", "r.PSIS_study", "L.PSIS_study",
    "r_knee_study", "r_mknee_study", "r_ankle_study", "r_mankle_study",
    "r_toe_study", "r_5meta_study", "r_calc_study",
    "L_knee_study", "L_mknee_study", "L_ankle_study", "L_mankle_study",
    "L_toe_study", "L_calc_study", "L_5meta_study",
    "r_shoulder_study", "L_shoulder_study", "C7_study",
    "r_thigh1_study", "r_thigh2_study", "r_thigh3_study",
    "L_thigh1_study", "L_thigh2_study", "L_thigh3_study",
    "r_sh1_study", "r_sh2_study", "r_sh3_study", "L_sh1_study", "L_sh2_study", "L_sh3_study",
    "RHJC_study", "LHJC_study",
)
UPPER_INPUTS: tuple[str, ...] = ("Neck", "RShoulder", "LShoulder", "RElbow", "LElbow", "RWrist", "LWrist")
UPPER_OUTPUTS: tuple[str, ...] = (
    "r_lelbow_study", "r_melbow_study", "r_lwrist_study", "r_mwrist_study",
    "L_lelbow_study", "L_melbow_study", "L_lwrist_study", "L_mwrist_study",
)

#: OpenCap's 20 video keypoints (names of its pre-augmentation TRC files).
OPENCAP_KEYPOINTS: tuple[str, ...] = (
    "Neck", "RShoulder", "LShoulder", "RHip", "LHip", "midHip", "RKnee", "LKnee", "RAnkle", "LAnkle",
    "RHeel", "LHeel", "RSmallToe", "LSmallToe", "RBigToe", "LBigToe", "RElbow", "LElbow", "RWrist", "LWrist",
)

#: MV3D25 name -> OpenCap keypoint name (the joints with the same meaning).
MV3D_TO_OPENCAP: dict[str, str] = {
    "neck": "Neck", "mid_hip": "midHip",
    "r_shoulder": "RShoulder", "l_shoulder": "LShoulder", "r_elbow": "RElbow", "l_elbow": "LElbow",
    "r_wrist": "RWrist", "l_wrist": "LWrist", "r_hip": "RHip", "l_hip": "LHip",
    "r_knee": "RKnee", "l_knee": "LKnee", "r_ankle": "RAnkle", "l_ankle": "LAnkle",
    "r_heel": "RHeel", "l_heel": "LHeel", "r_small_toe": "RSmallToe", "l_small_toe": "LSmallToe",
    "r_big_toe": "RBigToe", "l_big_toe": "LBigToe",
}
#: Keypoints that are midpoints of two others when a file lacks them.
MIDPOINTS: dict[str, tuple[str, str]] = {"Neck": ("RShoulder", "LShoulder"), "midHip": ("RHip", "LHip")}


def to_opencap_names(keypoints: np.ndarray, names: list[str] | tuple[str, ...],
                     needed: tuple[str, ...], source: str = "keypoints") -> np.ndarray:
    """Pick the keypoints ``needed`` (OpenCap names) from points named in MV3D or OpenCap style.

    keypoints: (F, K, 3); names: K names (MV3D25 such as ``r_knee`` or OpenCap such as ``RKnee``).
    ``Neck``/``midHip`` are derived as midpoints of the shoulders/hips when absent.
    Returns (F, len(needed), 3). Raises InputError naming every missing keypoint.
    """
    keypoints = np.asarray(keypoints, dtype=float)
    if keypoints.ndim != 3 or keypoints.shape[2] != 3 or keypoints.shape[1] != len(names):
        raise InputError(f"{source}: keypoints must have shape (frames, {len(names)}, 3) for {len(names)} "
                         f"names, got {keypoints.shape}")
    index: dict[str, int] = {}
    for i, name in enumerate(names):
        index.setdefault(MV3D_TO_OPENCAP.get(name, name), i)

    def pick(name: str) -> np.ndarray | None:
        if name in index:
            return keypoints[:, index[name]]
        if name in MIDPOINTS and all(n in index for n in MIDPOINTS[name]):
            a, b = MIDPOINTS[name]
            return 0.5 * (keypoints[:, index[a]] + keypoints[:, index[b]])
        return None

    picked = [pick(n) for n in needed]
    missing = [n for n, p in zip(needed, picked) if p is None]
    if missing:
        inverse = {v: k for k, v in MV3D_TO_OPENCAP.items()}
        listed = ", ".join(f"{n} (mv3d: {inverse.get(n, n)})" for n in missing)
        raise InputError(f"{source}: the augmenter needs keypoints that are missing: {listed}. "
                         f"Found {len(names)} markers: {', '.join(names)}. Give a TRC with mv3d's MV3D25 "
                         f"names or OpenCap's video keypoint names")
    return np.stack(picked, axis=1)
