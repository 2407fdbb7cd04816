"""Named joint sets, the limb graph, left/right flip pairs and derived joints.

The project's own joint set ``MV3D23`` is COCO-17 order followed by the six
COCO-WholeBody foot points. ``neck`` and ``mid_hip`` are derived as midpoints of
the shoulders and of the hips.
"""
from __future__ import annotations

import numpy as np

from mv3d.errors import InputError

MV3D23: tuple[str, ...] = (
    "nose", "l_eye", "r_eye", "l_ear", "r_ear",
    "l_shoulder", "r_shoulder", "l_elbow", "r_elbow", "l_wrist", "r_wrist",
    "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle",
    "l_big_toe", "l_small_toe", "l_heel", "r_big_toe", "r_small_toe", "r_heel",
)
JOINT_INDEX: dict[str, int] = {name: i for i, name in enumerate(MV3D23)}

#: Derived joints: name -> the two MV3D23 joints whose midpoint defines it.
DERIVED: dict[str, tuple[str, str]] = {
    "neck": ("l_shoulder", "r_shoulder"),
    "mid_hip": ("l_hip", "r_hip"),
}
#: MV3D23 followed by the derived joints: the marker names of mv3d's TRC files.
MV3D25: tuple[str, ...] = MV3D23 + tuple(DERIVED)

#: Bones as (parent, child) name pairs; their lengths are constant for a subject.
LIMBS: tuple[tuple[str, str], ...] = (
    ("l_shoulder", "l_elbow"), ("l_elbow", "l_wrist"),
    ("r_shoulder", "r_elbow"), ("r_elbow", "r_wrist"),
    ("l_hip", "l_knee"), ("l_knee", "l_ankle"),
    ("r_hip", "r_knee"), ("r_knee", "r_ankle"),
    ("l_ankle", "l_heel"), ("l_ankle", "l_big_toe"), ("l_big_toe", "l_small_toe"),
    ("r_ankle", "r_heel"), ("r_ankle", "r_big_toe"), ("r_big_toe", "r_small_toe"),
    ("l_shoulder", "r_shoulder"), ("l_hip", "r_hip"),
    ("l_shoulder", "l_hip"), ("r_shoulder", "r_hip"),
    ("nose", "l_eye"), ("nose", "r_eye"), ("l_eye", "l_ear"), ("r_eye", "r_ear"),
)
#: LIMBS as index pairs into MV3D23, shape (B, 2).
LIMB_INDEX: np.ndarray = np.array([(JOINT_INDEX[a], JOINT_INDEX[b]) for a, b in LIMBS], dtype=np.int64)

#: Left/right pairs (left, right) for flipping images and detecting swaps.
FLIP_PAIRS: tuple[tuple[str, str], ...] = tuple(
    (n, "r_" + n[2:]) for n in MV3D23 if n.startswith("l_")
)
#: Permutation of MV3D23 that swaps left and right, shape (23,).
FLIP_INDEX: np.ndarray = np.array(
    [JOINT_INDEX["r_" + n[2:]] if n.startswith("l_") else JOINT_INDEX["l_" + n[2:]] if n.startswith("r_") else i
     for i, n in enumerate(MV3D23)], dtype=np.int64)


def add_derived(points: np.ndarray) -> np.ndarray:
    """Append neck and mid_hip to MV3D23 points.

    points: (..., 23, D) coordinates (D = 2 or 3, or with a confidence last).
    Returns (..., 25, D). A derived joint is NaN where either source is NaN; a
    confidence channel, when D is 3 for 2D points, is not handled here (use
    3D points or pass coordinates only).
    """
    points = np.asarray(points, dtype=float)
    if points.shape[-2] != len(MV3D23):
        raise ValueError(f"add_derived expects {len(MV3D23)} MV3D23 joints, got {points.shape[-2]}")
    extra = [0.5 * (points[..., JOINT_INDEX[a], :] + points[..., JOINT_INDEX[b], :]) for a, b in DERIVED.values()]
    return np.concatenate([points, np.stack(extra, axis=-2)], axis=-2)


