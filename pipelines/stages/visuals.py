"""Stage ``visuals``: per-camera overlay videos (detections and re-projected 3D points) and a 3D
skeleton mp4 in ``mv3d/visuals/``."""
from __future__ import annotations

import numpy as np

from mv3d.skeleton import add_derived
from mv3d.timeseries import resample
from pipelines.context import Context
from pipelines.media import skeleton_animation, write_overlay_video
from pipelines.stage import Stage


def run_visuals(ctx: Context) -> None:
    cfg = ctx.config.visuals
    out = ctx.session.work_dir() / "visuals"
    out.mkdir(parents=True, exist_ok=True)
    points = ctx.store.read("points3d")
    times = ctx.store.timestamps("points3d")
    if cfg.skeleton_video:
        fps = 1.0 / float(np.median(np.diff(times)))
        skeleton_animation(ctx.rig.to_opensim(add_derived(points)), out / f"{ctx.trial.name}_skeleton.mp4",
                           fps=fps, up_axis="y", times=times)
    if not cfg.overlay_videos:
        return
    kp = ctx.store.read("keypoints2d")
    cams = list(ctx.store.attrs("keypoints2d")["cameras"])
    offsets, rates = ctx.store.read("sync_offsets"), ctx.store.read("sync_rates")
    rig = ctx.rig.subset(cams)
    for c, cam in enumerate(ctx.trial.cameras):
        video = ctx.trial.videos.get(cam)
        if video is None or not video.is_file():
            continue
        cam_times = offsets[c] + np.arange(kp.shape[1]) / rates[c]   # this camera's frames on the common clock
        reproj = rig.project(resample(times, points, cam_times))[c]
        write_overlay_video(video, kp[c], reproj, out / f"{ctx.trial.name}_{cam}_overlay.mp4",
                            scale=cfg.overlay_scale)


STAGE = Stage("visuals", run_visuals, inputs=("points3d", "sync_offsets"), config_keys=("visuals",),
              description="overlay videos and 3D skeleton video")
