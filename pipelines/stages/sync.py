"""Stage ``sync``: camera time offsets from the keypoints' motion; every camera resampled onto the
first camera's clock (``keypoints2d_synced``)."""
from __future__ import annotations

import numpy as np

from mv3d.skeleton import MV3D23
from mv3d.triangulate.swaps import apply_swaps, find_swaps
from mv3d.video.flow import retime_cameras
from mv3d.video.sync import SyncParams, synchronize
from pipelines.context import Context
from pipelines.stage import Stage


def run_sync(ctx: Context) -> None:
    cfg = ctx.config.sync
    kp = ctx.store.read("keypoints2d")
    attrs = ctx.store.attrs("keypoints2d")
    cams, fps = list(attrs["cameras"]), float(attrs["fps"])
    camera_fps = np.asarray(attrs.get("camera_fps", np.full(len(cams), fps)), dtype=float)
    times = np.arange(kp.shape[1]) / fps
    # undo left/right label swaps on each camera's own frames, before resampling blends them
    kp = apply_swaps(kp, find_swaps(kp))
    mixed = not np.allclose(camera_fps, fps, rtol=1e-6)
    if mixed:
        slow = [f"{cam} ({rate:g} fps)" for cam, rate in zip(cams, camera_fps) if not np.isclose(rate, fps)]
        ctx.warn(f"sync: the cameras record at different rates; {', '.join(slow)} interpolated to {fps:g} Hz, "
                 f"the rate of the fastest")
    if cfg.enabled:
        ref = cams.index(cfg.reference_camera) if cfg.reference_camera else 0
        # offsets are searched on one common rate; the resulting clock model keeps each camera's own rate
        common = retime_cameras(kp, np.zeros(len(cams)), camera_fps, times) if mixed else kp
        result = synchronize(common, fps, rig=ctx.rig.subset(cams), cameras=cams, reference=ref,
                             params=SyncParams(max_offset=cfg.max_offset_s))
        offsets, rates, conf = result.offsets, result.rates * camera_fps / fps, result.confidence
        for w in result.warnings:
            ctx.warn(f"sync: {w}")
        synced = retime_cameras(kp, offsets, rates, times)
    else:
        offsets, rates, conf = np.zeros(len(cams)), camera_fps, np.ones(len(cams))
        synced = retime_cameras(kp, offsets, rates, times) if mixed else kp
    ctx.store.write_many({
        "sync_offsets": (np.asarray(offsets, float), {"units": "s", "cameras": cams}),
        "sync_rates": (np.asarray(rates, float), {"units": "1/s", "cameras": cams}),
        "sync_confidence": (np.asarray(conf, float), {"cameras": cams}),
        "keypoints2d_synced": (synced, {"units": "px", "joint_names": list(MV3D23), "cameras": cams,
                                        "timestamps": times, "time_axis": 1, "fps": fps}),
    })


STAGE = Stage("sync", run_sync, inputs=("keypoints2d",), outputs=("keypoints2d_synced", "sync_offsets"),
              config_keys=("sync",), description="camera time offsets")
