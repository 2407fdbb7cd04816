"""mv3d's built-in full-body OpenSim model, built in code from anthropometric tables.

Topology, coordinate names, axis directions, sign conventions and ranges follow the
Rajagopal (2016) / Lai-Uhlrich (2022) family so that motions of OpenCap's
``LaiUhlrich2022`` model drive it directly (the knee is a plain hinge here, without the
walker-knee translations and the patella; the wrists, welded in LaiUhlrich2022, have
``wrist_flex``/``wrist_dev`` as in Rajagopal 2016). Oblique axes (knee, ankle, subtalar,
MTP, elbow, forearm) use the directions of the LaiUhlrich2022 joints, mirrored for the left
side by negating their X and Y components.

Geometry (joint centres, landmarks) is a fraction of body height ``H``:

* Winter, D. A. (2009). *Biomechanics and Motor Control of Human Movement*, 4th ed.,
  Fig. 4.1: thigh 0.245 H, leg 0.246 H, upper arm 0.186 H, forearm 0.146 H, hand
  0.108 H, foot length 0.152 H, foot width 0.055 H, ankle (joint) height 0.039 H,
  hip (joint) height 0.530 H, shoulder height 0.818 H, chest (xiphoid) height 0.720 H,
  chin 0.870 H, eyes 0.936 H.
* Hip joint centres from the inter-ASIS width ``W`` (Bell, Pedersen & Brand 1990,
  J Biomech 23:617): 22 % W posterior, 30 % W distal and 36 % W lateral of the
  ASIS midpoint. ``W = 0.146 H`` and the other landmark offsets marked *choice* in
  ``anthropometry`` are this model's own choices where the tables give no landmark.

Masses, centres of mass and radii of gyration: de Leva, P. (1996). Adjustments to
Zatsiorsky-Seluyanov's segment inertia parameters. J Biomech 29:1223-1230, Table 4
(male values). The pelvis is de Leva's lower trunk; the torso body holds the upper and
middle trunk and the head-neck; each forearm bone takes half the forearm; the foot is
split talus/calcaneus/toes 10/75/15 %. The fractions add up to exactly 1, and the last
body takes the remainder so that the model's total mass equals ``mass`` to rounding.

Markers: the 25 video keypoints of ``mv3d.skeleton.MV3D25`` (joint centres for the limb
joints, surface points for the face and the foot) and an anatomical set named like
OpenCap's ``LaiUhlrich2022_markers_augmenter.xml`` (``r.ASIS_study``, ``r_knee_study``,
...), plus two hand markers per side (``r_hand2_study``, ``r_hand5_study``: 2nd and 5th
metacarpal heads; mv3d's own) that make the wrist angles observable.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mv3d.errors import InputError
from mv3d.kinematics._osim import opensim
from mv3d.skeleton import MV3D25

log = logging.getLogger(__name__)

MODEL_NAME = "mv3d_body"

#: Winter (2009) Fig. 4.1: landmark heights and segment lengths as fractions of height.
WINTER = {
    "thigh": 0.245, "shank": 0.246, "upper_arm": 0.186, "forearm": 0.146, "hand": 0.108,
    "foot_length": 0.152, "foot_width": 0.055, "ankle_height": 0.039, "hip_height": 0.530,
    "shoulder_height": 0.818, "chest_height": 0.720, "chin_height": 0.870, "eye_height": 0.936,
}

#: de Leva (1996) Table 4, males: mass fraction, CoM from the proximal landmark (fraction of
#: the segment length), radii of gyration (fraction of length) about the sagittal
#: (antero-posterior), transverse (medio-lateral) and longitudinal axes.
DE_LEVA = {
    "head": (0.0694, 0.5976, (0.362, 0.376, 0.312)),
    "upper_trunk": (0.1596, 0.2999, (0.716, 0.454, 0.659)),
    "middle_trunk": (0.1633, 0.4502, (0.482, 0.383, 0.468)),
    "lower_trunk": (0.1117, 0.6115, (0.615, 0.551, 0.587)),
    "upper_arm": (0.0271, 0.5772, (0.285, 0.269, 0.158)),
    "forearm": (0.0162, 0.4574, (0.276, 0.265, 0.121)),
    "hand": (0.0061, 0.7900, (0.628, 0.513, 0.401)),
    "thigh": (0.1416, 0.4095, (0.329, 0.329, 0.149)),
    "shank": (0.0433, 0.4459, (0.255, 0.249, 0.103)),
    "foot": (0.0137, 0.4415, (0.257, 0.245, 0.124)),
}
FOOT_SPLIT = {"talus": 0.10, "calcn": 0.75, "toes": 0.15}

# Joint axes of LaiUhlrich2022 (right side, in the parent body frame; X anterior, Y up, Z right).
AXES_R = {
    "knee": (0.0, 0.0, -1.0),
    "ankle": (-0.105, -0.174, 0.9791),
    "subtalar": (0.7872, 0.6047, -0.1209),
    "mtp": (0.581, 0.0, -0.8139),
    "elbow": (0.226, 0.0223, 0.9739),
    "pro_sup": (0.0564, 0.9984, 0.002),
    "wrist_flex": (0.0, 0.0, 1.0),
    "wrist_dev": (1.0, 0.0, 0.0),
}

# Coordinate ranges in radians (LaiUhlrich2022; wrists from Rajagopal 2016).
RANGES = {
    "pelvis_tilt": (-np.pi / 2, np.pi / 2), "pelvis_list": (-np.pi / 2, np.pi / 2),
    "pelvis_rotation": (-np.pi, np.pi),
    "pelvis_tx": (-50.0, 50.0), "pelvis_ty": (-5.0, 5.0), "pelvis_tz": (-50.0, 50.0),
    "hip_flexion": (-0.5236, 2.0944), "hip_adduction": (-0.8727, 0.5236), "hip_rotation": (-0.6981, 0.6981),
    "knee_angle": (0.0, 2.4435), "ankle_angle": (-0.8727, 0.8727), "subtalar_angle": (-0.6109, 0.6109),
    "mtp_angle": (-0.7854, 0.5236),
    "lumbar_extension": (-np.pi / 2, np.pi / 2), "lumbar_bending": (-np.pi / 2, np.pi / 2),
    "lumbar_rotation": (-np.pi / 2, np.pi / 2),
    "arm_flex": (-np.pi, np.pi), "arm_add": (-np.pi, np.pi), "arm_rot": (-np.pi, np.pi),
    "elbow_flex": (0.0, 2.618), "pro_sup": (0.0, 2.09),
    "wrist_flex": (-1.2217, 1.2217), "wrist_dev": (-0.4363, 0.6109),
}

#: Anatomical markers with the OpenCap weights of ``Setup_IK.xml`` (mv3d hand markers: 5).
ANATOMICAL_WEIGHTS = {
    "C7_study": 5, "r_shoulder_study": 5, "L_shoulder_study": 5,
    "r.ASIS_study": 25, "L.ASIS_study": 25, "r.PSIS_study": 25, "L.PSIS_study": 25,
    "r_knee_study": 30, "r_mknee_study": 30, "r_ankle_study": 30, "r_mankle_study": 30,
    "r_toe_study": 30, "r_5meta_study": 30, "r_calc_study": 60,
    "L_knee_study": 30, "L_mknee_study": 30, "L_ankle_study": 30, "L_mankle_study": 30,
    "L_toe_study": 30, "L_calc_study": 60, "L_5meta_study": 30,
    "r_lelbow_study": 5, "L_lelbow_study": 5, "r_melbow_study": 5, "L_melbow_study": 5,
    "r_lwrist_study": 5, "L_lwrist_study": 5, "r_mwrist_study": 5, "L_mwrist_study": 5,
    "r_hand2_study": 5, "r_hand5_study": 5, "L_hand2_study": 5, "L_hand5_study": 5,
    "r_thigh1_study": 4, "r_thigh2_study": 4, "r_thigh3_study": 4,
    "L_thigh1_study": 4, "L_thigh2_study": 4, "L_thigh3_study": 4,
    "r_sh1_study": 4, "r_sh2_study": 4, "r_sh3_study": 4,
    "L_sh1_study": 4, "L_sh2_study": 4, "L_sh3_study": 4,
    "RHJC_study": 25, "LHJC_study": 25,
}
ANATOMICAL_MARKERS: tuple[str, ...] = tuple(ANATOMICAL_WEIGHTS)
VIDEO_MARKERS: tuple[str, ...] = MV3D25
#: Video keypoints are noisier than augmented markers; face points and derived points count less.
VIDEO_WEIGHTS = {name: (0.5 if name in ("nose", "l_eye", "r_eye", "l_ear", "r_ear", "neck", "mid_hip") else 1.0)
                 for name in MV3D25}


@dataclass
class Segment:
    """Inertial properties of one body: mass (kg), CoM (3,) m in the body frame, inertia moments (3,) kg m^2."""

    mass: float
    com: np.ndarray
    inertia: np.ndarray


@dataclass
class Anthropometry:
    """Every dimension of the model for one height and mass (metres, kilograms).

    ``lengths`` holds the joint-centre distances of the limbs (hip-knee, knee-ankle,
    shoulder-elbow, elbow-wrist, heel-toe) that the tests check against Winter's table.
    """

    height: float
    mass: float
    lengths: dict[str, float]
    joints: dict[str, np.ndarray]
    segments: dict[str, Segment]
    markers: dict[str, tuple[str, np.ndarray]] = field(default_factory=dict)
    pelvis_height: float = 0.0


def _rod_inertia(mass: float, length: float, radii: tuple[float, float, float], long_axis: int = 1) -> np.ndarray:
    """Principal moments (Ixx, Iyy, Izz) from de Leva radii (sagittal, transverse, longitudinal)."""
    r_sag, r_trans, r_long = (r * length for r in radii)
    moments = np.array([mass * r_sag**2, mass * r_long**2, mass * r_trans**2])
    if long_axis == 0:  # the foot: longitudinal axis along X
        moments = np.array([mass * r_long**2, mass * r_sag**2, mass * r_trans**2])
    return moments


def _mirror(p: np.ndarray) -> np.ndarray:
    """Right-side point or position to the left side (Z is to the right)."""
    return np.array([p[0], p[1], -p[2]])


def anthropometry(height: float = 1.75, mass: float = 70.0) -> Anthropometry:
    """Segment dimensions, inertial properties and marker positions for ``height`` (m) and ``mass`` (kg)."""
    if not np.isfinite(height) or not 0.5 <= height <= 2.6:
        raise InputError(f"height {height!r} m is not a plausible human height; give metres between 0.5 and 2.6")
    if not np.isfinite(mass) or not mass > 0:
        raise InputError(f"mass {mass!r} kg must be a positive number of kilograms")
    H = float(height)
    w = {k: v * H for k, v in WINTER.items()}
    W = 0.146 * H                                   # inter-ASIS width (choice)
    v = np.array

    # Pelvis frame: origin on the ASIS-PSIS line, 0.11 W behind the ASIS midpoint (choice,
    # as placed in Rajagopal's pelvis); HJC after Bell et al. 1990.
    asis_mid = v([0.11 * W, 0.0, 0.0])
    hjc_r = asis_mid + v([-0.22 * W, -0.30 * W, 0.36 * W])
    lumbar = v([-0.39 * W, 0.32 * W, 0.0])                     # L5-S1 (choice)
    pelvis_height = w["hip_height"] - hjc_r[1]                 # pelvis origin above the floor
    lumbar_height = pelvis_height + lumbar[1]

    # Torso frame at the lumbar joint.
    # Glenohumeral joint 0.025 H behind the hip joint centre, 0.100 H lateral (choice).
    shoulder_r = v([hjc_r[0] - 0.025 * H - lumbar[0], w["shoulder_height"] - lumbar_height, 0.100 * H])
    head_x = shoulder_r[0] + 0.005 * H                          # ear (tragus) line (choice)
    foot_len, foot_w, ankle_h = w["foot_length"], w["foot_width"], w["ankle_height"]
    joints = {
        "hip_r": hjc_r, "lumbar": lumbar, "shoulder_r": shoulder_r,
        "knee_r": v([0.0, -w["thigh"], 0.0]),                 # in femur
        "ankle_r": v([0.0, -w["shank"], 0.0]),                # in tibia
        "subtalar_r": v([-0.10 * foot_len, -0.40 * ankle_h, 0.0]),  # in talus (choice)
        "mtp_r": v([0.65 * foot_len, -0.35 * ankle_h, 0.05 * foot_w]),  # in calcn, from the subtalar joint
        "elbow_r": v([0.0, -w["upper_arm"], 0.0]),            # in humerus
        "radioulnar_r": v([0.0, 0.0, 0.0]),                   # in ulna
        "wrist_r": v([0.0, -w["forearm"], 0.0]),              # in radius
    }
    lengths = {"thigh": w["thigh"], "shank": w["shank"], "upper_arm": w["upper_arm"],
               "forearm": w["forearm"], "foot": foot_len}

    # Masses (de Leva): the last body takes the remainder so that the total is exact.
    frac = {
        "pelvis": DE_LEVA["lower_trunk"][0],
        "torso": DE_LEVA["upper_trunk"][0] + DE_LEVA["middle_trunk"][0] + DE_LEVA["head"][0],
    }
    for side in "rl":
        frac |= {f"femur_{side}": DE_LEVA["thigh"][0], f"tibia_{side}": DE_LEVA["shank"][0],
                 f"talus_{side}": DE_LEVA["foot"][0] * FOOT_SPLIT["talus"],
                 f"calcn_{side}": DE_LEVA["foot"][0] * FOOT_SPLIT["calcn"],
                 f"toes_{side}": DE_LEVA["foot"][0] * FOOT_SPLIT["toes"],
                 f"humerus_{side}": DE_LEVA["upper_arm"][0], f"ulna_{side}": DE_LEVA["forearm"][0] / 2,
                 f"radius_{side}": DE_LEVA["forearm"][0] / 2, f"hand_{side}": DE_LEVA["hand"][0]}
    total = sum(frac.values())
    masses = {k: mass * f / total for k, f in frac.items()}
    last = list(masses)[-1]
    masses[last] = mass - sum(m for k, m in masses.items() if k != last)

    segments: dict[str, Segment] = {}
    # Pelvis = lower trunk, from the lumbar joint (omphalion level) down to the HJC midpoint.
    lpt_len = lumbar[1] - hjc_r[1]
    _, c, r = DE_LEVA["lower_trunk"]
    segments["pelvis"] = Segment(masses["pelvis"], v([lumbar[0] * 0.5, lumbar[1] - c * lpt_len, 0.0]),
                                 _rod_inertia(masses["pelvis"], lpt_len, r))
    # Torso = middle trunk (lumbar->xiphoid) + upper trunk (xiphoid->C7 level) + head (vertex->C7 level).
    cerv_y = w["shoulder_height"] - lumbar_height
    xyph_y = w["chest_height"] - lumbar_height
    vert_y = H - lumbar_height
    # (de Leva part, length, height of its proximal = upper landmark); CoM lies c * length below it.
    parts = [("middle_trunk", xyph_y, xyph_y), ("upper_trunk", cerv_y - xyph_y, cerv_y),
             ("head", vert_y - cerv_y, vert_y)]
    ms, ys, inertias = [], [], []
    for name, length, top in parts:
        f_mass, c, r = DE_LEVA[name]
        m_part = mass * f_mass / total
        ms.append(m_part)
        ys.append(top - c * length)
        inertias.append(_rod_inertia(m_part, length, r))
    ms_a, ys_a = np.array(ms), np.array(ys)
    y_c = float((ms_a * ys_a).sum() / ms_a.sum())
    inertia_t = sum(inertias) + sum(m * (y - y_c) ** 2 for m, y in zip(ms, ys)) * v([1.0, 0.0, 1.0])
    segments["torso"] = Segment(masses["torso"], v([0.0, y_c, 0.0]), inertia_t)

    for side in "rl":
        mir = (lambda p: p) if side == "r" else _mirror
        for body, table, length in (("femur", "thigh", w["thigh"]), ("tibia", "shank", w["shank"]),
                                    ("humerus", "upper_arm", w["upper_arm"]), ("hand", "hand", w["hand"])):
            _, c, r = DE_LEVA[table]
            m_b = masses[f"{body}_{side}"]
            segments[f"{body}_{side}"] = Segment(m_b, v([0.0, -c * length, 0.0]), _rod_inertia(m_b, length, r))
        _, c, r = DE_LEVA["forearm"]
        for body in ("ulna", "radius"):
            m_b = masses[f"{body}_{side}"]
            segments[f"{body}_{side}"] = Segment(m_b, v([0.0, -c * w["forearm"], 0.0]),
                                                 _rod_inertia(m_b, w["forearm"], r))
        _, c, r = DE_LEVA["foot"]
        heel_in_calcn = v([-0.15 * foot_len, -0.35 * ankle_h, 0.0])  # heel point relative to the subtalar joint
        m_b = masses[f"calcn_{side}"]
        segments[f"calcn_{side}"] = Segment(m_b, mir(heel_in_calcn + v([c * foot_len, 0.25 * ankle_h, 0.0])),
                                            _rod_inertia(m_b, foot_len, r, long_axis=0))
        m_b = masses[f"talus_{side}"]
        segments[f"talus_{side}"] = Segment(m_b, v([0.0, 0.0, 0.0]), np.full(3, 0.4 * m_b * (0.02 * H) ** 2))
        m_b = masses[f"toes_{side}"]
        toe_len = 0.25 * foot_len
        segments[f"toes_{side}"] = Segment(m_b, mir(v([0.4 * toe_len, 0.0, -0.1 * foot_w])),
                                           _rod_inertia(m_b, toe_len, r, long_axis=0))

    # Markers: (body, location in the body frame); right side defined, left mirrored.
    sh_marker = shoulder_r + v([0.0, 0.028 * H, -0.015 * H])        # acromion (choice)
    markers: dict[str, tuple[str, np.ndarray]] = {}
    toes_from_mtp = lambda p: p - joints["mtp_r"]  # noqa: E731  (points in calcn coordinates -> toes)
    right = {
        # video keypoints
        "hip": ("pelvis", hjc_r), "knee": ("tibia", v([0.0, 0.0, 0.0])), "ankle": ("tibia", joints["ankle_r"]),
        "shoulder": ("torso", shoulder_r), "elbow": ("humerus", joints["elbow_r"]),
        "wrist": ("radius", joints["wrist_r"]),
        "heel": ("calcn", heel_in_calcn),
        "big_toe": ("toes", toes_from_mtp(v([0.85 * foot_len, -0.45 * ankle_h, -0.20 * foot_w]))),
        "small_toe": ("toes", toes_from_mtp(v([0.70 * foot_len, -0.45 * ankle_h, 0.45 * foot_w]))),
        "eye": ("torso", v([head_x + 0.045 * H, w["eye_height"] - lumbar_height, 0.018 * H])),
        "ear": ("torso", v([head_x, w["eye_height"] - lumbar_height - 0.012 * H, 0.043 * H])),
        # anatomical markers (OpenCap roles; positions are choices scaled by H and segment length)
        "ASIS": ("pelvis", asis_mid + v([0.0, 0.0, 0.5 * W])),
        "PSIS": ("pelvis", v([-0.71 * W, 0.06 * W, 0.19 * W])),
        "HJC": ("pelvis", hjc_r),
        "knee_lat": ("femur", joints["knee_r"] + v([0.004 * H, 0.003 * H, 0.032 * H])),
        "knee_med": ("femur", joints["knee_r"] + v([0.006 * H, 0.005 * H, -0.032 * H])),
        "ankle_lat": ("tibia", joints["ankle_r"] + v([-0.010 * H, 0.008 * H, 0.030 * H])),
        "ankle_med": ("tibia", joints["ankle_r"] + v([0.004 * H, 0.011 * H, -0.022 * H])),
        "toe": ("calcn", v([0.66 * foot_len, -0.15 * ankle_h, 0.0])),
        "5meta": ("calcn", v([0.50 * foot_len, -0.45 * ankle_h, 0.50 * foot_w])),
        "calc": ("calcn", heel_in_calcn + v([-0.01 * foot_len, 0.30 * ankle_h, 0.0])),
        "thigh1": ("femur", v([0.053 * H, -0.37 * w["thigh"], 0.041 * H])),
        "thigh2": ("femur", v([0.032 * H, -0.61 * w["thigh"], 0.050 * H])),
        "thigh3": ("femur", v([-0.012 * H, -0.34 * w["thigh"], 0.059 * H])),
        "sh1": ("tibia", v([0.0, -0.29 * w["shank"], 0.041 * H])),
        "sh2": ("tibia", v([0.015 * H, -0.58 * w["shank"], 0.047 * H])),
        "sh3": ("tibia", v([-0.029 * H, -0.55 * w["shank"], 0.047 * H])),
        "acromion": ("torso", sh_marker),
        "lelbow": ("humerus", joints["elbow_r"] + v([0.0, 0.003 * H, 0.024 * H])),
        "melbow": ("humerus", joints["elbow_r"] + v([-0.004 * H, 0.0, -0.029 * H])),
        "lwrist": ("radius", joints["wrist_r"] + v([0.0, 0.0, 0.030 * H])),
        "mwrist": ("radius", joints["wrist_r"] + v([-0.013 * H, 0.0, -0.013 * H])),
        "hand2": ("hand", v([0.006 * H, -0.052 * H, 0.018 * H])),
        "hand5": ("hand", v([0.0, -0.048 * H, -0.020 * H])),
    }
    study = {"ASIS": "{s}.ASIS_study", "PSIS": "{s}.PSIS_study", "HJC": "{S}HJC_study",
             "knee_lat": "{s}_knee_study", "knee_med": "{s}_mknee_study", "ankle_lat": "{s}_ankle_study",
             "ankle_med": "{s}_mankle_study", "toe": "{s}_toe_study", "5meta": "{s}_5meta_study",
             "calc": "{s}_calc_study", "acromion": "{s}_shoulder_study", "lelbow": "{s}_lelbow_study",
             "melbow": "{s}_melbow_study", "lwrist": "{s}_lwrist_study", "mwrist": "{s}_mwrist_study",
             "hand2": "{s}_hand2_study", "hand5": "{s}_hand5_study"}
    for i in (1, 2, 3):
        study[f"thigh{i}"] = f"{{s}}_thigh{i}_study"
        study[f"sh{i}"] = f"{{s}}_sh{i}_study"
    for side, s, S in (("r", "r", "R"), ("l", "L", "L")):
        mir = (lambda p: p) if side == "r" else _mirror
        for role, (body, loc) in right.items():
            name = study[role].format(s=s, S=S) if role in study else f"{side}_{role}"
            markers[name] = (body if body in ("pelvis", "torso") else f"{body}_{side}", mir(loc))
    markers["nose"] = ("torso", v([head_x + 0.057 * H, w["eye_height"] - lumbar_height - 0.030 * H, 0.0]))
    markers["neck"] = ("torso", v([shoulder_r[0], shoulder_r[1], 0.0]))
    markers["mid_hip"] = ("pelvis", v([hjc_r[0], hjc_r[1], 0.0]))
    markers["C7_study"] = ("torso", v([shoulder_r[0] - 0.045 * H, sh_marker[1] + 0.004 * H, 0.0]))
    expected = set(VIDEO_MARKERS) | set(ANATOMICAL_MARKERS)
    assert set(markers) == expected, sorted(set(markers) ^ expected)
    return Anthropometry(H, float(mass), lengths, joints, segments, markers, pelvis_height)


def _custom_joint(osim: Any, name: str, parent: Any, loc_parent: np.ndarray, child: Any, loc_child: np.ndarray,
                  rotations: list[tuple[str, tuple[float, float, float]]],
                  translations: list[str] | None = None) -> Any:
    """CustomJoint with rotations about the given (coordinate, axis) pairs, in order, then translations."""
    st = osim.SpatialTransform()
    axes = [np.asarray(a, float) / np.linalg.norm(a) for _, a in rotations]
    for basis in np.eye(3):  # complete the rotation axes to three independent directions
        if len(axes) == 3:
            break
        b = basis - sum(np.dot(basis, a) * a for a in axes)
        if np.linalg.norm(b) > 0.3:
            axes.append(b / np.linalg.norm(b))
    for i, axis in enumerate(axes):
        ta = st.updTransformAxis(i)
        ta.setAxis(osim.Vec3(*axis))
        if i < len(rotations):
            names = osim.ArrayStr()
            names.append(rotations[i][0])
            ta.setCoordinateNames(names)
            ta.set_function(osim.LinearFunction(1.0, 0.0))
    for i, coord in enumerate(translations or []):
        ta = st.updTransformAxis(3 + i)
        names = osim.ArrayStr()
        names.append(coord)
        ta.setCoordinateNames(names)
        ta.set_function(osim.LinearFunction(1.0, 0.0))
    zero = osim.Vec3(0.0, 0.0, 0.0)
    return osim.CustomJoint(name, parent, osim.Vec3(*loc_parent), zero, child, osim.Vec3(*loc_child), zero, st)


def _range_key(coord: str) -> str:
    return coord[:-2] if coord.endswith(("_r", "_l")) else coord


def build_model(height: float = 1.75, mass: float = 70.0) -> Any:
    """Build the built-in full-body model (``opensim.Model``, 23 bodies, 37 coordinates) for a subject.

    height: metres; mass: kilograms (the model's total mass equals it). The model is
    finalized (``initSystem`` has been called once) and carries the video and anatomical markers.
    """
    a = anthropometry(height, mass)
    osim = opensim()
    model = osim.Model()
    model.setName(MODEL_NAME)
    model.set_credits("mv3d built-in body model: Winter (2009) lengths, de Leva (1996) inertia, "
                      "Bell et al. (1990) hip joint centres; conventions of Rajagopal 2016 / LaiUhlrich 2022")
    bodies: dict[str, Any] = {}
    for name, seg in a.segments.items():
        body = osim.Body(name, seg.mass, osim.Vec3(*seg.com), osim.Inertia(*seg.inertia))
        model.addBody(body)
        bodies[name] = body
    ground = model.getGround()
    zero = np.zeros(3)
    joints = [
        _custom_joint(osim, "ground_pelvis", ground, zero, bodies["pelvis"], zero,
                      [("pelvis_tilt", (0, 0, 1)), ("pelvis_list", (1, 0, 0)), ("pelvis_rotation", (0, 1, 0))],
                      ["pelvis_tx", "pelvis_ty", "pelvis_tz"]),
        _custom_joint(osim, "back", bodies["pelvis"], a.joints["lumbar"], bodies["torso"], zero,
                      [("lumbar_extension", (0, 0, 1)), ("lumbar_bending", (1, 0, 0)), ("lumbar_rotation", (0, 1, 0))]),
    ]
    for side in "rl":
        m = 1.0 if side == "r" else -1.0
        mir = (lambda p: np.asarray(p, float)) if side == "r" else _mirror

        def ax(key: str) -> tuple[float, float, float]:
            x, y, z = AXES_R[key]
            return (m * x, m * y, z)

        b = {k: bodies[f"{k}_{side}"] for k in ("femur", "tibia", "talus", "calcn", "toes",
                                                   "humerus", "ulna", "radius", "hand")}
        joints += [
            _custom_joint(osim, f"hip_{side}", bodies["pelvis"], mir(a.joints["hip_r"]), b["femur"], zero,
                          [(f"hip_flexion_{side}", (0, 0, 1)), (f"hip_adduction_{side}", (m, 0, 0)),
                           (f"hip_rotation_{side}", (0, m, 0))]),
            _custom_joint(osim, f"knee_{side}", b["femur"], a.joints["knee_r"], b["tibia"], zero,
                          [(f"knee_angle_{side}", ax("knee"))]),
            _custom_joint(osim, f"ankle_{side}", b["tibia"], a.joints["ankle_r"], b["talus"], zero,
                          [(f"ankle_angle_{side}", ax("ankle"))]),
            _custom_joint(osim, f"subtalar_{side}", b["talus"], mir(a.joints["subtalar_r"]), b["calcn"], zero,
                          [(f"subtalar_angle_{side}", ax("subtalar"))]),
            _custom_joint(osim, f"mtp_{side}", b["calcn"], mir(a.joints["mtp_r"]), b["toes"], zero,
                          [(f"mtp_angle_{side}", ax("mtp"))]),
            _custom_joint(osim, f"acromial_{side}", bodies["torso"], mir(a.joints["shoulder_r"]), b["humerus"], zero,
                          [(f"arm_flex_{side}", (0, 0, 1)), (f"arm_add_{side}", (m, 0, 0)),
                           (f"arm_rot_{side}", (0, m, 0))]),
            _custom_joint(osim, f"elbow_{side}", b["humerus"], a.joints["elbow_r"], b["ulna"], zero,
                          [(f"elbow_flex_{side}", ax("elbow"))]),
            _custom_joint(osim, f"radioulnar_{side}", b["ulna"], a.joints["radioulnar_r"], b["radius"], zero,
                          [(f"pro_sup_{side}", ax("pro_sup"))]),
            _custom_joint(osim, f"radius_hand_{side}", b["radius"], a.joints["wrist_r"], b["hand"], zero,
                          [(f"wrist_flex_{side}", ax("wrist_flex")), (f"wrist_dev_{side}", ax("wrist_dev"))]),
        ]
    for joint in joints:
        model.addJoint(joint)
        for i in range(joint.numCoordinates()):
            coord = joint.upd_coordinates(i)
            lo, hi = RANGES[_range_key(coord.getName())]
            coord.setRangeMin(lo)
            coord.setRangeMax(hi)
            coord.setDefaultClamped(True)
            if coord.getName() == "pelvis_ty":
                coord.setDefaultValue(a.pelvis_height)
    for name, (body, loc) in a.markers.items():
        model.addMarker(osim.Marker(name, bodies[body], osim.Vec3(*loc)))
    model.finalizeConnections()
    model.initSystem()
    return model


def marker_weights(names: tuple[str, ...] | list[str] | None = None) -> dict[str, float]:
    """IK weights of the built-in markers (anatomical: OpenCap's; video: 1, face/derived 0.5)."""
    weights = {**{k: float(v) for k, v in ANATOMICAL_WEIGHTS.items()}, **VIDEO_WEIGHTS}
    return weights if names is None else {n: weights[n] for n in names}


def write_model(out_dir: str | os.PathLike, height: float = 1.75, mass: float = 70.0) -> Path:
    """Write ``mv3d_body.osim``, its marker sets and ScaleTool/IK setup XMLs into ``out_dir``.

    Files: ``mv3d_body.osim``, ``mv3d_body_markers_video.xml``, ``mv3d_body_markers_anatomical.xml``,
    ``Setup_Scale_mv3d_body.xml``, ``Setup_IK_mv3d_body.xml`` (anatomical + video markers),
    ``Setup_IK_mv3d_body_video.xml`` (video keypoints only; forearm rotation and wrists held at
    their defaults by weak coordinate tasks). Returns the model path.
    """
    from mv3d.kinematics import setups

    out = Path(out_dir)
    model = build_model(height, mass)   # validates height and mass before anything is written
    out.mkdir(parents=True, exist_ok=True)
    model_path = out / f"{MODEL_NAME}.osim"
    setups.print_object(model, model_path)
    for label, names in (("video", VIDEO_MARKERS), ("anatomical", ANATOMICAL_MARKERS)):
        setups.write_marker_set(model, names, out / f"{MODEL_NAME}_markers_{label}.xml")
    setups.write_scale_setup(out / f"Setup_Scale_{MODEL_NAME}.xml", model_file=model_path.name, mass=mass,
                             height=height, measurements=setups.builtin_measurements(),
                             weights=marker_weights())
    setups.write_ik_setup(out / f"Setup_IK_{MODEL_NAME}.xml", model_file=model_path.name, weights=marker_weights())
    # Video keypoints do not observe forearm rotation and the wrists: hold those at their defaults.
    unobserved = {f"{c}_{s}": (1.0, 0.0) for s in "rl" for c in ("pro_sup", "wrist_flex", "wrist_dev")}
    setups.write_ik_setup(out / f"Setup_IK_{MODEL_NAME}_video.xml", model_file=model_path.name,
                          weights=marker_weights(VIDEO_MARKERS), coordinates=unobserved)
    log.info("wrote the built-in model for H=%.3f m, m=%.2f kg to %s", height, mass, out)
    return model_path
