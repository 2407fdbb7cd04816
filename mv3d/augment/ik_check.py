"""Joint angles recovered through an augmenter: noise-free keypoints -> markers -> IK -> vs the truth.

The check behind "the built-in model's augmenter + IK on the simulator's noise-free
keypoints recovers the joint angles": a built-in motion is played on the built-in model
built at the subject's height and mass; its video keypoints (forward kinematics, no
noise) go through the augmenter; IK (as the pipeline runs it, ``refine=True``) fits the
same model to keypoints + predicted markers; the coordinates are compared with the
motion's own. The model is the subject's own, so what remains is the augmenter's error.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mv3d.io import write_trc
from mv3d.kinematics.bodymodel import VIDEO_MARKERS, build_model, write_model
from mv3d.kinematics.forward import forward_markers
from mv3d.kinematics.ik import solve_ik
from mv3d.simulate.motions import make_motion

#: Coordinates reported (the pipeline's lower-limb comparison set, plus pelvis and lumbar).
CHECKED_COORDINATES: tuple[str, ...] = (
    "pelvis_tilt", "pelvis_list", "pelvis_rotation",
    "hip_flexion_r", "hip_adduction_r", "hip_rotation_r", "knee_angle_r", "ankle_angle_r",
    "hip_flexion_l", "hip_adduction_l", "hip_rotation_l", "knee_angle_l", "ankle_angle_l",
    "lumbar_extension", "lumbar_bending", "lumbar_rotation",
)


@dataclass
class AngleErrors:
    """Per coordinate RMS and mean (bias) error in degrees, of one motion."""

    motion: str
    rms_deg: dict[str, float]
    bias_deg: dict[str, float]

    @property
    def overall_rms_deg(self) -> float:
        """RMS over all checked coordinates and frames."""
        return float(np.sqrt(np.mean(np.square(list(self.rms_deg.values())))))


def builtin_angle_errors(augmenter: Any, motion: str, height: float = 1.75, mass: float = 70.0,
                         seconds: float = 6.0, rate: float = 60.0, work_dir: str | os.PathLike | None = None
                         ) -> AngleErrors:
    """Angle errors of a built-in motion through ``augmenter`` (``mv3d.augment.Augmenter``) + IK.

    augmenter None: IK on the keypoints alone (the reference without augmentation).
    """
    sampled = make_motion(motion, seconds, rate)
    times, coords = sampled.times, sampled.coords
    keypoints, _ = forward_markers(build_model(height, mass), times, coords, list(VIDEO_MARKERS))
    names, points = list(VIDEO_MARKERS), keypoints
    if augmenter is not None:
        markers, marker_names = augmenter.augment(keypoints, list(VIDEO_MARKERS), height, mass)
        names, points = names + list(marker_names), np.concatenate([keypoints, markers], axis=1)
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        model = write_model(Path(tmp) / "model", height, mass)
        trc = Path(tmp) / f"{motion}.trc"
        write_trc(trc, points, names, times, units="m")
        result = solve_ik(model, trc, refine=True)
    deg = result.degrees()
    rms, bias = {}, {}
    for name in CHECKED_COORDINATES:
        err = deg[:, result.coordinates.index(name)] - np.degrees(coords[name])
        rms[name], bias[name] = float(np.sqrt(np.mean(err ** 2))), float(np.mean(err))
    return AngleErrors(motion, rms, bias)