# --------------------------------------------------------------------------------------
# Other joint conventions and name-based conversions (foundations).
# --------------------------------------------------------------------------------------

_COCO17: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)
_WHOLEBODY_FEET: tuple[str, ...] = (
    "left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel",
)

#: Each convention's joint names in its own order (as its files store them).
JOINT_SETS: dict[str, tuple[str, ...]] = {
    "MV3D23": MV3D23,
    "MV3D25": MV3D25,
    # OpenPose BODY_25 (the default OpenPose model).
    "BODY_25": (
        "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist",
        "MidHip", "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle",
        "REye", "LEye", "REar", "LEar",
        "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel",
    ),
    # OpenPose experimental BODY_25B: COCO-17 order, then the upper neck and the head top
    # (neither is the shoulder midpoint, so neither maps to a joint of mv3d), then the feet.
    "BODY_25B": (
        "Nose", "LEye", "REye", "LEar", "REar", "LShoulder", "RShoulder", "LElbow", "RElbow",
        "LWrist", "RWrist", "LHip", "RHip", "LKnee", "RKnee", "LAnkle", "RAnkle",
        "UpperNeck", "HeadTop",
        "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel",
    ),
    # Halpe body 26 (AlphaPose, RTMPose body7-halpe26).
    "HALPE_26": (
        "Nose", "LEye", "REye", "LEar", "REar", "LShoulder", "RShoulder", "LElbow", "RElbow",
        "LWrist", "RWrist", "LHip", "RHip", "LKnee", "RKnee", "LAnkle", "RAnkle",
        "Head", "Neck", "Hip",
        "LBigToe", "RBigToe", "LSmallToe", "RSmallToe", "LHeel", "RHeel",
    ),
    "COCO_17": _COCO17,
    # COCO-WholeBody: body 17, feet 6, face 68, left hand 21, right hand 21.
    "COCO_133": _COCO17 + _WHOLEBODY_FEET
    + tuple(f"face_{i}" for i in range(68))
    + tuple(f"left_hand_{i}" for i in range(21))
    + tuple(f"right_hand_{i}" for i in range(21)),
    # Human3.6M 17-joint order as used by mmpose and VideoPose3D. Joint 9 lies between the
    # chin and the nose: it is not the nose, so it is not mapped.
    "H36M_17": (
        "pelvis", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
        "spine", "thorax", "neck_nose", "head",
        "left_shoulder", "left_elbow", "left_wrist", "right_shoulder", "right_elbow", "right_wrist",
    ),
    # CMU Panoptic Studio 19 joints.
    "PANOPTIC_19": (
        "Neck", "Nose", "BodyCenter", "lShoulder", "lElbow", "lWrist", "lHip", "lKnee", "lAnkle",
        "rShoulder", "rElbow", "rWrist", "rHip", "rKnee", "rAnkle", "lEye", "lEar", "rEye", "rEar",
    ),
    # OpenCap's 20 video keypoints (its TRC marker names before augmentation).
    "OPENCAP_20": (
        "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "midHip",
        "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle",
        "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel",
    ),
}


def _mv3d_name(name: str) -> str | None:
    """The MV3D25 name of a joint named in another convention, or None when there is none."""
    key = name.replace("_", "").lower()
    special = {"midhip": "mid_hip", "hip": "mid_hip", "bodycenter": "mid_hip", "pelvis": "mid_hip",
               "neck": "neck", "nose": "nose"}
    if key in special:
        return special[key]
    for prefix, side in (("left", "l_"), ("right", "r_"), ("l", "l_"), ("r", "r_")):
        if key.startswith(prefix):
            rest = key[len(prefix):]
            for part in ("eye", "ear", "shoulder", "elbow", "wrist", "hip", "knee", "ankle", "heel"):
                if rest == part:
                    return side + part
            if rest in ("bigtoe", "smalltoe"):
                return side + rest[:-3] + "_toe"
    return None


