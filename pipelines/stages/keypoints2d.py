"""Stage ``keypoints2d``: 2D keypoints (C, F, 23, 3) per camera in calibration order, from the
session's imported detections or a 2D model run on its videos (``keypoints2d.source``, ``.model``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mv3d.errors import InputError
from mv3d.pose2d import estimate_keypoints2d, resolve_model
from mv3d.skeleton import MV3D23
from pipelines.context import Context
from pipelines.stage import Stage


def uses_network(ctx: Context) -> bool:
    """Whether the keypoints come from the 2D model (else from imported detections)."""
    source = ctx.config.keypoints2d.source
    return source == "network" or (source == "auto" and not ctx.trial.detections)


def run_keypoints2d(ctx: Context) -> None:
    cfg, trial = ctx.config.keypoints2d, ctx.trial
    fps = cfg.fps or trial.video_fps()
    if fps is None:
        raise InputError(f"trial {trial.name}: no video to read the frame rate from; set keypoints2d.fps in the "
                         f"config")
    cams = trial.cameras
    names = ctx.rig.select(cams, in_order=True).names  # the calibration's names for the trial's cameras
    if uses_network(ctx):
        data, source = network_keypoints(ctx, cams), "network"
    else:
        data, source = trial.read_detections(cams, cfg.format, fps), "detections"
    ctx.store.write("keypoints2d", data, units="px", joint_names=list(MV3D23), cameras=list(names), fps=float(fps),
                    source=source)


def network_keypoints(ctx: Context, cams: list[str]) -> np.ndarray:
    """The configured 2D model run on every camera's video: (C, F, 23, 3) at the videos' frame indices."""
    missing = [cam for cam in cams if cam not in ctx.trial.videos]
    if missing:
        raise InputError(f"trial {ctx.trial.name}: camera(s) {', '.join(missing)} have no video for the 2D model")
    estimator = resolve_model(ctx.config.keypoints2d.model)
    return estimate_keypoints2d(estimator, {cam: ctx.trial.videos[cam] for cam in cams}).data


def detection_files(ctx: Context) -> list[Path]:
    return sorted(ctx.trial.detections.values()) + sorted(ctx.trial.videos.values())


STAGE = Stage("keypoints2d", run_keypoints2d, inputs=("calibration_toml",), outputs=("keypoints2d",),
              config_keys=("keypoints2d",), external_inputs=detection_files, description="2D keypoints per camera")
