"""The stages of a session run, one module each: thin wrappers that read their inputs (the store,
the session's files), call the library, and write their outputs.

Order: calibration -> keypoints2d -> sync -> triangulation -> augmentation -> scaling -> ik ->
compare -> visuals; ``pipelines.run.build_report`` then writes the HTML report. Each module
declares its :class:`pipelines.stage.Stage` (inputs, outputs, config sections, version) beside the
function that runs it. Arrays go to ``mv3d/<trial>.h5`` (``SessionStore``); files use OpenCap's
names (``pipelines.session.Session``).
"""
from __future__ import annotations

from pipelines.stage import Stage
from pipelines.stages import augmentation, calibration, compare, keypoints2d, kinematics, sync, triangulation, visuals


def build_stages() -> list[Stage]:
    """The pipeline's stages in order."""
    return [calibration.STAGE, keypoints2d.STAGE, sync.STAGE, triangulation.STAGE, augmentation.STAGE,
            kinematics.SCALING, kinematics.IK, compare.STAGE, visuals.STAGE]