#: For each convention, (source index, MV3D25 index) pairs of the joints with the same meaning.
_MAPPINGS: dict[str, np.ndarray] = {}
for _set, _names in JOINT_SETS.items():
    _pairs = [(i, MV3D25.index(m)) for i, n in enumerate(_names) if (m := _mv3d_name(n)) is not None]
    _MAPPINGS[_set] = np.array(_pairs, dtype=np.int64).reshape(-1, 2)
del _set, _names, _pairs


def _joint_set(name: str) -> tuple[str, np.ndarray]:
    key = name.upper().replace("-", "_")
    if key not in JOINT_SETS:
        raise InputError(f"unknown joint set {name!r}; known joint sets: {', '.join(JOINT_SETS)}")
    return key, _MAPPINGS[key]


def _blank(shape: tuple[int, ...], confidence: bool) -> np.ndarray:
    out = np.full(shape, np.nan)
    if confidence:
        out[..., -1] = 0.0
    return out


def convert_keypoints(array: np.ndarray, source: str, confidence: bool = True) -> np.ndarray:
    """Reorder keypoints of another convention into MV3D23 by joint name.

    array: (..., J, D) with J = len(JOINT_SETS[source]); D = 3 for (x, y, conf) 2D points.
    confidence: the last channel is a confidence. Then a joint with confidence <= 0 or a
    non-finite coordinate is missing (OpenPose writes missing joints as 0, 0, 0).
    Returns (..., 23, D): joints the source lacks (e.g. feet and eyes of H36M_17) are NaN
    with confidence 0; nothing is invented.
    """
    key, pairs = _joint_set(source)
    array = np.asarray(array, dtype=float)
    n = len(JOINT_SETS[key])
    if array.ndim < 2 or array.shape[-2] != n:
        raise InputError(f"joint set {key} has {n} joints but the array has shape {array.shape} "
                         f"(expected (..., {n}, D))")
    pairs = pairs[pairs[:, 1] < len(MV3D23)]
    out = _blank(array.shape[:-2] + (len(MV3D23), array.shape[-1]), confidence)
    out[..., pairs[:, 1], :] = array[..., pairs[:, 0], :]
    if confidence:
        coords = out[..., :-1]
        missing = ~(out[..., -1] > 0) | ~np.isfinite(coords).all(axis=-1)
        coords[missing] = np.nan
        out[..., -1][missing] = 0.0
    return out


def from_mv3d(array: np.ndarray, target: str, confidence: bool = True) -> np.ndarray:
    """Reorder MV3D23 (or MV3D25) keypoints into another convention by joint name.

    array: (..., 23 or 25, D). With 23 joints, neck and mid_hip are derived as midpoints
    (their confidence, when ``confidence``, is the smaller of the two sources').
    Returns (..., len(JOINT_SETS[target]), D); target joints without an mv3d counterpart
    (face, hands, head top, H36M spine) are NaN with confidence 0.
    """
    key, pairs = _joint_set(target)
    array = np.asarray(array, dtype=float)
    if array.ndim < 2 or array.shape[-2] not in (len(MV3D23), len(MV3D25)):
        raise InputError(f"from_mv3d expects (..., 23 or 25, D) keypoints, got shape {array.shape}")
    if array.shape[-2] == len(MV3D23):
        full = add_derived(array)
        if confidence:
            for k, (a, b) in enumerate(DERIVED.values()):
                full[..., len(MV3D23) + k, -1] = np.minimum(array[..., JOINT_INDEX[a], -1],
                                                            array[..., JOINT_INDEX[b], -1])
        array = full
    out = _blank(array.shape[:-2] + (len(JOINT_SETS[key]), array.shape[-1]), confidence)
    out[..., pairs[:, 0], :] = array[..., pairs[:, 1], :]
    if confidence:
        missing = ~np.isfinite(out[..., :-1]).all(axis=-1)
        out[..., :-1][missing] = np.nan
        out[..., -1][missing] = 0.0
    return out
