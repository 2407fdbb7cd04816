"""mv3d's built-in full-body OpenSim model, built in code from anthropometric tables.

Topology, coordinate names, axis directions, sign conventions and ranges follow the
Rajagopal (2016) / Lai-Uhlrich (2022) family so that motions of OpenCap's
``LaiUhlrich2022`` model drive it directly (the knee is a plain hinge here, without the
walker-knee translations and the patella; the wrists, welded in LaiUhlrich2022, have
``wrist_flex``/``wrist_dev`` as in Rajagopal 2016). Oblique axes (knee, ankle, subtalar,
MTP, elbow, forearm) use the directions of the LaiUhlrich2022 joints, mirrored for the left
side by negating their X and Y components.

Dimensions, masses and inertia come from :func:`mv3d.kinematics.anthropometry.anthropometry`
(Winter 2009, Bell et al. 1990, de Leva 1996).

Markers: the 25 video keypoints of ``mv3d.skeleton.MV3D25`` (joint centres for the limb
joints, surface points for the face and the foot) and an anatomical set named like
OpenCap's ``LaiUhlrich2022_markers_augmenter.xml`` (``r.ASIS_study``, ``r_knee_study``,
...), plus two hand markers per side (``r_hand2_study``, ``r_hand5_study``: 2nd and 5th
metacarpal heads; mv3d's own) that make the wrist angles observable.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from mv3d.kinematics import setups
from mv3d.kinematics._osim import opensim
from mv3d.kinematics.anthropometry import (
    ANATOMICAL_MARKERS,
    ANATOMICAL_WEIGHTS,
    VIDEO_MARKERS,
    VIDEO_WEIGHTS,
    anthropometry,
    mirror,
)

log = logging.getLogger(__name__)

MODEL_NAME = "mv3d_body"


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

# Coordinate ranges in radians (LaiUhlrich2022; wrists from Rajagopal 2016). The heading is free, as in
# LaiUhlrich2022: clamped to +-180 deg, IK pinned a subject who faces about 180 deg at the clamp.
RANGES = {
    "pelvis_tilt": (-np.pi / 2, np.pi / 2), "pelvis_list": (-np.pi / 2, np.pi / 2),
    "pelvis_rotation": (-100.0, 100.0),
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


def side_free(name: str) -> str:
    """``knee_angle_r`` -> ``knee_angle``: the coordinate without its side suffix."""
    return name[:-2] if name.endswith(("_r", "_l")) else name


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
        mir = (lambda p: np.asarray(p, float)) if side == "r" else mirror

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
            lo, hi = RANGES[side_free(coord.getName())]
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
