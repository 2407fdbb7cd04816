"""Dimensions of mv3d's built-in body model for one height and mass: joint centres, inertial
properties and marker positions (:func:`anthropometry`), from anthropometric tables.

Geometry (joint centres, landmarks) is a fraction of body height ``H``:

* Winter, D. A. (2009). *Biomechanics and Motor Control of Human Movement*, 4th ed.,
  Fig. 4.1: thigh 0.245 H, leg 0.246 H, upper arm 0.186 H, forearm 0.146 H, hand
  0.108 H, foot length 0.152 H, foot width 0.055 H, ankle (joint) height 0.039 H,
  hip (joint) height 0.530 H, shoulder height 0.818 H, chest (xiphoid) height 0.720 H,
  chin 0.870 H, eyes 0.936 H.
* Hip joint centres from the inter-ASIS width ``W`` (Bell, Pedersen & Brand 1990,
  J Biomech 23:617): 22 % W posterior, 30 % W distal and 36 % W lateral of the
  ASIS midpoint. ``W = 0.146 H`` and the other landmark offsets marked *choice* below
  are this model's own choices where the tables give no landmark.

Masses, centres of mass and radii of gyration: de Leva, P. (1996). Adjustments to
Zatsiorsky-Seluyanov's segment inertia parameters. J Biomech 29:1223-1230, Table 4
(male values). The pelvis is de Leva's lower trunk; the torso body holds the upper and
middle trunk and the head-neck; each forearm bone takes half the forearm; the foot is
split talus/calcaneus/toes 10/75/15 %. The fractions add up to exactly 1, and the last
body takes the remainder so that the model's total mass equals ``mass`` to rounding.

Body frames: X anterior, Y up, Z to the right; the right side is defined and the left mirrored.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mv3d.errors import InputError
from mv3d.skeleton import MV3D25
from mv3d.subject import limits, plausible

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


@dataclass(frozen=True)
class _Landmarks:
    """The frame-defining points of one height: H, Winter's lengths ``w`` (m), inter-ASIS width W;
    pelvis frame points (ASIS midpoint, right HJC, L5-S1), heights of the pelvis origin and the lumbar
    joint above the floor, the right shoulder and the ear line in the torso frame, foot dimensions."""

    H: float
    w: dict[str, float]
    W: float
    asis_mid: np.ndarray
    hjc_r: np.ndarray
    lumbar: np.ndarray
    pelvis_height: float
    lumbar_height: float
    shoulder_r: np.ndarray
    head_x: float
    foot_len: float
    foot_w: float
    ankle_h: float

    @property
    def heel_in_calcn(self) -> np.ndarray:
        """The heel point relative to the subtalar joint (calcaneus frame)."""
        return np.array([-0.15 * self.foot_len, -0.35 * self.ankle_h, 0.0])


def _rod_inertia(mass: float, length: float, radii: tuple[float, float, float], long_axis: int = 1) -> np.ndarray:
    """Principal moments (Ixx, Iyy, Izz) from de Leva radii (sagittal, transverse, longitudinal)."""
    r_sag, r_trans, r_long = (r * length for r in radii)
    moments = np.array([mass * r_sag**2, mass * r_long**2, mass * r_trans**2])
    if long_axis == 0:  # the foot: longitudinal axis along X
        moments = np.array([mass * r_long**2, mass * r_sag**2, mass * r_trans**2])
    return moments


def mirror(p: np.ndarray) -> np.ndarray:
    """Right-side point or position to the left side (Z is to the right)."""
    return np.array([p[0], p[1], -p[2]])


def _landmarks(H: float) -> _Landmarks:
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
    return _Landmarks(H, w, W, asis_mid, hjc_r, lumbar, pelvis_height, lumbar_height, shoulder_r, head_x,
                      w["foot_length"], w["foot_width"], w["ankle_height"])


def _joint_centres(L: _Landmarks) -> dict[str, np.ndarray]:
    """Right-side joint centres, each in its parent body's frame."""
    v, w = np.array, L.w
    return {
        "hip_r": L.hjc_r, "lumbar": L.lumbar, "shoulder_r": L.shoulder_r,
        "knee_r": v([0.0, -w["thigh"], 0.0]),                 # in femur
        "ankle_r": v([0.0, -w["shank"], 0.0]),                # in tibia
        "subtalar_r": v([-0.10 * L.foot_len, -0.40 * L.ankle_h, 0.0]),  # in talus (choice)
        "mtp_r": v([0.65 * L.foot_len, -0.35 * L.ankle_h, 0.05 * L.foot_w]),  # in calcn, from the subtalar joint
        "elbow_r": v([0.0, -w["upper_arm"], 0.0]),            # in humerus
        "radioulnar_r": v([0.0, 0.0, 0.0]),                   # in ulna
        "wrist_r": v([0.0, -w["forearm"], 0.0]),              # in radius
    }


def _body_masses(mass: float) -> tuple[dict[str, float], float]:
    """Each body's mass (de Leva fractions; the last body takes the remainder) and the fractions' total."""
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
    return masses, total


