"""Camera calibration: file formats, checkerboards, intrinsics, extrinsics and bundle adjustment.

Entry points: ``load_rig(path) -> CameraRig`` (format detected) and ``save_rig(rig, path, format)``.
"""
from __future__ import annotations

from calibration.formats import detect_format, load_rig, save_rig

__all__ = ["detect_format", "load_rig", "save_rig"]
