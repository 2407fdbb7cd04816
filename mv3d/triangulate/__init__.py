"""Multi-view triangulation of 2D keypoints: robust algebraic, volumetric, limb-constrained.

Entry points:

- ``triangulate(rig, keypoints, method="algebraic", limb_constraints=False) -> (F, J, 3)``
- ``reconstruct(...) -> Reconstruction``: the points with per-view reprojection errors,
  the views used, corrected left/right swaps and the missing points.

Modules: ``algebraic`` (batched DLT, numpy and differentiable torch), ``robust`` (view
selection), ``swaps`` (left/right swaps from each camera's 2D history), ``volumetric`` (torch, coarse-to-fine heatmap volumes), ``limbs`` (bone
lengths and trajectory refinement), ``association`` (which detected person in each view),
``filtering`` (gaps and low-pass), ``uncertainty`` (each point's precision), ``evaluation`` (metrics and 2D corruption).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from mv3d.errors import InputError
from mv3d.skeleton import FLIP_INDEX
from mv3d.triangulate.algebraic import reprojection_errors, triangulate_dlt
from mv3d.triangulate.filtering import FilterSpec, smooth_trajectory
from mv3d.triangulate.limbs import LimbParams, estimate_limb_lengths, refine_with_limbs
from mv3d.triangulate.robust import RobustParams, robust_triangulate
from mv3d.triangulate.uncertainty import relative_precision
from mv3d.triangulate.volumetric import triangulate_volumetric

if TYPE_CHECKING:  # pragma: no cover
    from mv3d.camera import CameraRig
    from mv3d.triangulate.volumetric import HeatmapSource, VolumetricParams

log = logging.getLogger(__name__)

METHODS = ("algebraic", "volumetric")


@dataclass
class Reconstruction:
    """Result of ``reconstruct``.

    points: (F, J, 3) metres (NaN = missing); used: (C, F, J) views that agreed (inliers);
    errors: (C, F, J) pixel distance between each detection and the reprojected final point
    (with distortion; NaN where not detected); swapped: (C, F, J) detections whose
    left/right labels were swapped back; cameras: the C camera names; missing: (F, J)
    points without a 3D position; gaps: unfilled gaps (``mv3d.timeseries.Gap``);
    limb_lengths: (B,) metres of LIMBS when limb constraints were used.
    """

    points: np.ndarray
    used: np.ndarray
    errors: np.ndarray
    swapped: np.ndarray
    cameras: list[str]
    method: str
    gaps: list = field(default_factory=list)
    limb_lengths: np.ndarray | None = None

    @property
    def missing(self) -> np.ndarray:
        return ~np.isfinite(self.points).all(-1)

    def camera_errors(self) -> dict[str, float]:
        """Median reprojection error (pixels) of the inlier views of each camera."""
        out = {}
        for c, name in enumerate(self.cameras):
            e = self.errors[c][self.used[c] & np.isfinite(self.errors[c])]
            out[name] = float(np.median(e)) if e.size else float("nan")
        return out


def _as_array(keypoints) -> np.ndarray:
    """(C, F, J, 3) array from an array or a list of per-camera (F, J, 3) arrays."""
    if isinstance(keypoints, (list, tuple)):
        shapes = [np.shape(k) for k in keypoints]
        if len(set(shapes)) > 1:
            detail = ", ".join(f"camera {i}: {s[0] if len(s) else '?'} frames x {s[1:]}" for i, s in enumerate(shapes))
            raise InputError(f"the cameras' keypoints differ in shape ({detail}); synchronise and trim them to "
                             f"the same frames first")
        keypoints = np.stack([np.asarray(k, dtype=float) for k in keypoints])
    kp = np.asarray(keypoints, dtype=float)
    if kp.ndim != 4 or kp.shape[-1] != 3:
        raise InputError(f"keypoints must have shape (C, F, J, 3) = cameras, frames, joints, (x, y, confidence); "
                         f"got {kp.shape}")
    return kp


def reconstruct(rig: CameraRig, keypoints, method: str = "algebraic", limb_constraints: bool = False,
                robust: RobustParams | None = None, volumetric: VolumetricParams | None = None,
                limbs: LimbParams | None = None, heatmaps: np.ndarray | HeatmapSource | None = None,
                heatmap_boxes: np.ndarray | None = None, filter: str | None = None,
                fps: float | None = None, max_gap: int = 10) -> Reconstruction:
    """Triangulate 2D keypoints (C, F, J, 3) seen by the cameras of ``rig`` (same order).

    method: "algebraic" (robust DLT) or "volumetric" (heatmap volumes around the algebraic
    result; ``heatmaps``: a ``volumetric.HeatmapSource`` or (C, F, J, H, W) arrays over
    ``heatmap_boxes`` (C, F, 4), else Gaussians rendered from the keypoints). limb_constraints:
    refine the trajectory with constant bone lengths (MV3D23 joints). filter:
    "butterworth:CUTOFF", "kalman[:CUTOFF]", "weighted_kalman[:CUTOFF]" (each point weighted by
    its precision from the inlier views' confidences and geometry) or None; needs fps. Gaps up to max_gap frames are
    interpolated when filtering or refining.
    """
    kp = _as_array(keypoints)
    if method not in METHODS:
        raise InputError(f"unknown triangulation method {method!r}; use one of {', '.join(METHODS)}")
    robust = robust or RobustParams()
    points, used, errors, swapped = robust_triangulate(rig, kp, robust)
    kp_fixed = kp
    if swapped.any():
        kp_fixed = kp.copy()
        kp_fixed[swapped] = kp[:, :, FLIP_INDEX][swapped]
    if method == "volumetric":
        points = triangulate_volumetric(rig, kp_fixed, points, used, heatmaps=heatmaps,
                                        heatmap_boxes=heatmap_boxes, params=volumetric,
                                        swapped=swapped if swapped.any() else None)
    lengths = None
    if limb_constraints:
        limbs = limbs or LimbParams(**({} if fps is None else {"fps": fps}))
        lengths = estimate_limb_lengths(points, used)
        points = refine_with_limbs(rig, kp_fixed, points, used, lengths, limbs, max_gap=max_gap)
    gaps: list = []
    if filter is not None:
        if fps is None:
            raise InputError(f"filter {filter!r} needs the frame rate: pass fps=...")
        spec = FilterSpec.parse(filter)
        weights = None
        if spec.kind == "weighted_kalman":
            weights = relative_precision(rig, points, used, kp_fixed[..., 2])
        points, gaps = smooth_trajectory(points, fps, spec, max_gap, weights=weights)

    uv = kp_fixed[..., :2].reshape(len(rig), -1, 2)
    errors = reprojection_errors(rig, uv, points.reshape(-1, 3)).reshape(errors.shape)
    return Reconstruction(points, used, errors, swapped, list(rig.names), method, gaps, lengths)


def triangulate(rig: CameraRig, keypoints, method: str = "algebraic", limb_constraints: bool = False,
                **kwargs) -> np.ndarray:
    """World points (F, J, 3) in metres from 2D keypoints (C, F, J, 3); NaN where not triangulable.

    See ``reconstruct`` for the options and for the per-view errors and flags.
    """
    return reconstruct(rig, keypoints, method=method, limb_constraints=limb_constraints, **kwargs).points


__all__ = ["METHODS", "Reconstruction", "RobustParams", "reconstruct", "robust_triangulate", "triangulate",
           "triangulate_dlt"]