def _trunk_segments(L: _Landmarks, mass: float, masses: dict[str, float], total: float) -> dict[str, Segment]:
    """Pelvis (de Leva's lower trunk, lumbar joint down to the HJC midpoint) and torso (middle and
    upper trunk and head, combined by the parallel-axis theorem)."""
    v, w, lumbar = np.array, L.w, L.lumbar
    lpt_len = lumbar[1] - L.hjc_r[1]
    _, c, r = DE_LEVA["lower_trunk"]
    pelvis = Segment(masses["pelvis"], v([lumbar[0] * 0.5, lumbar[1] - c * lpt_len, 0.0]),
                     _rod_inertia(masses["pelvis"], lpt_len, r))
    cerv_y = w["shoulder_height"] - L.lumbar_height
    xyph_y = w["chest_height"] - L.lumbar_height
    vert_y = L.H - L.lumbar_height
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
    return {"pelvis": pelvis, "torso": Segment(masses["torso"], v([0.0, y_c, 0.0]), inertia_t)}


def _limb_segments(L: _Landmarks, masses: dict[str, float], side: str) -> dict[str, Segment]:
    """The leg, foot and arm bodies of one side ("r" or "l")."""
    v, w, H, foot_len = np.array, L.w, L.H, L.foot_len
    mir = (lambda p: p) if side == "r" else mirror
    segments = {}
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
    m_b = masses[f"calcn_{side}"]
    segments[f"calcn_{side}"] = Segment(m_b, mir(L.heel_in_calcn + v([c * foot_len, 0.25 * L.ankle_h, 0.0])),
                                        _rod_inertia(m_b, foot_len, r, long_axis=0))
    m_b = masses[f"talus_{side}"]
    segments[f"talus_{side}"] = Segment(m_b, v([0.0, 0.0, 0.0]), np.full(3, 0.4 * m_b * (0.02 * H) ** 2))
    m_b = masses[f"toes_{side}"]
    toe_len = 0.25 * foot_len
    segments[f"toes_{side}"] = Segment(m_b, mir(v([0.4 * toe_len, 0.0, -0.1 * L.foot_w])),
                                       _rod_inertia(m_b, toe_len, r, long_axis=0))
    return segments


def _right_markers(L: _Landmarks, joints: dict[str, np.ndarray]) -> dict[str, tuple[str, np.ndarray]]:
    """Marker role -> (body without side, position in the body frame) on the right side."""
    v, w, H, W = np.array, L.w, L.H, L.W
    foot_len, foot_w, ankle_h = L.foot_len, L.foot_w, L.ankle_h
    toes_from_mtp = lambda p: p - joints["mtp_r"]  # noqa: E731  (points in calcn coordinates -> toes)
    return {
        # video keypoints
        "hip": ("pelvis", L.hjc_r), "knee": ("tibia", v([0.0, 0.0, 0.0])), "ankle": ("tibia", joints["ankle_r"]),
        "shoulder": ("torso", L.shoulder_r), "elbow": ("humerus", joints["elbow_r"]),
        "wrist": ("radius", joints["wrist_r"]),
        "heel": ("calcn", L.heel_in_calcn),
        "big_toe": ("toes", toes_from_mtp(v([0.85 * foot_len, -0.45 * ankle_h, -0.20 * foot_w]))),
        "small_toe": ("toes", toes_from_mtp(v([0.70 * foot_len, -0.45 * ankle_h, 0.45 * foot_w]))),
        "eye": ("torso", v([L.head_x + 0.045 * H, w["eye_height"] - L.lumbar_height, 0.018 * H])),
        "ear": ("torso", v([L.head_x, w["eye_height"] - L.lumbar_height - 0.012 * H, 0.043 * H])),
        # anatomical markers (OpenCap roles; positions are choices scaled by H and segment length)
        "ASIS": ("pelvis", L.asis_mid + v([0.0, 0.0, 0.5 * W])),
        "PSIS": ("pelvis", v([-0.71 * W, 0.06 * W, 0.19 * W])),
        "HJC": ("pelvis", L.hjc_r),
        "knee_lat": ("femur", joints["knee_r"] + v([0.004 * H, 0.003 * H, 0.032 * H])),
        "knee_med": ("femur", joints["knee_r"] + v([0.006 * H, 0.005 * H, -0.032 * H])),
        "ankle_lat": ("tibia", joints["ankle_r"] + v([-0.010 * H, 0.008 * H, 0.030 * H])),
        "ankle_med": ("tibia", joints["ankle_r"] + v([0.004 * H, 0.011 * H, -0.022 * H])),
        "toe": ("calcn", v([0.66 * foot_len, -0.15 * ankle_h, 0.0])),
        "5meta": ("calcn", v([0.50 * foot_len, -0.45 * ankle_h, 0.50 * foot_w])),
        "calc": ("calcn", L.heel_in_calcn + v([-0.01 * foot_len, 0.30 * ankle_h, 0.0])),
        "thigh1": ("femur", v([0.053 * H, -0.37 * w["thigh"], 0.041 * H])),
        "thigh2": ("femur", v([0.032 * H, -0.61 * w["thigh"], 0.050 * H])),
        "thigh3": ("femur", v([-0.012 * H, -0.34 * w["thigh"], 0.059 * H])),
        "sh1": ("tibia", v([0.0, -0.29 * w["shank"], 0.041 * H])),
        "sh2": ("tibia", v([0.015 * H, -0.58 * w["shank"], 0.047 * H])),
        "sh3": ("tibia", v([-0.029 * H, -0.55 * w["shank"], 0.047 * H])),
        "acromion": ("torso", _acromion(L)),
        "lelbow": ("humerus", joints["elbow_r"] + v([0.0, 0.003 * H, 0.024 * H])),
        "melbow": ("humerus", joints["elbow_r"] + v([-0.004 * H, 0.0, -0.029 * H])),
        "lwrist": ("radius", joints["wrist_r"] + v([0.0, 0.0, 0.030 * H])),
        "mwrist": ("radius", joints["wrist_r"] + v([-0.013 * H, 0.0, -0.013 * H])),
        "hand2": ("hand", v([0.006 * H, -0.052 * H, 0.018 * H])),
        "hand5": ("hand", v([0.0, -0.048 * H, -0.020 * H])),
    }


