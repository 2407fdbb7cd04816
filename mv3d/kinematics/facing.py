"""The model's root turned and moved onto a frame's markers before IK assembles a pose.

OpenSim's assembler (IK, and the ScaleTool's marker placement) starts from the state's pose, by
default the model's default pose: facing +X at the origin. A subject facing the other way (the
calibration's world frame is wherever the board lay) is then 180 deg away, and the assembler
settles in a twisted pose (pelvis 40 deg off, lumbar rotation at its limit, 3 cm marker error)
that tracking keeps. ``face_markers`` first turns the root about the vertical (OpenSim's Y) and
moves it so that the model's markers match the frame's in the least-squares sense:

    theta = atan2(sum(a_z b_x - a_x b_z), sum(a_x b_x + a_z b_z))

for the horizontal (x, z) marker positions a of the model and b of the frame, each about its
centroid; then the root is translated by the centroids' difference. The root is the pelvis joint
of the OpenSim models mv3d works with (the built-in model, LaiUhlrich2022, Rajagopal2016,
Gait2354: ``pelvis_rotation`` about Y applied last, ``pelvis_tx/ty/tz`` in the ground frame).
"""
from __future__ import annotations

from typing import Any

import numpy as np

#: The root's rotation about the vertical and its translations (ground frame).
HEADING = "pelvis_rotation"
TRANSLATIONS = ("pelvis_tx", "pelvis_ty", "pelvis_tz")


def heading_fit(model_xyz: np.ndarray, target_xyz: np.ndarray) -> float:
    """Rotation (radians, about +Y) that best maps the horizontal layout of ``model_xyz`` (M, 3) onto
    that of ``target_xyz`` (M, 3), both about their centroids (rows with NaN are left out)."""
    ok = np.isfinite(model_xyz).all(axis=1) & np.isfinite(target_xyz).all(axis=1)
    a = model_xyz[ok][:, [0, 2]] - model_xyz[ok][:, [0, 2]].mean(axis=0)
    b = target_xyz[ok][:, [0, 2]] - target_xyz[ok][:, [0, 2]].mean(axis=0)
    cos_part = float(np.sum(a[:, 0] * b[:, 0] + a[:, 1] * b[:, 1]))
    sin_part = float(np.sum(a[:, 1] * b[:, 0] - a[:, 0] * b[:, 1]))
    return float(np.arctan2(sin_part, cos_part))


def face_markers(model: Any, state: Any, markers: list, targets: np.ndarray) -> bool:
    """Turn the root about the vertical and move it in ``state`` so the model's ``markers`` (OpenSim
    Marker objects) best match ``targets`` (M, 3) metres, NaN = missing; the other coordinates stay.

    Returns False, with the state unchanged, for a model without the root coordinates (``HEADING``,
    ``TRANSLATIONS``) or with fewer than 3 markers present.
    """
    cs = model.getCoordinateSet()
    if not all(cs.contains(n) for n in (HEADING, *TRANSLATIONS)):
        return False
    ok = np.isfinite(targets).all(axis=1)
    if ok.sum() < 3:
        return False

    def positions() -> np.ndarray:
        model.realizePosition(state)
        return np.array([m.getLocationInGround(state).to_numpy() for m in markers])

    heading = cs.get(HEADING)
    heading.setValue(state, heading.getValue(state) + heading_fit(positions(), targets), False)
    shift = targets[ok].mean(axis=0) - positions()[ok].mean(axis=0)
    for name, d in zip(TRANSLATIONS, shift):
        coord = cs.get(name)
        coord.setValue(state, coord.getValue(state) + float(d), False)
    model.realizePosition(state)
    return True


def face_default_pose(model: Any, marker_names: list[str], targets: np.ndarray) -> bool:
    """Set the default values of the root's coordinates of ``model`` so its default pose faces and
    stands where ``targets`` (M, 3) of ``marker_names`` are (e.g. a static trial's mean markers), as
    the ScaleTool's marker placement starts from it. Returns False when ``face_markers`` could not."""
    state = model.initSystem()
    markers = [model.getMarkerSet().get(n) for n in marker_names]
    if not face_markers(model, state, markers, np.asarray(targets, dtype=float)):
        return False
    cs = model.getCoordinateSet()
    for name in (HEADING, *TRANSLATIONS):
        cs.get(name).setDefaultValue(cs.get(name).getValue(state))
    return True


def continuous_heading(model: Any, coordinates: list[str], q: np.ndarray) -> None:
    """Unwrap the root's heading in ``q`` (F, N) radians, columns ``coordinates``, in time and in place
    when the model lets it turn freely (range wider than a turn): passes and chunks that assembled
    separately may write the same heading a whole turn apart."""
    if HEADING not in coordinates:
        return
    coord = model.getCoordinateSet().get(HEADING)
    if coord.getRangeMax() - coord.getRangeMin() <= 2 * np.pi:
        return
    j = coordinates.index(HEADING)
    ok = np.isfinite(q[:, j])
    q[ok, j] = np.unwrap(q[ok, j])
