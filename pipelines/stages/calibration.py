"""Stage ``calibration``: the session's calibration (any supported format), or the cameras' poses
computed from its board images (``calibration.source``); the rig is kept as TOML beside the outputs."""
from __future__ import annotations

from pathlib import Path

from calibration import load_rig, save_rig
from mv3d.errors import InputError
from pipelines.context import Context
from pipelines.stage import Stage
from pipelines.stages.board import board_calibration


def calibration_source(ctx: Context) -> str:
    """Where this run takes the cameras' poses from: "file" (the session's calibration) or
    "board" (its board images, with the files' intrinsics), after config ``calibration.source``."""
    session = ctx.session
    if session.calibration is None:
        raise InputError(f"session {session.root} has no calibration: add cameraIntrinsicsExtrinsics.pickle "
                         f"(or intrinsics-only cameraIntrinsics.pickle with CalibrationImages/) per camera "
                         f"(OpenCap) or calibration/Calib*.toml (Pose2Sim)")
    source = ctx.config.calibration.source
    if source == "auto":
        if session.extrinsics:
            return "file"
        if session.calibration_images:
            return "board"
        raise InputError(f"session {session.root}: the calibration files under {session.calibration} hold the "
                         f"cameras' intrinsics only, and there is no CalibrationImages/calib_img<camera>.jpg to "
                         f"compute their poses from; add the board images or calibrated pickles")
    if source == "file" and not session.extrinsics:
        raise InputError(f"session {session.root}: the calibration files under {session.calibration} hold the "
                         f"cameras' intrinsics only (no rotation/translation); set calibration.source: board to "
                         f"compute the poses from CalibrationImages/, or give calibrated files")
    return source


def run_calibration(ctx: Context) -> None:
    """Read (or compute) the rig, check that it holds the trial's cameras, keep a TOML copy."""
    if calibration_source(ctx) == "board":
        rig, where = board_calibration(ctx), ctx.session.root / "CalibrationImages"
    else:
        rig, where = load_rig(ctx.session.calibration), ctx.session.calibration
    try:
        rig.select(ctx.trial.cameras, in_order=True)  # e.g. Pose2Sim's cam01 is the calibration's cam_01
    except InputError as exc:
        raise InputError(f"session {ctx.session.root}, trial {ctx.trial.name}, calibration {where}: {exc}") from exc
    ctx.session.work_dir().mkdir(parents=True, exist_ok=True)
    save_rig(rig, ctx.calibration_copy, format="toml")
    ctx.forget_rig()


def calibration_inputs(ctx: Context) -> list[Path]:
    """Files the calibration stage reads: the calibration, and for a board calibration the images,
    the metadata and the trial's detections (they resolve ambiguous poses)."""
    session = ctx.session
    cal = session.calibration
    if cal is None:
        return []
    files = sorted(cal.rglob("*.pickle")) if cal.is_dir() else [cal]
    try:
        source = calibration_source(ctx)
    except InputError:  # the stage itself reports it
        return files
    if source == "board":
        files += sorted(session.calibration_images.values()) + [session.root / "sessionMetadata.yaml"]
        files += sorted(ctx.trial.detections.values())
    return files


STAGE = Stage("calibration", run_calibration, outputs=("calibration_toml",), version=2,
              config_keys=("calibration", "keypoints2d.format", "keypoints2d.fps"),
              external_inputs=calibration_inputs,
              description="read the calibration, or compute the cameras' poses from the board images")