def _acromion(L: _Landmarks) -> np.ndarray:
    """The right acromion marker in the torso frame (choice)."""
    return L.shoulder_r + np.array([0.0, 0.028 * L.H, -0.015 * L.H])


#: Anatomical marker role -> its OpenCap name pattern ({s}: r/L, {S}: R/L).
STUDY_NAMES = {"ASIS": "{s}.ASIS_study", "PSIS": "{s}.PSIS_study", "HJC": "{S}HJC_study",
               "knee_lat": "{s}_knee_study", "knee_med": "{s}_mknee_study", "ankle_lat": "{s}_ankle_study",
               "ankle_med": "{s}_mankle_study", "toe": "{s}_toe_study", "5meta": "{s}_5meta_study",
               "calc": "{s}_calc_study", "acromion": "{s}_shoulder_study", "lelbow": "{s}_lelbow_study",
               "melbow": "{s}_melbow_study", "lwrist": "{s}_lwrist_study", "mwrist": "{s}_mwrist_study",
               "hand2": "{s}_hand2_study", "hand5": "{s}_hand5_study",
               **{f"{part}{i}": f"{{s}}_{part}{i}_study" for part in ("thigh", "sh") for i in (1, 2, 3)}}


def _markers(L: _Landmarks, joints: dict[str, np.ndarray]) -> dict[str, tuple[str, np.ndarray]]:
    """Every marker: name -> (body, position in the body frame); both sides and the midline ones."""
    v, w, H = np.array, L.w, L.H
    right = _right_markers(L, joints)
    markers: dict[str, tuple[str, np.ndarray]] = {}
    for side, s, S in (("r", "r", "R"), ("l", "L", "L")):
        mir = (lambda p: p) if side == "r" else mirror
        for role, (body, loc) in right.items():
            name = STUDY_NAMES[role].format(s=s, S=S) if role in STUDY_NAMES else f"{side}_{role}"
            markers[name] = (body if body in ("pelvis", "torso") else f"{body}_{side}", mir(loc))
    markers["nose"] = ("torso", v([L.head_x + 0.057 * H, w["eye_height"] - L.lumbar_height - 0.030 * H, 0.0]))
    markers["neck"] = ("torso", v([L.shoulder_r[0], L.shoulder_r[1], 0.0]))
    markers["mid_hip"] = ("pelvis", v([L.hjc_r[0], L.hjc_r[1], 0.0]))
    markers["C7_study"] = ("torso", v([L.shoulder_r[0] - 0.045 * H, _acromion(L)[1] + 0.004 * H, 0.0]))
    expected = set(VIDEO_MARKERS) | set(ANATOMICAL_MARKERS)
    assert set(markers) == expected, sorted(set(markers) ^ expected)
    return markers


def anthropometry(height: float = 1.75, mass: float = 70.0) -> Anthropometry:
    """Segment dimensions, inertial properties and marker positions for ``height`` (m) and ``mass`` (kg)."""
    if not plausible("height_m", height):
        low, high = limits("height_m")
        raise InputError(f"height {height!r} m is not a plausible human height; give metres between {low:g} and {high:g}")
    if not np.isfinite(mass) or not mass > 0:
        raise InputError(f"mass {mass!r} kg must be a positive number of kilograms")
    L = _landmarks(float(height))
    joints = _joint_centres(L)
    lengths = {"thigh": L.w["thigh"], "shank": L.w["shank"], "upper_arm": L.w["upper_arm"],
               "forearm": L.w["forearm"], "foot": L.foot_len}
    masses, total = _body_masses(mass)
    segments = _trunk_segments(L, mass, masses, total)
    for side in "rl":
        segments |= _limb_segments(L, masses, side)
    return Anthropometry(L.H, float(mass), lengths, joints, segments, _markers(L, joints), L.pelvis_height)
