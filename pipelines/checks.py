"""A session's inputs checked at the door, before any heavy work.

``check_inputs`` runs after the session is found and the config loaded, and raises an
InputError naming the camera, file or key (exit status 2) for what would otherwise fail late or
silently: a calibration that cannot describe the trial's cameras, a video that cannot be
decoded, a video of another size than its calibration while the 2D model reads it, a camera
with no frame rate, or detection files that outnumber their video's frames. Frame rates that
differ between cameras are allowed: sync resamples them to the fastest and says so.
"""
from __future__ import annotations

from calibration import load_rig
from mv3d.camera import CameraRig
from mv3d.errors import InputError
from mv3d.video.frames import VideoInfo
from pipelines.context import Context
from pipelines.stages.keypoints2d import camera_rates, uses_network

#: Detection files may exceed a video's stated frame count by this fraction (containers estimate it).
_FRAME_COUNT_SLACK = 0.02
#: A calibration may state a codec's coded size, padded to whole 16-pixel macroblocks: up to 15 pixels more than
#: the decoded video on each axis (the Pose2Sim lab calibration says 1088x1920 for 1080x1920 videos).
_MACROBLOCK = 16


def check_inputs(ctx: Context) -> None:
    """Check the trial's calibration, videos, frame rates and detections; raises InputError for what
    the user must fix, and keeps what they should know (an overlay video that will not fit) as a
    warning of the ``inputs`` step for the report."""
    session, trial = ctx.session, ctx.trial
    ctx.begin_stage("inputs")
    try:
        rig = load_rig(session.calibration)
        rig = rig.select(trial.cameras, in_order=True)
    except InputError as exc:
        raise InputError(f"session {session.root}, trial {trial.name}: {exc}") from None
    videos = _probe_videos(ctx)
    _check_video_sizes(ctx, rig, videos)
    camera_rates(ctx, trial.cameras)  # every camera has a frame rate (they may differ: sync resamples)
    _check_detection_counts(ctx, videos)


def _probe_videos(ctx: Context) -> dict[str, VideoInfo]:
    """The container properties of each camera's video; InputError naming an undecodable one."""
    try:
        return ctx.trial.video_info()
    except InputError as exc:
        raise InputError(f"{exc} (or remove the video and import the camera's 2D detections)") from None


def _check_video_sizes(ctx: Context, rig: CameraRig, videos: dict[str, VideoInfo]) -> None:
    """A video the 2D model reads must have its calibration's image size (keypoints are pixels of it), or be
    smaller by less than a codec macroblock (a calibration stating the padded coded size: same pixels)."""
    network = uses_network(ctx)
    for cam_name, camera in zip(ctx.trial.cameras, rig):
        info = videos.get(cam_name)
        if info is None or (info.width, info.height) == tuple(camera.size):
            continue
        message = (f"trial {ctx.trial.name}, camera {cam_name}: the video {info.path.name} is {info.width}x"
                   f"{info.height} px but the calibration of {camera.name} is {camera.size[0]}x{camera.size[1]} px")
        padded = all(0 <= int(c) - v < _MACROBLOCK for v, c in zip((info.width, info.height), camera.size))
        if network and not padded:
            raise InputError(message + "; the 2D keypoints would not fit the calibration. Use the video at its "
                                       "calibrated resolution, or calibrate the camera at this one")
        ctx.warn(message + ("; taken as the codec's padding to 16-pixel blocks (same pixels from the top-left "
                            "corner)" if padded else "; the overlay videos will not fit"))


def _check_detection_counts(ctx: Context, videos: dict[str, VideoInfo]) -> None:
    """Per-frame detection files must not outnumber their camera's video frames."""
    if uses_network(ctx):
        return
    for cam, folder in sorted(ctx.trial.detections.items()):
        info = videos.get(cam)
        if info is None or not info.frame_count or not folder.is_dir():
            continue
        n_files = sum(1 for _ in folder.glob("*.json"))
        if n_files > info.frame_count * (1 + _FRAME_COUNT_SLACK) + 2:
            raise InputError(f"trial {ctx.trial.name}, camera {cam}: {n_files} detection files in {folder} but its "
                             f"video {info.path.name} has {info.frame_count} frames; the detections belong to "
                             f"another video or camera")
