"""The calibration stage's board path: cameras' poses from an OpenCap session's board images.

``calibration.source: board`` (or ``auto`` for a session whose pickles hold intrinsics only):
the board of ``sessionMetadata.yaml``'s ``checkerBoard`` entry is found in each camera's
``CalibrationImages/calib_img<camera>.jpg`` and ``calibration.extrinsics`` gives the poses.
A back-wall board's pose can be ambiguous for a camera (IPPE's two solutions fit alike); the
trial's own 2D detections then choose the combination most consistent across the cameras.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from calibration import load_rig
from calibration.board import Checkerboard, detect_static_board
from calibration.extrinsics import board_pose_candidates, calibrate_extrinsics, pose_options, still_correspondences
from mv3d.camera import CameraRig, match_camera_names
from mv3d.errors import InputError
from mv3d.io.atomic import atomic_write
from pipelines.context import Context
from pipelines.session import Session

log = logging.getLogger(__name__)


#: OpenCap's board placements (sessionMetadata.yaml checkerBoard.placement) as calibration.extrinsics names them.
BOARD_PLACEMENTS = {"backwall": "backwall", "backwall_largecb": "backwall", "ground": "ground"}
#: Keypoints below this confidence are not used to resolve ambiguous board poses.
CORRESPONDENCE_MIN_CONFIDENCE = 0.5
#: Frame rate assumed for detections without video or keypoints2d.fps (OpenCap records at 60 fps);
#: it only sets the width of the stillness window in frames.
UNSYNCED_DEFAULT_FPS = 60.0


def session_board(session: Session) -> tuple[Checkerboard, str]:
    """The board of sessionMetadata.yaml's ``checkerBoard`` entry: (Checkerboard, placement)."""
    example = ("checkerBoard: {black2BlackCornersWidth_n: 11, black2BlackCornersHeight_n: 8, "
               "squareSideLength_mm: 60, placement: backWall}")
    meta = session.root / "sessionMetadata.yaml"
    entry = session.board
    if entry is None:
        raise InputError(f"{meta}: no checkerBoard entry, which the board calibration needs; add {example} "
                         f"(inner-corner counts, i.e. squares minus one, and the square side)")
    keys = ("black2BlackCornersWidth_n", "black2BlackCornersHeight_n", "squareSideLength_mm", "placement")
    missing = [k for k in keys if entry.get(k) is None]
    if missing:
        raise InputError(f"{meta}: checkerBoard.{missing[0]} is missing; the board calibration needs {example}")
    placement = BOARD_PLACEMENTS.get(str(entry["placement"]).lower())
    if placement is None:
        raise InputError(f"{meta}: checkerBoard.placement is {entry['placement']!r}; use backWall or ground")
    try:
        board = Checkerboard(int(entry["black2BlackCornersWidth_n"]), int(entry["black2BlackCornersHeight_n"]),
                             float(entry["squareSideLength_mm"]) / 1000.0)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{meta}: checkerBoard holds a non-number ({exc}); expected {example}") from exc
    return board, placement


def _session_intrinsics(session: Session) -> list:
    """The cameras' intrinsics (Camera list, calibration order): each camera's own file when the
    session has one per camera (OpenCap pickles, intrinsics-only or not), else the calibration."""
    if session.camera_calibrations:
        return [load_rig(path)[0] for path in session.camera_calibrations.values()]
    return list(load_rig(session.calibration))


def board_calibration(ctx: Context) -> CameraRig:
    """Cameras' poses from the board in each camera's image (world = board frame, :mod:`calibration.extrinsics`).

    A back-wall board's pose can be ambiguous for a camera (IPPE's two solutions fit alike): then the
    trial's own 2D detections choose the combination of poses most consistent across the cameras.
    """
    session = ctx.session
    board, placement = session_board(session)
    cameras = _session_intrinsics(session)
    corners = []
    for cam in cameras:
        image = session.calibration_images.get(cam.name)
        if image is None:
            raise InputError(f"session {session.root}: camera {cam.name} has no board image; add "
                             f"CalibrationImages/calib_img{cam.name}.jpg (the board seen by this camera) or "
                             f"calibrated pickles with calibration.source: file")
        try:
            found, _ = detect_static_board(image, board, expected_size=cam.size)
        except InputError as exc:
            raise InputError(f"session {session.root}, camera {cam.name}: {exc}") from exc
        corners.append(found)
    ambiguous = [cam.name for cam, c in zip(cameras, corners)
                 if len(pose_options(board_pose_candidates(cam, c, board), cam.name)[0]) > 1]
    points, frames = None, None
    if ambiguous and placement == "backwall":  # a ground board is settled by the floor normal (extrinsics.py)
        points, frames = _unsynced_correspondences(ctx, [c.name for c in cameras])
    result = calibrate_extrinsics(cameras, corners, board, placement=placement, correspondences=points)
    _record_board_calibration(ctx, result, board, placement, frames)
    return result.rig


