"""World frames: which axis is up, and the rotation from a calibration's world frame to OpenSim's.

OpenSim's ground frame has Y up, X forward (the direction the subject walks or faces)
and Z to the subject's right. A calibration's world frame is whatever its board or lab
defined; ``R_to_opensim`` (3, 3) maps world vectors to OpenSim, ``x_os = R_to_opensim @ x_w``.

Conventions used by the readers:

- Z-up labs (Qualisys, Pose2Sim TOML without metadata, Human3.6M): ``(X, Y, Z)_os =
  (Y, Z, X)_world``, the permutation Pose2Sim applies when it writes TRC files.
- Y-down worlds (CMU Panoptic): a half turn about X, ``(x, -y, -z)``.
- Board worlds (OpenCap, :mod:`calibration.extrinsics`): see :func:`opensim_rotation_for_board`.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from mv3d.errors import InputError

R_ZUP = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
R_YDOWN = np.diag([1.0, -1.0, -1.0])

PLACEMENTS = ("backwall", "ground")


def up_axis(R_to_opensim: np.ndarray) -> str:
    """The world axis that OpenSim's Y (up) comes from, e.g. "+z", "-y"; "" when it is oblique."""
    row = np.asarray(R_to_opensim, dtype=float)[1]
    i = int(np.argmax(np.abs(row)))
    if abs(abs(row[i]) - 1.0) > 1e-6:
        return ""
    return ("+" if row[i] > 0 else "-") + "xyz"[i]


def opencap_rotation(placement: str, upside_down: bool = False) -> np.ndarray:
    """OpenCap's world->OpenSim rotation for a board placement.

    OpenCap's world frame is the board's: origin at the first inner corner, x along the
    first inner-corner row, y along the columns, z = x cross y (into the wall or the
    floor, away from the cameras). When it writes a TRC it applies space-fixed rotations:
    back wall {y: 90, z: 180} (or {y: -90} when the board was detected upside down, which it
    decides from the sign of the first camera's R[1, 1]); ground {x: 90, y: 90}.
    placement: "backwall" or "ground". Returns (3, 3).
    """
    key = placement.lower().replace("_", "")
    if key == "backwall":
        seq = [("y", -90.0)] if upside_down else [("y", 90.0), ("z", 180.0)]
    elif key == "ground":
        seq = [("x", 90.0), ("y", 90.0)]
    else:
        raise InputError(f"unknown board placement {placement!r}; use one of {PLACEMENTS}")
    R = np.eye(3)
    for axis, deg in seq:  # space-fixed: later rotations multiply on the left
        R = Rotation.from_euler(axis, deg, degrees=True).as_matrix() @ R
    return np.round(R, 12) + 0.0


def opensim_rotation_for_board(placement: str, R_cams: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Rotation world(board)->OpenSim chosen from the geometry, not from the corner order.

    placement: "ground" (board flat on the floor) or "backwall" (board vertical).
    R_cams: (C, 3, 3) world->camera rotations; centers: (C, 3) camera centres in the board frame.
    Up is the board normal towards the cameras (ground) or the cameras' mean image-up direction
    in the board plane (backwall). X (forward) is, for the back wall, the horizontal direction
    from the board towards the cameras, and for the ground the board's y axis made horizontal;
    this equals OpenCap's rotations for an upright board (see :func:`opencap_rotation`).
    Returns (3, 3) with rows (X, Y, Z) of OpenSim expressed in world coordinates.
    """
    key = placement.lower().replace("_", "")
    normal = np.array([0.0, 0.0, 1.0])
    side = np.sign(np.median(centers[:, 2])) or -1.0  # cameras' side of the board plane
    toward_cams = -normal if side < 0 else normal
    if key == "ground":
        up = toward_cams
        fwd = np.array([0.0, 1.0, 0.0])
    elif key == "backwall":
        image_up = -R_cams[:, 1, :].mean(axis=0)  # camera -y axis in world, averaged
        image_up -= normal * (image_up @ normal)
        # snap to the nearer board axis: boards hang square to the floor
        i = int(np.argmax(np.abs(image_up[:2])))
        up = np.zeros(3)
        up[i] = np.sign(image_up[i])
        fwd = toward_cams
    else:
        raise InputError(f"unknown board placement {placement!r}; use one of {PLACEMENTS}")
    fwd = fwd - up * (fwd @ up)
    fwd /= np.linalg.norm(fwd)
    right = np.cross(fwd, up)
    return np.stack([fwd, up, right])
