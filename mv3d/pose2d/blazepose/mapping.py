"""BlazePose's 33 landmarks -> mv3d's MV3D23 joints, with the joints BlazePose does not have derived.

Index table (BlazePose GHUM topology, left = the person's left, as in COCO): nose 0, eyes 2/5, ears 7/8,
shoulders 11/12, elbows 13/14, wrists 15/16, hips 23/24, knees 25/26, ankles 27/28, heels 29/30, and the big toes
from the foot-index points 31/32 (the tip of the foot).

Derived: the small toes. BlazePose has one toe point per foot, so each small toe is placed from the foot's own
landmarks and the pelvis, with a documented geometric rule instead of a second copy of the toe (a zero-length
big-toe -> small-toe bone would break the limb-length constraints and give the augmenter a degenerate foot):

    small_toe = foot_index + SMALL_TOE_BACK * (heel - foot_index) + SMALL_TOE_LATERAL * (hip_same - hip_other)

The first term moves back along the foot (the fifth toe's tip lies behind the hallux's, ~15 % of the heel-to-toe
length), the second sideways, outwards: the pelvis' left-right vector is parallel to the foot's medio-lateral
axis when the toes point forwards, and it foreshortens with it in any view (~6 cm lateral offset for ~22 cm
between the hip landmarks). The constants are anatomical priors, not fitted to the evaluation images;
``benchmarks/bench_blazepose.py`` measures the rule on the COCO-WholeBody foot annotations. Its confidence is
``DERIVED_CONFIDENCE`` times the lower of the toe's and heel's.
"""
from __future__ import annotations

import numpy as np

from mv3d.skeleton import JOINT_INDEX, MV3D23

#: BlazePose landmark index of each MV3D23 joint (-1: derived).
BLAZEPOSE_INDEX: dict[str, int] = {
    "nose": 0, "l_eye": 2, "r_eye": 5, "l_ear": 7, "r_ear": 8,
    "l_shoulder": 11, "r_shoulder": 12, "l_elbow": 13, "r_elbow": 14, "l_wrist": 15, "r_wrist": 16,
    "l_hip": 23, "r_hip": 24, "l_knee": 25, "r_knee": 26, "l_ankle": 27, "r_ankle": 28,
    "l_big_toe": 31, "l_small_toe": -1, "l_heel": 29, "r_big_toe": 32, "r_small_toe": -1, "r_heel": 30,
}
#: MV3D23 joints that BlazePose does not detect and mv3d derives (machine-readable, for reports).
DERIVED_JOINTS: tuple[str, ...] = tuple(n for n in MV3D23 if BLAZEPOSE_INDEX[n] < 0)
#: How each derived joint is made (for reports and model cards).
DERIVATION: dict[str, str] = {
    f"{s}_small_toe": (f"{s}_foot_index + {{back}} * ({s}_heel - {s}_foot_index) + {{lateral}} * "
                       f"({s}_hip - {o}_hip); confidence {{conf}} x min(foot_index, heel)")
    for s, o in (("l", "r"), ("r", "l"))
}
SMALL_TOE_BACK = 0.15
SMALL_TOE_LATERAL = 0.25
DERIVED_CONFIDENCE = 0.75

_BP = {"l_hip": 23, "r_hip": 24, "l_heel": 29, "r_heel": 30, "l_foot_index": 31, "r_foot_index": 32}


def derivation_text() -> dict[str, str]:
    """DERIVATION with the constants filled in."""
    return {k: v.format(back=SMALL_TOE_BACK, lateral=SMALL_TOE_LATERAL, conf=DERIVED_CONFIDENCE)
            for k, v in DERIVATION.items()}


def small_toes(xy: np.ndarray, conf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Derived small toes from BlazePose landmarks: xy (..., 33+, 2), conf (..., 33+) ->
    positions (..., 2, 2) and confidences (..., 2), left then right."""
    pos, cf = [], []
    for s, o in (("l", "r"), ("r", "l")):
        toe, heel = xy[..., _BP[f"{s}_foot_index"], :], xy[..., _BP[f"{s}_heel"], :]
        lateral = xy[..., _BP[f"{s}_hip"], :] - xy[..., _BP[f"{o}_hip"], :]
        pos.append(toe + SMALL_TOE_BACK * (heel - toe) + SMALL_TOE_LATERAL * lateral)
        cf.append(DERIVED_CONFIDENCE * np.minimum(conf[..., _BP[f"{s}_foot_index"]], conf[..., _BP[f"{s}_heel"]]))
    return np.stack(pos, -2), np.stack(cf, -1)


def to_mv3d23(xy: np.ndarray, conf: np.ndarray) -> np.ndarray:
    """BlazePose landmarks xy (..., 33+, 2) in pixels and confidences (..., 33+) -> MV3D23 keypoints (..., 23, 3)
    (x, y, confidence), the small toes derived."""
    xy = np.asarray(xy, dtype=float)
    conf = np.asarray(conf, dtype=float)
    out = np.empty(xy.shape[:-2] + (len(MV3D23), 3))
    for name, i in BLAZEPOSE_INDEX.items():
        if i >= 0:
            out[..., JOINT_INDEX[name], :2] = xy[..., i, :]
            out[..., JOINT_INDEX[name], 2] = conf[..., i]
    toe_xy, toe_conf = small_toes(xy, conf)
    for k, name in enumerate(("l_small_toe", "r_small_toe")):
        out[..., JOINT_INDEX[name], :2] = toe_xy[..., k, :]
        out[..., JOINT_INDEX[name], 2] = toe_conf[..., k]
    return out


def mv3d23_heatmaps(heatmaps: np.ndarray) -> np.ndarray:
    """BlazePose heatmaps (N, 39, h, w) -> the MV3D23 joints' (N, 23, h, w), same dtype; the derived joints,
    which have no heatmap, are NaN."""
    hm = np.asarray(heatmaps)
    out = np.full(hm.shape[:1] + (len(MV3D23),) + hm.shape[2:], np.nan, dtype=hm.dtype)
    for name, i in BLAZEPOSE_INDEX.items():
        if i >= 0:
            out[:, JOINT_INDEX[name]] = hm[:, i]
    return out