def _unsynced_correspondences(ctx: Context, names: list[str]):
    """The subject's 2D keypoints in still frames of the trial: (points (C, M, 2), frames (n,)), or
    (None, None) when the trial has no detections for every camera (videos only)."""
    trial, cfg = ctx.trial, ctx.config.keypoints2d
    dets = [c for c in trial.cameras if c in trial.detections]
    try:  # the calibration camera of each camera with detections, as the keypoints stage matches them
        calibration_name = dict(zip(match_camera_names(dets, names, in_order=True), dets))
    except InputError:
        return None, None
    if set(calibration_name) != set(names):
        return None, None
    fps = cfg.fps or trial.video_fps() or UNSYNCED_DEFAULT_FPS
    data = trial.read_detections([calibration_name[n] for n in names], cfg.format, fps)
    # The cameras are synchronised only later (sync needs this calibration), so row f of each camera
    # is a different instant, up to the cameras' start offsets apart. Where the subject stands still
    # for longer than those offsets, the rows show the same pose whatever the offsets are: the
    # correspondences come from a subsample of the stillest frames (subsampled: neighbouring still
    # frames repeat the same points, and the combinations of poses are each triangulated once).
    cal = ctx.config.calibration
    points, frames, motion = still_correspondences(data, n_frames=cal.keypoint_frames,
                                                   window=int(round(cal.still_window_s * fps)),
                                                   min_confidence=CORRESPONDENCE_MIN_CONFIDENCE)
    log.info("trial %s: %d still frames for the calibration's correspondences (motion <= %.4f person heights "
             "per frame)", trial.name, len(frames), float(motion.max()))
    return points, frames


def _record_board_calibration(ctx: Context, result, board, placement: str, frames) -> None:
    """Log every camera's board fit; warn about ambiguous cameras and how each was resolved;
    keep a summary in ``mv3d/calibration_board.json``."""
    cams = {}
    for c, cam in enumerate(result.rig):
        lower = not (result.rms[c] > result.rms_other[c])  # NaN (a single solution) counts as lower
        log.info("camera %s: board reprojection %.3f px (other pose %.3f px), chosen by %s; centre %s m",
                 cam.name, result.rms[c], result.rms_other[c], result.reason[c], np.round(cam.center, 3).tolist())
        if result.ambiguous[c]:
            if frames is None and placement == "backwall":
                how = ("kept the lower-reprojection pose, which may be the mirrored one: the trial has no 2D "
                       "detections for every camera to check it with (check this camera in the report)")
            else:
                how = f"chosen by {result.reason[c]}" + (
                    f" over {len(frames)} still frames of the trial's 2D keypoints" if frames is not None else "")
                how += "" if lower else "; the pose with the lower board reprojection error was the wrong one"
            ctx.warn(f"camera {cam.name}: the board pose is ambiguous (the two IPPE solutions fit the "
                     f"corners with {min(result.rms[c], result.rms_other[c]):.2f} and "
                     f"{max(result.rms[c], result.rms_other[c]):.2f} px); {how}")
        cams[cam.name] = {"image": str(ctx.session.calibration_images[cam.name]), "rms_px": float(result.rms[c]),
                          "rms_other_px": None if np.isnan(result.rms_other[c]) else float(result.rms_other[c]),
                          "ambiguous": bool(result.ambiguous[c]), "reason": result.reason[c],
                          "lower_reprojection": bool(lower), "centre_m": cam.center.tolist()}
    summary = {"placement": placement, "board": {"cols": board.cols, "rows": board.rows,
                                                  "square_m": board.square_size},
               "keypoint_frames": None if frames is None else [int(f) for f in frames], "cameras": cams}
    ctx.session.work_dir().mkdir(parents=True, exist_ok=True)
    with atomic_write(board_calibration_json(ctx.session)) as fh:
        json.dump(summary, fh, indent=1)


def board_calibration_json(session: Session) -> Path:
    """Summary of the last board calibration of a session (per camera: fit, ambiguity, choice)."""
    return session.work_dir() / "calibration_board.json"
